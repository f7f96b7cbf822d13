package io.jvhost.backend.protocol;

import io.jvhost.backend.linux.EventFd;
import io.jvhost.backend.linux.Fds;
import io.jvhost.backend.linux.OpenFds;
import io.jvhost.backend.protocol.VhostUserRequest.RegionDescriptor;
import io.jvhost.virtio.memory.GuestMemory;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;

import static io.jvhost.backend.protocol.RequestType.ADD_MEM_REG;
import static io.jvhost.backend.protocol.RequestType.GET_FEATURES;
import static io.jvhost.backend.protocol.RequestType.GET_MAX_MEM_SLOTS;
import static io.jvhost.backend.protocol.RequestType.GET_PROTOCOL_FEATURES;
import static io.jvhost.backend.protocol.RequestType.REM_MEM_REG;
import static io.jvhost.backend.protocol.RequestType.SET_FEATURES;
import static io.jvhost.backend.protocol.RequestType.SET_MEM_TABLE;
import static io.jvhost.backend.protocol.RequestType.SET_PROTOCOL_FEATURES;
import static io.jvhost.backend.protocol.RequestType.SET_VRING_ADDR;
import static io.jvhost.backend.protocol.RequestType.SET_VRING_CALL;
import static io.jvhost.backend.protocol.RequestType.SET_VRING_ENABLE;
import static io.jvhost.backend.protocol.RequestType.SET_VRING_KICK;
import static io.jvhost.backend.protocol.RequestType.SET_VRING_NUM;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * VHOST_USER_PROTOCOL_F_CONFIGURE_MEM_SLOTS over a real socket pair: GET_MAX_MEM_SLOTS, ADD_MEM_REG
 * and REM_MEM_REG as QEMU 7.2 sends them (NEED_REPLY with REPLY_ACK, one region each, REM without an
 * fd), the device switched to each new table while its rings run, only a removed region unmapped and
 * only after the switch, and every malformed or illegal request closing the connection with its reason.
 */
@Timeout(30)
class VhostUserMemorySlotsTest {

    static final long VA = 0x7f00_0000_0000L;
    static final long MQ_REPLY_ACK_SLOTS = (1L << VhostUserSession.PROTOCOL_F_MQ)
            | (1L << VhostUserSession.PROTOCOL_F_REPLY_ACK) | (1L << VhostUserSession.PROTOCOL_F_CONFIGURE_MEM_SLOTS);
    static final long FEATURES = RecordingDevice.VIRTIO_F_VERSION_1 | RecordingDevice.VIRTIO_NET_F_MRG_RXBUF
            | RecordingDevice.F_PROTOCOL_FEATURES;
    /** Each test region is 64 KiB of a 4 MiB memfd: 32 slots fit side by side. */
    static final long REGION = 0x1_0000;

    private final RecordingDevice device = new RecordingDevice();
    private long fdsBefore;
    private int kick;
    private int call;

    @BeforeAll
    static void warmUp() throws Exception {
        // Loads every class once, so the fd counts below see only the test's own fds.
        VhostUserMemorySlotsTest test = new VhostUserMemorySlotsTest();
        test.open();
        try {
            test.shouldAddAndRemoveRegionsUnderARunningRingAsQemuDoes();
        } finally {
            Fds.close(test.kick);
            Fds.close(test.call);
        }
    }

    @BeforeEach
    void open() throws Exception {
        device.offeredProtocolFeatures = MQ_REPLY_ACK_SLOTS;
        fdsBefore = OpenFds.count();
        kick = EventFd.create();
        call = EventFd.create();
    }

    @AfterEach
    void checkForLeaks() throws Exception {
        Fds.close(kick);
        Fds.close(call);
        assertEquals(fdsBefore, OpenFds.count(), () -> "open fds after the test: " + OpenFds.describe());
    }

    /** Region {@code slot}: gpa and front-end address {@code slot * 1 MiB}, file offset {@code slot * 64 KiB}. */
    private static RegionDescriptor region(int slot) {
        return new RegionDescriptor(slot * 0x10_0000L, REGION, VA + slot * 0x10_0000L, slot * REGION);
    }

    private static String table(int... slots) {
        StringBuilder text = new StringBuilder("setMemory(");
        for (int i = 0; i < slots.length; i++) {
            RegionDescriptor r = region(slots[i]);
            text.append(i == 0 ? "" : ", ").append("gpa=0x").append(Long.toHexString(r.gpa())).append(" size=0x")
                    .append(Long.toHexString(r.size())).append(" va=0x").append(Long.toHexString(r.frontendVa()));
        }
        return text.append(")").toString();
    }

    /** QEMU 7.2's start: features, protocol features with CONFIGURE_MEM_SLOTS, GET_MAX_MEM_SLOTS. */
    private static void negotiate(TestFrontend fe, long protocolFeatures) {
        fe.get(GET_FEATURES);
        assertEquals(MQ_REPLY_ACK_SLOTS, fe.get(GET_PROTOCOL_FEATURES), "MQ, REPLY_ACK, CONFIGURE_MEM_SLOTS");
        fe.send(SET_PROTOCOL_FEATURES, U64Payload.of(protocolFeatures));
        if ((protocolFeatures & (1L << VhostUserSession.PROTOCOL_F_CONFIGURE_MEM_SLOTS)) != 0) {
            assertEquals(VhostUserSession.MAX_MEM_SLOTS, fe.get(GET_MAX_MEM_SLOTS));
        }
        assertEquals(0, fe.sendAcked(SET_FEATURES, U64Payload.of(FEATURES)));
    }

    private void startRing0InSlot0(TestFrontend fe) {
        assertEquals(0, fe.sendAcked(SET_VRING_NUM, VringStatePayload.of(0, 256)));
        assertEquals(0, fe.sendAcked(SET_VRING_ADDR, VringAddrPayload.of(0, 0, VA + 0x1000, VA + 0x3000, VA + 0x2000, 0)));
        assertEquals(0, fe.sendAcked(SET_VRING_KICK, VringFdPayload.of(0, false), kick));
        assertEquals(0, fe.sendAcked(SET_VRING_CALL, VringFdPayload.of(0, false), call));
        assertEquals(0, fe.sendAcked(SET_VRING_ENABLE, VringStatePayload.of(0, 1)));
    }

    @Test
    void shouldAddAndRemoveRegionsUnderARunningRingAsQemuDoes() throws Exception {
        ConnectionHarness h = new ConnectionHarness(device);
        try (GuestRam ram = new GuestRam(32 * REGION); h) {
            TestFrontend fe = h.frontend;
            negotiate(fe, MQ_REPLY_ACK_SLOTS);
            assertEquals(0, fe.sendAcked(ADD_MEM_REG, MemoryRegionPayload.of(region(0)), ram.fd));
            assertEquals(0, fe.sendAcked(ADD_MEM_REG, MemoryRegionPayload.of(region(1)), ram.fd));
            startRing0InSlot0(fe);
            assertEquals(List.of("connected(1234)", "setFeatures(0x140008000)", table(0), table(0, 1),
                    "startQueue(index=0 size=256 nextAvail=0 desc=0x7f0000001000 avail=0x7f0000002000"
                            + " used=0x7f0000003000 kick=fd call=fd err=none)"), device.drain());

            // A hot-added DIMM: the running ring switches in place, its region stays the same mapping.
            GuestMemory before = device.memory;
            assertEquals(0, fe.sendAcked(ADD_MEM_REG, MemoryRegionPayload.of(region(2)), ram.fd));
            assertEquals(List.of(table(0, 1, 2)), device.drain(), "not restarted");
            assertTrue(before.segment(0).scope().isAlive() && before.segment(1).scope().isAlive(),
                    "the regions both tables have stay mapped");
            // The new region shows the front-end's bytes at its mmap_offset.
            ram.mapping.segment().set(ValueLayout.JAVA_LONG, 2 * REGION + 0x18, 0x5107_0002L);
            assertEquals(0x5107_0002L, device.memory.segment(2).get(ValueLayout.JAVA_LONG, 0x18));

            // Unplugged: the device gets the table without it first, then the region is unmapped
            // (RecordingDevice flags a region unmapped before setMemory). mmap_offset is not compared.
            GuestMemory withSlot1 = device.memory;
            RegionDescriptor slot1 = region(1);
            assertEquals(0, fe.sendAcked(REM_MEM_REG, MemoryRegionPayload.of(
                    new RegionDescriptor(slot1.gpa(), slot1.size(), slot1.frontendVa(), 0xdead_0000L))));
            assertEquals(List.of(table(0, 2)), device.drain());
            assertFalse(withSlot1.segment(1).scope().isAlive(), "the removed region is unmapped");
            assertThrows(IllegalStateException.class, () -> withSlot1.segment(1).get(ValueLayout.JAVA_BYTE, 0));
            assertTrue(device.memory.segment(0).scope().isAlive() && device.memory.segment(1).scope().isAlive());

            // The same gpa can come back (a DIMM plugged in again), with the fd older QEMUs attached to REM.
            assertEquals(0, fe.sendAcked(ADD_MEM_REG, MemoryRegionPayload.of(region(1)), ram.fd));
            assertEquals(0, fe.sendAcked(REM_MEM_REG, MemoryRegionPayload.of(region(2)), ram.fd));
            assertEquals(List.of(table(0, 1, 2), table(0, 1)), device.drain());
        }
        assertNull(h.awaitOutcome(), "front-end closed: no error");
        assertEquals(List.of("stopQueue(0)=0", "disconnected()"), device.drain());
    }

    @Test
    void shouldStartAWaitingRingOnlyOnceEveryRegionHoldingItIsAdded() throws Exception {
        ConnectionHarness h = new ConnectionHarness(device);
        try (GuestRam ram = new GuestRam(2 * REGION); h) {
            TestFrontend fe = h.frontend;
            negotiate(fe, MQ_REPLY_ACK_SLOTS);
            // Descriptor table in slot 0, avail and used rings in slot 1; the ring is set up first.
            long slot1 = region(1).frontendVa();
            assertEquals(0, fe.sendAcked(SET_VRING_NUM, VringStatePayload.of(0, 256)));
            assertEquals(0, fe.sendAcked(SET_VRING_ADDR, VringAddrPayload.of(0, 0, VA + 0x1000, slot1 + 0x2000,
                    slot1 + 0x1000, 0)));
            assertEquals(0, fe.sendAcked(SET_VRING_KICK, VringFdPayload.of(0, false), kick));
            assertEquals(0, fe.sendAcked(SET_VRING_ENABLE, VringStatePayload.of(0, 1)));
            device.drain();

            assertEquals(0, fe.sendAcked(ADD_MEM_REG, MemoryRegionPayload.of(region(0)), ram.fd));
            assertEquals(List.of(table(0)), device.drain(), "half the ring is mapped: it waits");
            assertEquals(0, fe.sendAcked(ADD_MEM_REG, MemoryRegionPayload.of(region(1)), ram.fd));
            assertEquals(List.of(table(0, 1), "startQueue(index=0 size=256 nextAvail=0 desc=0x7f0000001000"
                    + " avail=0x7f0000101000 used=0x7f0000102000 kick=fd call=none err=none)"), device.drain());
        }
        assertNull(h.awaitOutcome(), "front-end closed: no error");
    }

    /**
     * QEMU sends ADD_MEM_REG and REM_MEM_REG once per queue pair (each vhost device has its own copy
     * of the table): with two pairs a region comes twice and goes with the first removal, the second
     * is acked; the first pair may put a region in its place before the second pair's removal.
     */
    @Test
    void shouldTakeEachRegionOncePerQueuePairAsQemuSendsIt() throws Exception {
        ConnectionHarness h = new ConnectionHarness(device);
        try (GuestRam ram = new GuestRam(3 * REGION); h) {
            TestFrontend fe = h.frontend;
            negotiate(fe, MQ_REPLY_ACK_SLOTS);
            for (int pair = 0; pair < 2; pair++) {
                assertEquals(0, fe.sendAcked(ADD_MEM_REG, MemoryRegionPayload.of(region(0)), ram.fd));
                assertEquals(0, fe.sendAcked(ADD_MEM_REG, MemoryRegionPayload.of(region(1)), ram.fd));
            }
            assertEquals(List.of("connected(1234)", "setFeatures(0x140008000)", table(0), table(0, 1)), device.drain(),
                    "the second pair's regions change nothing");
            GuestMemory both = device.memory;

            // Region 1 grows into a region twice its size at the same place (a resized RAM block).
            RegionDescriptor slot1 = region(1);
            RegionDescriptor grown = new RegionDescriptor(slot1.gpa(), 2 * REGION, slot1.frontendVa(), REGION);
            assertEquals(0, fe.sendAcked(REM_MEM_REG, MemoryRegionPayload.of(slot1)), "pair 0");
            assertFalse(both.segment(1).scope().isAlive(), "unmapped with the first removal");
            assertEquals(0, fe.sendAcked(ADD_MEM_REG, MemoryRegionPayload.of(grown), ram.fd), "pair 0");
            assertEquals(0, fe.sendAcked(REM_MEM_REG, MemoryRegionPayload.of(slot1)), "pair 1: acked");
            assertEquals(0, fe.sendAcked(ADD_MEM_REG, MemoryRegionPayload.of(grown), ram.fd), "pair 1");
            String grownTable = table(0).replace(")", ", gpa=0x100000 size=0x20000 va=0x7f0000100000)");
            assertEquals(List.of(table(0), grownTable), device.drain());
        }
        assertNull(h.awaitOutcome(), "front-end closed: no error");
    }

    @Test
    void shouldRefuseARemovalBeyondTheQueuePairsCopies() throws Exception {
        try (GuestRam ram = new GuestRam(REGION)) {
            assertEquals("REM_MEM_REG: no mapped region matches region gpa 0x0 size 0x10000 frontendVa 0x7f0000000000",
                    rejection(fe -> {
                        negotiate(fe, MQ_REPLY_ACK_SLOTS);
                        for (int pair = 0; pair < 2; pair++) {
                            assertEquals(0, fe.sendAcked(ADD_MEM_REG, MemoryRegionPayload.of(region(0)), ram.fd));
                        }
                        for (int pair = 0; pair < 2; pair++) {
                            assertEquals(0, fe.sendAcked(REM_MEM_REG, MemoryRegionPayload.of(region(0))));
                        }
                        assertEquals(1, fe.sendAcked(REM_MEM_REG, MemoryRegionPayload.of(region(0))), "a third: nack");
                    }));
        }
    }

    @Test
    void shouldTakeAllThirtyTwoSlotsAndRefuseTheNext() throws Exception {
        try (GuestRam ram = new GuestRam(33 * REGION)) {
            String reason = rejection(fe -> {
                negotiate(fe, MQ_REPLY_ACK_SLOTS);
                for (int slot = 0; slot < VhostUserSession.MAX_MEM_SLOTS; slot++) {
                    assertEquals(0, fe.sendAcked(ADD_MEM_REG, MemoryRegionPayload.of(region(slot)), ram.fd), "slot " + slot);
                }
                assertEquals(VhostUserSession.MAX_MEM_SLOTS, device.memory.regionCount(), "more than SET_MEM_TABLE's 8");
                assertEquals(1, fe.sendAcked(ADD_MEM_REG, MemoryRegionPayload.of(region(32)), ram.fd), "nack");
            });
            assertEquals("ADD_MEM_REG: all 32 memory slots are in use (GET_MAX_MEM_SLOTS)", reason);
        }
    }

    @Test
    void shouldAddToATableFromSetMemTableAndReplaceAllWithTheNext() throws Exception {
        ConnectionHarness h = new ConnectionHarness(device);
        try (GuestRam ram = new GuestRam(4 * REGION); h) {
            TestFrontend fe = h.frontend;
            negotiate(fe, MQ_REPLY_ACK_SLOTS);
            assertEquals(0, fe.sendAcked(SET_MEM_TABLE, MemoryTablePayload.of(region(0)), ram.fd));
            assertEquals(0, fe.sendAcked(ADD_MEM_REG, MemoryRegionPayload.of(region(1)), ram.fd));
            GuestMemory added = device.memory;
            assertEquals(0, fe.sendAcked(SET_MEM_TABLE, MemoryTablePayload.of(region(2)), ram.fd));
            assertEquals(List.of("connected(1234)", "setFeatures(0x140008000)", table(0), table(0, 1), table(2)),
                    device.drain());
            assertFalse(added.segment(0).scope().isAlive() || added.segment(1).scope().isAlive(),
                    "SET_MEM_TABLE unmaps every region of the table it replaced, the added one too");
        }
        assertNull(h.awaitOutcome());
    }

    // ---- hostile input: each closes the connection with its reason, nothing stays mapped or open ----

    @Test
    void shouldRefuseMemorySlotRequestsWithoutTheFeature() throws Exception {
        try (GuestRam ram = new GuestRam(REGION)) {
            assertEquals("ADD_MEM_REG: protocol feature CONFIGURE_MEM_SLOTS was not negotiated", rejection(fe -> {
                negotiate(fe, 0b1001);
                fe.send(ADD_MEM_REG, MemoryRegionPayload.of(region(0)), ram.fd);
            }));
        }
        assertEquals("GET_MAX_MEM_SLOTS: protocol feature CONFIGURE_MEM_SLOTS was not negotiated",
                rejection(fe -> fe.send(GET_MAX_MEM_SLOTS)));
    }

    @Test
    void shouldRefuseAddWithoutAnFd() throws Exception {
        assertEquals("ADD_MEM_REG: no fd attached for the region", rejection(fe -> {
            negotiate(fe, MQ_REPLY_ACK_SLOTS);
            assertEquals(1, fe.sendAcked(ADD_MEM_REG, MemoryRegionPayload.of(region(0))), "nack");
        }));
    }

    @Test
    void shouldRefuseAWrongPayloadSize() throws Exception {
        try (GuestRam ram = new GuestRam(REGION)) {
            assertEquals("ADD_MEM_REG: payload size 32, expected 40", rejection(fe -> {
                negotiate(fe, MQ_REPLY_ACK_SLOTS);
                fe.send(ADD_MEM_REG, MemorySegment.ofArray(new byte[32]), ram.fd);
            }));
        }
    }

    @Test
    void shouldRefuseAnEmptyRegion() throws Exception {
        assertEquals("ADD_MEM_REG: region gpa 0x0 size 0x0 frontendVa 0x7f0000000000 is empty or too large",
                addRejection(REGION, new RegionDescriptor(0, 0, VA, 0)));
    }

    @Test
    void shouldRefuseARegionBeyondItsFile() throws Exception {
        assertEquals("ADD_MEM_REG: region gpa 0x0 size 0x10000 frontendVa 0x7f0000000000: mmap_offset 0x1000"
                + " + size 0x10000 exceeds the file size 0x10000", addRejection(REGION, new RegionDescriptor(0, REGION, VA, 0x1000)));
    }

    @Test
    void shouldRefuseARegionThatWraps() throws Exception {
        assertEquals("ADD_MEM_REG: region gpa 0xffffffffffff0000 size 0x20000 frontendVa 0x7f0000000000 wraps the"
                + " 64-bit address space", addRejection(2 * REGION, new RegionDescriptor(-REGION, 2 * REGION, VA, 0)));
    }

    @Test
    void shouldRefuseARegionOverlappingAMappedOneInGuestPhysicalSpace() throws Exception {
        assertEquals("ADD_MEM_REG: region gpa 0x8000 size 0x10000 frontendVa 0x7f0000100000 overlaps the mapped"
                        + " region gpa 0x0 size 0x10000 frontendVa 0x7f0000000000",
                addRejection(2 * REGION, region(0), new RegionDescriptor(0x8000, REGION, VA + 0x10_0000, REGION)));
    }

    @Test
    void shouldRefuseARegionOverlappingAMappedOneInFrontendSpace() throws Exception {
        assertEquals("ADD_MEM_REG: region gpa 0x100000 size 0x10000 frontendVa 0x7f000000ffff overlaps the mapped"
                        + " region gpa 0x0 size 0x10000 frontendVa 0x7f0000000000",
                addRejection(2 * REGION, region(0), new RegionDescriptor(0x10_0000, REGION, VA + 0xffff, REGION)));
    }

    @Test
    void shouldRefuseTheSameAddressesAtAnotherFileOffset() throws Exception {
        RegionDescriptor slot0 = region(0);
        assertEquals("ADD_MEM_REG: region gpa 0x0 size 0x10000 frontendVa 0x7f0000000000 overlaps the mapped"
                + " region gpa 0x0 size 0x10000 frontendVa 0x7f0000000000", addRejection(2 * REGION, slot0,
                new RegionDescriptor(slot0.gpa(), slot0.size(), slot0.frontendVa(), REGION)));
    }

    @Test
    void shouldRefuseRemovingARegionThatIsNotMapped() throws Exception {
        try (GuestRam ram = new GuestRam(2 * REGION)) {
            RegionDescriptor slot0 = region(0);
            assertEquals("REM_MEM_REG: no mapped region matches region gpa 0x0 size 0x8000 frontendVa 0x7f0000000000",
                    rejection(fe -> {
                        negotiate(fe, MQ_REPLY_ACK_SLOTS);
                        assertEquals(0, fe.sendAcked(ADD_MEM_REG, MemoryRegionPayload.of(slot0), ram.fd));
                        // Same start, other size: not the region (a partial unplug is no such thing).
                        assertEquals(1, fe.sendAcked(REM_MEM_REG, MemoryRegionPayload.of(
                                new RegionDescriptor(0, REGION / 2, VA, 0))), "nack");
                    }));
        }
        assertEquals("REM_MEM_REG: no mapped region matches region gpa 0x0 size 0x10000 frontendVa 0x7f0000000000",
                rejection(fe -> {
                    negotiate(fe, MQ_REPLY_ACK_SLOTS);
                    fe.send(REM_MEM_REG, MemoryRegionPayload.of(region(0)));
                }));
    }

    /** ADD_MEM_REG of {@code accepted} (acked), then of {@code refused}; the reason the back-end gave. */
    private String addRejection(long fileSize, RegionDescriptor... regions) throws Exception {
        List<GuestMemory> seen = new ArrayList<>();
        String reason;
        try (GuestRam ram = new GuestRam(fileSize)) {
            reason = rejection(fe -> {
                negotiate(fe, MQ_REPLY_ACK_SLOTS);
                for (int i = 0; i < regions.length - 1; i++) {
                    assertEquals(0, fe.sendAcked(ADD_MEM_REG, MemoryRegionPayload.of(regions[i]), ram.fd));
                    seen.add(device.memory);
                }
                assertEquals(1, fe.sendAcked(ADD_MEM_REG, MemoryRegionPayload.of(regions[regions.length - 1]), ram.fd),
                        "nack");
            });
        }
        for (GuestMemory table : seen) {
            assertFalse(table.segment(0).scope().isAlive(), "unmapped when the connection closed");
        }
        return reason;
    }

    private String rejection(Consumer<TestFrontend> steps) throws Exception {
        return ConnectionHarness.rejection(device, steps);
    }
}

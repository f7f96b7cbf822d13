package io.jvhost.backend.protocol;

import com.code_intelligence.jazzer.junit.FuzzTest;
import io.jvhost.backend.linux.OpenFds;
import io.jvhost.backend.protocol.VhostUserRequest.RegionDescriptor;
import io.jvhost.virtio.fuzz.FuzzInput;
import io.jvhost.virtio.fuzz.FuzzStats;
import io.jvhost.virtio.memory.GuestMemory;
import io.jvhost.virtio.memory.MemoryRegion;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Fuzzes the protocol state machine ({@link VhostUserSession}) with sequences of up to 32 requests of
 * any type in any order, values biased towards the plausible (feature subsets, powers of two,
 * addresses inside the memory table, queue indexes around the device's count), carried by real fds:
 * a memfd as guest memory, an eventfd as kick, call and error fd. Requests go through
 * {@link MessageCodec} over a socket pair, as in the daemon; the device is a {@link RecordingDevice},
 * which fails the test when the session breaks its side of the contract (a queue started twice,
 * stopped when not running, a disconnect with queues running, an fd closed while the device holds it).
 *
 * <p>Asserted after every request: a rejection is a {@link VhostUserException} that is not a
 * disguised {@link RuntimeException} of the session itself; session and device agree on which queues
 * run; a region the device's new table lost is unmapped, one it kept (ADD_MEM_REG, REM_MEM_REG) is not. After the session closes: nothing runs, every memory
 * table the device saw is unmapped, and the process has exactly the fds it had before.
 */
class SessionFuzzTest {

    @RegisterExtension
    static final FuzzStats STATS = new FuzzStats("SessionFuzzTest");
    private static final RequestType[] TYPES = RequestType.values();
    private static final long VA = 0x7F00_0000_0000L;

    @FuzzTest(maxDuration = FuzzStats.MAX_DURATION)
    void shouldKeepSessionAndDeviceInStepForAnyRequestSequence(byte[] data) throws Exception {
        FuzzWire.execute(STATS, SessionFuzzTest.class, "shouldKeepSessionAndDeviceInStepForAnyRequestSequence", "qemu-start-stop-reset", this::run, data);
    }

    private void run(byte[] data, boolean checkFds) throws Exception {
        FuzzInput in = new FuzzInput(data);
        RecordingDevice device = new RecordingDevice();
        device.maxQueuePairs = 1 + in.below(2);
        // Everything the session implements (NET_MTU too, so NET_SET_MTU passes its gate), and only that:
        // the session warns, once per connection, about offered features it does not implement.
        device.offeredProtocolFeatures = VhostUserSession.SUPPORTED_PROTOCOL_FEATURES;
        if (in.below(4) == 0) {
            device.offeredFeatures &= ~RecordingDevice.F_PROTOCOL_FEATURES;
        }
        long fdsBefore = OpenFds.count();
        List<GuestMemory> tables = new ArrayList<>();
        try (FuzzWire wire = FuzzWire.open()) {
            VhostUserSession session = new VhostUserSession(device, ConnectionHarness.PEER_PID);
            try {
                for (int n = 0; n < 32 && in.hasMore(); n++) {
                    if (!step(in, wire, session, device, tables)) {
                        break;
                    }
                }
            } finally {
                session.close();
            }
            for (int q = 0; q < 2 * device.maxQueuePairs; q++) {
                assertEquals(null, device.callFd(q), "queue " + q + " still running after close");
            }
        }
        for (GuestMemory table : tables) {
            assertFalse(mapped(table), "a memory table is still mapped after the session closed");
        }
        checkNoDeviceErrors(device);
        if (checkFds) {
            assertEquals(fdsBefore, OpenFds.count(), () -> "fds leaked: " + OpenFds.describe());
        }
    }

    /** Sends, decodes and applies one request; false when the connection would be dropped. */
    private static boolean step(FuzzInput in, FuzzWire wire, VhostUserSession session, RecordingDevice device,
                                List<GuestMemory> tables) throws Exception {
        RequestType type = TYPES[in.below(TYPES.length)];
        int flags = MessageHeader.VERSION | (in.bool() ? MessageHeader.FLAG_NEED_REPLY : 0);
        int[] fds = new int[0];
        MemorySegment payload = switch (type) {
            case SET_FEATURES -> U64Payload.of(in.below(8) == 0 ? in.u64() : device.offeredFeatures & in.u64());
            case SET_PROTOCOL_FEATURES -> U64Payload.of(in.below(8) == 0 ? in.u64() : protocolFeatures(in.u8()));
            case SET_MEM_TABLE -> {
                RegionDescriptor[] regions = new RegionDescriptor[1 + in.below(in.below(8) == 0 ? 8 : 2)];
                for (int i = 0; i < regions.length; i++) {
                    regions[i] = region(in);
                }
                fds = new int[in.below(8) == 0 ? in.below(9) : regions.length];
                Arrays.fill(fds, in.below(8) == 0 ? FuzzWire.eventfd() : FuzzWire.memfd());
                yield MemoryTablePayload.of(regions);
            }
            case SET_VRING_NUM -> VringStatePayload.of(index(in), in.below(8) == 0 ? (int) in.u32() : 1 << in.below(16));
            case SET_VRING_BASE -> VringStatePayload.of(index(in), in.u16());
            case GET_VRING_BASE -> VringStatePayload.of(index(in), 0);
            case SET_VRING_ENABLE -> VringStatePayload.of(index(in), in.below(3));
            case SET_VRING_ADDR -> VringAddrPayload.of(index(in), in.below(4) == 0 ? VringAddrPayload.VHOST_VRING_F_LOG : 0,
                    address(in), address(in), address(in), address(in));
            case SET_LOG_BASE -> {
                fds = new int[] {in.below(8) == 0 ? FuzzWire.eventfd() : FuzzWire.memfd()};
                yield LogPayload.of(in.below(8) == 0 ? in.u64() : 8L << in.below(10), in.below(8) == 0 ? in.u64() : 0);
            }
            case SEND_RARP -> U64Payload.of(in.u64());
            case SET_VRING_KICK, SET_VRING_CALL, SET_VRING_ERR -> {
                boolean noFd = in.below(4) == 0;
                if (!noFd) {
                    fds = new int[] {in.below(8) == 0 ? FuzzWire.memfd() : FuzzWire.eventfd()};
                }
                yield VringFdPayload.of(index(in), noFd);
            }
            case NET_SET_MTU -> U64Payload.of(in.below(8) == 0 ? in.u64() : 68 + in.below(12000));
            case ADD_MEM_REG -> {
                RegionDescriptor region = region(in);
                int kind = in.below(8);
                fds = kind == 0 ? new int[0] : new int[] {kind == 1 ? FuzzWire.eventfd() : FuzzWire.memfd()};
                yield MemoryRegionPayload.of(region);
            }
            case REM_MEM_REG -> {
                GuestMemory memory = device.memory;
                boolean existing = in.below(4) != 0 && memory != null && memory.regionCount() > 0;
                RegionDescriptor region;
                if (existing) {
                    MemoryRegion r = memory.region(in.below(memory.regionCount()));
                    region = new RegionDescriptor(r.gpa(), r.size(), r.frontendVa(), in.u8());
                } else {
                    region = region(in);
                }
                if (in.below(8) == 0) { // QEMU before 7.1 attached the fd
                    fds = new int[] {FuzzWire.memfd()};
                }
                yield MemoryRegionPayload.of(region);
            }
            default -> MemorySegment.ofArray(new byte[0]);
        };
        wire.send(type.code(), flags, payload, fds);
        VhostUserMessage message;
        try {
            message = MessageCodec.read(wire.backend);
        } catch (VhostUserException e) {
            return false; // rejected by the codec: the connection is dropped
        }
        assertNotNull(message, "end of file after a whole message");
        try (message) {
            GuestMemory before = device.memory;
            boolean keep = true;
            try {
                session.handle(message);
            } catch (VhostUserException e) {
                if (e.getCause() instanceof RuntimeException cause) {
                    throw new AssertionError("the session failed on " + message.request() + ": " + cause, cause);
                }
                keep = e.keepsConnection();
            }
            GuestMemory now = device.memory;
            if (now == null && before != null) { // RESET_OWNER ended the device session
                assertFalse(mapped(before), "memory still mapped after RESET_OWNER");
            } else if (now != before) {
                tables.add(now);
                for (int i = 0; i < now.regionCount(); i++) {
                    assertTrue(now.segment(i).scope().isAlive(), "a region of the device's table is not mapped");
                }
                // SET_MEM_TABLE replaces every region; ADD_MEM_REG and REM_MEM_REG keep the others mapped.
                for (int i = 0; before != null && i < before.regionCount(); i++) {
                    assertEquals(contains(now, before.region(i)), before.segment(i).scope().isAlive(),
                            "region gpa 0x" + Long.toHexString(before.regionGpa(i)) + " after " + message.request()
                                    + ": mapped exactly while the new table has it");
                }
            }
            checkQueuesAgree(session, device);
            checkNoDeviceErrors(device);
            return keep;
        }
    }

    /** Mostly inside the 64 KiB memfd, at a few guest-physical and front-end addresses. */
    private static RegionDescriptor region(FuzzInput in) {
        boolean raw = in.below(8) == 0;
        long gpa = raw ? in.u64() : 0x1_0000L * in.below(4);
        long size = raw ? in.u64() : 0x1000L * (1 + in.below(16));
        long va = raw ? in.u64() : VA + 0x1_0000L * in.below(4);
        long offset = raw ? in.u64() : 0x1000L * in.below(4);
        return new RegionDescriptor(gpa, size, va, offset);
    }

    private static long address(FuzzInput in) {
        return in.below(8) == 0 ? in.u64() : VA + 0x1_0000L * in.below(4) + 0x100L * in.below(256);
    }

    /** A queue index, usually in range (2 or 4 queues), sometimes just past it or anything. */
    private static int index(FuzzInput in) {
        return in.below(16) == 0 ? in.u8() : in.below(5);
    }

    /** Whether any region of {@code table} is still mapped. */
    private static boolean mapped(GuestMemory table) {
        for (int i = 0; i < table.regionCount(); i++) {
            if (table.segment(i).scope().isAlive()) {
                return true;
            }
        }
        return false;
    }

    private static boolean contains(GuestMemory table, MemoryRegion region) {
        for (int i = 0; i < table.regionCount(); i++) {
            if (table.region(i) == region) {
                return true;
            }
        }
        return false;
    }

    /** Bits 0-4 as they are (MQ .. NET_MTU), bit 5 for CONFIGURE_MEM_SLOTS (15), so seeds stay short. */
    private static long protocolFeatures(int bits) {
        return (bits & 0x1F) | ((bits & 0x20) != 0 ? 1L << VhostUserSession.PROTOCOL_F_CONFIGURE_MEM_SLOTS : 0);
    }

    private static void checkQueuesAgree(VhostUserSession session, RecordingDevice device) {
        for (int q = 0; q < 2 * device.maxQueuePairs; q++) {
            assertEquals(session.isRunning(q), device.callFd(q) != null, "session and device disagree on queue " + q);
        }
    }

    private static void checkNoDeviceErrors(RecordingDevice device) {
        for (String call : device.calls()) {
            if (call.startsWith("ERROR")) {
                fail(call + "; calls: " + device.calls());
            }
        }
    }
}

package io.jvhost.backend.protocol;

import io.jvhost.backend.linux.EventFd;
import io.jvhost.backend.linux.Fds;
import io.jvhost.backend.linux.OpenFds;
import io.jvhost.backend.protocol.VhostUserRequest.RegionDescriptor;
import io.jvhost.virtio.memory.DirtyLog;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;

import static io.jvhost.backend.protocol.RequestType.GET_FEATURES;
import static io.jvhost.backend.protocol.RequestType.GET_PROTOCOL_FEATURES;
import static io.jvhost.backend.protocol.RequestType.GET_VRING_BASE;
import static io.jvhost.backend.protocol.RequestType.SEND_RARP;
import static io.jvhost.backend.protocol.RequestType.SET_FEATURES;
import static io.jvhost.backend.protocol.RequestType.SET_LOG_BASE;
import static io.jvhost.backend.protocol.RequestType.SET_LOG_FD;
import static io.jvhost.backend.protocol.RequestType.SET_MEM_TABLE;
import static io.jvhost.backend.protocol.RequestType.SET_PROTOCOL_FEATURES;
import static io.jvhost.backend.protocol.RequestType.SET_VRING_ADDR;
import static io.jvhost.backend.protocol.RequestType.SET_VRING_BASE;
import static io.jvhost.backend.protocol.RequestType.SET_VRING_CALL;
import static io.jvhost.backend.protocol.RequestType.SET_VRING_ENABLE;
import static io.jvhost.backend.protocol.RequestType.SET_VRING_KICK;
import static io.jvhost.backend.protocol.RequestType.SET_VRING_NUM;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The live-migration requests (vhost-user.rst, "Migration"), in the order QEMU sends them, over a real socket pair. */
@Timeout(30)
class VhostUserMigrationTest {

    static final long VA = 0x7f00_0000_0000L;
    static final long LOG_ALL = 1L << 26;
    /** MQ, LOG_SHMFD, RARP, REPLY_ACK. */
    static final long PROTOCOL = 0b1111;
    static final String RING0 = "startQueue(index=0 size=256 nextAvail=%d desc=0x%x avail=0x7f0000002000"
            + " used=0x7f0000003000 kick=fd call=fd err=none%s)";

    private final RecordingDevice device = new RecordingDevice();
    private long fdsBefore;
    private int kick;
    private int call;

    @BeforeAll
    static void warmUp() throws Exception {
        // Loads every class (and opens every jar) once, so the fd counts below see only our fds.
        VhostUserMigrationTest t = new VhostUserMigrationTest();
        t.setUp();
        try {
            t.shouldToggleLogAllAndUsedRingLoggingOnARunningRingWithoutRestartingIt();
            t.shouldHandTheRarpMacToTheDevice();
        } finally {
            Fds.close(t.kick);
            Fds.close(t.call);
        }
    }

    @BeforeEach
    void setUp() throws Exception {
        device.offeredFeatures |= LOG_ALL;
        device.offeredProtocolFeatures = 0b1_1111; // and NET_MTU
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

    /** Negotiation with LOG_SHMFD and RARP, a memory table and ring 0 running. */
    private void startRing0(TestFrontend fe, GuestRam ram) {
        assertEquals(device.offeredFeatures, fe.get(GET_FEATURES));
        assertEquals(0b1_1111, fe.get(GET_PROTOCOL_FEATURES), "LOG_SHMFD and RARP offered");
        fe.send(SET_PROTOCOL_FEATURES, U64Payload.of(PROTOCOL));
        assertEquals(0, fe.sendAcked(SET_FEATURES, U64Payload.of(device.offeredFeatures & ~LOG_ALL)));
        assertEquals(0, fe.sendAcked(SET_MEM_TABLE, MemoryTablePayload.of(new RegionDescriptor(0, 0x10_0000, VA, 0)), ram.fd));
        assertEquals(0, fe.sendAcked(SET_VRING_NUM, VringStatePayload.of(0, 256)));
        assertEquals(0, fe.sendAcked(SET_VRING_BASE, VringStatePayload.of(0, 0)));
        assertEquals(0, fe.sendAcked(SET_VRING_ADDR, VringAddrPayload.of(0, 0, VA + 0x1000, VA + 0x3000, VA + 0x2000, 0)));
        assertEquals(0, fe.sendAcked(SET_VRING_KICK, VringFdPayload.of(0, false), kick));
        assertEquals(0, fe.sendAcked(SET_VRING_CALL, VringFdPayload.of(0, false), call));
        assertEquals(0, fe.sendAcked(SET_VRING_ENABLE, VringStatePayload.of(0, 1)));
        device.drain();
    }

    /** SET_LOG_BASE without NEED_REPLY: QEMU reads a reply all the same (vhost_user_set_log_base). */
    private static void setLogBase(TestFrontend fe, GuestRam log, long size, long offset) {
        fe.send(SET_LOG_BASE, LogPayload.of(size, offset), log.fd);
        TestFrontend.Reply reply = fe.receive();
        assertEquals(SET_LOG_BASE.code(), reply.request(), "the reply names SET_LOG_BASE");
        assertEquals(0, U64Payload.value(reply.payload()));
    }

    @Test
    void shouldMapTheLogAtItsOffsetReplyAndUnmapItWhenReplaced() throws Exception {
        try (GuestRam ram = new GuestRam(0x10_0000); GuestRam log = new GuestRam(0x3000); GuestRam log2 = new GuestRam(0x1000);
             ConnectionHarness h = new ConnectionHarness(device)) {
            TestFrontend fe = h.frontend;
            startRing0(fe, ram);

            setLogBase(fe, log, 0x1000, 0x1008); // 32768 pages from byte 0x1008 of the file
            assertEquals(List.of("setLog(32768 pages)"), device.drain());
            DirtyLog first = device.log;
            first.markRange(0x5000, 1); // page 5
            first.markRange(64L * 4096, 1); // page 64: byte 8
            assertEquals(1 << 5, log.mapping.segment().get(ValueLayout.JAVA_BYTE, 0x1008), "page 5 at the log's offset");
            assertEquals(1, log.mapping.segment().get(ValueLayout.JAVA_BYTE, 0x1010), "page 64");

            // QEMU sends a new log when guest memory grows; the device switched before the old is unmapped.
            setLogBase(fe, log2, 0x1000, 0);
            assertEquals(List.of("setLog(32768 pages)"), device.drain());
            assertThrows(IllegalStateException.class, () -> first.markRange(0, 1), "old log unmapped");
            device.log.markRange(0, 1);
            assertEquals(1, log2.mapping.segment().get(ValueLayout.JAVA_BYTE, 0));
        }
        assertEquals(List.of("stopQueue(0)=0", "disconnected()"), device.drain());
    }

    @Test
    void shouldRejectALogLargerThanItsFile() throws Exception {
        try (GuestRam log = new GuestRam(0x1000); ConnectionHarness h = new ConnectionHarness(device)) {
            TestFrontend fe = h.frontend;
            fe.get(GET_FEATURES);
            fe.send(SET_PROTOCOL_FEATURES, U64Payload.of(PROTOCOL));
            fe.send(SET_LOG_BASE, LogPayload.of(0x1000, 0x8), log.fd);
            assertTrue(fe.isClosedByBackend());
            assertEquals("SET_LOG_BASE: mmap_offset 0x8 + size 0x1000 exceeds the file size 0x1000",
                    h.awaitOutcome().getMessage());
        }
    }

    @Test
    void shouldToggleLogAllAndUsedRingLoggingOnARunningRingWithoutRestartingIt() throws Exception {
        try (GuestRam ram = new GuestRam(0x10_0000); GuestRam log = new GuestRam(0x1000);
             ConnectionHarness h = new ConnectionHarness(device)) {
            TestFrontend fe = h.frontend;
            startRing0(fe, ram);
            setLogBase(fe, log, 0x1000, 0);
            long on = device.offeredFeatures;
            long off = on & ~LOG_ALL;

            // QEMU's vhost_dev_set_log: SET_FEATURES with LOG_ALL, then SET_VRING_ADDR with the LOG flag per ring.
            assertEquals(0, fe.sendAcked(SET_FEATURES, U64Payload.of(on)));
            assertEquals(0, fe.sendAcked(SET_VRING_ADDR,
                    VringAddrPayload.of(0, VringAddrPayload.VHOST_VRING_F_LOG, VA + 0x1000, VA + 0x3000, VA + 0x2000, 0x3000)));
            assertEquals(List.of("setLog(32768 pages)", "setFeatures(0x" + Long.toHexString(on) + ")", "setUsedLog(0, 0x3000)"),
                    device.drain(), "the ring keeps running: no stop, no start");

            // Migration cancelled: logging off the same way.
            assertEquals(0, fe.sendAcked(SET_FEATURES, U64Payload.of(off)));
            assertEquals(0, fe.sendAcked(SET_VRING_ADDR, VringAddrPayload.of(0, 0, VA + 0x1000, VA + 0x3000, VA + 0x2000, 0)));
            assertEquals(List.of("setFeatures(0x" + Long.toHexString(off) + ")", "setUsedLog(0, -1)"), device.drain());

            // New ring addresses still restart the ring, keeping the log address.
            assertEquals(0, fe.sendAcked(SET_VRING_ADDR,
                    VringAddrPayload.of(0, VringAddrPayload.VHOST_VRING_F_LOG, VA + 0x4000, VA + 0x3000, VA + 0x2000, 0x3000)));
            assertEquals(List.of("stopQueue(0)=0", RING0.formatted(0, VA + 0x4000, " log=0x3000")), device.drain());

            // The source's last step: GET_VRING_BASE stops the ring and answers the device's next avail index.
            device.stopResults.add(77);
            fe.send(GET_VRING_BASE, VringStatePayload.of(0, 0));
            assertEquals(77, fe.receive().num());
            assertEquals(List.of("stopQueue(0)=77"), device.drain());
        }
        assertEquals(List.of("disconnected()"), device.drain());
    }

    @Test
    void shouldAcceptAndCloseTheLogFd() throws Exception {
        int logFd = EventFd.create();
        try (ConnectionHarness h = new ConnectionHarness(device)) {
            TestFrontend fe = h.frontend;
            fe.get(GET_FEATURES);
            fe.send(SET_PROTOCOL_FEATURES, U64Payload.of(PROTOCOL));
            assertEquals(0, fe.sendAcked(SET_LOG_FD, MemorySegment.ofArray(new byte[0]), logFd));
            Fds.close(logFd); // ours; the back-end's copy must be closed too (the leak check counts)
            assertEquals(List.of("connected(1234)"), device.drain());
        }
    }

    @Test
    void shouldHandTheRarpMacToTheDevice() throws Exception {
        try (ConnectionHarness h = new ConnectionHarness(device)) {
            TestFrontend fe = h.frontend;
            fe.get(GET_FEATURES);
            fe.send(SET_PROTOCOL_FEATURES, U64Payload.of(PROTOCOL));
            MemorySegment mac = MemorySegment.ofArray(new byte[] {0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0, 0});
            assertEquals(0, fe.sendAcked(SEND_RARP, mac));
            assertEquals(List.of("connected(1234)", "sendRarp(525400123456)"), device.drain());
        }
    }
}

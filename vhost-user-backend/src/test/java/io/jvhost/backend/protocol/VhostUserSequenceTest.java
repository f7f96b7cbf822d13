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
import java.util.List;

import static io.jvhost.backend.protocol.RequestType.GET_FEATURES;
import static io.jvhost.backend.protocol.RequestType.GET_PROTOCOL_FEATURES;
import static io.jvhost.backend.protocol.RequestType.GET_QUEUE_NUM;
import static io.jvhost.backend.protocol.RequestType.GET_VRING_BASE;
import static io.jvhost.backend.protocol.RequestType.RESET_OWNER;
import static io.jvhost.backend.protocol.RequestType.SET_FEATURES;
import static io.jvhost.backend.protocol.RequestType.SET_MEM_TABLE;
import static io.jvhost.backend.protocol.RequestType.SET_OWNER;
import static io.jvhost.backend.protocol.RequestType.SET_PROTOCOL_FEATURES;
import static io.jvhost.backend.protocol.RequestType.SET_VRING_ADDR;
import static io.jvhost.backend.protocol.RequestType.SET_VRING_BASE;
import static io.jvhost.backend.protocol.RequestType.SET_VRING_CALL;
import static io.jvhost.backend.protocol.RequestType.SET_VRING_ENABLE;
import static io.jvhost.backend.protocol.RequestType.SET_VRING_KICK;
import static io.jvhost.backend.protocol.RequestType.SET_VRING_NUM;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Whole request sequences, as QEMU sends them, over a real socket pair. */
@Timeout(30)
class VhostUserSequenceTest {

    static final long VA = 0x7f00_0000_0000L;
    static final long FEATURES = RecordingDevice.VIRTIO_F_VERSION_1 | RecordingDevice.VIRTIO_NET_F_MRG_RXBUF
            | RecordingDevice.F_PROTOCOL_FEATURES;
    static final String RING0 = "index=0 size=256 nextAvail=%d desc=0x7f0000001000 avail=0x7f0000002000"
            + " used=0x7f0000003000 kick=fd call=fd err=none";

    private final RecordingDevice device = new RecordingDevice();
    private long fdsBefore;
    private int kick;
    private int call;
    private int call2;

    @BeforeAll
    static void warmUp() throws Exception {
        // Loads every class (and opens every jar) once, so the fd counts below see only our fds.
        new VhostUserSequenceTest().runFullSequence();
    }

    @BeforeEach
    void openEventFds() throws Exception {
        fdsBefore = OpenFds.count();
        kick = EventFd.create();
        call = EventFd.create();
        call2 = EventFd.create();
    }

    @AfterEach
    void closeEventFdsAndCheckForLeaks() throws Exception {
        Fds.close(kick);
        Fds.close(call);
        Fds.close(call2);
        assertEquals(fdsBefore, OpenFds.count(), () -> "open fds after the test: " + OpenFds.describe());
    }

    private void runFullSequence() throws Exception {
        openEventFds();
        try {
            shouldDriveDeviceThroughQemuStartSequence();
        } finally {
            Fds.close(kick);
            Fds.close(call);
            Fds.close(call2);
        }
    }

    /** GET_FEATURES .. SET_OWNER .. SET_FEATURES, all acked; returns the front-end. */
    private static void negotiate(TestFrontend fe, RecordingDevice device) {
        assertEquals(device.offeredFeatures, fe.get(GET_FEATURES));
        assertEquals(0b1001, fe.get(GET_PROTOCOL_FEATURES), "MQ and REPLY_ACK; SLAVE_REQ masked out");
        fe.send(SET_PROTOCOL_FEATURES, U64Payload.of(0b1001));
        assertEquals(2, fe.get(GET_QUEUE_NUM));
        assertEquals(0, fe.sendAcked(SET_OWNER));
        assertEquals(0, fe.sendAcked(SET_FEATURES, U64Payload.of(device.offeredFeatures)));
    }

    private static MemorySegment table(long mmapOffset) {
        return MemoryTablePayload.of(new RegionDescriptor(0, 0x10_0000, VA, mmapOffset));
    }

    private void setUpRing0(TestFrontend fe) {
        assertEquals(0, fe.sendAcked(SET_VRING_NUM, VringStatePayload.of(0, 256)));
        assertEquals(0, fe.sendAcked(SET_VRING_BASE, VringStatePayload.of(0, 0)));
        assertEquals(0, fe.sendAcked(SET_VRING_ADDR, VringAddrPayload.of(0, 0, VA + 0x1000, VA + 0x3000, VA + 0x2000, 0)));
        assertEquals(0, fe.sendAcked(SET_VRING_KICK, VringFdPayload.of(0, false), kick));
        assertEquals(0, fe.sendAcked(SET_VRING_CALL, VringFdPayload.of(0, false), call));
    }

    @Test
    void shouldDriveDeviceThroughQemuStartSequence() throws Exception {
        ConnectionHarness h = new ConnectionHarness(device);
        try (GuestRam ram = new GuestRam(0x10_1000); h) {
            TestFrontend fe = h.frontend;
            negotiate(fe, device);
            assertEquals(0, fe.sendAcked(SET_MEM_TABLE, table(0x1000), ram.fd));
            setUpRing0(fe);
            // VHOST_USER_F_PROTOCOL_FEATURES negotiated: the ring is started but disabled, so not running.
            assertEquals(List.of("connected(1234)", "setFeatures(0x140008000)",
                    "setMemory(gpa=0x0 size=0x100000 va=0x7f0000000000)"), device.drain());

            assertEquals(0, fe.sendAcked(SET_VRING_ENABLE, VringStatePayload.of(0, 1)));
            assertEquals(List.of("startQueue(" + RING0.formatted(0) + ")"), device.drain());

            // The device sees the front-end's bytes: gpa 0x10 is file offset mmap_offset + 0x10.
            ram.mapping.segment().set(ValueLayout.JAVA_LONG, 0x1010, 0xfeed_beefL);
            assertEquals(0xfeed_beefL, device.memory.segment(0).get(ValueLayout.JAVA_LONG, 0x10));

            // A new call fd for a running ring goes to the device; the old one is closed after.
            int oldCall = device.callFd(0);
            assertEquals(0, fe.sendAcked(SET_VRING_CALL, VringFdPayload.of(0, false), call2));
            assertEquals(List.of("setCallFd(0, fd)"), device.drain());
            assertFalse(OpenFds.isOpen(oldCall), "replaced call fd closed");

            // Disable stops the ring and keeps its position; enable resumes there.
            device.stopResults.add(42);
            assertEquals(0, fe.sendAcked(SET_VRING_ENABLE, VringStatePayload.of(0, 0)));
            assertEquals(List.of("stopQueue(0)=42"), device.drain());
            assertEquals(0, fe.sendAcked(SET_VRING_ENABLE, VringStatePayload.of(0, 1)));
            assertEquals(List.of("startQueue(" + RING0.formatted(42) + ")"), device.drain());

            // GET_VRING_BASE stops the ring and replies with the device's next avail index.
            device.stopResults.add(50);
            fe.send(GET_VRING_BASE, VringStatePayload.of(0, 0));
            TestFrontend.Reply reply = fe.receive();
            assertEquals(GET_VRING_BASE.code(), reply.request());
            assertEquals(0, reply.index());
            assertEquals(50, reply.num());
            assertEquals(List.of("stopQueue(0)=50"), device.drain());
        }
        assertNull(h.awaitOutcome(), "front-end closed: no error");
        assertEquals(List.of("disconnected()"), device.drain());
    }

    @Test
    void shouldAcceptVringEnableBeforeSetFeaturesAsQemuSendsIt() throws Exception {
        // QEMU 7.2 disables the rings right after SET_PROTOCOL_FEATURES, before SET_FEATURES acks bit 30.
        ConnectionHarness h = new ConnectionHarness(device);
        try (h) {
            TestFrontend fe = h.frontend;
            assertEquals(device.offeredFeatures, fe.get(GET_FEATURES));
            assertEquals(0b1001, fe.get(GET_PROTOCOL_FEATURES));
            fe.send(SET_PROTOCOL_FEATURES, U64Payload.of(0b1001));
            assertEquals(0, fe.sendAcked(SET_VRING_ENABLE, VringStatePayload.of(0, 0)));
            assertEquals(0, fe.sendAcked(SET_VRING_ENABLE, VringStatePayload.of(1, 0)));
            assertEquals(0, fe.sendAcked(SET_FEATURES, U64Payload.of(device.offeredFeatures)));
            assertEquals(List.of("connected(1234)", "setFeatures(0x140008000)"), device.drain());
        }
        assertNull(h.awaitOutcome(), "front-end closed: no error");
    }

    @Test
    void shouldSwitchRunningQueuesToNewMemoryTableAndUnmapTheOld() throws Exception {
        try (GuestRam ram = new GuestRam(0x10_1000); GuestRam ram2 = new GuestRam(0x20_0000);
             ConnectionHarness h = new ConnectionHarness(device)) {
            TestFrontend fe = h.frontend;
            negotiate(fe, device);
            assertEquals(0, fe.sendAcked(SET_MEM_TABLE, table(0x1000), ram.fd));
            setUpRing0(fe);
            assertEquals(0, fe.sendAcked(SET_VRING_ENABLE, VringStatePayload.of(0, 1)));
            GuestMemory old = device.memory;
            device.drain();

            assertEquals(0, fe.sendAcked(SET_MEM_TABLE, table(0x10_0000), ram2.fd));
            assertEquals(List.of("setMemory(gpa=0x0 size=0x100000 va=0x7f0000000000)"), device.drain(),
                    "running queue switched in place, not restarted");
            assertThrows(IllegalStateException.class, () -> old.segment(0).get(ValueLayout.JAVA_BYTE, 0),
                    "old table unmapped");
            ram2.mapping.segment().set(ValueLayout.JAVA_INT, 0x10_0000, 77);
            assertEquals(77, device.memory.segment(0).get(ValueLayout.JAVA_INT, 0));
        }
        assertEquals(List.of("stopQueue(0)=0", "disconnected()"), device.drain());
    }

    @Test
    void shouldStartRingsEnabledWithoutProtocolFeaturesOnceMemoryArrives() throws Exception {
        device.offeredFeatures = RecordingDevice.VIRTIO_F_VERSION_1;
        try (GuestRam ram = new GuestRam(0x10_0000); ConnectionHarness h = new ConnectionHarness(device)) {
            TestFrontend fe = h.frontend;
            assertEquals(RecordingDevice.VIRTIO_F_VERSION_1, fe.get(GET_FEATURES));
            fe.send(SET_OWNER);
            fe.send(SET_FEATURES, U64Payload.of(RecordingDevice.VIRTIO_F_VERSION_1));
            fe.send(SET_VRING_NUM, VringStatePayload.of(1, 256));
            fe.send(SET_VRING_BASE, VringStatePayload.of(1, 7));
            fe.send(SET_VRING_ADDR, VringAddrPayload.of(1, 0, VA + 0x1000, VA + 0x3000, VA + 0x2000, 0));
            fe.send(SET_VRING_CALL, VringFdPayload.of(1, true));
            fe.send(SET_VRING_KICK, VringFdPayload.of(1, false), kick);
            fe.get(GET_FEATURES); // a barrier: everything before it was handled
            assertEquals(List.of("connected(1234)", "setFeatures(0x100000000)"), device.drain(),
                    "started and enabled, but no memory table yet");

            fe.send(SET_MEM_TABLE, table(0), ram.fd);
            fe.get(GET_FEATURES);
            assertEquals(List.of("setMemory(gpa=0x0 size=0x100000 va=0x7f0000000000)",
                    "startQueue(index=1 size=256 nextAvail=7 desc=0x7f0000001000 avail=0x7f0000002000"
                            + " used=0x7f0000003000 kick=fd call=none err=none)"), device.drain());
        }
        assertEquals(List.of("stopQueue(1)=7", "disconnected()"), device.drain());
    }

    @Test
    void shouldAckOnlyOnceReplyAckIsNegotiatedIncludingTheNegotiatingRequest() throws Exception {
        try (ConnectionHarness h = new ConnectionHarness(device)) {
            TestFrontend fe = h.frontend;
            // NEED_REPLY before REPLY_ACK is negotiated: no ack, the next reply is GET_FEATURES'.
            fe.sendRaw(SET_OWNER.code(), MessageHeader.VERSION | MessageHeader.FLAG_NEED_REPLY, MemorySegment.ofArray(new byte[0]));
            assertEquals(device.offeredFeatures, fe.get(GET_FEATURES));
            // The front-end counts on the ack from the moment it sends REPLY_ACK in its own mask.
            assertEquals(0, fe.sendAcked(SET_PROTOCOL_FEATURES, U64Payload.of(0b1000)));
            // A request with its own reply gets just that reply.
            fe.sendRaw(GET_FEATURES.code(), MessageHeader.VERSION | MessageHeader.FLAG_NEED_REPLY, MemorySegment.ofArray(new byte[0]));
            assertEquals(device.offeredFeatures, fe.receive().u64());
            assertEquals(0, fe.sendAcked(SET_OWNER));
        }
    }

    @Test
    void shouldNackRejectedRequestThenClose() throws Exception {
        try (ConnectionHarness h = new ConnectionHarness(device)) {
            TestFrontend fe = h.frontend;
            negotiate(fe, device);
            assertEquals(1, fe.sendAcked(SET_VRING_NUM, VringStatePayload.of(9, 256)));
            assertTrue(fe.isClosedByBackend());
            assertEquals("SET_VRING_NUM: queue index 9 out of range (device has 4 queues)", h.awaitOutcome().getMessage());
        }
    }

    @Test
    void shouldNackMalformedRequestThenClose() throws Exception {
        // Rejected while decoding, before the session sees it: still answered with a failure status.
        try (ConnectionHarness h = new ConnectionHarness(device)) {
            TestFrontend fe = h.frontend;
            negotiate(fe, device);
            assertEquals(1, fe.sendAcked(SET_VRING_NUM, VringStatePayload.of(0, 3)));
            assertTrue(fe.isClosedByBackend());
            assertEquals("SET_VRING_NUM: queue size 3 is not a power of two in 1..32768", h.awaitOutcome().getMessage());
        }
    }

    @Test
    void shouldTreatResetOwnerAsANewDeviceSessionOnTheSameConnection() throws Exception {
        try (GuestRam ram = new GuestRam(0x10_1000); ConnectionHarness h = new ConnectionHarness(device)) {
            TestFrontend fe = h.frontend;
            negotiate(fe, device);
            assertEquals(0, fe.sendAcked(SET_MEM_TABLE, table(0x1000), ram.fd));
            setUpRing0(fe);
            assertEquals(0, fe.sendAcked(SET_VRING_ENABLE, VringStatePayload.of(0, 1)));
            device.drain();

            assertEquals(0, fe.sendAcked(RESET_OWNER), "protocol features (REPLY_ACK) survive the reset");
            assertEquals(List.of("stopQueue(0)=0", "disconnected()", "connected(1234)"), device.drain());
            assertEquals(0, fe.sendAcked(SET_FEATURES, U64Payload.of(FEATURES)));
            assertEquals(List.of("setFeatures(0x140008000)"), device.drain());
        }
        assertEquals(List.of("disconnected()"), device.drain());
    }

    @Test
    void shouldDropConnectionWhenDeviceRefusesRing() throws Exception {
        device.refuseStart = "avail ring 0x7f0000002000 is not in guest memory";
        try (GuestRam ram = new GuestRam(0x10_1000); ConnectionHarness h = new ConnectionHarness(device)) {
            TestFrontend fe = h.frontend;
            negotiate(fe, device);
            assertEquals(0, fe.sendAcked(SET_MEM_TABLE, table(0x1000), ram.fd));
            setUpRing0(fe);
            assertEquals(1, fe.sendAcked(SET_VRING_ENABLE, VringStatePayload.of(0, 1)));
            assertTrue(fe.isClosedByBackend());
            VhostUserException e = h.awaitOutcome();
            assertEquals("SET_VRING_ENABLE: vring 0 rejected by the device: avail ring 0x7f0000002000 is not in guest memory",
                    e.getMessage());
            assertTrue(e.shouldReconnect());
        }
        assertEquals("disconnected()", device.calls().getLast());
    }
}

package io.jvhost.backend.protocol;

import io.jvhost.backend.linux.EventFd;
import io.jvhost.backend.linux.Fds;
import io.jvhost.backend.linux.OpenFds;
import io.jvhost.backend.protocol.VhostUserRequest.RegionDescriptor;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.function.Consumer;

import static io.jvhost.backend.protocol.RequestType.GET_FEATURES;
import static io.jvhost.backend.protocol.RequestType.GET_PROTOCOL_FEATURES;
import static io.jvhost.backend.protocol.RequestType.GET_QUEUE_NUM;
import static io.jvhost.backend.protocol.RequestType.SET_FEATURES;
import static io.jvhost.backend.protocol.RequestType.SET_MEM_TABLE;
import static io.jvhost.backend.protocol.RequestType.SET_OWNER;
import static io.jvhost.backend.protocol.RequestType.SET_VRING_ADDR;
import static io.jvhost.backend.protocol.RequestType.SET_VRING_CALL;
import static io.jvhost.backend.protocol.RequestType.SET_VRING_ENABLE;
import static io.jvhost.backend.protocol.RequestType.SET_VRING_KICK;
import static io.jvhost.backend.protocol.RequestType.SET_VRING_NUM;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Every malformed or illegal request closes the connection with a specific reason, closes every fd
 * that came with it and leaves the device disconnected.
 */
@Timeout(30)
class VhostUserValidationTest {

    private final RecordingDevice device = new RecordingDevice();
    private long fdsBefore;
    private int eventFd;

    @BeforeAll
    static void warmUp() throws Exception {
        VhostUserValidationTest test = new VhostUserValidationTest();
        test.eventFd = EventFd.create();
        try {
            test.shouldRejectFdsOnRequestThatTakesNone();
        } finally {
            Fds.close(test.eventFd);
        }
    }

    @BeforeEach
    void open() throws Exception {
        fdsBefore = OpenFds.count();
        eventFd = EventFd.create();
    }

    @AfterEach
    void checkForLeaks() throws Exception {
        Fds.close(eventFd);
        assertEquals(fdsBefore, OpenFds.count(), () -> "open fds after the test: " + OpenFds.describe());
    }

    private String rejection(Consumer<TestFrontend> steps) throws Exception {
        return ConnectionHarness.rejection(device, steps);
    }

    private static void negotiate(TestFrontend fe) {
        fe.get(GET_FEATURES);
        fe.send(RequestType.SET_PROTOCOL_FEATURES, U64Payload.of(0b1001));
        fe.send(SET_FEATURES, U64Payload.of(RecordingDevice.VIRTIO_F_VERSION_1 | RecordingDevice.F_PROTOCOL_FEATURES));
    }

    @Test
    void shouldRejectWrongPayloadSize() throws Exception {
        assertEquals("SET_FEATURES: payload size 4, expected 8",
                rejection(fe -> fe.send(SET_FEATURES, MemorySegment.ofArray(new byte[4]))));
    }

    @Test
    void shouldRejectOversizedPayloadBeforeReadingIt() throws Exception {
        assertEquals("SET_MEM_TABLE: payload size 5000 exceeds 4096",
                rejection(fe -> fe.sendRaw(SET_MEM_TABLE.code(), MessageHeader.VERSION, MemorySegment.ofArray(new byte[5000]))));
    }

    @Test
    void shouldRejectFdsOnRequestThatTakesNone() throws Exception {
        assertEquals("SET_OWNER: 1 fds attached, none allowed",
                rejection(fe -> fe.send(SET_OWNER, MemorySegment.ofArray(new byte[0]), eventFd)));
    }

    @Test
    void shouldRejectBadVersionBits() throws Exception {
        assertEquals("GET_FEATURES: bad version bits in flags 0x2 (expected version 1)",
                rejection(fe -> fe.sendRaw(GET_FEATURES.code(), 0x2, MemorySegment.ofArray(new byte[0]))));
    }

    @Test
    void shouldRejectReplyFlagOnRequest() throws Exception {
        assertEquals("GET_FEATURES: invalid flags 0x5 on a request",
                rejection(fe -> fe.sendRaw(GET_FEATURES.code(), 0x5, MemorySegment.ofArray(new byte[0]))));
    }

    @Test
    void shouldRejectUnknownRequest() throws Exception {
        assertEquals("unsupported vhost-user request 99",
                rejection(fe -> fe.sendRaw(99, MessageHeader.VERSION, U64Payload.of(0))));
    }

    @Test
    void shouldRejectQueueIndexOutOfRange() throws Exception {
        assertEquals("SET_VRING_NUM: queue index 4 out of range (device has 4 queues)",
                rejection(fe -> fe.send(SET_VRING_NUM, VringStatePayload.of(4, 256))));
    }

    @Test
    void shouldRejectCallFdForQueueOutOfRangeAndCloseIt() throws Exception {
        assertEquals("SET_VRING_CALL: queue index 200 out of range (device has 4 queues)",
                rejection(fe -> fe.send(SET_VRING_CALL, VringFdPayload.of(200, false), eventFd)));
    }

    @Test
    void shouldRejectAVringFdThatIsNotAnEventfdAndCloseIt() throws Exception {
        int memfd = Fds.memfdCreate("jvhost-test-call");
        try {
            assertEquals("SET_VRING_CALL: vring 0: the fd is a regular file (/memfd:jvhost-test-call (deleted)), "
                    + "not an eventfd", rejection(fe -> fe.send(SET_VRING_CALL, VringFdPayload.of(0, false), memfd)));
        } finally {
            Fds.close(memfd);
        }
    }

    @Test
    void shouldRejectUnofferedFeatures() throws Exception {
        assertEquals("SET_FEATURES: features 0x1 were not offered (offered 0x140008000)",
                rejection(fe -> fe.send(SET_FEATURES, U64Payload.of(RecordingDevice.VIRTIO_F_VERSION_1 | 1))));
    }

    @Test
    void shouldRejectQueueSizeThatIsNotAPowerOfTwo() throws Exception {
        assertEquals("SET_VRING_NUM: queue size 300 is not a power of two in 1..32768",
                rejection(fe -> fe.send(SET_VRING_NUM, VringStatePayload.of(0, 300))));
    }

    @Test
    void shouldRejectPollingKick() throws Exception {
        assertEquals("SET_VRING_KICK: vring 0: no kick fd (polling mode) is not supported",
                rejection(fe -> fe.send(SET_VRING_KICK, VringFdPayload.of(0, true))));
    }

    @Test
    void shouldRejectKickWithoutFdOrNoFdFlag() throws Exception {
        assertEquals("SET_VRING_KICK: no fd attached and NOFD flag not set",
                rejection(fe -> fe.send(SET_VRING_KICK, VringFdPayload.of(0, false))));
    }

    @Test
    void shouldRejectKickBeforeRingIsDescribed() throws Exception {
        assertEquals("SET_VRING_KICK: vring 0: SET_VRING_NUM and SET_VRING_ADDR must come before the kick fd",
                rejection(fe -> fe.send(SET_VRING_KICK, VringFdPayload.of(0, false), eventFd)));
    }

    @Test
    void shouldRejectUnknownVringFlags() throws Exception {
        assertEquals("SET_VRING_ADDR: vring flags 0x3 not supported (only VHOST_VRING_F_LOG, 0x1)",
                rejection(fe -> fe.send(SET_VRING_ADDR, VringAddrPayload.of(0, 3, 0x1000, 0x3000, 0x2000, 0))));
    }

    @Test
    void shouldGateSetLogBaseOnLogShmfd() throws Exception {
        assertEquals("SET_LOG_BASE: protocol feature LOG_SHMFD was not negotiated",
                rejection(fe -> fe.send(RequestType.SET_LOG_BASE, LogPayload.of(4096, 0), eventFd)));
    }

    @Test
    void shouldRejectSetLogBaseWithoutItsFd() throws Exception {
        assertEquals("SET_LOG_BASE: no log fd attached (the back-end offers only LOG_SHMFD)",
                rejection(fe -> fe.send(RequestType.SET_LOG_BASE, LogPayload.of(4096, 0))));
    }

    @Test
    void shouldGateSendRarpOnRarp() throws Exception {
        assertEquals("SEND_RARP: protocol feature RARP was not negotiated",
                rejection(fe -> fe.send(RequestType.SEND_RARP, U64Payload.of(0x5634_1200_5452L))));
    }

    @Test
    void shouldGateVringEnableOnNegotiatedProtocolFeatures() throws Exception {
        assertEquals("SET_VRING_ENABLE: VHOST_USER_F_PROTOCOL_FEATURES was not negotiated",
                rejection(fe -> fe.send(SET_VRING_ENABLE, VringStatePayload.of(0, 1))));
    }

    @Test
    void shouldGateQueueNumOnNegotiatedMq() throws Exception {
        assertEquals("GET_QUEUE_NUM: protocol feature MQ was not negotiated",
                rejection(fe -> fe.send(GET_QUEUE_NUM)));
    }

    @Test
    void shouldGateProtocolFeaturesOnTheOffer() throws Exception {
        device.offeredFeatures = RecordingDevice.VIRTIO_F_VERSION_1;
        assertEquals("GET_PROTOCOL_FEATURES: VHOST_USER_F_PROTOCOL_FEATURES was not offered",
                rejection(fe -> fe.send(GET_PROTOCOL_FEATURES)));
    }

    @Test
    void shouldRejectVringNumOnStartedRing() throws Exception {
        try (GuestRam ram = new GuestRam(0x10_0000)) {
            assertEquals("SET_VRING_NUM: vring 0 is started; GET_VRING_BASE stops it first", rejection(fe -> {
                negotiate(fe);
                fe.send(SET_VRING_NUM, VringStatePayload.of(0, 256));
                fe.send(SET_VRING_ADDR, VringAddrPayload.of(0, 0, 0x1000, 0x3000, 0x2000, 0));
                fe.send(SET_VRING_KICK, VringFdPayload.of(0, false), eventFd);
                fe.send(SET_VRING_NUM, VringStatePayload.of(0, 512));
            }));
        }
    }

    @Test
    void shouldRejectRegionLargerThanItsFileAndCloseItsFd() throws Exception {
        try (GuestRam ram = new GuestRam(0x10_0000)) {
            assertEquals("SET_MEM_TABLE: region 0: mmap_offset 0x1000 + size 0x100000 exceeds the file size 0x100000",
                    rejection(fe -> fe.send(SET_MEM_TABLE,
                            MemoryTablePayload.of(new RegionDescriptor(0, 0x10_0000, 0x7f00_0000_0000L, 0x1000)), ram.fd)));
        }
    }

    @Test
    void shouldRejectOverlappingRegionsAndUnmapTheOnesMapped() throws Exception {
        try (GuestRam a = new GuestRam(0x10_0000); GuestRam b = new GuestRam(0x10_0000)) {
            String reason = rejection(fe -> fe.send(SET_MEM_TABLE, MemoryTablePayload.of(
                    new RegionDescriptor(0, 0x10_0000, 0x7f00_0000_0000L, 0),
                    new RegionDescriptor(0x8_0000, 0x10_0000, 0x7f00_1000_0000L, 0)), a.fd, b.fd));
            assertTrue(reason.startsWith("SET_MEM_TABLE: invalid memory table: "), reason);
        }
    }

    @Test
    void shouldRejectMemTableWhoseFdCountDiffersFromRegions() throws Exception {
        try (GuestRam ram = new GuestRam(0x10_0000)) {
            assertEquals("SET_MEM_TABLE: 2 regions but 1 fds attached", rejection(fe -> fe.send(SET_MEM_TABLE,
                    MemoryTablePayload.of(new RegionDescriptor(0, 0x1000, 0x7f00_0000_0000L, 0),
                            new RegionDescriptor(0x1000, 0x1000, 0x7f00_0000_1000L, 0x1000)), ram.fd)));
        }
    }

    @Test
    void shouldTreatTruncatedHeaderAsError() throws Exception {
        VhostUserException e;
        try (ConnectionHarness h = new ConnectionHarness(device)) {
            h.frontend.sendBytes(new byte[] {1, 0, 0, 0, 1});
            h.frontend.close();
            e = h.awaitOutcome();
        }
        assertEquals("truncated message: header: peer closed after 5 of 12 bytes", e.getMessage());
        assertEquals(List.of("connected(1234)", "disconnected()"), device.calls());
    }

    @Test
    void shouldTreatTruncatedPayloadAsErrorAndCloseItsFds() throws Exception {
        VhostUserException e;
        try (ConnectionHarness h = new ConnectionHarness(device)) {
            // The header promises 8 payload bytes; 3 arrive, with the call fd, then the peer closes.
            byte[] partial = new byte[MessageHeader.LENGTH + 3];
            MessageHeader.write(MemorySegment.ofArray(partial), SET_VRING_CALL.code(), MessageHeader.VERSION, 8);
            h.frontend.sendBytes(partial, eventFd);
            h.frontend.close();
            e = h.awaitOutcome();
        }
        assertEquals("truncated message: payload: peer closed after 3 of 8 bytes", e.getMessage());
        assertEquals(List.of("connected(1234)", "disconnected()"), device.calls());
    }
}

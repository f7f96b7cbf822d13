package io.jvhost.backend.protocol;

import com.code_intelligence.jazzer.junit.FuzzTest;
import io.jvhost.backend.linux.OpenFds;
import io.jvhost.backend.protocol.VhostUserRequest.AddMemReg;
import io.jvhost.backend.protocol.VhostUserRequest.RemMemReg;
import io.jvhost.backend.protocol.VhostUserRequest.SetLogBase;
import io.jvhost.backend.protocol.VhostUserRequest.SetLogFd;
import io.jvhost.backend.protocol.VhostUserRequest.SetMemTable;
import io.jvhost.backend.protocol.VhostUserRequest.SetVringAddr;
import io.jvhost.backend.protocol.VhostUserRequest.SetVringBase;
import io.jvhost.backend.protocol.VhostUserRequest.SetVringCall;
import io.jvhost.backend.protocol.VhostUserRequest.SetVringErr;
import io.jvhost.backend.protocol.VhostUserRequest.SetVringKick;
import io.jvhost.backend.protocol.VhostUserRequest.SetVringNum;
import io.jvhost.backend.protocol.VhostUserRequest.NetSetMtu;
import io.jvhost.virtio.fuzz.FuzzInput;
import io.jvhost.virtio.fuzz.FuzzStats;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.lang.foreign.MemorySegment;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Fuzzes {@link MessageCodec#read}: a stream of up to eight sends over a real socket pair, each
 * either raw bytes or a message whose request code, flags, declared and actual payload size and
 * payload the input chooses, with up to eight fds riding on any send (so a message whose bytes came
 * in several sends may carry more than the eight it is allowed).
 *
 * <p>Asserted for every input: reading ends (end-of-file, since the front-end's end is shut after
 * the last send) with messages and at most one {@link VhostUserException}, never another exception;
 * a rejection has a reason; every decoded message keeps the table's rules (fd count, region count =
 * fd count, queue size a power of two, 16-bit base, no vring flags, NOFD xor one fd, MTU range); and
 * after the messages are closed the process has exactly the fds it had before: no received fd leaks,
 * whether its message was accepted or rejected.
 */
class MessageCodecFuzzTest {

    @RegisterExtension
    static final FuzzStats STATS = new FuzzStats("MessageCodecFuzzTest");
    private static final RequestType[] TYPES = RequestType.values();

    @FuzzTest(maxDuration = FuzzStats.MAX_DURATION)
    void shouldDecodeOrRejectAnyStreamAndKeepNoReceivedFd(byte[] data) throws Exception {
        FuzzWire.execute(STATS, MessageCodecFuzzTest.class, "shouldDecodeOrRejectAnyStreamAndKeepNoReceivedFd", "features-memtable-kick", this::run, data);
    }

    private void run(byte[] data, boolean checkFds) throws Exception {
        FuzzInput in = new FuzzInput(data);
        long fdsBefore = OpenFds.count();
        try (FuzzWire wire = FuzzWire.open()) {
            for (int sends = 0; sends < 8 && in.hasMore(); sends++) {
                byte[] bytes = in.below(4) == 0 ? in.bytes(300) : message(in);
                int[] fds = in.below(4) == 0 ? FuzzWire.fds(in, 8) : new int[0];
                if (bytes.length > 0) {
                    wire.send(bytes, fds);
                }
            }
            wire.endOfInput();
            readAll(wire);
        }
        if (checkFds) {
            assertEquals(fdsBefore, OpenFds.count(), () -> "fds leaked: " + OpenFds.describe());
        }
    }

    /** A message as bytes: request code, flags and sizes mostly plausible, sometimes anything. */
    private static byte[] message(FuzzInput in) {
        int pick = in.u8();
        RequestType type = TYPES[pick % TYPES.length];
        int code = pick >= 240 ? (int) in.u32() : type.code();
        int flags = in.below(16) == 0 ? (int) in.u32() : MessageHeader.VERSION | (in.bool() ? MessageHeader.FLAG_NEED_REPLY : 0);
        int size = in.below(16) == 0 ? in.below(5000) : type.minPayload() + in.below(type.maxPayload() - type.minPayload() + 1);
        int declared = in.below(16) == 0 ? (int) in.u32() : size;
        byte[] out = new byte[MessageHeader.LENGTH + size];
        MessageHeader.write(MemorySegment.ofArray(out), code, flags, declared);
        for (int i = MessageHeader.LENGTH; i < out.length; i++) {
            out[i] = (byte) in.u8();
        }
        return out;
    }

    private static void readAll(FuzzWire wire) {
        while (true) {
            VhostUserMessage message;
            try {
                message = MessageCodec.read(wire.backend);
            } catch (VhostUserException e) {
                assertNotNull(e.reason(), "a rejection without a reason");
                assertFalse(e.reason().isBlank(), "a rejection without a reason");
                assertTrue(e.shouldReconnect(), "a bad message must not stop the endpoint: " + e);
                return; // the connection is dropped here
            } catch (Exception e) {
                throw new AssertionError("read threw " + e + " instead of a VhostUserException", e);
            }
            if (message == null) {
                return;
            }
            try (message) {
                checkRules(message);
            }
        }
    }

    private static void checkRules(VhostUserMessage message) {
        RequestType type = message.type();
        int fds = message.fds().size();
        assertTrue(fds <= type.maxFds(), type + " with " + fds + " fds");
        int flags = message.flags();
        assertEquals(MessageHeader.VERSION, flags & MessageHeader.VERSION_MASK);
        assertEquals(0, flags & ~(MessageHeader.VERSION_MASK | MessageHeader.FLAG_NEED_REPLY), "flags 0x"
                + Integer.toHexString(flags));
        switch (message.request()) {
            case SetMemTable table -> {
                assertTrue(table.regions().size() >= 1 && table.regions().size() <= MemoryTablePayload.MAX_REGIONS);
                assertEquals(table.regions().size(), fds, "one fd per region");
            }
            case SetVringNum num -> assertTrue(num.size() >= 1 && num.size() <= MessageCodec.MAX_QUEUE_SIZE
                    && Integer.bitCount(num.size()) == 1, "queue size " + num.size());
            case SetVringBase base -> assertTrue(base.nextAvail() >= 0 && base.nextAvail() <= 0xFFFF);
            case SetVringAddr addr -> assertEquals(0, addr.flags() & ~1, "flags beyond VHOST_VRING_F_LOG: 0x" + Integer.toHexString(addr.flags()));
            case SetVringKick kick -> assertEquals(kick.fd() < 0 ? 0 : 1, fds);
            case SetVringCall call -> assertEquals(call.fd() < 0 ? 0 : 1, fds);
            case SetVringErr err -> assertEquals(err.fd() < 0 ? 0 : 1, fds);
            case NetSetMtu mtu -> assertTrue(mtu.mtu() >= MessageCodec.MIN_MTU && mtu.mtu() <= MessageCodec.MAX_MTU);
            case AddMemReg add -> assertEquals(1, fds, "ADD_MEM_REG: the region's fd");
            case SetLogBase base -> assertEquals(1, fds, "SET_LOG_BASE: the log's fd");
            case SetLogFd logFd -> assertEquals(logFd.fd() < 0 ? 0 : 1, fds);
            case RemMemReg rem -> assertTrue(fds <= 1, "REM_MEM_REG: none, or the one older QEMU sent");
            default -> assertEquals(0, fds, type + " carries no fd");
        }
    }
}

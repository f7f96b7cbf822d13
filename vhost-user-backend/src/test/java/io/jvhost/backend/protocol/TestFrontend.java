package io.jvhost.backend.protocol;

import io.jvhost.backend.linux.FdList;
import io.jvhost.backend.linux.LinuxException;
import io.jvhost.backend.linux.UnixSocket;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A message-level vhost-user front-end for tests: sends requests (with fds) the way QEMU does, one
 * sendmsg per message, and reads replies. Every wait times out after 5 s so a broken back-end fails
 * the test instead of hanging it.
 */
final class TestFrontend implements AutoCloseable {

    static final int TIMEOUT_MILLIS = 5000;

    private final UnixSocket socket;

    TestFrontend(UnixSocket socket) {
        this.socket = socket;
        socket.setTimeoutMillis(TIMEOUT_MILLIS);
    }

    static TestFrontend connect(Path path) throws LinuxException {
        return new TestFrontend(UnixSocket.connect(path, -1));
    }

    /** A received reply. */
    record Reply(int request, int flags, MemorySegment payload) {
        long u64() {
            assertEquals(U64Payload.SIZE, payload.byteSize(), "u64 reply size");
            return U64Payload.value(payload);
        }

        int index() {
            return VringStatePayload.index(payload);
        }

        long num() {
            return VringStatePayload.num(payload);
        }
    }

    void sendRaw(int request, int flags, MemorySegment payload, int... fds) {
        try {
            socket.writeFully(MessageCodec.encode(request, flags, payload), fds);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    void sendBytes(byte[] bytes, int... fds) {
        try {
            socket.writeFully(MemorySegment.ofArray(bytes), fds);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    void send(RequestType type, MemorySegment payload, int... fds) {
        sendRaw(type.code(), MessageHeader.VERSION, payload, fds);
    }

    void send(RequestType type) {
        send(type, MemorySegment.ofArray(new byte[0]));
    }

    /** Sends with NEED_REPLY and returns the REPLY_ACK status. */
    long sendAcked(RequestType type, MemorySegment payload, int... fds) {
        sendRaw(type.code(), MessageHeader.VERSION | MessageHeader.FLAG_NEED_REPLY, payload, fds);
        Reply reply = receive();
        assertEquals(type.code(), reply.request(), "ack for " + type);
        return reply.u64();
    }

    long sendAcked(RequestType type) {
        return sendAcked(type, MemorySegment.ofArray(new byte[0]));
    }

    /** Sends a GET_* request with no payload and returns its u64 reply. */
    long get(RequestType type) {
        send(type);
        Reply reply = receive();
        assertEquals(type.code(), reply.request());
        return reply.u64();
    }

    Reply receive() {
        try (FdList fds = new FdList()) {
            MemorySegment header = MemorySegment.ofArray(new byte[MessageHeader.LENGTH]);
            assertTrue(socket.readFully(header, fds), "back-end closed the connection instead of replying");
            int flags = MessageHeader.flags(header);
            assertEquals(MessageHeader.VERSION | MessageHeader.FLAG_REPLY, flags, "reply flags");
            MemorySegment payload = MemorySegment.ofArray(new byte[(int) MessageHeader.size(header)]);
            if (payload.byteSize() > 0) {
                assertTrue(socket.readFully(payload, fds), "truncated reply");
            }
            assertEquals(0, fds.size(), "fds in a reply");
            return new Reply(MessageHeader.request(header), flags, payload);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** True once the back-end closed the connection (end of file or reset), having sent nothing more. */
    boolean isClosedByBackend() {
        try (FdList fds = new FdList()) {
            return !socket.readFully(MemorySegment.ofArray(new byte[1]), fds);
        } catch (LinuxException e) {
            return e.errno() == LinuxException.ECONNRESET;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @Override
    public void close() {
        socket.close();
    }
}

package io.jvhost.backend.protocol;

import io.jvhost.backend.linux.UnixSocket;

import java.io.IOException;
import java.lang.System.Logger.Level;
import java.lang.foreign.MemorySegment;
import java.nio.channels.AsynchronousCloseException;

/**
 * Serves one connected front-end: reads requests with {@link MessageCodec}, applies them with a
 * {@link VhostUserSession}, and sends replies and REPLY_ACKs.
 *
 * <p>REPLY_ACK (vhost-user.rst, "VHOST_USER_PROTOCOL_F_REPLY_ACK"): once negotiated, a request with
 * NEED_REPLY that has no reply of its own gets a u64: 0 when applied, 1 when rejected (sent before
 * the connection is closed, so the front-end can report the failure).
 *
 * <p>Runs on, and is confined to, the calling thread (the endpoint's control thread).
 */
public final class VhostUserConnection {

    private static final System.Logger LOG = System.getLogger(VhostUserConnection.class.getName());

    private final String name;
    private final UnixSocket socket;
    private final VhostUserDevice device;
    private final int peerPid;

    /**
     * @param name    for log messages (the port name)
     * @param socket  the connected socket; {@link #run()} closes it
     * @param peerPid the front-end's pid (SO_PEERCRED), or -1
     */
    public VhostUserConnection(String name, UnixSocket socket, VhostUserDevice device, int peerPid) {
        this.name = name;
        this.socket = socket;
        this.device = device;
        this.peerPid = peerPid;
    }

    /**
     * Serves requests until the front-end closes the connection (returns normally) or something
     * fails (throws). On every exit the session ends (running queues stopped, the device told it is
     * disconnected, memory unmapped, fds closed) and the socket is closed.
     *
     * @throws VhostUserException         a protocol error, a truncated message, an I/O or device failure
     * @throws AsynchronousCloseException the socket's wake-up fd fired: the owner is shutting down
     */
    public void run() throws VhostUserException, AsynchronousCloseException {
        try (socket) {
            VhostUserSession session;
            try {
                session = new VhostUserSession(device, peerPid);
            } catch (RuntimeException e) {
                throw VhostUserException.device(null, "device refused the connection: " + e, e);
            }
            try (session) {
                serve(session);
            }
        }
    }

    private void serve(VhostUserSession session) throws VhostUserException, AsynchronousCloseException {
        while (true) {
            VhostUserMessage message;
            try {
                message = MessageCodec.read(socket);
            } catch (VhostUserException e) {
                if (e.isAwaitingReply()) {
                    nack(session, e.request());
                }
                throw e;
            } catch (AsynchronousCloseException e) {
                throw e;
            } catch (IOException e) {
                throw VhostUserException.connection("receive failed: " + e.getMessage(), e);
            }
            if (message == null) {
                return; // the front-end closed the connection between messages
            }
            try (message) {
                handle(session, message);
            }
        }
    }

    /** REPLY_ACK failure status for a rejected request that asked for an answer (vhost-user.rst, REPLY_ACK). */
    private void nack(VhostUserSession session, RequestType type) {
        if (type != null && session.replyAckEnabled() && !type.hasReply()) {
            try {
                MessageCodec.writeReply(socket, type, U64Payload.of(1));
            } catch (VhostUserException ignored) {
                // the connection is being dropped for the original reason anyway
            }
        }
    }

    private void handle(VhostUserSession session, VhostUserMessage message) throws VhostUserException {
        RequestType type = message.type();
        LOG.log(Level.DEBUG, () -> name + ": " + message.request());
        MemorySegment reply;
        try {
            reply = session.handle(message);
        } catch (VhostUserException e) {
            if (message.needsReply()) {
                nack(session, type);
            }
            if (e.keepsConnection()) {
                LOG.log(Level.WARNING, name + ": " + e.getMessage());
                return;
            }
            throw e;
        }
        if (reply != null) {
            MessageCodec.writeReply(socket, type, reply);
        } else if (message.needsReply() && session.replyAckEnabled()) {
            // Checked after handling: SET_PROTOCOL_FEATURES that negotiates REPLY_ACK is acked itself,
            // as the front-end already counts on it (QEMU sets NEED_REPLY from its own feature mask).
            MessageCodec.writeReply(socket, type, U64Payload.of(0));
        }
    }
}

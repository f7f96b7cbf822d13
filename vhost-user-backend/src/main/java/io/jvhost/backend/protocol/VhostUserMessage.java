package io.jvhost.backend.protocol;

import io.jvhost.backend.linux.FdList;

/**
 * One received request with its header flags and the file descriptors that came with it.
 * {@link #close()} closes every descriptor the session did not detach, so the handler closes the
 * message in a {@code finally} whatever happened.
 *
 * @param flags   the header's flags word
 * @param request the decoded request
 * @param fds     received descriptors, owned by this message until detached
 */
public record VhostUserMessage(int flags, VhostUserRequest request, FdList fds) implements AutoCloseable {

    public RequestType type() {
        return request.type();
    }

    /** NEED_REPLY: the front-end waits for a REPLY_ACK (when that protocol feature was negotiated). */
    public boolean needsReply() {
        return (flags & MessageHeader.FLAG_NEED_REPLY) != 0;
    }

    @Override
    public void close() {
        fds.close();
    }
}

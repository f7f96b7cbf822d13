package io.jvhost.backend.protocol;

import java.io.IOException;

/**
 * A vhost-user connection or endpoint failed. {@link #shouldReconnect()} tells the caller what to do
 * (as rust-vmm's {@code Error::should_reconnect}): true for a failure of this one connection (a
 * protocol violation, a truncated message, the peer vanishing), after which the endpoint serves the
 * next front-end; false for a failure of the endpoint itself (cannot bind), after which it stops.
 */
public final class VhostUserException extends IOException {

    private final RequestType request;
    private final String reason;
    private final boolean shouldReconnect;
    private final boolean keepsConnection;
    private boolean awaitingReply;

    private VhostUserException(RequestType request, String reason, boolean shouldReconnect, Throwable cause) {
        this(request, reason, shouldReconnect, false, cause);
    }

    private VhostUserException(RequestType request, String reason, boolean shouldReconnect, boolean keepsConnection,
                               Throwable cause) {
        super(request == null ? reason : request.name() + ": " + reason, cause);
        this.request = request;
        this.reason = reason;
        this.shouldReconnect = shouldReconnect;
        this.keepsConnection = keepsConnection;
    }

    /**
     * The device declined a well-formed request it may decline (a MTU above what the port allows):
     * the front-end gets a REPLY_ACK failure and the connection stays, as nothing changed.
     */
    public static VhostUserException refused(RequestType request, String reason) {
        return new VhostUserException(request, reason, true, true, null);
    }

    /** Nothing changed and the protocol was kept: answer the failure and go on serving the connection. */
    public boolean keepsConnection() {
        return keepsConnection;
    }

    /** The front-end broke the protocol in {@code request} (null when the request is not known yet). */
    public static VhostUserException protocol(RequestType request, String reason) {
        return new VhostUserException(request, reason, true, null);
    }

    /** The request code is not one this back-end implements. */
    public static VhostUserException unsupported(int code) {
        return new VhostUserException(null, "unsupported vhost-user request " + Integer.toUnsignedString(code), true, null);
    }

    /** The device refused or failed a request; the connection is dropped. */
    public static VhostUserException device(RequestType request, String reason, Throwable cause) {
        return new VhostUserException(request, reason, true, cause);
    }

    /** The connection broke (I/O error, peer gone mid-message). */
    public static VhostUserException connection(String reason, Throwable cause) {
        return new VhostUserException(null, reason, true, cause);
    }

    /** The endpoint cannot go on (bind or accept failed). */
    public static VhostUserException fatal(String reason, Throwable cause) {
        return new VhostUserException(null, reason, false, cause);
    }

    /** The request being handled, or null. */
    public RequestType request() {
        return request;
    }

    /** Why, without the request name. */
    public String reason() {
        return reason;
    }

    public boolean shouldReconnect() {
        return shouldReconnect;
    }

    /** Marks a rejected request whose front-end set NEED_REPLY, so it can be answered with a failure first. */
    VhostUserException awaitingReply() {
        awaitingReply = true;
        return this;
    }

    /** The rejected request asked for a REPLY_ACK answer. */
    public boolean isAwaitingReply() {
        return awaitingReply;
    }
}

package io.jvhost.backend.linux;

import java.io.IOException;

/**
 * A libc call failed: carries the call's name, the {@code errno} it set and {@code strerror}'s text.
 *
 * <p>Created only by {@link Errors}, the one place where errno becomes an exception (as Netty's
 * {@code Errors} does for its native transport).
 */
public final class LinuxException extends IOException {

    public static final int EPERM = 1;
    public static final int ENOENT = 2;
    public static final int EINTR = 4;
    public static final int EBADF = 9;
    public static final int EAGAIN = 11;
    public static final int ENOMEM = 12;
    public static final int EACCES = 13;
    public static final int EFAULT = 14;
    public static final int EINVAL = 22;
    public static final int EPIPE = 32;
    public static final int EADDRINUSE = 98;
    public static final int ECONNRESET = 104;
    public static final int ECONNREFUSED = 111;

    private final String call;
    private final int errno;

    LinuxException(String call, int errno, String strerror) {
        super(call + " failed: " + strerror + " (errno " + errno + ")");
        this.call = call;
        this.errno = errno;
    }

    /** The failed call, with its most telling argument when there is one, e.g. {@code bind(/run/p0.sock)}. */
    public String call() {
        return call;
    }

    public int errno() {
        return errno;
    }
}

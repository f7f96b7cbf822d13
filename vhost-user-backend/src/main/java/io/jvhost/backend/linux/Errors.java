package io.jvhost.backend.linux;

import com.sun.jna.Native;

/**
 * Turns a failed libc call into a {@link LinuxException}: the only place that reads errno.
 *
 * <p>Every binding in {@link Libc} returns -1 on failure and leaves errno to JNA, which saves it per
 * thread right after the call ({@link Native#getLastError()}), before any other native code can
 * overwrite it.
 */
final class Errors {

    private Errors() {
    }

    /** errno of the last native call on this thread. */
    static int errno() {
        return Native.getLastError();
    }

    static LinuxException newException(String call, int errno) {
        return new LinuxException(call, errno, Libc.strerror(errno));
    }

    /** Returns {@code rc}, or throws with the current errno when it is negative. */
    static int check(String call, int rc) throws LinuxException {
        if (rc < 0) {
            throw newException(call, errno());
        }
        return rc;
    }

    /** As {@link #check(String, int)} for calls returning {@code ssize_t}. */
    static long check(String call, long rc) throws LinuxException {
        if (rc < 0) {
            throw newException(call, errno());
        }
        return rc;
    }
}

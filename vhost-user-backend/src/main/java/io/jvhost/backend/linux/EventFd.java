package io.jvhost.backend.linux;

/**
 * eventfd(2) helpers. The descriptors are non-blocking and close-on-exec.
 *
 * <p>{@link #write} and {@link #read} allocate nothing (after a thread's first read) and are safe on
 * the data path, e.g. to signal a call fd or drain a kick fd.
 */
public final class EventFd {

    private static final ThreadLocal<long[]> READ_BUFFER = ThreadLocal.withInitial(() -> new long[1]);

    private EventFd() {
    }

    /** eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC). */
    public static int create() throws LinuxException {
        return Errors.check("eventfd", Libc.eventfd(0, Libc.EFD_NONBLOCK | Libc.EFD_CLOEXEC));
    }

    /** Adds {@code value} (&gt; 0) to the counter; false when it would overflow (EAGAIN): already signalled. */
    public static boolean write(int fd, long value) throws LinuxException {
        int rc;
        do {
            rc = Libc.eventfd_write(fd, value);
        } while (rc < 0 && Errors.errno() == LinuxException.EINTR);
        if (rc < 0) {
            int errno = Errors.errno();
            if (errno == LinuxException.EAGAIN) {
                return false;
            }
            throw Errors.newException("eventfd_write", errno);
        }
        return true;
    }

    /** Reads and resets the counter; 0 when it was not signalled (EAGAIN). */
    public static long read(int fd) throws LinuxException {
        long[] value = READ_BUFFER.get();
        int rc;
        do {
            rc = Libc.eventfd_read(fd, value);
        } while (rc < 0 && Errors.errno() == LinuxException.EINTR);
        if (rc < 0) {
            int errno = Errors.errno();
            if (errno == LinuxException.EAGAIN) {
                return 0;
            }
            throw Errors.newException("eventfd_read", errno);
        }
        return value[0];
    }
}

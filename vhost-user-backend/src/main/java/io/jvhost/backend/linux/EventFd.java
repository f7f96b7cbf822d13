package io.jvhost.backend.linux;

/**
 * eventfd(2) helpers. The descriptors are non-blocking and close-on-exec.
 *
 * <p>{@link #write} and {@link #read} allocate nothing (after a thread's first read) and are safe on
 * the data path, e.g. to signal a call fd or drain a kick fd.
 */
public final class EventFd {

    /** What readlink(2) of {@code /proc/self/fd/N} answers for an eventfd. */
    static final String LINK_TARGET = "anon_inode:[eventfd]";

    private static final ThreadLocal<long[]> READ_BUFFER = ThreadLocal.withInitial(() -> new long[1]);

    private EventFd() {
    }

    /** eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC). */
    public static int create() throws LinuxException {
        return Errors.check("eventfd", Libc.eventfd(0, Libc.EFD_NONBLOCK | Libc.EFD_CLOEXEC));
    }

    /**
     * Takes an fd another process sent as an eventfd (a vring's kick, call or error fd): checks that it
     * is one and makes it non-blocking, so that neither a read of a counter that is zero (one eventfd
     * kicking two rings, the other worker read it first) nor a write of a full counter ever blocks a
     * worker. Control path.
     *
     * @return null when the fd is an eventfd (now non-blocking), else what it is instead ({@link Fds#describe})
     */
    public static String acceptReceived(int fd) throws LinuxException {
        if (!LINK_TARGET.equals(Fds.linkTarget(fd))) {
            return Fds.describe(fd);
        }
        Fds.setNonBlocking(fd);
        return null;
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

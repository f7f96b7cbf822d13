package io.jvhost.backend.linux;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Plain file-descriptor calls: close, memfd, size, poll and vectored I/O.
 *
 * <p>Thread-safe (stateless). {@link #readv}/{@link #writev} allocate nothing and may be used on the
 * data path; the others are for the control path.
 */
public final class Fds {

    public static final short POLLIN = Libc.POLLIN;
    public static final short POLLOUT = Libc.POLLOUT;
    public static final short POLLERR = Libc.POLLERR;
    public static final short POLLHUP = Libc.POLLHUP;
    public static final short POLLNVAL = Libc.POLLNVAL;

    /** The memfd seal that forbids shrinking the file (F_SEAL_SHRINK). */
    public static final int SEAL_SHRINK = Libc.F_SEAL_SHRINK;
    /** Returned by {@link #seals} for a file that takes no seals (not a memfd). */
    public static final int SEALS_UNSUPPORTED = -1;

    /** Returned by non-blocking {@link #readv}/{@link #writev} when the call would block (EAGAIN). */
    public static final long WOULD_BLOCK = -1;

    /** Result of {@link #awaitReady}. */
    static final int READY = 0;
    static final int WOKEN = 1;
    static final int TIMED_OUT = 2;

    private Fds() {
    }

    /** The size and preferred I/O block of an open file (fstat). */
    public record FileStat(int mode, long size, long blockSize) {
        public boolean isSocket() {
            return (mode & Libc.S_IFMT) == Libc.S_IFSOCK;
        }
    }

    public static void close(int fd) throws LinuxException {
        // No EINTR retry: on Linux the fd is released even when close reports EINTR.
        Errors.check("close", Libc.close(fd));
    }

    /** Closes {@code fd} unless it is negative; ignores errors (for cleanup paths). */
    public static void closeQuietly(int fd) {
        if (fd >= 0) {
            Libc.close(fd);
        }
    }

    /** An anonymous shared-memory file (memfd_create with MFD_CLOEXEC). */
    public static int memfdCreate(String name) throws LinuxException {
        return Errors.check("memfd_create", Libc.memfd_create(name, Libc.MFD_CLOEXEC));
    }

    public static void ftruncate(int fd, long length) throws LinuxException {
        Errors.check("ftruncate", Libc.ftruncate(fd, length));
    }

    /**
     * Sets O_NONBLOCK. It is a flag of the open file description, so it also applies to every copy of
     * the fd, the sending process's included.
     */
    public static void setNonBlocking(int fd) throws LinuxException {
        setNonBlocking(fd, true);
    }

    /** Sets or clears O_NONBLOCK (see {@link #setNonBlocking(int)}). */
    public static void setNonBlocking(int fd, boolean nonBlocking) throws LinuxException {
        int flags = Errors.check("fcntl(F_GETFL)", Libc.fcntl(fd, Libc.F_GETFL, 0));
        int wanted = nonBlocking ? flags | Libc.O_NONBLOCK : flags & ~Libc.O_NONBLOCK;
        if (wanted != flags) {
            Errors.check("fcntl(F_SETFL)", Libc.fcntl(fd, Libc.F_SETFL, wanted));
        }
    }

    /** A pipe (pipe2 with O_CLOEXEC): {read end, write end}. */
    public static int[] pipe() throws LinuxException {
        int[] fds = new int[2];
        Errors.check("pipe2", Libc.pipe2(fds, Libc.O_CLOEXEC));
        return fds;
    }

    public static boolean isNonBlocking(int fd) throws LinuxException {
        return (Errors.check("fcntl(F_GETFL)", Libc.fcntl(fd, Libc.F_GETFL, 0)) & Libc.O_NONBLOCK) != 0;
    }

    /** The memfd seals of {@code fd} (F_GET_SEALS), or {@link #SEALS_UNSUPPORTED} when the file takes none. */
    public static int seals(int fd) throws LinuxException {
        int seals = Libc.fcntl(fd, Libc.F_GET_SEALS, 0);
        if (seals < 0 && Errors.errno() == LinuxException.EINVAL) {
            return SEALS_UNSUPPORTED;
        }
        return Errors.check("fcntl(F_GET_SEALS)", seals);
    }

    /**
     * What {@code fd} refers to, as readlink(2) of {@code /proc/self/fd/N} names it: a path, or an
     * anonymous object such as {@code anon_inode:[eventfd]} or {@code pipe:[1234]}; null when unreadable.
     */
    static String linkTarget(int fd) {
        try {
            return Files.readSymbolicLink(Path.of("/proc/self/fd/" + fd)).toString();
        } catch (IOException | UnsupportedOperationException e) {
            return null;
        }
    }

    /** What kind of file {@code fd} is, for error messages: "a pipe (pipe:[1234])", "a regular file (/tmp/x)". */
    public static String describe(int fd) {
        String target = linkTarget(fd);
        if (EventFd.LINK_TARGET.equals(target)) {
            return "an eventfd";
        }
        int type;
        try {
            type = fstat(fd).mode() & Libc.S_IFMT;
        } catch (LinuxException e) {
            return "not an open fd (" + e.getMessage() + ")";
        }
        String kind = switch (type) {
            case Libc.S_IFREG -> "a regular file";
            case Libc.S_IFIFO -> "a pipe";
            case Libc.S_IFSOCK -> "a socket";
            case Libc.S_IFCHR -> "a character device";
            case Libc.S_IFBLK -> "a block device";
            case Libc.S_IFDIR -> "a directory";
            default -> "an fd of another kind";
        };
        return target == null ? kind : kind + " (" + target + ")";
    }

    public static FileStat fstat(int fd) throws LinuxException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment stat = arena.allocate(NativeLayouts.STAT_SIZE, 8);
            Errors.check("fstat", Libc.fstat(fd, stat.address()));
            return new FileStat(stat.get(ValueLayout.JAVA_INT, NativeLayouts.ST_MODE),
                    stat.get(ValueLayout.JAVA_LONG, NativeLayouts.ST_SIZE),
                    stat.get(ValueLayout.JAVA_LONG, NativeLayouts.ST_BLKSIZE));
        }
    }

    /**
     * poll(2) over {@code fds}, each with {@code events[i]}; stores {@code revents[i]} and returns how
     * many are ready (0 on timeout). Retries on EINTR with the full timeout (control path only).
     *
     * @param timeoutMillis -1 waits forever
     */
    public static int poll(int[] fds, short[] events, short[] revents, int timeoutMillis) throws LinuxException {
        int n = fds.length;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment pollfds = arena.allocate((long) n * NativeLayouts.POLLFD_SIZE, 8);
            for (int i = 0; i < n; i++) {
                long base = (long) i * NativeLayouts.POLLFD_SIZE;
                pollfds.set(ValueLayout.JAVA_INT, base + NativeLayouts.POLLFD_FD, fds[i]);
                pollfds.set(ValueLayout.JAVA_SHORT, base + NativeLayouts.POLLFD_EVENTS, events[i]);
            }
            int ready;
            do {
                ready = Libc.poll(pollfds.address(), n, timeoutMillis);
            } while (ready < 0 && Errors.errno() == LinuxException.EINTR);
            Errors.check("poll", ready);
            for (int i = 0; i < n; i++) {
                revents[i] = pollfds.get(ValueLayout.JAVA_SHORT,
                        (long) i * NativeLayouts.POLLFD_SIZE + NativeLayouts.POLLFD_REVENTS);
            }
            return ready;
        }
    }

    /**
     * Waits until {@code fd} has one of {@code events} (or an error/hang-up, which the following call
     * then reports), or until {@code wakeupFd} (an eventfd, ignored when negative) becomes readable.
     *
     * @return {@link #READY}, {@link #WOKEN} (checked first) or {@link #TIMED_OUT}
     */
    static int awaitReady(int fd, short events, int wakeupFd, int timeoutMillis) throws LinuxException {
        int[] fds = wakeupFd >= 0 ? new int[] {fd, wakeupFd} : new int[] {fd};
        short[] ev = wakeupFd >= 0 ? new short[] {events, POLLIN} : new short[] {events};
        short[] revents = new short[fds.length];
        if (poll(fds, ev, revents, timeoutMillis) == 0) {
            return TIMED_OUT;
        }
        if (wakeupFd >= 0 && revents[1] != 0) {
            return WOKEN;
        }
        return READY;
    }

    /**
     * readv(2) into the first {@code count} entries of {@code iov}.
     *
     * @return bytes read (0 at end of file), or {@link #WOULD_BLOCK}
     */
    public static long readv(int fd, IoVecArray iov, int count) throws LinuxException {
        iov.checkCount(count);
        long n;
        do {
            n = Libc.readv(fd, iov.address(), count);
        } while (n < 0 && Errors.errno() == LinuxException.EINTR);
        return ioResult("readv", n);
    }

    /**
     * writev(2) from the first {@code count} entries of {@code iov}.
     *
     * @return bytes written, or {@link #WOULD_BLOCK}
     */
    public static long writev(int fd, IoVecArray iov, int count) throws LinuxException {
        iov.checkCount(count);
        long n;
        do {
            n = Libc.writev(fd, iov.address(), count);
        } while (n < 0 && Errors.errno() == LinuxException.EINTR);
        return ioResult("writev", n);
    }

    private static long ioResult(String call, long n) throws LinuxException {
        if (n < 0) {
            int errno = Errors.errno();
            if (errno == LinuxException.EAGAIN) {
                return WOULD_BLOCK;
            }
            throw Errors.newException(call, errno);
        }
        return n;
    }
}

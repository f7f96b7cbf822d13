package io.jvhost.backend.linux;

import java.io.EOFException;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.net.SocketTimeoutException;
import java.nio.channels.AsynchronousCloseException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * A connected AF_UNIX SOCK_STREAM socket that carries file descriptors (SCM_RIGHTS).
 *
 * <p>The descriptor is non-blocking; every call that would block waits in poll(2) on the socket and
 * on an optional <em>wake-up eventfd</em>. Once another thread makes that eventfd readable, every
 * waiting or later call throws {@link AsynchronousCloseException}: this is how an owner stops a
 * thread blocked here without closing an fd under it.
 *
 * <p>Not thread-safe: one thread reads and writes; {@link #close()} is idempotent.
 */
public final class UnixSocket implements AutoCloseable {

    private static final int FD_BYTES = Integer.BYTES;
    private static final int CONTROL_SPACE = NativeLayouts.cmsgSpace(FdList.MAX_FDS * FD_BYTES);

    private final int fd;
    private final int wakeupFd;
    private final AtomicBoolean closed = new AtomicBoolean();
    private int timeoutMillis = -1;
    /** {@link System#nanoTime()} after which every wait fails; 0: none. */
    private long deadlineNanos;

    private UnixSocket(int fd, int wakeupFd) {
        this.fd = fd;
        this.wakeupFd = wakeupFd;
    }

    /** Takes ownership of a connected, non-blocking socket {@code fd}. */
    static UnixSocket adopt(int fd, int wakeupFd) {
        return new UnixSocket(fd, wakeupFd);
    }

    /**
     * Connects to a listening socket at {@code path}. A unix-domain connect completes at once or fails:
     * ENOENT (no socket file), ECONNREFUSED (nobody listening) or EAGAIN (backlog full) are the
     * retryable errnos.
     *
     * @param wakeupFd eventfd that aborts blocking calls when readable, or -1
     */
    public static UnixSocket connect(Path path, int wakeupFd) throws LinuxException {
        int fd = newSocket();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment address = sockaddr(arena, path);
            int rc;
            do {
                rc = Libc.connect(fd, address.address(), (int) address.byteSize());
            } while (rc < 0 && Errors.errno() == LinuxException.EINTR);
            Errors.check("connect(" + path + ")", rc);
            return new UnixSocket(fd, wakeupFd);
        } catch (LinuxException | RuntimeException e) {
            Fds.closeQuietly(fd);
            throw e;
        }
    }

    /** A connected pair (socketpair), both without a wake-up fd. */
    public static UnixSocket[] pair() throws LinuxException {
        int[] sv = new int[2];
        Errors.check("socketpair",
                Libc.socketpair(Libc.AF_UNIX, Libc.SOCK_STREAM | Libc.SOCK_NONBLOCK | Libc.SOCK_CLOEXEC, 0, sv));
        return new UnixSocket[] {new UnixSocket(sv[0], -1), new UnixSocket(sv[1], -1)};
    }

    static int newSocket() throws LinuxException {
        return Errors.check("socket",
                Libc.socket(Libc.AF_UNIX, Libc.SOCK_STREAM | Libc.SOCK_NONBLOCK | Libc.SOCK_CLOEXEC, 0));
    }

    /** struct sockaddr_un for {@code path}; its byte size is the addrlen to pass. */
    static MemorySegment sockaddr(Arena arena, Path path) {
        byte[] name = path.toString().getBytes(StandardCharsets.UTF_8);
        if (name.length == 0 || name.length >= NativeLayouts.SUN_PATH_CAPACITY) {
            throw new IllegalArgumentException("unix socket path must be 1.." + (NativeLayouts.SUN_PATH_CAPACITY - 1)
                    + " bytes: " + path);
        }
        MemorySegment address = arena.allocate(NativeLayouts.SUN_PATH + name.length + 1L, 8);
        address.set(ValueLayout.JAVA_SHORT, NativeLayouts.SUN_FAMILY, (short) Libc.AF_UNIX);
        MemorySegment.copy(name, 0, address, ValueLayout.JAVA_BYTE, NativeLayouts.SUN_PATH, name.length);
        return address; // zero-filled: the path is NUL-terminated
    }

    public int fd() {
        return fd;
    }

    /** Gives up a wait after {@code millis} with a {@link SocketTimeoutException}; -1 waits forever. */
    public void setTimeoutMillis(int millis) {
        this.timeoutMillis = millis;
    }

    /**
     * Makes every wait give up with a {@link SocketTimeoutException} once {@link System#nanoTime()}
     * passes {@code nanos}, whatever {@link #setTimeoutMillis} says; 0 removes the deadline.
     */
    public void setDeadlineNanos(long nanos) {
        this.deadlineNanos = nanos;
    }

    /**
     * One recvmsg(2) with MSG_CMSG_CLOEXEC: waits until data is available, receives up to
     * {@code dst.byteSize()} bytes and appends any SCM_RIGHTS descriptors to {@code fds}.
     *
     * @return bytes received, 0 when the peer closed
     * @throws IOException when descriptors were lost (MSG_CTRUNC or more than {@link FdList#MAX_FDS});
     *                     those that did arrive are in {@code fds}, for the caller to close
     */
    public int receive(MemorySegment dst, FdList fds) throws IOException {
        int length = (int) Math.min(dst.byteSize(), Integer.MAX_VALUE);
        if (length == 0) {
            throw new IllegalArgumentException("empty receive buffer");
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment data = dst.isNative() ? dst : arena.allocate(length);
            MemorySegment iov = arena.allocate(NativeLayouts.IOVEC_SIZE, 8);
            iov.set(ValueLayout.JAVA_LONG, NativeLayouts.IOV_BASE, data.address());
            iov.set(ValueLayout.JAVA_LONG, NativeLayouts.IOV_LEN, length);
            MemorySegment control = arena.allocate(CONTROL_SPACE, 8);
            MemorySegment msg = arena.allocate(NativeLayouts.MSGHDR_SIZE, 8);
            msg.set(ValueLayout.JAVA_LONG, NativeLayouts.MSG_IOV, iov.address());
            msg.set(ValueLayout.JAVA_LONG, NativeLayouts.MSG_IOVLEN, 1);
            msg.set(ValueLayout.JAVA_LONG, NativeLayouts.MSG_CONTROL, control.address());
            msg.set(ValueLayout.JAVA_LONG, NativeLayouts.MSG_CONTROLLEN, CONTROL_SPACE);
            long n;
            while (true) {
                n = Libc.recvmsg(fd, msg.address(), Libc.MSG_CMSG_CLOEXEC);
                if (n >= 0) {
                    break;
                }
                int errno = Errors.errno();
                if (errno == LinuxException.EAGAIN) {
                    await(Libc.POLLIN);
                } else if (errno != LinuxException.EINTR) {
                    throw Errors.newException("recvmsg", errno);
                }
            }
            boolean lost = takeDescriptors(msg, control, fds);
            if (lost || (msg.get(ValueLayout.JAVA_INT, NativeLayouts.MSG_FLAGS) & Libc.MSG_CTRUNC) != 0) {
                throw new IOException("recvmsg: file descriptors lost: the peer sent more than "
                        + FdList.MAX_FDS + " (MSG_CTRUNC)");
            }
            if (data != dst) {
                MemorySegment.copy(data, 0, dst, 0, n);
            }
            return (int) n;
        }
    }

    /** Moves SCM_RIGHTS fds from the control buffer into {@code fds}; true when some had to be closed. */
    private static boolean takeDescriptors(MemorySegment msg, MemorySegment control, FdList fds) {
        long controlLength = msg.get(ValueLayout.JAVA_LONG, NativeLayouts.MSG_CONTROLLEN);
        boolean lost = false;
        long offset = 0;
        // CMSG_FIRSTHDR/CMSG_NXTHDR: each header must fit in what the kernel filled in.
        while (offset + NativeLayouts.CMSGHDR_SIZE <= controlLength) {
            long cmsgLength = control.get(ValueLayout.JAVA_LONG, offset + NativeLayouts.CMSG_LEN);
            if (cmsgLength < NativeLayouts.CMSGHDR_SIZE || offset + cmsgLength > controlLength) {
                break;
            }
            if (control.get(ValueLayout.JAVA_INT, offset + NativeLayouts.CMSG_LEVEL) == Libc.SOL_SOCKET
                    && control.get(ValueLayout.JAVA_INT, offset + NativeLayouts.CMSG_TYPE) == Libc.SCM_RIGHTS) {
                int count = (int) ((cmsgLength - NativeLayouts.CMSG_DATA) / FD_BYTES);
                for (int i = 0; i < count; i++) {
                    int received = control.get(ValueLayout.JAVA_INT, offset + NativeLayouts.CMSG_DATA + (long) i * FD_BYTES);
                    if (!fds.add(received)) {
                        Fds.closeQuietly(received);
                        lost = true;
                    }
                }
            }
            offset += NativeLayouts.cmsgAlign((int) cmsgLength);
        }
        return lost;
    }

    /**
     * Receives exactly {@code dst.byteSize()} bytes, appending descriptors from every part to {@code fds}.
     *
     * @return false when the peer closed before the first byte (an orderly end)
     * @throws EOFException when the peer closed part-way (a truncated message)
     */
    public boolean readFully(MemorySegment dst, FdList fds) throws IOException {
        return readFully(dst, fds, 0);
    }

    /**
     * As {@link #readFully(MemorySegment, FdList)}; in addition, once the first byte arrived and unless
     * a deadline is already set, sets one {@code restTimeoutNanos} later ({@link #setDeadlineNanos}):
     * the wait for a message to start is unbounded, the rest of it is not. The caller clears it.
     *
     * @param restTimeoutNanos 0 for no deadline
     * @throws SocketTimeoutException when the deadline passed, saying how many bytes had arrived
     */
    public boolean readFully(MemorySegment dst, FdList fds, long restTimeoutNanos) throws IOException {
        long length = dst.byteSize();
        long done = 0;
        while (done < length) {
            int n;
            try {
                n = receive(dst.asSlice(done), fds);
            } catch (SocketTimeoutException e) {
                throw new SocketTimeoutException(done + " of " + length + " bytes arrived: " + e.getMessage());
            }
            if (n == 0) {
                if (done == 0) {
                    return false;
                }
                throw new EOFException("peer closed after " + done + " of " + length + " bytes");
            }
            if (restTimeoutNanos > 0 && deadlineNanos == 0) {
                deadlineNanos = System.nanoTime() + restTimeoutNanos;
            }
            done += n;
        }
        return true;
    }

    /**
     * Sends all of {@code src}; {@code fds} (may be empty) travel with the first byte, as one
     * SCM_RIGHTS message. MSG_NOSIGNAL: a closed peer is an EPIPE error, not a signal.
     */
    public void writeFully(MemorySegment src, int... fds) throws IOException {
        if (fds.length > FdList.MAX_FDS) {
            throw new IllegalArgumentException("at most " + FdList.MAX_FDS + " fds per message: " + fds.length);
        }
        long length = src.byteSize();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment data = arena.allocate(Math.max(length, 1));
            MemorySegment.copy(src, 0, data, 0, length);
            MemorySegment iov = arena.allocate(NativeLayouts.IOVEC_SIZE, 8);
            MemorySegment msg = arena.allocate(NativeLayouts.MSGHDR_SIZE, 8);
            msg.set(ValueLayout.JAVA_LONG, NativeLayouts.MSG_IOV, iov.address());
            msg.set(ValueLayout.JAVA_LONG, NativeLayouts.MSG_IOVLEN, 1);
            if (fds.length > 0) {
                int dataBytes = fds.length * FD_BYTES;
                MemorySegment control = arena.allocate(NativeLayouts.cmsgSpace(dataBytes), 8);
                control.set(ValueLayout.JAVA_LONG, NativeLayouts.CMSG_LEN, NativeLayouts.cmsgLen(dataBytes));
                control.set(ValueLayout.JAVA_INT, NativeLayouts.CMSG_LEVEL, Libc.SOL_SOCKET);
                control.set(ValueLayout.JAVA_INT, NativeLayouts.CMSG_TYPE, Libc.SCM_RIGHTS);
                MemorySegment.copy(fds, 0, control, ValueLayout.JAVA_INT, NativeLayouts.CMSG_DATA, fds.length);
                msg.set(ValueLayout.JAVA_LONG, NativeLayouts.MSG_CONTROL, control.address());
                msg.set(ValueLayout.JAVA_LONG, NativeLayouts.MSG_CONTROLLEN, control.byteSize());
            }
            long done = 0;
            do {
                iov.set(ValueLayout.JAVA_LONG, NativeLayouts.IOV_BASE, data.address() + done);
                iov.set(ValueLayout.JAVA_LONG, NativeLayouts.IOV_LEN, length - done);
                long n = Libc.sendmsg(fd, msg.address(), Libc.MSG_NOSIGNAL);
                if (n < 0) {
                    int errno = Errors.errno();
                    if (errno == LinuxException.EAGAIN) {
                        await(Libc.POLLOUT);
                    } else if (errno != LinuxException.EINTR) {
                        throw Errors.newException("sendmsg", errno);
                    }
                    continue;
                }
                done += n;
                // The descriptors went with the first part.
                msg.set(ValueLayout.JAVA_LONG, NativeLayouts.MSG_CONTROL, 0);
                msg.set(ValueLayout.JAVA_LONG, NativeLayouts.MSG_CONTROLLEN, 0);
            } while (done < length);
        }
    }

    private void await(short events) throws IOException {
        int wait = timeoutMillis;
        if (deadlineNanos != 0) {
            long left = deadlineNanos - System.nanoTime();
            if (left <= 0) {
                throw new SocketTimeoutException("deadline passed");
            }
            int leftMillis = (int) Math.min(Integer.MAX_VALUE, (left + 999_999) / 1_000_000);
            wait = wait < 0 ? leftMillis : Math.min(wait, leftMillis);
        }
        switch (Fds.awaitReady(fd, events, wakeupFd, wait)) {
            case Fds.WOKEN -> throw new AsynchronousCloseException();
            case Fds.TIMED_OUT -> throw new SocketTimeoutException(wait == timeoutMillis
                    ? "no data within " + timeoutMillis + " ms" : "deadline passed");
            default -> {
            }
        }
    }

    /** The peer's process, user and group ids (SO_PEERCRED), as the kernel recorded them at connect time. */
    public PeerCredentials peerCredentials() throws LinuxException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment ucred = arena.allocate(NativeLayouts.UCRED_SIZE, 4);
            MemorySegment length = arena.allocate(ValueLayout.JAVA_INT);
            length.set(ValueLayout.JAVA_INT, 0, NativeLayouts.UCRED_SIZE);
            Errors.check("getsockopt(SO_PEERCRED)", Libc.getsockopt(fd, Libc.SOL_SOCKET, Libc.SO_PEERCRED,
                    ucred.address(), length.address()));
            return new PeerCredentials(ucred.get(ValueLayout.JAVA_INT, NativeLayouts.UCRED_PID),
                    Integer.toUnsignedLong(ucred.get(ValueLayout.JAVA_INT, NativeLayouts.UCRED_UID)),
                    Integer.toUnsignedLong(ucred.get(ValueLayout.JAVA_INT, NativeLayouts.UCRED_GID)));
        }
    }

    /** The peer's process id (SO_PEERCRED). */
    public int peerPid() throws LinuxException {
        return peerCredentials().pid();
    }

    /** What SO_PEERCRED says about the process at the other end (uid and gid unsigned, as the kernel's). */
    public record PeerCredentials(int pid, long uid, long gid) {
    }

    /** shutdown(SHUT_RDWR): the peer sees end-of-file; the fd stays open until {@link #close()}. */
    public void shutdown() throws LinuxException {
        Errors.check("shutdown", Libc.shutdown(fd, Libc.SHUT_RDWR));
    }

    public boolean isClosed() {
        return closed.get();
    }

    /** Closes the socket (not the wake-up fd). Idempotent. */
    @Override
    public void close() {
        if (closed.compareAndSet(false, true)) {
            Fds.closeQuietly(fd);
        }
    }

    @Override
    public String toString() {
        return "UnixSocket[fd=" + fd + (closed.get() ? ", closed]" : "]");
    }
}

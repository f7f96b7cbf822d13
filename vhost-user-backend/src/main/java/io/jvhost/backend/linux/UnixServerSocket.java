package io.jvhost.backend.linux;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.channels.AsynchronousCloseException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * A listening AF_UNIX SOCK_STREAM socket bound to a path. {@link #close()} removes the socket file it
 * created (and only that file: if someone replaced it meanwhile, it stays).
 *
 * <p>Not thread-safe: one thread accepts; {@link #close()} is idempotent.
 */
public final class UnixServerSocket implements AutoCloseable {

    /** sun_path is 108 bytes including the terminating NUL (unix(7)). */
    public static final int MAX_PATH_BYTES = 107;

    private static final int S_IFMT = Libc.S_IFMT;
    private static final int S_IFSOCK = Libc.S_IFSOCK;

    private final int fd;
    private final Path path;
    private final Object fileKey;
    private final int wakeupFd;
    private final AtomicBoolean closed = new AtomicBoolean();

    private UnixServerSocket(int fd, Path path, Object fileKey, int wakeupFd) {
        this.fd = fd;
        this.path = path;
        this.fileKey = fileKey;
        this.wakeupFd = wakeupFd;
    }

    /**
     * Binds and listens on {@code path}. A leftover socket file nobody listens on (ECONNREFUSED) is
     * removed first; any other existing file, or a socket with a live listener, is an error.
     *
     * @param wakeupFd eventfd that aborts {@link #accept()} (and the accepted sockets' calls) when
     *                 readable, or -1
     */
    public static UnixServerSocket listen(Path path, int backlog, int wakeupFd) throws IOException {
        return listen(path, backlog, wakeupFd, SocketAccess.ANY);
    }

    /**
     * {@link #listen(Path, int, int)}, with the socket file's group and mode set as {@code access} says
     * before anyone can connect.
     */
    public static UnixServerSocket listen(Path path, int backlog, int wakeupFd, SocketAccess access) throws IOException {
        removeStaleSocket(path);
        int fd = UnixSocket.newSocket();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment address = UnixSocket.sockaddr(arena, path);
            Errors.check("bind(" + path + ")", Libc.bind(fd, address.address(), (int) address.byteSize()));
            Object fileKey = Files.readAttributes(path, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS).fileKey();
            try {
                access.applyTo(path);
                Errors.check("listen(" + path + ")", Libc.listen(fd, backlog));
            } catch (IOException | RuntimeException e) {
                Files.deleteIfExists(path);
                throw e;
            }
            return new UnixServerSocket(fd, path, fileKey, wakeupFd);
        } catch (IOException | RuntimeException e) {
            Fds.closeQuietly(fd);
            throw e;
        }
    }

    /**
     * Makes room for a socket at {@code path}: a leftover socket file nobody listens on (ECONNREFUSED)
     * is removed; any other existing file, or a socket with a live listener, is an error.
     */
    public static void removeStaleSocket(Path path) throws IOException {
        int mode;
        try {
            mode = (Integer) Files.getAttribute(path, "unix:mode", LinkOption.NOFOLLOW_LINKS);
        } catch (NoSuchFileException e) {
            return;
        }
        if ((mode & S_IFMT) != S_IFSOCK) {
            throw new IOException("cannot listen on " + path + ": a file that is not a socket is in the way");
        }
        try (UnixSocket probe = UnixSocket.connect(path, -1)) {
            throw new IOException("cannot listen on " + path + ": another process is listening there");
        } catch (LinuxException e) {
            if (e.errno() != LinuxException.ECONNREFUSED) {
                throw new IOException("cannot listen on " + path + ": existing socket: " + e.getMessage(), e);
            }
        }
        Files.deleteIfExists(path); // nobody listens: left over by a process that died
    }

    public Path path() {
        return path;
    }

    /**
     * Waits for and accepts one connection (non-blocking, close-on-exec, sharing this socket's wake-up fd).
     *
     * @throws AsynchronousCloseException when the wake-up fd became readable
     */
    public UnixSocket accept() throws IOException {
        while (true) {
            int conn = Libc.accept4(fd, 0, 0, Libc.SOCK_NONBLOCK | Libc.SOCK_CLOEXEC);
            if (conn >= 0) {
                return UnixSocket.adopt(conn, wakeupFd);
            }
            int errno = Errors.errno();
            if (errno == LinuxException.EAGAIN) {
                if (Fds.awaitReady(fd, Libc.POLLIN, wakeupFd, -1) == Fds.WOKEN) {
                    throw new AsynchronousCloseException();
                }
            } else if (errno != LinuxException.EINTR) {
                throw Errors.newException("accept4(" + path + ")", errno);
            }
        }
    }

    /** Closes the socket and removes its file, if that is still the one it bound. Idempotent. */
    @Override
    public void close() {
        if (!closed.compareAndSet(false, true)) {
            return;
        }
        Fds.closeQuietly(fd);
        deleteIfSameFile(path, fileKey);
    }

    /**
     * Deletes {@code path} if it is still the file whose {@code fileKey} was recorded when it was made:
     * one someone put there since stays.
     */
    public static void deleteIfSameFile(Path path, Object fileKey) {
        try {
            Object current = Files.readAttributes(path, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS).fileKey();
            if (Objects.equals(current, fileKey)) {
                Files.deleteIfExists(path);
            }
        } catch (IOException e) {
            // already gone (or unreadable): nothing of ours to remove
        }
    }
}

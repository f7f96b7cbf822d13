package io.jvhost.backend.management;

import io.jvhost.backend.linux.SocketAccess;
import io.jvhost.backend.linux.UnixServerSocket;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Objects;

/**
 * The control socket's file, from before it is bound until it is removed.
 *
 * <p>Why a private directory: Netty's epoll server channel binds and listens in one call, so unlike
 * {@link UnixServerSocket} there is no moment between bind(2) and listen(2) to chmod the file; and the
 * umask is per process, so narrowing it would race every other thread creating files. Instead the
 * socket is bound in a fresh 0700 directory next to the target (nobody but jvhost's uid can even
 * reach it), given its group and mode there, then renamed into place with rename(2): the name appears
 * atomically with the final mode, and a client that connects at once finds the socket listening.
 *
 * <p>Not thread-safe: the thread that starts and closes the control socket uses it.
 */
final class ControlSocketFile {

    private final Path target;
    private final Path privateDir;
    private final Path bindPath;
    private Object fileKey;

    private ControlSocketFile(Path target, Path privateDir, Path bindPath) {
        this.target = target;
        this.privateDir = privateDir;
        this.bindPath = bindPath;
    }

    /**
     * Creates the target's directory if needed, removes a stale socket there and makes the private
     * directory to bind in.
     *
     * @param what the start of every message ("management: cannot create the control socket ...")
     */
    static ControlSocketFile prepare(Path target, String what) throws IOException {
        Path parent = Objects.requireNonNullElse(target.getParent(), Path.of("."));
        try {
            Files.createDirectories(parent);
            UnixServerSocket.removeStaleSocket(target);
        } catch (IOException e) {
            throw new IOException(what + ": " + e.getMessage(), e);
        }
        Path dir;
        try {
            dir = Files.createTempDirectory(parent, ".jvhost-ctl-",
                    PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
        } catch (IOException e) {
            throw new IOException(what + ": cannot create a directory in " + parent + ": " + e.getMessage(), e);
        }
        Path bindPath = dir.resolve("s");
        int bytes = bindPath.toString().getBytes(StandardCharsets.UTF_8).length;
        if (bytes > UnixServerSocket.MAX_PATH_BYTES) {
            Files.deleteIfExists(dir);
            throw new IOException(what + ": the path of its private directory " + bindPath + " is " + bytes
                    + " bytes long, a unix socket path has at most " + UnixServerSocket.MAX_PATH_BYTES
                    + " (use a shorter management.control-socket)");
        }
        return new ControlSocketFile(target, dir, bindPath);
    }

    /** Where to bind: inside the private directory. */
    Path bindPath() {
        return bindPath;
    }

    /** Gives the bound socket its group and mode, then moves it to the target. */
    void publish(int mode, String group) throws IOException {
        new SocketAccess(mode, group, null).applyTo(bindPath);
        fileKey = Files.readAttributes(bindPath, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS).fileKey();
        Files.move(bindPath, target, StandardCopyOption.ATOMIC_MOVE);
        Files.deleteIfExists(privateDir);
    }

    /** Start failed: removes what was created. */
    void abandon() {
        try {
            Files.deleteIfExists(bindPath);
            Files.deleteIfExists(privateDir);
        } catch (IOException e) {
            // nothing more to do: the start already failed with the reason that matters
        }
    }

    /** Removes the socket file, if the target still is the socket published (else it is someone else's). */
    void remove() {
        abandon();
        if (fileKey != null) {
            UnixServerSocket.deleteIfSameFile(target, fileKey);
        }
    }
}

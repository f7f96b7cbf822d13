package io.jvhost.backend.linux;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;

/** Counts this process's open file descriptors (/proc/self/fd), for leak checks. */
public final class OpenFds {

    private OpenFds() {
    }

    public static long count() {
        try (Stream<Path> fds = Files.list(Path.of("/proc/self/fd"))) {
            return fds.count() - 1; // the directory stream's own fd
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** What each open fd refers to (readlink of /proc/self/fd/N), for failure messages. */
    public static String describe() {
        StringBuilder text = new StringBuilder();
        try (Stream<Path> fds = Files.list(Path.of("/proc/self/fd"))) {
            fds.sorted((a, b) -> Integer.compare(Integer.parseInt(a.getFileName().toString()),
                    Integer.parseInt(b.getFileName().toString()))).forEach(fd -> {
                        try {
                            text.append(fd.getFileName()).append("->").append(Files.readSymbolicLink(fd)).append(' ');
                        } catch (IOException e) {
                            // closed meanwhile (the listing's own fd)
                        }
                    });
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return text.toString();
    }

    /** Whether {@code fd} is open in this process. */
    public static boolean isOpen(int fd) {
        return Files.exists(Path.of("/proc/self/fd/" + fd));
    }
}

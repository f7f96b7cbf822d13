package io.jvhost.backend.vcpu;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.stream.Stream;

/**
 * A directory laid out like procfs for the files this package reads:
 * {@code root/PID/task/TID/comm} and {@code root/PID/task/TID/stat}.
 *
 * <p>Rewriting a stat file keeps its inode, so a {@link LastCpuReader.Task} opened on it sees the new
 * line, as with procfs. What a regular file cannot imitate is procfs failing the read of an open file
 * once its thread has exited; the tests on this JVM's own threads cover that.
 */
final class FakeProcTree {

    /**
     * Fields 3 to 52 of a real thread's stat line (Linux 6.18), field 39 (processor) replaced by
     * {@code %d}. Field 38 (exit_signal) is -1, as for every thread that is not a group leader, and
     * field 40 is 0, so a parser that is off by one reads a different number.
     */
    private static final String FIELDS_AFTER_COMM = "S 4700 4700 4700 0 -1 4194624 6903 0 0 0 105 36 0 0 20 0 6"
            + " 0 149207 5255168 1000 18446744073709551615 93887091269632 93887092059037 140731488777728 0 0 0"
            + " 65536 4 1132560123 1 0 0 -1 %d 0 0 0 0 0 93887092292336 93887092340580 93888082214912"
            + " 140731488783229 140731488783244 140731488783244 140731488784362 0";

    private final Path root;

    FakeProcTree(Path root) {
        this.root = root;
    }

    Path root() {
        return root;
    }

    /** The stat line of thread {@code tid} named {@code comm} that last ran on {@code processor}. */
    static String statLine(int tid, String comm, int processor) {
        return tid + " (" + comm + ") " + FIELDS_AFTER_COMM.formatted(processor) + "\n";
    }

    /** A thread with both files. */
    FakeProcTree thread(int pid, int tid, String comm, int processor) {
        commOnly(pid, tid, comm);
        stat(pid, tid, statLine(tid, comm, processor));
        return this;
    }

    /** A thread whose stat file is missing: it exits between the scan and the open. */
    FakeProcTree commOnly(int pid, int tid, String comm) {
        write(taskDir(pid, tid).resolve("comm"), comm + "\n");
        return this;
    }

    /** A listed thread without files: it exits between the listing and the read of its name. */
    FakeProcTree listedOnly(int pid, int tid) {
        try {
            Files.createDirectories(taskDir(pid, tid));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return this;
    }

    /** Rewrites a thread's stat line in place with another processor. */
    FakeProcTree processor(int pid, int tid, int processor) {
        String comm = read(taskDir(pid, tid).resolve("comm")).stripTrailing();
        return stat(pid, tid, statLine(tid, comm, processor));
    }

    /** Writes any stat content. */
    FakeProcTree stat(int pid, int tid, String line) {
        write(taskDir(pid, tid).resolve("stat"), line);
        return this;
    }

    /** Removes a thread's directory. */
    FakeProcTree remove(int pid, int tid) {
        try (Stream<Path> files = Files.walk(taskDir(pid, tid))) {
            for (Path p : files.sorted(Comparator.reverseOrder()).toList()) {
                Files.delete(p);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return this;
    }

    Path taskDir(int pid, int tid) {
        return root.resolve(Integer.toString(pid)).resolve("task").resolve(Integer.toString(tid));
    }

    private static void write(Path file, String text) {
        try {
            Files.createDirectories(file.getParent());
            Files.writeString(file, text, StandardCharsets.ISO_8859_1);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static String read(Path file) {
        try {
            return Files.readString(file, StandardCharsets.ISO_8859_1);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}

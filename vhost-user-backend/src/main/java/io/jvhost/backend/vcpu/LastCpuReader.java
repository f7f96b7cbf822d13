package io.jvhost.backend.vcpu;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Objects;

/**
 * Reads the host CPU a thread last ran on: field 39, {@code processor}, of
 * {@code /proc/PID/task/TID/stat} (proc(5)).
 *
 * <pre>
 *   4711 (CPU 0/KVM) S 4700 4700 ... 0 0 3 0 0 0 ...
 *   |    |           |                   |
 *   |    |           |                   field 39, processor: the 37th field after the last ')'
 *   |    |           field 3, state: the first field after the last ')'
 *   |    field 2, comm in parentheses: up to 15 bytes, may hold ' ', '(' and ')'
 *   field 1, the TID
 * </pre>
 *
 * The comm is the only field that is not a number or a single letter, so the fields are counted from
 * the last {@code ')'}; splitting the whole line on spaces (awk's {@code $39}) miscounts every vCPU
 * thread, whose names contain a space.
 *
 * <p>Two ways to read. {@link #lastCpu(int, int)} opens, reads and closes the file. For a thread read
 * again and again, {@link #open(int, int)} keeps the file open and {@link #lastCpu(Task)} re-reads it
 * with {@code pread} at offset 0, which makes procfs regenerate the line. The open file is tied to the
 * thread itself, not to its number: once the thread exits, the read fails ({@code ESRCH}) and
 * {@link #GONE} is returned even if the TID is later reused.
 *
 * <p>Cost per read, measured on a 2-vCPU VM (Linux 6.18, JDK 25): 3 to 5 us and no allocation with a
 * kept-open {@link Task}; 8.5 to 12 us and about 900 bytes with {@link #lastCpu(int, int)};
 * {@code Files.readAllBytes} on the same file takes 11 to 15 us and allocates 9 KiB (procfs files
 * report size 0, so it starts with an 8 KiB buffer).
 *
 * <p>The value is where the thread last ran, not where it may run: a thread that sleeps (a halted vCPU)
 * keeps its old value even after its affinity has been changed to exclude that CPU, until it wakes.
 *
 * <p>Threads: one owner thread per instance; all reads share one scratch buffer. Reads go through an
 * interruptible {@link FileChannel}, so interrupting the owner closes the {@link Task} being read.
 */
public final class LastCpuReader {

    /** Returned when the thread (or its process) no longer exists. */
    public static final int GONE = -1;

    /** Returned by {@link #parseProcessor} when the line is not a stat line. */
    static final int MALFORMED = -2;

    /**
     * One page: the kernel formats the line into a page, and 52 fields of at most 20 digits plus a
     * 15-byte comm take under 1,200 bytes.
     */
    static final int STAT_CAPACITY = 4096;

    private static final int PROCESSOR_FIELD = 39;
    private static final int MAX_CPU_DIGITS = 9;

    private final Path procRoot;
    private final ByteBuffer scratch = ByteBuffer.allocateDirect(STAT_CAPACITY);

    /** @param procRoot where procfs is mounted, {@code /proc} outside tests */
    public LastCpuReader(Path procRoot) {
        this.procRoot = Objects.requireNonNull(procRoot, "procRoot");
    }

    public Path procRoot() {
        return procRoot;
    }

    /** {@code procRoot/PID/task/TID/stat}: the path through the process, so a TID of another process is not found. */
    public Path statPath(int pid, int tid) {
        return procRoot.resolve(Integer.toString(pid)).resolve("task").resolve(Integer.toString(tid)).resolve("stat");
    }

    /**
     * One read: opens, reads and closes the stat file.
     *
     * @return the CPU the thread last ran on, or {@link #GONE}
     * @throws IOException if the file cannot be opened for another reason than the thread being gone
     *                     (permissions), or is not a stat line
     */
    public int lastCpu(int pid, int tid) throws IOException {
        try (Task task = open(pid, tid)) {
            return task == null ? GONE : lastCpu(task);
        }
    }

    /**
     * Opens a thread's stat file for repeated reads with {@link #lastCpu(Task)}.
     *
     * @return the open file, or {@code null} if the thread does not exist
     */
    public Task open(int pid, int tid) throws IOException {
        Path path = statPath(pid, tid);
        try {
            return new Task(pid, tid, path, FileChannel.open(path, StandardOpenOption.READ));
        } catch (NoSuchFileException e) {
            return null;
        }
    }

    /**
     * Re-reads an open stat file. Allocates nothing.
     *
     * @return the CPU the thread last ran on, or {@link #GONE} once the thread has exited
     * @throws ClosedChannelException if the task was closed, or the owner thread was interrupted
     * @throws IOException            if the file is not a stat line
     */
    public int lastCpu(Task task) throws IOException {
        ByteBuffer buffer = scratch;
        buffer.clear();
        int length;
        try {
            // One pread: procfs hands over the whole line in one read when the buffer holds it, and a
            // second read only to see end-of-file would double the cost.
            length = task.stat.read(buffer, 0);
        } catch (ClosedChannelException e) {
            throw e;
        } catch (IOException e) {
            // ESRCH: the file outlived its thread. Nothing else fails a read of an open procfs file;
            // if something did, the re-scan that GONE triggers reopens the file and reports it.
            return GONE;
        }
        if (length <= 0 || length == STAT_CAPACITY) {
            throw malformed(task.path, buffer, Math.max(length, 0));
        }
        int cpu = parseProcessor(buffer, length);
        if (cpu == MALFORMED) {
            throw malformed(task.path, buffer, length);
        }
        return cpu;
    }

    /**
     * Field 39 of a stat line held in {@code stat[0, length)}, by absolute gets (the buffer's position
     * and limit are not used).
     *
     * @return the processor, or {@link #MALFORMED}
     */
    static int parseProcessor(ByteBuffer stat, int length) {
        int close = -1;
        for (int i = length - 1; i >= 0; i--) {
            if (stat.get(i) == ')') {
                close = i;
                break;
            }
        }
        if (close < 0) {
            return MALFORMED;
        }
        // After the comm every field is preceded by exactly one space and is never empty.
        int i = close + 1;
        for (int field = 3; ; field++) {
            if (i >= length || stat.get(i) != ' ') {
                return MALFORMED;
            }
            i++;
            if (field == PROCESSOR_FIELD) {
                break;
            }
            int start = i;
            while (i < length && stat.get(i) != ' ') {
                i++;
            }
            if (i == start) {
                return MALFORMED;
            }
        }
        int cpu = 0;
        int digits = 0;
        while (i < length) {
            byte b = stat.get(i);
            if (b < '0' || b > '9') {
                break;
            }
            if (++digits > MAX_CPU_DIGITS) {
                return MALFORMED;
            }
            cpu = cpu * 10 + (b - '0');
            i++;
        }
        if (digits == 0 || (i < length && stat.get(i) != ' ' && stat.get(i) != '\n')) {
            return MALFORMED;
        }
        return cpu;
    }

    private static IOException malformed(Path path, ByteBuffer buffer, int length) {
        byte[] bytes = new byte[Math.min(length, 200)];
        buffer.get(0, bytes);
        return new IOException(path + ": no field 39 (processor) in a " + length + "-byte stat line: '"
                + new String(bytes, StandardCharsets.ISO_8859_1).strip() + (length > bytes.length ? "...'" : "'"));
    }

    /** A thread's stat file kept open; see {@link LastCpuReader#open(int, int)}. */
    public static final class Task implements AutoCloseable {

        private final int pid;
        private final int tid;
        private final Path path;
        private final FileChannel stat;

        private Task(int pid, int tid, Path path, FileChannel stat) {
            this.pid = pid;
            this.tid = tid;
            this.path = path;
            this.stat = stat;
        }

        public int pid() {
            return pid;
        }

        public int tid() {
            return tid;
        }

        public Path path() {
            return path;
        }

        @Override
        public void close() throws IOException {
            stat.close();
        }

        @Override
        public String toString() {
            return "Task[" + path + "]";
        }
    }
}

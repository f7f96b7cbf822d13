package io.jvhost.backend.vcpu;

import com.sun.management.ThreadMXBean;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@link LastCpuReader}: field 39 of fake stat lines, then of this JVM's own threads. */
class VcpuLastCpuReaderTest {

    private static final ThreadMXBean THREADS = (ThreadMXBean) ManagementFactory.getThreadMXBean();

    @TempDir
    Path dir;

    private static int parse(String line) {
        byte[] bytes = line.getBytes(StandardCharsets.ISO_8859_1);
        ByteBuffer buffer = ByteBuffer.allocateDirect(LastCpuReader.STAT_CAPACITY);
        buffer.put(bytes);
        return LastCpuReader.parseProcessor(buffer, bytes.length);
    }

    @ParameterizedTest
    @ValueSource(strings = {"CPU 0/KVM", "CPU 1/TCG", "a) b (c", ") 1 2 3 4 5 6 7", "((", "x)", "",
            "CPU 1/TCG) S 1 ", ")\n)", "ALL CPUs/TCG"})
    void shouldCountFieldsFromTheLastParenthesis(String comm) {
        assertEquals(7, parse(FakeProcTree.statLine(4711, comm, 7)));
    }

    @ParameterizedTest
    @ValueSource(ints = {0, 1, 9, 10, 127, 128, 4095, 8191})
    void shouldReadFieldThirtyNineNotItsNeighbours(int processor) {
        // Fields 38 and 40 are -1 and 0 in the fixture line.
        assertEquals(processor, parse(FakeProcTree.statLine(4711, "CPU 3/KVM", processor)));
    }

    @Test
    void shouldReadAProcessorThatEndsTheLine() {
        assertEquals(5, parse("1 (x) S 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30"
                + " 31 32 33 34 35 36 37 38 5\n"));
        assertEquals(5, parse("1 (x) S 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30"
                + " 31 32 33 34 35 36 37 38 5"));
    }

    @ParameterizedTest
    @ValueSource(strings = {
            "",
            "garbage 1 2 3",
            "1 (x) S 4 5 6",
            "1 (x) S 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31 32 33 34 35 36 37 38",
            "1 (x) S 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31 32 33 34 35 36 37 38 -1 0",
            "1 (x) S 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31 32 33 34 35 36 37 38 1x 0",
            "1 (x) S 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31 32 33 34 35 36 37 38 1234567890 0",
            "1 (x) S 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31 32 33 34 35 36  38 5 0",
            "1 (x)S 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31 32 33 34 35 36 37 38 5 0",
    })
    void shouldRejectWhatIsNotAStatLine(String line) {
        assertEquals(LastCpuReader.MALFORMED, parse(line));
    }

    @Test
    void shouldReadOnceThroughThePathOfTheProcess() throws IOException {
        FakeProcTree proc = new FakeProcTree(dir).thread(100, 102, "CPU 0/KVM", 3);
        LastCpuReader reader = new LastCpuReader(dir);

        assertEquals(dir.resolve("100/task/102/stat"), reader.statPath(100, 102));
        assertEquals(3, reader.lastCpu(100, 102));
        assertEquals(LastCpuReader.GONE, reader.lastCpu(100, 103));
        assertEquals(LastCpuReader.GONE, reader.lastCpu(101, 102), "a TID is looked up under its own process");
        proc.remove(100, 102);
        assertEquals(LastCpuReader.GONE, reader.lastCpu(100, 102));
    }

    @Test
    void shouldRereadAKeptOpenFileFromTheStart() throws IOException {
        FakeProcTree proc = new FakeProcTree(dir).thread(100, 102, "CPU 0/KVM", 3);
        LastCpuReader reader = new LastCpuReader(dir);

        try (LastCpuReader.Task task = reader.open(100, 102)) {
            assertNotNull(task);
            assertEquals(100, task.pid());
            assertEquals(102, task.tid());
            assertEquals(3, reader.lastCpu(task));
            proc.processor(100, 102, 12);
            assertEquals(12, reader.lastCpu(task));
            assertEquals(12, reader.lastCpu(task));
        }
        assertNull(reader.open(100, 103));
    }

    @Test
    void shouldSayWhichFileIsMalformed() throws IOException {
        new FakeProcTree(dir).thread(100, 102, "CPU 0/KVM", 3).stat(100, 102, "102 (CPU 0/KVM) S 1 2 3\n");
        LastCpuReader reader = new LastCpuReader(dir);

        IOException e = assertThrows(IOException.class, () -> reader.lastCpu(100, 102));
        assertEquals(dir.resolve("100/task/102/stat") + ": no field 39 (processor) in a 24-byte stat line:"
                + " '102 (CPU 0/KVM) S 1 2 3'", e.getMessage());
    }

    @Test
    void shouldRejectAnEmptyStatFile() throws IOException {
        new FakeProcTree(dir).thread(100, 102, "CPU 0/KVM", 3).stat(100, 102, "");
        LastCpuReader reader = new LastCpuReader(dir);

        IOException e = assertThrows(IOException.class, () -> reader.lastCpu(100, 102));
        assertEquals(dir.resolve("100/task/102/stat") + ": no field 39 (processor) in a 0-byte stat line: ''",
                e.getMessage());
    }

    @Test
    void shouldReportTheCpuAThreadOfThisJvmIsPinnedTo() throws Exception {
        assertTrue(PinnedThread.cpusZeroAndOneAllowed(), "needs CPUs 0 and 1");
        LastCpuReader reader = new LastCpuReader(Path.of("/proc"));
        try (PinnedThread one = PinnedThread.start("jvhost-test-cpu1", 1);
             PinnedThread zero = PinnedThread.start("jvhost-test-cpu0", 0)) {
            assertEquals(1, reader.lastCpu(PinnedThread.ownPid(), one.tid()));
            assertEquals(0, reader.lastCpu(PinnedThread.ownPid(), zero.tid()));
        }
    }

    @Test
    void shouldSayGoneOnceTheThreadOfAKeptOpenFileHasExited() throws Exception {
        LastCpuReader reader = new LastCpuReader(Path.of("/proc"));
        try (PinnedThread thread = PinnedThread.start("jvhost-test-exit", 0);
             LastCpuReader.Task task = reader.open(PinnedThread.ownPid(), thread.tid())) {
            assertNotNull(task);
            assertEquals(0, reader.lastCpu(task));
            thread.end();
            assertEquals(LastCpuReader.GONE, reader.lastCpu(task));
            assertEquals(LastCpuReader.GONE, reader.lastCpu(PinnedThread.ownPid(), thread.tid()));
        }
    }

    /**
     * Re-reading a kept-open file allocates nothing: a streak of reads with exactly zero bytes, as in
     * the virtio module's hot-path test (the JDK allocates on its own now and then while warming up).
     */
    @Test
    void shouldNotAllocateWhenRereadingAKeptOpenFile() throws Exception {
        LastCpuReader reader = new LastCpuReader(Path.of("/proc"));
        try (PinnedThread thread = PinnedThread.start("jvhost-test-alloc", 0);
             LastCpuReader.Task task = reader.open(PinnedThread.ownPid(), thread.tid())) {
            int streak = 0;
            long lastAllocation = 0;
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
            while (streak < 2_000 && System.nanoTime() < deadline) {
                long before = THREADS.getCurrentThreadAllocatedBytes();
                int cpu = reader.lastCpu(task);
                long allocated = THREADS.getCurrentThreadAllocatedBytes() - before;
                assertEquals(0, cpu);
                if (allocated == 0) {
                    streak++;
                } else {
                    streak = 0;
                    lastAllocation = allocated;
                }
            }
            assertEquals(2_000, streak, "consecutive allocation-free reads (last allocation: " + lastAllocation + " bytes)");
        }
    }
}

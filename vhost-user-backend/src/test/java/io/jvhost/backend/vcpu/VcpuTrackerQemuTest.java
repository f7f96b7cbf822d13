package io.jvhost.backend.vcpu;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link VcpuTracker} on a real QEMU: two vCPUs under multi-threaded TCG, no disk, idling in SeaBIOS.
 *
 * <p>The test moves vCPU 0. The kernel updates a thread's {@code processor} when the thread runs, and
 * vCPU 0 runs on every timer tick SeaBIOS takes while it waits to retry the boot; vCPU 1 is an
 * application processor parked until an INIT/SIPI that never comes, so its thread sleeps and its value
 * stays whatever it was, wherever it is pinned.
 */
@Timeout(value = 20, unit = TimeUnit.SECONDS)
class VcpuTrackerQemuTest {

    private static final String QEMU = "qemu-system-x86_64";
    private static final long POLL_MILLIS = 10;

    @TempDir
    Path dir;

    @BeforeEach
    void needQemuAndTwoCpus() {
        assertTrue(onPath(QEMU), QEMU + " not installed (scripts/install-test-deps.sh installs it)");
        assertTrue(PinnedThread.cpusZeroAndOneAllowed(), "needs CPUs 0 and 1");
    }

    @Test
    void shouldReportTheCpuAVcpuThreadWasPinnedToWithinASecond() throws Exception {
        Path log = dir.resolve("qemu.log");
        Process qemu = startQemu(log, "-name", "jvhost-vcpu-test,debug-threads=on");
        try (VcpuTracker tracker = new VcpuTracker((int) qemu.pid())) {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
            while (tracker.vcpuCount() < 2 && System.nanoTime() < deadline && qemu.isAlive()) {
                Thread.sleep(POLL_MILLIS);
                tracker.rescan();
            }
            assertEquals(2, tracker.vcpuCount(), () -> "vCPU threads of QEMU; its output: " + read(log));
            assertEquals(List.of("CPU 0/TCG", "CPU 1/TCG"), List.of(
                    comm(qemu.pid(), tracker.tidOfVcpu(0)), comm(qemu.pid(), tracker.tidOfVcpu(1))));
            int tid = tracker.tidOfVcpu(0);

            taskset(tid, 0);
            assertEquals(0, awaitLastCpu(tracker, 0, 0), "vCPU 0 pinned to CPU 0");

            long scans = tracker.scans();
            taskset(tid, 1);
            long pinned = System.nanoTime();
            assertEquals(1, awaitLastCpu(tracker, 0, 1), "vCPU 0 pinned to CPU 1");
            long elapsedMillis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - pinned);
            assertTrue(elapsedMillis < 1_000, "seen after " + elapsedMillis + " ms");
            assertEquals(scans, tracker.scans(), "refreshes re-read the open stat files without scanning");
            assertEquals(tid, tracker.tidOfVcpu(0));
        } finally {
            stop(qemu);
        }
    }

    @Test
    void shouldFindNoVcpuThreadWhenQemuRunsWithoutDebugThreads() throws Exception {
        Path log = dir.resolve("qemu.log");
        Process qemu = startQemu(log);
        try {
            // Main thread, RCU thread and two vCPU threads, all named after the process.
            Path tasks = Path.of("/proc", Long.toString(qemu.pid()), "task");
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
            while (taskCount(tasks) < 4 && System.nanoTime() < deadline && qemu.isAlive()) {
                Thread.sleep(POLL_MILLIS);
            }
            long threads = taskCount(tasks);
            assertTrue(threads >= 4, () -> threads + " threads of QEMU; its output: " + read(log));

            assertSame(VcpuThreadMap.EMPTY, new VcpuThreads(Path.of("/proc")).scan((int) qemu.pid()));
        } finally {
            stop(qemu);
        }
    }

    private static Process startQemu(Path log, String... extra) throws IOException {
        List<String> command = new ArrayList<>(List.of(QEMU, "-accel", "tcg,thread=multi", "-smp", "2", "-m", "64M",
                "-nographic", "-display", "none", "-no-reboot", "-nodefaults"));
        command.addAll(List.of(extra));
        return new ProcessBuilder(command)
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                .redirectErrorStream(true)
                .redirectOutput(log.toFile())
                .start();
    }

    /** Kills QEMU by its own pid (never by name: other QEMUs may be running) and reaps it. */
    private static void stop(Process qemu) throws InterruptedException {
        qemu.destroyForcibly();
        if (!qemu.waitFor(5, TimeUnit.SECONDS)) {
            throw new AssertionError("QEMU pid " + qemu.pid() + " survived SIGKILL");
        }
    }

    /** Refreshes every 10 ms until {@code vcpu} is reported on {@code cpu}, for at most a second. */
    private static int awaitLastCpu(VcpuTracker tracker, int vcpu, int cpu) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(1);
        tracker.refresh();
        while (tracker.lastCpuOfVcpu(vcpu, -1) != cpu && System.nanoTime() < deadline) {
            Thread.sleep(POLL_MILLIS);
            tracker.refresh();
        }
        return tracker.lastCpuOfVcpu(vcpu, -1);
    }

    private static void taskset(int tid, int cpu) throws Exception {
        Process taskset = new ProcessBuilder("taskset", "-p", "-c", Integer.toString(cpu), Integer.toString(tid))
                .redirectErrorStream(true)
                .start();
        String output = new String(taskset.getInputStream().readAllBytes());
        assertTrue(taskset.waitFor(5, TimeUnit.SECONDS), "taskset did not finish");
        assertEquals(0, taskset.exitValue(), () -> "taskset -p -c " + cpu + " " + tid + ": " + output);
    }

    private static String comm(long pid, int tid) throws IOException {
        return Files.readString(Path.of("/proc", Long.toString(pid), "task", Integer.toString(tid), "comm")).strip();
    }

    private static long taskCount(Path tasks) throws IOException {
        try (var entries = Files.list(tasks)) {
            return entries.count();
        }
    }

    private static String read(Path log) {
        try {
            return Files.readString(log);
        } catch (IOException e) {
            return "(unreadable: " + e + ")";
        }
    }

    private static boolean onPath(String program) {
        String path = System.getenv("PATH");
        if (path == null) {
            return false;
        }
        for (String entry : path.split(File.pathSeparator)) {
            if (Files.isExecutable(Path.of(entry, program))) {
                return true;
            }
        }
        return false;
    }
}

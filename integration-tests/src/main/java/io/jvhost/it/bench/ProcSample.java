package io.jvhost.it.bench;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * CPU time and context switches of one process at one instant, from procfs: the process's
 * {@code utime + stime} ({@code /proc/PID/stat}, fields 14 and 15, in clock ticks) and, per thread,
 * its ticks, name and {@code voluntary_ctxt_switches + nonvoluntary_ctxt_switches}
 * ({@code /proc/PID/task/TID/status}). Two samples give the rates over the time between them
 * ({@link #until}).
 *
 * <p>Threads that exit between two samples lose their switches from the sum; the bench samples a
 * steady state, where no thread comes or goes.
 *
 * @param nanoTime     {@link System#nanoTime()} when the sample was taken
 * @param cpuTicks     the process's user + system time, all threads, in clock ticks
 * @param threads      per thread id: name, ticks, context switches
 */
record ProcSample(long nanoTime, long cpuTicks, Map<Long, ThreadSample> threads) {

    /** {@code getconf CLK_TCK}: 100 on every Linux this runs on (USER_HZ is fixed for the ABI). */
    static final int CLOCK_TICKS_PER_SECOND = 100;

    record ThreadSample(String name, long cpuTicks, long contextSwitches) {
    }

    /** Reads {@code pid} now; an exited process gives an empty sample. */
    static ProcSample read(long pid) {
        long now = System.nanoTime();
        Path proc = Path.of("/proc", Long.toString(pid));
        long ticks = readTicks(proc.resolve("stat"));
        Map<Long, ThreadSample> threads = new HashMap<>();
        try (DirectoryStream<Path> tasks = Files.newDirectoryStream(proc.resolve("task"))) {
            for (Path task : tasks) {
                try {
                    String name = Files.readString(task.resolve("comm")).strip();
                    long threadTicks = readTicks(task.resolve("stat"));
                    long switches = 0;
                    for (String line : Files.readAllLines(task.resolve("status"))) {
                        if (line.startsWith("voluntary_ctxt_switches:") || line.startsWith("nonvoluntary_ctxt_switches:")) {
                            switches += Long.parseLong(line.substring(line.indexOf(':') + 1).strip());
                        }
                    }
                    threads.put(Long.parseLong(task.getFileName().toString()),
                            new ThreadSample(name, threadTicks, switches));
                } catch (IOException | NumberFormatException e) {
                    // The thread exited while we read it.
                }
            }
        } catch (IOException e) {
            return new ProcSample(now, ticks, Map.of());
        }
        return new ProcSample(now, ticks, Map.copyOf(threads));
    }

    /** utime + stime from a {@code stat} file; the command name may hold spaces, so split after its ')'. */
    static long readTicks(Path stat) {
        try {
            return parseTicks(Files.readString(stat));
        } catch (IOException e) {
            return 0;
        }
    }

    static long parseTicks(String stat) {
        String[] f = stat.substring(stat.lastIndexOf(')') + 2).strip().split(" ");
        // f[0] is field 3 (state): utime is field 14, stime field 15.
        return Long.parseLong(f[11]) + Long.parseLong(f[12]);
    }

    /**
     * Busy time of the whole machine in clock ticks, all CPUs: the first line of {@code /proc/stat}
     * ({@code cpu user nice system idle iowait irq softirq steal ...}) less idle and iowait.
     */
    static long machineBusyTicks() {
        try {
            String first = Files.readAllLines(Path.of("/proc/stat")).getFirst();
            String[] f = first.strip().split("\\s+");
            long busy = 0;
            for (int i = 1; i <= Math.min(8, f.length - 1); i++) {
                if (i != 4 && i != 5) {
                    busy += Long.parseLong(f[i]);
                }
            }
            return busy;
        } catch (IOException | RuntimeException e) {
            return -1;
        }
    }

    long contextSwitches() {
        long sum = 0;
        for (ThreadSample t : threads.values()) {
            sum += t.contextSwitches();
        }
        return sum;
    }

    /** What happened between this sample and {@code later}. */
    /** CPU ticks of the JIT compiler threads (HotSpot's {@code C1/C2 CompilerThre...}): warm-up is over when they stop. */
    long compilerTicks() {
        long ticks = 0;
        for (ThreadSample t : threads.values()) {
            if (t.name().contains("Compiler")) {
                ticks += t.cpuTicks();
            }
        }
        return ticks;
    }

    Delta until(ProcSample later) {
        double seconds = (later.nanoTime - nanoTime) / 1e9;
        double cpuSeconds = (later.cpuTicks - cpuTicks) / (double) CLOCK_TICKS_PER_SECOND;
        long switches = 0;
        List<ThreadLoad> loads = new ArrayList<>();
        for (Map.Entry<Long, ThreadSample> e : later.threads.entrySet()) {
            ThreadSample before = threads.get(e.getKey());
            if (before == null) {
                continue;
            }
            switches += e.getValue().contextSwitches() - before.contextSwitches();
            double busy = (e.getValue().cpuTicks() - before.cpuTicks()) / (double) CLOCK_TICKS_PER_SECOND / seconds;
            loads.add(new ThreadLoad(e.getValue().name(), busy,
                    (e.getValue().contextSwitches() - before.contextSwitches()) / seconds));
        }
        loads.sort(Comparator.comparingDouble(ThreadLoad::cpu).reversed());
        return new Delta(seconds, cpuSeconds, switches / seconds, List.copyOf(loads), later.threads.size());
    }

    /**
     * @param seconds          wall time between the samples
     * @param cpuSeconds       CPU time the process used in it
     * @param switchesPerSecond context switches per second, all threads
     * @param threads          threads present in both samples, busiest first
     * @param threadCount      threads in the later sample
     */
    record Delta(double seconds, double cpuSeconds, double switchesPerSecond, List<ThreadLoad> threads,
                 int threadCount) {

        /**
         * The busiest {@code n} thread names as {@code name 97%}, threads of one name (the kernel keeps
         * 15 characters of it) summed as {@code name x4 66%}; for the report.
         */
        String busiest(int n) {
            Map<String, double[]> byName = new java.util.LinkedHashMap<>();
            for (ThreadLoad t : threads) {
                double[] v = byName.computeIfAbsent(t.name(), k -> new double[2]);
                v[0] += t.cpu();
                v[1]++;
            }
            List<Map.Entry<String, double[]>> sorted = new ArrayList<>(byName.entrySet());
            sorted.sort((a, b) -> Double.compare(b.getValue()[0], a.getValue()[0]));
            StringBuilder sb = new StringBuilder();
            for (int i = 0; i < Math.min(n, sorted.size()); i++) {
                double cpu = sorted.get(i).getValue()[0];
                int count = (int) sorted.get(i).getValue()[1];
                if (cpu < 0.005) {
                    break;
                }
                if (!sb.isEmpty()) {
                    sb.append(", ");
                }
                sb.append(sorted.get(i).getKey()).append(count > 1 ? " x" + count : "").append(' ')
                        .append(Math.round(cpu * 100)).append('%');
            }
            return sb.toString();
        }
    }

    /** One thread over the interval: CPU share of one core (0..1) and its context switches per second. */
    record ThreadLoad(String name, double cpu, double switchesPerSecond) {
    }
}

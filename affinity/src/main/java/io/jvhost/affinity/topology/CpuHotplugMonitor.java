package io.jvhost.affinity.topology;

import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Notices CPU hotplug by comparing {@code /sys/devices/system/cpu/online} with the set seen last time.
 * Starts no thread: the daemon calls {@link #poll()} periodically (each rebalance period is fine; the
 * file is one short read).
 *
 * <p>Not thread-safe: one thread (the housekeeping thread) owns it.
 */
public final class CpuHotplugMonitor {

    private final Path onlineFile;
    private List<Integer> lastSeen;

    /**
     * Monitors {@code sysfsCpuRoot/online}, starting from {@code baseline} (pass the online set the
     * current topology was built from, so a change in between is not lost).
     */
    public CpuHotplugMonitor(Path sysfsCpuRoot, int[] baseline) {
        this.onlineFile = sysfsCpuRoot.resolve("online");
        this.lastSeen = sortedList(baseline);
    }

    /**
     * Monitors {@code sysfsCpuRoot/online}, starting from what it says now.
     *
     * @throws UncheckedIOException when the file cannot be read or parsed
     */
    public CpuHotplugMonitor(Path sysfsCpuRoot) {
        this.onlineFile = sysfsCpuRoot.resolve("online");
        this.lastSeen = CpuList.read(onlineFile);
    }

    /**
     * Reads the online set and reports how it differs from the last one seen, which it then becomes.
     *
     * @throws UncheckedIOException when the file cannot be read or parsed; the last seen set is unchanged
     */
    public Change poll() {
        List<Integer> now = CpuList.read(onlineFile);
        Change change = new Change(minus(lastSeen, now), minus(now, lastSeen), now);
        lastSeen = now;
        return change;
    }

    /** The online CPUs seen last, ascending. */
    public List<Integer> online() {
        return lastSeen;
    }

    private static List<Integer> minus(List<Integer> a, List<Integer> b) {
        List<Integer> out = new ArrayList<>();
        for (int cpu : a) {
            if (!b.contains(cpu)) {
                out.add(cpu);
            }
        }
        return List.copyOf(out);
    }

    private static List<Integer> sortedList(int[] cpus) {
        return java.util.Arrays.stream(cpus).sorted().distinct().boxed().toList();
    }

    /**
     * One poll's result; lists are ascending and immutable.
     *
     * @param wentOffline CPUs online last time, offline now
     * @param cameOnline  CPUs offline last time, online now
     * @param online      all CPUs online now (feed to {@link CpuTopology#withOnline(int[])})
     */
    public record Change(List<Integer> wentOffline, List<Integer> cameOnline, List<Integer> online) {

        public boolean isEmpty() {
            return wentOffline.isEmpty() && cameOnline.isEmpty();
        }

        /** {@link #online()} as an array. */
        public int[] onlineArray() {
            return online.stream().mapToInt(Integer::intValue).toArray();
        }
    }
}

package io.jvhost.affinity.topology;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Which CPUs exist, which socket and core each belongs to. Immutable; a hotplug event builds a new one.
 *
 * <p>Read from sysfs ({@code /sys/devices/system/cpu/cpuN/topology/physical_package_id} and
 * {@code core_id}), or given explicitly (config override, tests).
 */
public final class CpuTopology {

    private static final Path SYS_CPU = Path.of("/sys/devices/system/cpu");

    private final int[] online;
    private final int[] socketOf;
    private final int[] coreOf;

    private CpuTopology(int[] online, int[] socketOf, int[] coreOf) {
        this.online = online;
        this.socketOf = socketOf;
        this.coreOf = coreOf;
    }

    /**
     * A topology from explicit sockets (each a list of CPU ids); every CPU is its own core.
     *
     * @throws IllegalArgumentException if a CPU appears twice
     */
    public static CpuTopology ofSockets(List<List<Integer>> sockets) {
        int max = -1;
        for (List<Integer> s : sockets) {
            for (int cpu : s) {
                max = Math.max(max, cpu);
            }
        }
        int[] socketOf = new int[max + 1];
        int[] coreOf = new int[max + 1];
        Arrays.fill(socketOf, -1);
        List<Integer> all = new ArrayList<>();
        for (int s = 0; s < sockets.size(); s++) {
            for (int cpu : sockets.get(s)) {
                if (socketOf[cpu] >= 0) {
                    throw new IllegalArgumentException("CPU " + cpu + " is in two sockets");
                }
                socketOf[cpu] = s;
                coreOf[cpu] = cpu;
                all.add(cpu);
            }
        }
        return new CpuTopology(all.stream().mapToInt(Integer::intValue).sorted().toArray(), socketOf, coreOf);
    }

    /** The host's topology from sysfs; CPUs whose topology cannot be read count as socket 0. */
    public static CpuTopology detect() {
        int[] online = onlineCpus();
        int max = online.length == 0 ? 0 : online[online.length - 1];
        int[] socketOf = new int[max + 1];
        int[] coreOf = new int[max + 1];
        Arrays.fill(socketOf, -1);
        for (int cpu : online) {
            Path topo = SYS_CPU.resolve("cpu" + cpu).resolve("topology");
            socketOf[cpu] = Math.max(0, readInt(topo.resolve("physical_package_id"), 0));
            // core_id repeats across sockets; make it unique by folding in the socket.
            coreOf[cpu] = socketOf[cpu] * 65536 + readInt(topo.resolve("core_id"), cpu);
        }
        return new CpuTopology(online, socketOf, coreOf);
    }

    /** CPUs currently online, from {@code /sys/devices/system/cpu/online}. */
    public static int[] onlineCpus() {
        try {
            return CpuList.parseToArray(Files.readString(SYS_CPU.resolve("online")));
        } catch (IOException e) {
            int n = Runtime.getRuntime().availableProcessors();
            int[] cpus = new int[n];
            Arrays.setAll(cpus, i -> i);
            return cpus;
        }
    }

    private static int readInt(Path file, int fallback) {
        try {
            return Integer.parseInt(Files.readString(file).trim());
        } catch (IOException | NumberFormatException e) {
            return fallback;
        }
    }

    /** CPU ids known to this topology, ascending. */
    public int[] cpus() {
        return online.clone();
    }

    public boolean contains(int cpu) {
        return cpu >= 0 && cpu < socketOf.length && socketOf[cpu] >= 0;
    }

    /** Socket of {@code cpu}, or -1 when unknown. */
    public int socketOf(int cpu) {
        return contains(cpu) ? socketOf[cpu] : -1;
    }

    /** Physical core of {@code cpu} (SMT siblings share it), or -1 when unknown. */
    public int coreOf(int cpu) {
        return contains(cpu) ? coreOf[cpu] : -1;
    }

    /** Socket id to its CPUs. */
    public Map<Integer, List<Integer>> sockets() {
        Map<Integer, List<Integer>> sockets = new TreeMap<>();
        for (int cpu : online) {
            sockets.computeIfAbsent(socketOf[cpu], s -> new ArrayList<>()).add(cpu);
        }
        return sockets;
    }

    @Override
    public String toString() {
        StringBuilder sb = new StringBuilder("CpuTopology[");
        sockets().forEach((s, cpus) -> sb.append(" socket").append(s).append('=').append(cpus));
        return sb.append(" ]").toString();
    }
}

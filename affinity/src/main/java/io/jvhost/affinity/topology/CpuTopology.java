package io.jvhost.affinity.topology;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.BitSet;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Which CPUs exist, which socket, physical core and NUMA node each belongs to, which share a core (SMT
 * siblings), and which are online. Immutable: a hotplug event builds a new one ({@link #withOnline}).
 *
 * <p>Read from sysfs ({@link #detect(Path)}), given explicitly (the {@code topology.sockets} config
 * override, {@link #ofSockets}), or built synthetically ({@link #builder()}, {@link #uniform}) for tests.
 *
 * <p>Any thread may read it.
 */
public final class CpuTopology {

    /** Where Linux exposes CPUs: {@code online}, {@code present} and one {@code cpuN} directory per CPU. */
    public static final Path SYSFS_CPU_ROOT = Path.of("/sys/devices/system/cpu");

    private final int[] cpus;
    private final BitSet online;
    private final int[] socketOf;
    private final int[] coreOf;
    private final int[] nodeOf;
    private final BitSet[] siblingsOf;

    private CpuTopology(int[] cpus, BitSet online, int[] socketOf, int[] coreOf, int[] nodeOf, BitSet[] siblingsOf) {
        this.cpus = cpus;
        this.online = online;
        this.socketOf = socketOf;
        this.coreOf = coreOf;
        this.nodeOf = nodeOf;
        this.siblingsOf = siblingsOf;
    }

    /**
     * A topology from explicit sockets (each a list of CPU ids); every CPU is its own core, all are
     * online, NUMA nodes are unknown.
     *
     * @throws IllegalArgumentException if a CPU appears twice
     */
    public static CpuTopology ofSockets(List<List<Integer>> sockets) {
        Builder builder = builder();
        for (int s = 0; s < sockets.size(); s++) {
            for (int cpu : sockets.get(s)) {
                builder.cpu(cpu, s, cpu, -1);
            }
        }
        return builder.build();
    }

    /**
     * A symmetric topology numbered as Linux numbers x86 hosts: first one thread of every core, socket
     * after socket, then the second threads in the same order. With 2 sockets × 4 cores × 2 threads,
     * socket 0 is CPUs 0-3 and 8-11, CPU 0 and 8 share a core. NUMA node = socket.
     */
    public static CpuTopology uniform(int sockets, int coresPerSocket, int threadsPerCore) {
        Builder builder = builder();
        int coresTotal = sockets * coresPerSocket;
        for (int thread = 0; thread < threadsPerCore; thread++) {
            for (int socket = 0; socket < sockets; socket++) {
                for (int core = 0; core < coresPerSocket; core++) {
                    builder.cpu(thread * coresTotal + socket * coresPerSocket + core, socket, core, socket);
                }
            }
        }
        return builder.build();
    }

    public static Builder builder() {
        return new Builder();
    }

    /** The host's topology, from {@link #SYSFS_CPU_ROOT}. See {@link #detect(Path)}. */
    public static CpuTopology detect() {
        return detect(SYSFS_CPU_ROOT);
    }

    /**
     * The topology under a sysfs CPU directory ({@code /sys/devices/system/cpu} or a test's copy):
     * sockets from {@code cpuN/topology/physical_package_id}, cores from {@code core_id}, SMT siblings from
     * {@code thread_siblings_list}, NUMA nodes from {@code cpuN/nodeM} links or {@code ../node/nodeM/cpulist}.
     * When an online CPU lacks its topology files (some containers, old kernels) the whole layout comes
     * from OpenHFT's {@code AffinityLock.cpuLayout()} (parsed from {@code /proc/cpuinfo}) instead.
     * Offline CPUs whose topology cannot be read are left out (detect again once they are online).
     */
    public static CpuTopology detect(Path sysfsCpuRoot) {
        return SysfsTopology.read(sysfsCpuRoot, SysfsTopology::hostLayout);
    }

    /** CPUs currently online, from {@code /sys/devices/system/cpu/online}; all processors if unreadable. */
    public static int[] onlineCpus() {
        return SysfsTopology.readOnline(SYSFS_CPU_ROOT);
    }

    /** The same CPUs with a new online set; CPUs this topology does not know are ignored. */
    public CpuTopology withOnline(int[] onlineCpus) {
        BitSet next = new BitSet();
        for (int cpu : onlineCpus) {
            if (contains(cpu)) {
                next.set(cpu);
            }
        }
        return new CpuTopology(cpus, next, socketOf, coreOf, nodeOf, siblingsOf);
    }

    /** CPU ids known to this topology (online or not), ascending. */
    public int[] cpus() {
        return cpus.clone();
    }

    /** Online CPU ids, ascending. */
    public int[] online() {
        return online.stream().toArray();
    }

    public boolean isOnline(int cpu) {
        return cpu >= 0 && online.get(cpu);
    }

    public boolean contains(int cpu) {
        return cpu >= 0 && cpu < socketOf.length && socketOf[cpu] >= 0;
    }

    /** Socket of {@code cpu}, or -1 when unknown. */
    public int socketOf(int cpu) {
        return contains(cpu) ? socketOf[cpu] : -1;
    }

    /** Physical core of {@code cpu}, unique across sockets (SMT siblings share it), or -1 when unknown. */
    public int coreOf(int cpu) {
        return contains(cpu) ? coreOf[cpu] : -1;
    }

    /** NUMA node of {@code cpu}, or -1 when unknown. */
    public int nodeOf(int cpu) {
        return contains(cpu) ? nodeOf[cpu] : -1;
    }

    /** The CPUs sharing {@code cpu}'s physical core, itself included, ascending; empty when unknown. */
    public int[] siblings(int cpu) {
        return contains(cpu) ? siblingsOf[cpu].stream().toArray() : new int[0];
    }

    /** Whether {@code a} and {@code b} are the same CPU or SMT siblings (share execution units). */
    public boolean sameCore(int a, int b) {
        return contains(a) && contains(b) && siblingsOf[a].get(b);
    }

    /** Socket id to its CPUs (online or not), ascending. */
    public Map<Integer, List<Integer>> sockets() {
        Map<Integer, List<Integer>> sockets = new TreeMap<>();
        for (int cpu : cpus) {
            sockets.computeIfAbsent(socketOf[cpu], s -> new ArrayList<>()).add(cpu);
        }
        return sockets;
    }

    @Override
    public String toString() {
        StringBuilder sb = new StringBuilder("CpuTopology[");
        sockets().forEach((s, list) -> sb.append(" socket").append(s).append('=').append(CpuList.format(list)));
        return sb.append(" online=").append(CpuList.format(online())).append(" ]").toString();
    }

    /** Collects CPUs one by one; {@link #build()} checks them and numbers the cores. Not thread-safe. */
    public static final class Builder {

        private final TreeMap<Integer, long[]> cpus = new TreeMap<>();
        private final Map<Integer, BitSet> siblings = new HashMap<>();
        private final BitSet offline = new BitSet();

        private Builder() {
        }

        /**
         * Adds a CPU.
         *
         * @param core any id unique within {@code socket}; CPUs with the same socket and core are SMT siblings
         * @param node NUMA node, or -1 when unknown
         * @throws IllegalArgumentException for a CPU added twice or an id out of range
         */
        public Builder cpu(int cpu, int socket, int core, int node) {
            return cpu(cpu, socket, (long) core, node);
        }

        Builder cpu(int cpu, int socket, long coreKey, int node) {
            if (cpu < 0 || cpu > CpuList.MAX_CPU) {
                throw new IllegalArgumentException("CPU " + cpu + " is outside 0-" + CpuList.MAX_CPU);
            }
            if (socket < 0) {
                throw new IllegalArgumentException("CPU " + cpu + " has a negative socket " + socket);
            }
            if (cpus.putIfAbsent(cpu, new long[] {socket, coreKey, node}) != null) {
                throw new IllegalArgumentException("CPU " + cpu + " is listed twice");
            }
            return this;
        }

        /**
         * Adds a socket with the next socket id and the next free CPU ids, threads of one core adjacent:
         * {@code socket(2, 2)} on an empty builder gives CPUs 0-1 (core 0) and 2-3 (core 1). NUMA node = socket.
         */
        public Builder socket(int cores, int threadsPerCore) {
            int socket = 0;
            for (long[] info : cpus.values()) {
                socket = Math.max(socket, (int) info[0] + 1);
            }
            int cpu = cpus.isEmpty() ? 0 : cpus.lastKey() + 1;
            for (int core = 0; core < cores; core++) {
                for (int t = 0; t < threadsPerCore; t++) {
                    cpu(cpu++, socket, core, socket);
                }
            }
            return this;
        }

        /** Marks CPUs offline (all CPUs are online otherwise). */
        public Builder offline(int... offlineCpus) {
            for (int cpu : offlineCpus) {
                offline.set(cpu);
            }
            return this;
        }

        /** The kernel's own SMT sibling list for {@code cpu}; without one, siblings are the CPUs of its core. */
        Builder siblings(int cpu, BitSet list) {
            siblings.put(cpu, (BitSet) list.clone());
            return this;
        }

        public CpuTopology build() {
            int size = cpus.isEmpty() ? 0 : cpus.lastKey() + 1;
            int[] socketOf = new int[size];
            int[] coreOf = new int[size];
            int[] nodeOf = new int[size];
            BitSet[] siblingsOf = new BitSet[size];
            Arrays.fill(socketOf, -1);
            Arrays.fill(coreOf, -1);
            Arrays.fill(nodeOf, -1);
            Map<List<Long>, Integer> coreIndex = new HashMap<>();
            Map<Integer, BitSet> coreCpus = new HashMap<>();
            BitSet online = new BitSet();
            for (Map.Entry<Integer, long[]> e : cpus.entrySet()) {
                int cpu = e.getKey();
                long[] info = e.getValue();
                socketOf[cpu] = (int) info[0];
                coreOf[cpu] = coreIndex.computeIfAbsent(List.of(info[0], info[1]), k -> coreIndex.size());
                nodeOf[cpu] = (int) info[2];
                coreCpus.computeIfAbsent(coreOf[cpu], c -> new BitSet()).set(cpu);
                if (!offline.get(cpu)) {
                    online.set(cpu);
                }
            }
            BitSet known = new BitSet();
            cpus.keySet().forEach(known::set);
            for (int cpu : cpus.keySet()) {
                BitSet list = siblings.get(cpu);
                BitSet own = (BitSet) (list != null ? list : coreCpus.get(coreOf[cpu])).clone();
                own.and(known);
                own.set(cpu);
                siblingsOf[cpu] = own;
            }
            int[] all = cpus.keySet().stream().mapToInt(Integer::intValue).toArray();
            return new CpuTopology(all, online, socketOf, coreOf, nodeOf, siblingsOf);
        }
    }
}

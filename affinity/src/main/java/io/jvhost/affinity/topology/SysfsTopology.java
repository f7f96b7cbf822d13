package io.jvhost.affinity.topology;

import net.openhft.affinity.AffinityLock;
import net.openhft.affinity.CpuLayout;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.BitSet;
import java.util.HashMap;
import java.util.Map;
import java.util.function.Supplier;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Reads {@link CpuTopology} from a sysfs CPU directory (Linux {@code Documentation/ABI/stable/sysfs-devices-system-cpu}
 * and {@code Documentation/admin-guide/cputopology.rst}):
 *
 * <pre>
 * cpu/online, cpu/present                 CPU lists ("0-3,6")
 * cpu/cpuN/topology/physical_package_id   socket
 * cpu/cpuN/topology/core_id               core, unique within the socket
 * cpu/cpuN/topology/thread_siblings_list  CPUs sharing cpuN's core, itself included
 * cpu/cpuN/nodeM                          link to cpuN's NUMA node (or node/nodeM/cpulist)
 * </pre>
 */
final class SysfsTopology {

    private static final Pattern CPU_DIR = Pattern.compile("cpu(\\d+)");
    private static final Pattern NODE_DIR = Pattern.compile("node(\\d+)");
    /** Core keys for CPUs the fallback layout does not cover: one core each, never equal to a real key. */
    private static final long OWN_CORE = 1L << 40;

    private SysfsTopology() {
    }

    /** OpenHFT's layout of this host (from {@code /proc/cpuinfo}, or one core per CPU when absent). */
    static CpuLayout hostLayout() {
        return AffinityLock.cpuLayout();
    }

    static CpuTopology read(Path cpuRoot, Supplier<CpuLayout> fallback) {
        int[] online = readOnline(cpuRoot);
        BitSet onlineSet = new BitSet();
        for (int cpu : online) {
            onlineSet.set(cpu);
        }
        BitSet known = present(cpuRoot);
        known.or(onlineSet);
        Map<Integer, Integer> nodes = nodeCpuLists(cpuRoot.resolveSibling("node"));
        CpuTopology.Builder builder = CpuTopology.builder();
        for (int cpu = known.nextSetBit(0); cpu >= 0; cpu = known.nextSetBit(cpu + 1)) {
            Path topo = cpuRoot.resolve("cpu" + cpu).resolve("topology");
            Integer socket = readInt(topo.resolve("physical_package_id"));
            Integer core = readInt(topo.resolve("core_id"));
            if (socket == null || core == null) {
                if (onlineSet.get(cpu)) {
                    return fromLayout(fallback.get(), online, cpuRoot, nodes);
                }
                continue; // offline CPUs may have no topology directory at all
            }
            // physical_package_id is -1 on some platforms without a package notion.
            builder.cpu(cpu, Math.max(0, socket), (long) core, nodeOf(cpuRoot, cpu, nodes));
            BitSet siblings = readList(topo.resolve("thread_siblings_list"));
            if (siblings != null) {
                builder.siblings(cpu, siblings);
            }
            if (!onlineSet.get(cpu)) {
                builder.offline(cpu);
            }
        }
        return builder.build();
    }

    /** Online CPUs from OpenHFT's layout; CPUs beyond it are each their own core on socket 0. */
    static CpuTopology fromLayout(CpuLayout layout, int[] online, Path cpuRoot, Map<Integer, Integer> nodes) {
        CpuTopology.Builder builder = CpuTopology.builder();
        for (int cpu : online) {
            int node = nodeOf(cpuRoot, cpu, nodes);
            if (cpu < layout.cpus()) {
                builder.cpu(cpu, Math.max(0, layout.socketId(cpu)), (long) layout.coreId(cpu), node);
            } else {
                builder.cpu(cpu, 0, OWN_CORE + cpu, node);
            }
        }
        return builder.build();
    }

    static int[] readOnline(Path cpuRoot) {
        try {
            return CpuList.read(cpuRoot.resolve("online")).stream().mapToInt(Integer::intValue).toArray();
        } catch (UncheckedIOException e) {
            int[] cpus = new int[Runtime.getRuntime().availableProcessors()];
            for (int i = 0; i < cpus.length; i++) {
                cpus[i] = i;
            }
            return cpus;
        }
    }

    /** {@code present}, or the {@code cpuN} directories when it is missing. */
    private static BitSet present(Path cpuRoot) {
        BitSet present = readList(cpuRoot.resolve("present"));
        if (present != null) {
            return present;
        }
        BitSet dirs = new BitSet();
        try (DirectoryStream<Path> entries = Files.newDirectoryStream(cpuRoot, "cpu*")) {
            for (Path entry : entries) {
                Matcher m = CPU_DIR.matcher(entry.getFileName().toString());
                if (m.matches() && m.group(1).length() <= 4) {
                    dirs.set(Integer.parseInt(m.group(1)));
                }
            }
        } catch (IOException e) {
            // No directory: only the online list is known.
        }
        return dirs;
    }

    /** CPU to node from {@code node/nodeM/cpulist}; empty when there is no node directory. */
    private static Map<Integer, Integer> nodeCpuLists(Path nodeRoot) {
        Map<Integer, Integer> nodes = new HashMap<>();
        try (DirectoryStream<Path> entries = Files.newDirectoryStream(nodeRoot, "node*")) {
            for (Path entry : entries) {
                int node = nodeId(entry);
                BitSet cpus = node < 0 ? null : readList(entry.resolve("cpulist"));
                if (cpus != null) {
                    cpus.stream().forEach(cpu -> nodes.put(cpu, node));
                }
            }
        } catch (IOException e) {
            // Not a NUMA-aware kernel (CONFIG_NUMA=n): nodes stay unknown.
        }
        return nodes;
    }

    /** The {@code cpuN/nodeM} link if there is one, else the {@code cpulist} answer, else -1. */
    private static int nodeOf(Path cpuRoot, int cpu, Map<Integer, Integer> nodes) {
        try (DirectoryStream<Path> entries = Files.newDirectoryStream(cpuRoot.resolve("cpu" + cpu), "node*")) {
            for (Path entry : entries) {
                int node = nodeId(entry);
                if (node >= 0) {
                    return node;
                }
            }
        } catch (IOException e) {
            // Fall through to the node directory's lists.
        }
        return nodes.getOrDefault(cpu, -1);
    }

    private static int nodeId(Path entry) {
        Matcher m = NODE_DIR.matcher(entry.getFileName().toString());
        return m.matches() && m.group(1).length() <= 5 ? Integer.parseInt(m.group(1)) : -1;
    }

    private static Integer readInt(Path file) {
        try {
            return Integer.valueOf(Files.readString(file).strip());
        } catch (IOException | NumberFormatException e) {
            return null;
        }
    }

    private static BitSet readList(Path file) {
        try {
            BitSet set = new BitSet();
            CpuList.read(file).forEach(set::set);
            return set;
        } catch (UncheckedIOException e) {
            return null;
        }
    }
}

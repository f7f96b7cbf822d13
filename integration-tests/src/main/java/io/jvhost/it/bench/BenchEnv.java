package io.jvhost.it.bench;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Where one bench run puts things and how it starts jvhost.
 *
 * @param socketDir   vhost-user sockets; short (sun_path holds 107 bytes), created and removed by the run
 * @param logDir      every process's config and log
 * @param javaCommand runs jvhost's main class up to its arguments
 * @param sequence    numbers the measurements of the run
 * @param commands    the first command line of each kind of process, for the report (insertion order)
 */
record BenchEnv(Path socketDir, Path logDir, List<String> javaCommand, AtomicInteger sequence,
                Map<String, String> commands) {

    /** CPU of the load generator (testpmd front-end) in the packet-rate cases. */
    static final int LOAD_CPU = 0;
    /** CPU of the backend under test in the packet-rate cases. */
    static final int BACKEND_CPU = 1;

    BenchEnv {
        javaCommand = List.copyOf(javaCommand);
    }

    /**
     * A name unique within this run for one measurement's processes, sockets and logs:
     * {@code m<n>-<what>}. testpmd's {@code --file-prefix} adds the bench's pid to it, so two
     * concurrent benches never share a DPDK runtime directory.
     */
    String nextName(String what) {
        return "m" + sequence.incrementAndGet() + "-" + what;
    }

    /**
     * Keeps {@code argv} as the example command line of {@code kind} in the report: the first one,
     * which is the smallest setting (one port pair) and so the most readable.
     */
    void remember(String kind, List<String> argv) {
        StringBuilder sb = new StringBuilder();
        for (String a : argv) {
            if (!sb.isEmpty()) {
                sb.append(' ');
            }
            sb.append(a.isEmpty() || a.matches(".*[\\s'\"*?$;&|<>()].*") ? "'" + a.replace("'", "'\\''") + "'" : a);
        }
        commands.putIfAbsent(kind, sb.toString());
    }

    /** The EAL {@code --file-prefix} for {@code name}: unique per bench process. */
    String filePrefix(String name) {
        return "jvbench-" + ProcessHandle.current().pid() + "-" + name;
    }
}

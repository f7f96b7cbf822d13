package io.jvhost.it.harness;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * DPDK's {@code dpdk-testpmd} as a vhost-user backend (the reference the jvhost tests compare
 * against), non-interactive, without hugepages or PCI, each instance with its own
 * {@code --file-prefix} and its stdout in {@code <workDir>/testpmd-<prefix>.log}.
 *
 * <p>Non-interactive testpmd exits at once when stdin is not a terminal unless a
 * {@code --stats-period} is given, so there always is one; its periodic port statistics are what
 * {@link #portStats()} parses. On {@link #close()} testpmd gets SIGTERM, prints its accumulated
 * forward statistics ({@link #forwardStats()}) and exits; its runtime directory
 * {@code /var/run/dpdk/<prefix>} is then removed.
 *
 * <p>Thread safety: meant for one test thread; {@link #close()} may be called from any thread.
 */
public final class Testpmd implements AutoCloseable {

    private static final AtomicInteger INSTANCES = new AtomicInteger();
    private static final Pattern FORWARDING = Pattern.compile("packet forwarding - ports=\\d+");
    private static final Pattern NIC_HEADER = Pattern.compile("NIC statistics for port (\\d+)");
    private static final Pattern FWD_HEADER = Pattern.compile("Forward statistics for port (\\d+)");
    private static final Pattern RX_LINE = Pattern.compile(
            "RX-packets:\\s*(\\d+)\\s+RX-missed:\\s*(\\d+)\\s+RX-bytes:\\s*(\\d+)");
    private static final Pattern RX_ERRORS = Pattern.compile("RX-errors:\\s*(\\d+)");
    private static final Pattern RX_NOMBUF = Pattern.compile("RX-nombuf:\\s*(\\d+)");
    private static final Pattern TX_LINE = Pattern.compile(
            "TX-packets:\\s*(\\d+)\\s+TX-errors:\\s*(\\d+)\\s+TX-bytes:\\s*(\\d+)");
    private static final Pattern FWD_RX = Pattern.compile("RX-packets:\\s*(\\d+)\\s+RX-dropped:\\s*(\\d+)");
    private static final Pattern FWD_TX = Pattern.compile("TX-packets:\\s*(\\d+)\\s+TX-dropped:\\s*(\\d+)");

    private final Process process;
    private final List<String> commandLine;
    private final String filePrefix;
    private final SerialLog log;
    private volatile boolean closed;

    private Testpmd(Process process, List<String> commandLine, String filePrefix, SerialLog log) {
        this.process = process;
        this.commandLine = commandLine;
        this.filePrefix = filePrefix;
        this.log = log;
    }

    /** @param workDir where the log goes; typically the test's {@code @TempDir} */
    public static Builder builder(Path workDir) {
        return new Builder(workDir);
    }

    public long pid() {
        return process.pid();
    }

    public boolean isAlive() {
        return process.isAlive();
    }

    public String filePrefix() {
        return filePrefix;
    }

    public List<String> commandLine() {
        return commandLine;
    }

    public SerialLog log() {
        return log;
    }

    /** The latest periodic statistics block of each port, by port id; empty before the first one. */
    public Map<Integer, PortStats> portStats() {
        log.refresh();
        return parsePortStats(log.lines());
    }

    /** Waits until a statistics block satisfies {@code condition}, e.g. traffic seen on both ports. */
    public Map<Integer, PortStats> awaitPortStats(java.util.function.Predicate<Map<Integer, PortStats>> condition,
                                                  Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            Map<Integer, PortStats> stats = portStats();
            if (condition.test(stats)) {
                return stats;
            }
            if (!process.isAlive() || System.nanoTime() - deadline > 0) {
                throw new HarnessTimeoutException("testpmd statistics never matched: " + stats + "\n" + log.tail(30));
            }
            SerialLog.sleep(Duration.ofMillis(200));
        }
    }

    /** The accumulated per-port forward statistics testpmd prints when it stops; empty before {@link #close()}. */
    public Map<Integer, ForwardStats> forwardStats() {
        log.refresh();
        return parseForwardStats(log.lines());
    }

    /**
     * SIGTERM (testpmd stops forwarding, prints its totals and closes the ports), SIGKILL after
     * 10 s, then removes the EAL runtime directory. Idempotent.
     */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        // Closing the vhost ports can take a few seconds; give it more than the default grace.
        ProcessReaper.terminate(process.toHandle(), Duration.ofSeconds(10));
    }

    static Map<Integer, PortStats> parsePortStats(List<String> lines) {
        Map<Integer, PortStats> out = new TreeMap<>();
        for (int i = 0; i < lines.size(); i++) {
            Matcher h = NIC_HEADER.matcher(lines.get(i));
            if (!h.find() || i + 4 >= lines.size()) {
                continue;
            }
            Matcher rx = RX_LINE.matcher(lines.get(i + 1));
            Matcher rxErr = RX_ERRORS.matcher(lines.get(i + 2));
            Matcher rxNoMbuf = RX_NOMBUF.matcher(lines.get(i + 3));
            Matcher tx = TX_LINE.matcher(lines.get(i + 4));
            if (rx.find() && rxErr.find() && rxNoMbuf.find() && tx.find()) {
                out.put(Integer.parseInt(h.group(1)), new PortStats(
                        Long.parseLong(rx.group(1)), Long.parseLong(rx.group(2)), Long.parseLong(rx.group(3)),
                        Long.parseLong(rxErr.group(1)), Long.parseLong(rxNoMbuf.group(1)),
                        Long.parseLong(tx.group(1)), Long.parseLong(tx.group(2)), Long.parseLong(tx.group(3))));
            }
        }
        return out;
    }

    static Map<Integer, ForwardStats> parseForwardStats(List<String> lines) {
        Map<Integer, ForwardStats> out = new TreeMap<>();
        for (int i = 0; i + 2 < lines.size(); i++) {
            Matcher h = FWD_HEADER.matcher(lines.get(i));
            if (!h.find()) {
                continue;
            }
            Matcher rx = FWD_RX.matcher(lines.get(i + 1));
            Matcher tx = FWD_TX.matcher(lines.get(i + 2));
            if (rx.find() && tx.find()) {
                out.put(Integer.parseInt(h.group(1)), new ForwardStats(Long.parseLong(rx.group(1)),
                        Long.parseLong(rx.group(2)), Long.parseLong(tx.group(1)), Long.parseLong(tx.group(2))));
            }
        }
        return out;
    }

    /** One port's {@code show port stats} counters (cumulative since start). */
    public record PortStats(long rxPackets, long rxMissed, long rxBytes, long rxErrors, long rxNoMbuf,
                            long txPackets, long txErrors, long txBytes) {
    }

    /** One port's totals from testpmd's exit report; drops are packets the TX ring had no room for. */
    public record ForwardStats(long rxPackets, long rxDropped, long txPackets, long txDropped) {
    }

    /** Collects testpmd's EAL and application options; {@link #commandLine()} is side-effect free. */
    public static final class Builder {

        private final Path workDir;
        private String binary = "dpdk-testpmd";
        private String cpuList = "0,1";
        private String lcores;
        private int memoryMiB = 512;
        private String filePrefix;
        private final List<String> vdevs = new ArrayList<>();
        private final List<Path> serverSockets = new ArrayList<>();
        private String forwardMode = "io";
        private int nbCores = 1;
        private int rxq;
        private int txq;
        private int totalMbufs = 16384;
        private int statsPeriodSeconds = 1;
        private final List<String> extraEal = new ArrayList<>();
        private final List<String> extraApp = new ArrayList<>();
        private Duration startTimeout = Duration.ofSeconds(60);

        private Builder(Path workDir) {
            this.workDir = workDir.toAbsolutePath();
        }

        public Builder binary(String path) {
            this.binary = path;
            return this;
        }

        /**
         * EAL {@code -l}: the first CPU is the main lcore (stats, control), the rest forward.
         * Default {@code 0,1}. A forwarding lcore busy-polls its CPU at 100 %.
         */
        public Builder cpuList(String list) {
            this.cpuList = list;
            return this;
        }

        /**
         * EAL {@code --lcores} instead of {@code -l}: maps lcores to CPUs, e.g. {@code 0@1,1@1} puts the
         * main lcore and one forwarding lcore on CPU 1 (the main lcore sleeps between statistics
         * prints, so the forwarding lcore has the CPU to itself). Null (the default) uses {@link #cpuList}.
         */
        public Builder lcores(String mapping) {
            this.lcores = mapping;
            return this;
        }

        /** EAL {@code -m} with {@code --no-huge}: anonymous memory, locked. Default 512. */
        public Builder memoryMiB(int mib) {
            this.memoryMiB = mib;
            return this;
        }

        /** Default: {@code jvhost-it-<jvm pid>-<n>}, unique per instance and JVM. */
        public Builder filePrefix(String prefix) {
            if (!prefix.matches("[A-Za-z0-9_-]+")) {
                throw new IllegalArgumentException("bad file prefix: " + prefix);
            }
            this.filePrefix = prefix;
            return this;
        }

        /** A raw {@code --vdev} argument. */
        public Builder vdev(String vdev) {
            vdevs.add(vdev);
            return this;
        }

        /** A vhost-user port where testpmd listens on {@code socket} (QEMU in client mode), one queue pair. */
        public Builder vhostUser(Path socket) {
            return vhostUser(socket, false, 1);
        }

        /**
         * A vhost-user port {@code net_vhostN} (N counts vhost ports of this instance).
         *
         * @param client true: testpmd connects (QEMU listens, {@link VhostUserNic.Mode#SERVER})
         * @param queues queue pairs ({@code queues=}); testpmd also needs {@link #queues} to poll them
         */
        public Builder vhostUser(Path socket, boolean client, int queues) {
            return vhostUser(socket, client, queues, false);
        }

        /**
         * As {@link #vhostUser(Path, boolean, int)}; {@code tso} adds {@code tso=1}: the port offers
         * the guest TSO and checksum offload (DPDK's vhost PMD keeps them off by default), and
         * hands segmentation and checksums on to the port it forwards to as mbuf offload flags.
         */
        public Builder vhostUser(Path socket, boolean client, int queues, boolean tso) {
            String path = socket.toAbsolutePath().toString();
            if (path.contains(",")) {
                throw new IllegalArgumentException("DPDK devargs cannot hold a comma: " + path);
            }
            if (path.getBytes(java.nio.charset.StandardCharsets.UTF_8).length > VhostUserNic.SUN_PATH_MAX) {
                throw new IllegalArgumentException("socket path longer than sun_path: " + path);
            }
            long index = vdevs.stream().filter(v -> v.startsWith("net_vhost")).count();
            StringBuilder sb = new StringBuilder("net_vhost").append(index).append(",iface=").append(path);
            if (queues > 1) {
                sb.append(",queues=").append(queues);
            }
            if (tso) {
                sb.append(",tso=1");
            }
            if (client) {
                sb.append(",client=1");
            } else {
                serverSockets.add(socket.toAbsolutePath());
            }
            vdevs.add(sb.toString());
            return this;
        }

        /**
         * A TAP port {@code net_tapN,iface=IFNAME} (N counts TAP ports of this instance): testpmd
         * creates the kernel interface {@code ifname} in its own network namespace and keeps it up.
         */
        public Builder tap(String ifname) {
            if (!ifname.matches("[A-Za-z0-9_.-]{1,15}")) {
                throw new IllegalArgumentException("not an interface name of at most 15 bytes: " + ifname);
            }
            long index = vdevs.stream().filter(v -> v.startsWith("net_tap")).count();
            vdevs.add("net_tap" + index + ",iface=" + ifname);
            return this;
        }

        /** {@code --forward-mode}; default {@code io} (no header rewrite, port 0 to 1 and back). */
        public Builder forwardMode(String mode) {
            this.forwardMode = mode;
            return this;
        }

        /** {@code --nb-cores}: forwarding lcores; at most the size of {@link #cpuList} minus one. */
        public Builder nbCores(int n) {
            this.nbCores = n;
            return this;
        }

        /** {@code --rxq=N --txq=N}, 0 to leave testpmd's default (1). */
        public Builder queues(int n) {
            this.rxq = n;
            this.txq = n;
            return this;
        }

        /** {@code --total-num-mbufs}; default 16384 (testpmd's own default takes seconds to allocate). */
        public Builder totalMbufs(int n) {
            this.totalMbufs = n;
            return this;
        }

        public Builder statsPeriodSeconds(int seconds) {
            if (seconds < 1) {
                throw new IllegalArgumentException("non-interactive testpmd needs a stats period >= 1");
            }
            this.statsPeriodSeconds = seconds;
            return this;
        }

        public Builder extraEalArgs(String... args) {
            extraEal.addAll(List.of(args));
            return this;
        }

        public Builder extraAppArgs(String... args) {
            extraApp.addAll(List.of(args));
            return this;
        }

        public Builder startTimeout(Duration timeout) {
            this.startTimeout = timeout;
            return this;
        }

        private String prefix() {
            if (filePrefix == null) {
                filePrefix = "jvhost-it-" + ProcessHandle.current().pid() + "-" + INSTANCES.incrementAndGet();
            }
            return filePrefix;
        }

        /** The argv {@link #start()} will run. */
        public List<String> commandLine() {
            List<String> cmd = new ArrayList<>();
            cmd.add(binary);
            if (lcores != null) {
                cmd.add("--lcores=" + lcores);
            } else {
                cmd.addAll(List.of("-l", cpuList));
            }
            cmd.addAll(List.of("--no-huge", "-m", Integer.toString(memoryMiB), "--no-pci",
                    "--no-shconf", "--file-prefix=" + prefix()));
            for (String v : vdevs) {
                cmd.add("--vdev");
                cmd.add(v);
            }
            cmd.addAll(extraEal);
            cmd.add("--");
            cmd.add("--forward-mode=" + forwardMode);
            cmd.add("--nb-cores=" + nbCores);
            if (rxq > 0) {
                cmd.add("--rxq=" + rxq);
                cmd.add("--txq=" + txq);
            }
            cmd.add("--total-num-mbufs=" + totalMbufs);
            cmd.add("--stats-period=" + statsPeriodSeconds);
            cmd.add("--auto-start");
            cmd.addAll(extraApp);
            return List.copyOf(cmd);
        }

        /**
         * Starts testpmd and waits until it forwards and its listening sockets exist.
         *
         * @throws SerialLog.WriterExitedException if testpmd exits first (its log is in the message)
         */
        public Testpmd start() {
            List<String> cmd = commandLine();
            String prefix = prefix();
            Path logFile = workDir.resolve("testpmd-" + prefix + ".log");
            Path runtimeDir = runtimeDir(prefix);
            List<Path> sockets = List.copyOf(serverSockets);
            Runnable cleanup = () -> {
                ProcessReaper.deleteTree(runtimeDir);
                for (Path s : sockets) {
                    try {
                        Files.deleteIfExists(s);
                    } catch (IOException e) {
                        throw new UncheckedIOException(e);
                    }
                }
            };
            Process p;
            try {
                Files.createDirectories(workDir);
                ProcessBuilder pb = new ProcessBuilder(cmd)
                        .directory(workDir.toFile())
                        .redirectInput(ProcessBuilder.Redirect.from(Path.of("/dev/null").toFile()))
                        .redirectErrorStream(true)
                        .redirectOutput(logFile.toFile());
                p = ProcessReaper.start(pb, "dpdk-testpmd " + prefix, cleanup);
            } catch (IOException e) {
                throw new UncheckedIOException("starting " + cmd, e);
            }
            Testpmd testpmd = new Testpmd(p, cmd, prefix, new SerialLog(logFile));
            try {
                testpmd.log.awaitLine(FORWARDING, 0, startTimeout, p::isAlive);
                long deadline = System.nanoTime() + startTimeout.toNanos();
                for (Path s : sockets) {
                    while (!Files.exists(s)) {
                        if (!p.isAlive() || System.nanoTime() - deadline > 0) {
                            throw new HarnessTimeoutException("testpmd never created " + s + "\n" + testpmd.log.tail(30));
                        }
                        SerialLog.sleep(Duration.ofMillis(20));
                    }
                }
            } catch (RuntimeException e) {
                testpmd.close();
                throw e;
            }
            return testpmd;
        }

        /** EAL's runtime directory: {@code /var/run/dpdk/<prefix>} for root, else under XDG_RUNTIME_DIR. */
        static Path runtimeDir(String prefix) {
            String xdg = System.getenv("XDG_RUNTIME_DIR");
            boolean root = "root".equals(System.getProperty("user.name"));
            Path base = root || xdg == null ? Path.of("/var/run/dpdk") : Path.of(xdg, "dpdk");
            return base.resolve(prefix);
        }
    }
}

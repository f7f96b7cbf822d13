package io.jvhost.it.harness;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A QEMU guest booted from {@link GuestImage} under TCG, with vhost-user NICs ({@link VhostUserNic})
 * or QEMU's own virtio-net on TAP devices ({@link TapNic}), a serial console
 * written to {@code <workDir>/<name>.serial.log} and QEMU's own output in
 * {@code <workDir>/<name>.qemu.log}.
 *
 * <p>The guest's behaviour is set by {@code jv.*} kernel command line keys (see
 * {@code scripts/guest/init}); the builder has a method for each. Results come back as markers on
 * the serial console, which {@link #awaitLine} and the typed {@code await...} methods read.
 *
 * <pre>{@code
 * try (QemuGuest g = QemuGuest.builder("client", dir)
 *         .role(GuestRole.CLIENT).ip("192.0.2.2/24").peer("192.0.2.1")
 *         .nic(VhostUserNic.client(dir.resolve("b.sock")).withMac("52:54:00:00:00:02"))
 *         .start()) {
 *     PingResult ping = g.awaitPingResult(Duration.ofSeconds(90));
 * }
 * }</pre>
 *
 * <p>Thread safety: meant for one test thread; {@link #close()} may be called from any thread.
 */
public final class QemuGuest implements AutoCloseable {

    public static final Pattern READY = Pattern.compile("^JV-READY$");
    /** The client, ping and bench roles' peer answered: pinging (or the tests) start now. */
    public static final Pattern PEER_UP = Pattern.compile("^JV-PEER-UP (\\d+)$");
    public static final Pattern DONE = Pattern.compile("^JV-DONE rc=(\\d+)$");
    public static final Pattern IPERF_BEGIN = Pattern.compile("^JV-IPERF-BEGIN$");
    public static final Pattern IPERF_END = Pattern.compile("^JV-IPERF-END$");
    public static final Pattern TCPEXT = Pattern.compile("^JV-TCPEXT ?(.*)$");
    public static final Pattern NET = Pattern.compile("^JV-NET eth0 mac=(\\S+) rxq=(\\d+) txq=(\\d+)$");
    private static final Pattern VCPU_COMM = Pattern.compile("^CPU (\\d+)/(TCG|KVM)$");
    private static final String ALL_CPUS_COMM = "ALL CPUs/TCG";

    private final String name;
    private final Process process;
    private final List<String> commandLine;
    private final SerialLog serial;
    private final Path qemuLog;
    private final int smp;
    private final List<GuestNic> nics;

    private QemuGuest(String name, Process process, List<String> commandLine, SerialLog serial, Path qemuLog,
                      int smp, List<GuestNic> nics) {
        this.name = name;
        this.process = process;
        this.commandLine = commandLine;
        this.serial = serial;
        this.qemuLog = qemuLog;
        this.smp = smp;
        this.nics = nics;
    }

    /**
     * @param name    guest name: QEMU's {@code -name} and the log file names; letters, digits, {@code -_}
     * @param workDir where logs go; typically the test's {@code @TempDir}
     */
    public static Builder builder(String name, Path workDir) {
        return new Builder(name, workDir);
    }

    public String name() {
        return name;
    }

    /** QEMU's pid (also when it runs in a network namespace: {@code ip netns exec} execs QEMU). */
    public long pid() {
        return process.pid();
    }

    public boolean isAlive() {
        return process.isAlive();
    }

    /** The exact argv QEMU was started with. */
    public List<String> commandLine() {
        return commandLine;
    }

    public Path serialLogFile() {
        return serial.file();
    }

    public SerialLog serial() {
        return serial;
    }

    /** The first serial console line {@code pattern} finds, waiting up to {@code timeout}. */
    public SerialLog.LineMatch awaitLine(Pattern pattern, Duration timeout) {
        return awaitLine(pattern, 0, timeout);
    }

    /** As {@link #awaitLine(Pattern, Duration)}, ignoring lines before index {@code fromLine}. */
    public SerialLog.LineMatch awaitLine(Pattern pattern, int fromLine, Duration timeout) {
        try {
            return serial.awaitLine(pattern, fromLine, timeout, process::isAlive);
        } catch (HarnessTimeoutException | SerialLog.WriterExitedException e) {
            throw withQemuLog(e);
        }
    }

    /**
     * Whether the console has a line {@code pattern} finds now, without waiting (after a migration the
     * stopped source's console is whole: was a marker printed before the switch-over?).
     */
    public boolean printed(Pattern pattern) {
        serial.refresh();
        for (String line : serial.lines()) {
            if (pattern.matcher(line).find()) {
                return true;
            }
        }
        return false;
    }

    public List<GuestNic> nics() {
        return nics;
    }

    /**
     * Waits until QEMU listens on every {@link VhostUserNic.Mode#SERVER} socket, so a backend in
     * client mode can be started. QEMU stays blocked (no vCPU runs) until each one is connected.
     */
    public void awaitServerSockets(Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        for (GuestNic nic : nics) {
            if (!(nic instanceof VhostUserNic vhost) || vhost.mode() != VhostUserNic.Mode.SERVER) {
                continue;
            }
            while (!Files.exists(vhost.socket())) {
                if (!process.isAlive() || System.nanoTime() - deadline > 0) {
                    throw withQemuLog(new HarnessTimeoutException("QEMU " + name + " never listened on "
                            + vhost.socket()));
                }
                SerialLog.sleep(Duration.ofMillis(20));
            }
        }
    }

    /** Waits for {@code JV-READY}: modules loaded, eth0 configured, the role is starting. */
    public void awaitReady(Duration timeout) {
        awaitLine(READY, timeout);
    }

    /** The {@code JV-NET} marker: eth0's MAC and the number of RX/TX queues the driver enabled. */
    public SerialLog.LineMatch awaitNet(Duration timeout) {
        return awaitLine(NET, timeout);
    }

    public PingResult awaitPingResult(Duration timeout) {
        SerialLog.LineMatch m = awaitLine(PingResult.MARKER, timeout);
        return new PingResult(Integer.parseInt(m.group(1)), Integer.parseInt(m.group(2)));
    }

    /**
     * The {@code JV-PMTU-RESULT} markers of the {@link GuestRole#PMTU} role, one per {@code jv.sizes}
     * entry in order, once the role printed {@code JV-DONE}.
     */
    public List<PmtuResult> awaitPmtuResults(Duration timeout) {
        SerialLog.LineMatch done = awaitLine(DONE, timeout);
        return PmtuResult.parse(serial.lines().subList(0, done.index()));
    }

    /** The {@code JV-FILE-SHA256} marker: the file {@link GuestRole#SEND_FILE} made or {@link GuestRole#RECV_FILE} received. */
    public FileDigest awaitFileSha256(Duration timeout) {
        return awaitDigest(FileDigest.MARKER, timeout);
    }

    /** {@link GuestRole#FILE_SWAP}'s {@code JV-SENT-SHA256}: the file it made and sends. */
    public FileDigest awaitSentSha256(Duration timeout) {
        return awaitDigest(FileDigest.SENT, timeout);
    }

    /** {@link GuestRole#FILE_SWAP}'s {@code JV-RECV-SHA256}: the file it received. */
    public FileDigest awaitReceivedSha256(Duration timeout) {
        return awaitDigest(FileDigest.RECEIVED, timeout);
    }

    private FileDigest awaitDigest(Pattern marker, Duration timeout) {
        SerialLog.LineMatch m = awaitLine(marker, timeout);
        return new FileDigest(m.group(1), Long.parseLong(m.group(2)));
    }

    /** The {@code JV-SNMP} marker the file roles print at their end: checksum errors the guest's TCP and UDP saw. */
    public CsumErrors awaitSnmpCsumErrors(Duration timeout) {
        SerialLog.LineMatch m = awaitLine(CsumErrors.MARKER, timeout);
        return new CsumErrors(Long.parseLong(m.group(1)), Long.parseLong(m.group(2)));
    }

    /**
     * The {@code JV-TCPEXT} marker the client role prints after iperf3: TcpExt counters of
     * {@code /proc/net/netstat} that tell a retransmit's cause ({@code TCPDSACKRecv}: the receiver had
     * the segment already; {@code TCPLossProbes}, {@code TCPTimeouts}, ...).
     */
    public Map<String, Long> awaitTcpExt(Duration timeout) {
        SerialLog.LineMatch m = awaitLine(TCPEXT, timeout);
        Map<String, Long> counters = new LinkedHashMap<>();
        for (String pair : m.group(1).trim().split("\\s+")) {
            int eq = pair.indexOf('=');
            if (eq > 0) {
                counters.put(pair.substring(0, eq), Long.parseLong(pair.substring(eq + 1)));
            }
        }
        return counters;
    }

    /** The iperf3 JSON between {@code JV-IPERF-BEGIN} and {@code JV-IPERF-END}, parsed. */
    public IperfResult awaitIperfResult(Duration timeout) {
        try {
            return IperfResult.parse(serial.awaitBetween(IPERF_BEGIN, IPERF_END, 0, timeout, process::isAlive));
        } catch (HarnessTimeoutException | SerialLog.WriterExitedException e) {
            throw withQemuLog(e);
        }
    }

    /**
     * Waits for {@code JV-DONE rc=N} and for QEMU to exit after the guest's {@code poweroff -f}.
     *
     * @return the role's exit status N
     */
    public int awaitDone(Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        int rc = Integer.parseInt(awaitLine(DONE, timeout).group(1));
        awaitExit(Duration.ofNanos(Math.max(Duration.ofSeconds(5).toNanos(), deadline - System.nanoTime())));
        return rc;
    }

    /** Waits for QEMU to exit by itself; returns its exit code. */
    public int awaitExit(Duration timeout) {
        try {
            if (!process.waitFor(timeout.toNanos(), TimeUnit.NANOSECONDS)) {
                throw withQemuLog(new HarnessTimeoutException("QEMU " + name + " (pid " + pid()
                        + ") still running after " + timeout + "\n" + serial.tail(20)));
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted", e);
        }
        return process.exitValue();
    }

    /**
     * QEMU's vCPU threads, sorted by vCPU index, waiting until there is one per vCPU (multi-threaded
     * TCG, KVM) or the single round-robin TCG thread.
     */
    public List<VcpuThread> vcpuThreads(Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            List<VcpuThread> threads = readVcpuThreads(pid());
            boolean roundRobin = threads.size() == 1 && threads.getFirst().index() < 0;
            if (threads.size() == smp || roundRobin) {
                return threads;
            }
            if (!process.isAlive() || System.nanoTime() - deadline > 0) {
                throw withQemuLog(new HarnessTimeoutException("expected " + smp + " vCPU threads in QEMU "
                        + name + ", found " + threads));
            }
            SerialLog.sleep(Duration.ofMillis(20));
        }
    }

    /** The vCPU threads of process {@code pid} as they are now, from {@code /proc/PID/task/TID/comm}. */
    static List<VcpuThread> readVcpuThreads(long pid) {
        List<VcpuThread> out = new ArrayList<>();
        try (DirectoryStream<Path> tasks = Files.newDirectoryStream(Path.of("/proc", Long.toString(pid), "task"))) {
            for (Path task : tasks) {
                String comm;
                try {
                    comm = Files.readString(task.resolve("comm")).strip();
                } catch (IOException e) {
                    continue; // The thread exited while we listed.
                }
                long tid = Long.parseLong(task.getFileName().toString());
                Matcher m = VCPU_COMM.matcher(comm);
                if (m.matches()) {
                    out.add(new VcpuThread(Integer.parseInt(m.group(1)), tid, comm));
                } else if (comm.equals(ALL_CPUS_COMM)) {
                    out.add(new VcpuThread(-1, tid, comm));
                }
            }
        } catch (IOException e) {
            return List.of(); // The process is gone.
        }
        out.sort(Comparator.comparingInt(VcpuThread::index));
        return out;
    }

    /** SIGTERM, SIGKILL after {@link ProcessReaper#DEFAULT_GRACE}, and wait; idempotent. */
    @Override
    public void close() {
        ProcessReaper.terminate(process.toHandle(), ProcessReaper.DEFAULT_GRACE);
    }

    private RuntimeException withQemuLog(RuntimeException e) {
        String qemu;
        try {
            qemu = Files.exists(qemuLog) ? Files.readString(qemuLog, java.nio.charset.StandardCharsets.ISO_8859_1) : "";
        } catch (IOException io) {
            qemu = "(cannot read " + qemuLog + ": " + io + ")";
        }
        String alive = process.isAlive() ? "running" : "exited with " + process.exitValue();
        String message = e.getMessage() + "\n--- QEMU " + name + " pid " + pid() + " " + alive + ", " + qemuLog
                + " ---\n" + qemu;
        RuntimeException wrapped = e instanceof SerialLog.WriterExitedException
                ? new SerialLog.WriterExitedException(message)
                : new HarnessTimeoutException(message);
        wrapped.initCause(e);
        return wrapped;
    }

    /** QEMU's option parser takes a doubled comma as a literal comma inside a value. */
    static String escapeOption(String value) {
        return value.replace(",", ",,");
    }

    /** Collects the guest's configuration; {@link #commandLine()} is side-effect free. */
    public static final class Builder {

        private static final Pattern NAME = Pattern.compile("[A-Za-z0-9_-]{1,40}");
        private static final Pattern KEY = Pattern.compile("jv\\.[a-z]+");

        private final String name;
        private final Path workDir;
        private GuestImage image;
        private String qemuBinary = "qemu-system-x86_64";
        private int memoryMiB = 256;
        private int memorySlots;
        private int maxMemoryMiB;
        private Path qmpSocket;
        private int smp = 1;
        private final Map<String, String> jv = new LinkedHashMap<>();
        private final List<GuestNic> nics = new ArrayList<>();
        private String networkNamespace;
        private final List<String> extraKernelArgs = new ArrayList<>();
        private final List<String> extraQemuArgs = new ArrayList<>();

        private Builder(String name, Path workDir) {
            if (!NAME.matcher(name).matches()) {
                throw new IllegalArgumentException("guest name must match " + NAME + ": " + name);
            }
            this.name = name;
            this.workDir = workDir.toAbsolutePath();
            jv.put("jv.role", GuestRole.IDLE.keyword());
        }

        /** Default: {@link GuestImage#get()}, resolved at {@link #start()}. */
        public Builder image(GuestImage guestImage) {
            this.image = guestImage;
            return this;
        }

        public Builder qemuBinary(String binary) {
            this.qemuBinary = binary;
            return this;
        }

        /** Guest RAM, all of it a shared memfd (vhost-user needs the backend to map it). Default 256. */
        public Builder memoryMiB(int mib) {
            if (mib < 64) {
                throw new IllegalArgumentException("the guest needs at least 64 MiB: " + mib);
            }
            this.memoryMiB = mib;
            return this;
        }

        /**
         * Room for memory hotplug: {@code -m SIZE,slots=N,maxmem=M}, so DIMMs ({@code pc-dimm}) can be
         * added at runtime through the monitor ({@link #qmpSocket}) up to {@code maxMiB} in all.
         */
        public Builder memorySlots(int slots, int maxMiB) {
            if (slots < 1 || maxMiB <= memoryMiB) {
                throw new IllegalArgumentException("need slots >= 1 and maxmem above " + memoryMiB + " MiB: " + slots
                        + ", " + maxMiB);
            }
            this.memorySlots = slots;
            this.maxMemoryMiB = maxMiB;
            return this;
        }

        /** A QMP monitor on a Unix socket at {@code path} (server, not waiting): see {@link Qmp}. */
        public Builder qmpSocket(Path path) {
            this.qmpSocket = path.toAbsolutePath();
            return this;
        }

        /** vCPUs; default 1. Multiqueue NICs use min(queues, smp) queue pairs. */
        public Builder smp(int cpus) {
            if (cpus < 1) {
                throw new IllegalArgumentException("smp must be >= 1: " + cpus);
            }
            this.smp = cpus;
            return this;
        }

        public Builder role(GuestRole role) {
            return kernelArg("jv.role", role.keyword());
        }

        /** eth0's address with prefix, e.g. {@code 192.0.2.1/24}. */
        public Builder ip(String cidr) {
            return kernelArg("jv.ip", cidr);
        }

        public Builder peer(String address) {
            return kernelArg("jv.peer", address);
        }

        public Builder pingCount(int count) {
            return kernelArg("jv.count", Integer.toString(count));
        }

        /** Seconds between pings, busybox syntax ({@code 0.2}); the guest's default is 1. */
        public Builder pingInterval(String seconds) {
            return kernelArg("jv.interval", seconds);
        }

        public Builder iperfSeconds(int seconds) {
            return kernelArg("jv.time", Integer.toString(seconds));
        }

        /** iperf3 -i: seconds between the interval reports in its JSON. */
        public Builder iperfReportInterval(String seconds) {
            return kernelArg("jv.report", seconds);
        }

        /** iperf3 {@code -l}, e.g. {@code 1400} or {@code 64K}. */
        public Builder iperfLength(String length) {
            return kernelArg("jv.len", length);
        }

        public Builder iperfParallel(int streams) {
            return kernelArg("jv.parallel", Integer.toString(streams));
        }

        /** iperf3 {@code -u -b BITRATE}; {@code bitrate} null keeps iperf3's default. */
        public Builder iperfUdp(String bitrate) {
            kernelArg("jv.udp", "1");
            return bitrate == null ? this : kernelArg("jv.bitrate", bitrate);
        }

        /** Seconds the client/ping roles wait for the peer's first ping answer; default 60. */
        public Builder peerWaitSeconds(int seconds) {
            return kernelArg("jv.wait", Integer.toString(seconds));
        }

        public Builder mtu(int mtu) {
            return kernelArg("jv.mtu", Integer.toString(mtu));
        }

        /** {@link GuestRole#PMTU}: the ICMP payload sizes to ping with don't-fragment, in order. */
        public Builder pmtuSizes(int... sizes) {
            if (sizes.length == 0) {
                throw new IllegalArgumentException("at least one size");
            }
            StringBuilder sb = new StringBuilder();
            for (int size : sizes) {
                if (size < 0 || size > 65507) {
                    throw new IllegalArgumentException("ICMP payload must be 0..65507: " + size);
                }
                sb.append(sb.isEmpty() ? "" : ",").append(size);
            }
            return kernelArg("jv.sizes", sb.toString());
        }

        /** {@link GuestRole#SEND_FILE} and {@link GuestRole#RECV_FILE}: the TCP port; the guest's default is 5001. */
        public Builder filePort(int port) {
            if (port < 1 || port > 65535) {
                throw new IllegalArgumentException("not a TCP port: " + port);
            }
            return kernelArg("jv.port", Integer.toString(port));
        }

        /** {@link GuestRole#SEND_FILE}: MiB of random data to send; the guest's default is 16. */
        public Builder fileSizeMiB(int mib) {
            if (mib < 1 || mib > 128) {
                throw new IllegalArgumentException("file size must be 1..128 MiB (it lives in guest RAM): " + mib);
            }
            return kernelArg("jv.size", Integer.toString(mib));
        }

        /** {@link GuestRole#FILE_SWAP}: microseconds to wait after each 64 KiB block sent; default 0. */
        public Builder filePaceMicros(int micros) {
            if (micros < 0) {
                throw new IllegalArgumentException("pace must be >= 0: " + micros);
            }
            return kernelArg("jv.pace", Integer.toString(micros));
        }

        /** Any {@code jv.*} key; the value must not contain whitespace. */
        public Builder kernelArg(String key, String value) {
            if (!KEY.matcher(key).matches() || value.isEmpty() || value.chars().anyMatch(Character::isWhitespace)) {
                throw new IllegalArgumentException("bad kernel argument " + key + "=" + value);
            }
            jv.put(key, value);
            return this;
        }

        /** A raw kernel command line word, e.g. {@code loglevel=7}. */
        public Builder extraKernelArg(String arg) {
            extraKernelArgs.add(arg);
            return this;
        }

        /** NICs appear in the guest as eth0, eth1, ... in the order added. */
        public Builder nic(GuestNic nic) {
            nics.add(nic);
            return this;
        }

        /**
         * Runs QEMU inside network namespace {@code namespace} ({@code ip netns exec NS qemu...}), where
         * its {@link TapNic}s' TAP devices are; null (the default) for the harness's own namespace.
         * {@code ip netns exec} execs QEMU, so {@link #pid()} and the vCPU threads are QEMU's own.
         */
        public Builder networkNamespace(String namespace) {
            if (namespace != null && !NetNamespace.NAME.matcher(namespace).matches()) {
                throw new IllegalArgumentException("bad namespace name: " + namespace);
            }
            this.networkNamespace = namespace;
            return this;
        }

        public Builder extraQemuArgs(String... args) {
            extraQemuArgs.addAll(List.of(args));
            return this;
        }

        Path serialLog() {
            return workDir.resolve(name + ".serial.log");
        }

        Path qemuLog() {
            return workDir.resolve(name + ".qemu.log");
        }

        /** The kernel command line: console, quiet, panic=-1 (a panic ends QEMU), the jv.* keys. */
        String append() {
            StringBuilder sb = new StringBuilder("console=ttyS0 quiet panic=-1");
            for (Map.Entry<String, String> e : jv.entrySet()) {
                sb.append(' ').append(e.getKey()).append('=').append(e.getValue());
            }
            for (String arg : extraKernelArgs) {
                sb.append(' ').append(arg);
            }
            return sb.toString();
        }

        /** The argv {@link #start()} will run, with {@code image}'s kernel and initrd. */
        public List<String> commandLine(GuestImage guestImage) {
            List<String> cmd = new ArrayList<>();
            if (networkNamespace != null) {
                cmd.addAll(List.of("ip", "netns", "exec", networkNamespace));
            }
            cmd.add(qemuBinary);
            cmd.addAll(List.of("-name", "guest=" + name + ",debug-threads=on"));
            cmd.addAll(List.of("-accel", "tcg", "-machine", "pc"));
            String memory = memoryMiB + "M" + (memorySlots > 0 ? ",slots=" + memorySlots + ",maxmem=" + maxMemoryMiB + "M" : "");
            cmd.addAll(List.of("-m", memory, "-smp", Integer.toString(smp)));
            cmd.addAll(List.of("-nodefaults", "-no-user-config", "-display", "none", "-no-reboot", "-monitor", "none"));
            cmd.addAll(List.of("-serial", "file:" + escapeOption(serialLog().toString())));
            if (qmpSocket != null) {
                cmd.addAll(List.of(Qmp.qemuArgs(qmpSocket)));
            }
            cmd.addAll(List.of("-kernel", guestImage.kernel().toString(), "-initrd", guestImage.initrd().toString()));
            cmd.addAll(List.of("-append", append()));
            // vhost-user: the backend maps guest RAM through the memfd QEMU passes with ADD_MEM_REG
            // (CONFIGURE_MEM_SLOTS) or SET_MEM_TABLE.
            // Kept with TAP NICs too, so every setup runs the same guest.
            cmd.addAll(List.of("-object", "memory-backend-memfd,id=mem,size=" + memoryMiB + "M,share=on",
                    "-numa", "node,memdev=mem"));
            for (int i = 0; i < nics.size(); i++) {
                cmd.addAll(nics.get(i).qemuArgs(i));
            }
            cmd.addAll(extraQemuArgs);
            return List.copyOf(cmd);
        }

        /** Starts QEMU (building the image first if needed) and registers it with {@link ProcessReaper}. */
        public QemuGuest start() {
            GuestImage guestImage = image != null ? image : GuestImage.get();
            List<String> cmd = commandLine(guestImage);
            try {
                Files.createDirectories(workDir);
                Files.deleteIfExists(serialLog());
                ProcessBuilder pb = new ProcessBuilder(cmd)
                        .directory(workDir.toFile())
                        .redirectInput(ProcessBuilder.Redirect.from(Path.of("/dev/null").toFile()))
                        .redirectErrorStream(true)
                        .redirectOutput(qemuLog().toFile());
                Process p = ProcessReaper.start(pb, "qemu guest " + name);
                return new QemuGuest(name, p, cmd, new SerialLog(serialLog()), qemuLog(), smp, List.copyOf(nics));
            } catch (IOException e) {
                throw new UncheckedIOException("starting QEMU " + name + ": " + cmd, e);
            }
        }
    }
}

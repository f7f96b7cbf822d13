package io.jvhost.it.bench;

import io.jvhost.it.harness.HarnessTimeoutException;
import io.jvhost.it.harness.SerialLog;
import io.jvhost.it.harness.Testpmd;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.regex.Pattern;

/**
 * Cases 1 and 2: a testpmd front-end with {@code 2 * pairs} {@code net_virtio_user} ports forwards
 * io-mode (port 2k to 2k+1 and back) through the backend under test, after {@code --tx-first} put
 * one burst of 32 frames per port into the loop; every frame the front-end receives crossed the
 * backend once. The front-end runs on {@link BenchEnv#LOAD_CPU}, the backend is confined to
 * {@link BenchEnv#BACKEND_CPU}:
 * <ul>
 *   <li>jvhost: {@code taskset -c 1}, {@code workers.cpus: "1"}, ports 2k and 2k+1 in network
 *       {@code n<k>} (one isolated switch per pair);</li>
 *   <li>DPDK: testpmd with {@code net_vhost} ports, io forwarding, {@code --lcores=0@1,1@1} (main
 *       lcore and forwarding lcore share CPU 1; the main lcore sleeps between statistics prints).</li>
 * </ul>
 * Each port's frames are addressed to the port it is paired with ({@code --eth-peer}), so jvhost's
 * switch forwards known unicast after the first burst has taught it the MACs.
 *
 * <p>Thread safety: one bench thread.
 */
final class PacketRateBench {

    private static final Pattern FORWARDING_PORTS = Pattern.compile("packet forwarding - ports=(\\d+)");
    private static final Duration START_TIMEOUT = Duration.ofSeconds(90);

    /**
     * One measurement.
     *
     * @param mpps                 million frames per second the backend forwarded (front-end Rx, all ports)
     * @param gbps                 the same in Gbit/s of frame bytes
     * @param switchesPerSecond    context switches of the backend process per second
     * @param cpuMsPerMillion      the backend's CPU time (ms) per million frames forwarded
     * @param backendCores         the backend's CPU use in cores (1.0 = one CPU busy all the time)
     * @param threads              the backend's thread count
     * @param busiest              the backend's busiest threads, e.g. {@code jvhost-worker-cpu1 99%}
     * @param blocks               testpmd statistics blocks averaged
     * @param otherCores           CPU the rest of the machine used in the window, in cores: everything
     *                             busy less the backend and the front-end (other people's work skews
     *                             the numbers; near 0 on a quiet machine)
     * @param warmupSeconds        how long the warm-up took
     */
    record Result(double mpps, double gbps, double switchesPerSecond, double cpuMsPerMillion, double backendCores,
                  int threads, String busiest, int blocks, double otherCores, double warmupSeconds) {
    }

    private final BenchEnv env;

    PacketRateBench(BenchEnv env) {
        this.env = env;
    }

    /**
     * Starts the backend and the front-end, warms up (see {@link #warmUp}), measures over
     * {@code window} and stops both.
     */
    Result measure(Backend backend, int pairs, int frameBytes, Duration warmup, Duration maxWarmup, Duration window) {
        String name = env.nextName(backend.tag() + "-" + pairs + "p-" + frameBytes + "b");
        int ports = 2 * pairs;
        List<Path> sockets = new ArrayList<>();
        for (int i = 0; i < ports; i++) {
            sockets.add(env.socketDir().resolve(name + "-" + i + ".sock"));
        }
        // Every port needs its RX and TX rings full of mbufs (256 + 256 for virtio_user) plus bursts.
        int mbufs = Math.max(16384, ports * 1024 + 8192);
        int memoryMiB = ports > 8 ? 1024 : 512;
        try (Backends.Running running = startBackend(backend, name, sockets, mbufs, memoryMiB);
             Testpmd frontEnd = startFrontEnd(name, sockets, frameBytes, mbufs, memoryMiB)) {
            env.remember("packet rate, " + backend.label() + " backend", running.commandLine());
            env.remember("packet rate, testpmd front-end", frontEnd.commandLine());
            checkPorts(frontEnd, ports);
            double warmedUp = warmUp(running, frontEnd, ports, warmup, maxWarmup);
            int from = frontEnd.log().refresh();
            long machineBefore = ProcSample.machineBusyTicks();
            ProcSample before = ProcSample.read(running.pid());
            ProcSample frontBefore = ProcSample.read(frontEnd.pid());
            SerialLog.sleep(window);
            ProcSample after = ProcSample.read(running.pid());
            ProcSample frontAfter = ProcSample.read(frontEnd.pid());
            long machineAfter = ProcSample.machineBusyTicks();
            int to = frontEnd.log().refresh();
            if (!running.isAlive() || !frontEnd.isAlive()) {
                throw new IllegalStateException(name + ": " + (running.isAlive() ? "front-end" : "backend")
                        + " exited during the window");
            }
            running.saveCounters(env.logDir().resolve(name + "-counters.json"));
            List<ThroughputBlocks.Block> blocks = ThroughputBlocks.parse(frontEnd.log().lines(), from, to, ports);
            if (blocks.isEmpty()) {
                throw new IllegalStateException(name + ": no complete testpmd statistics block in the window\n"
                        + frontEnd.log().tail(30));
            }
            if (stalled(blocks)) {
                Path dump = env.logDir().resolve(name + "-stall.txt");
                running.dumpThreads(dump);
                throw new IllegalStateException(name + ": forwarding stalled (a statistics block with 0 packets/s in "
                        + "the window); backend threads in " + dump + ", counters in " + name + "-counters.json");
            }
            double pps = ThroughputBlocks.meanPacketsPerSecond(blocks);
            ProcSample.Delta d = before.until(after);
            ProcSample.Delta front = frontBefore.until(frontAfter);
            double machineCores = (machineAfter - machineBefore) / (double) ProcSample.CLOCK_TICKS_PER_SECOND / d.seconds();
            double otherCores = Math.max(0, machineCores - d.cpuSeconds() / d.seconds() - front.cpuSeconds() / front.seconds());
            double millionPackets = pps * d.seconds() / 1e6;
            return new Result(pps / 1e6, ThroughputBlocks.meanBitsPerSecond(blocks) / 1e9, d.switchesPerSecond(),
                    millionPackets > 0 ? d.cpuSeconds() * 1000 / millionPackets : Double.NaN,
                    d.cpuSeconds() / d.seconds(), d.threadCount(), d.busiest(4), blocks.size(), otherCores, warmedUp);
        } finally {
            for (Path s : sockets) {
                deleteQuietly(s);
            }
        }
    }

    /**
     * Traffic flows for at least {@code min}, then until the backend is warm, at most {@code max}:
     * its JIT compiler threads (HotSpot's {@code C1/C2 CompilerThre...}; DPDK has none) used no CPU
     * for the last {@link #QUIET_COMPILER} and the last three statistics blocks are within 5 % of
     * each other. Rate stability alone is not enough: jvhost's rate sits on a plateau for seconds
     * while C2 compiles the forwarding loop, then jumps.
     *
     * @return seconds of warm-up
     */
    private static double warmUp(Backends.Running backend, Testpmd frontEnd, int ports, Duration min, Duration max) {
        long start = System.nanoTime();
        SerialLog.sleep(min);
        List<Long> compilerTicks = new ArrayList<>();
        while (System.nanoTime() - start < max.toNanos()) {
            compilerTicks.add(ProcSample.read(backend.pid()).compilerTicks());
            int n = compilerTicks.size();
            int quiet = (int) QUIET_COMPILER.toSeconds();
            List<ThroughputBlocks.Block> blocks = ThroughputBlocks.parse(frontEnd.log().lines(), 0,
                    frontEnd.log().refresh(), ports);
            List<ThroughputBlocks.Block> last = blocks.subList(Math.max(0, blocks.size() - 3), blocks.size());
            if (last.size() == 3 && ThroughputBlocks.meanPacketsPerSecond(last) == 0) {
                break; // stalled: the window will say so, no use waiting
            }
            if (n > quiet && compilerTicks.get(n - 1) - compilerTicks.get(n - 1 - quiet) == 0
                    && last.size() == 3 && spread(last) < 0.05) {
                break;
            }
            SerialLog.sleep(Duration.ofSeconds(1));
        }
        return (System.nanoTime() - start) / 1e9;
    }

    private static final Duration QUIET_COMPILER = Duration.ofSeconds(2);


    /**
     * Whether traffic stopped: the loop always holds the frames {@code --tx-first} put in, so a block
     * without a single frame means they were lost or are stuck in a ring nobody serves.
     */
    private static boolean stalled(List<ThroughputBlocks.Block> blocks) {
        for (ThroughputBlocks.Block b : blocks) {
            if (b.packetsPerSecond() == 0) {
                return true;
            }
        }
        return false;
    }

    /** (max - min) / mean of the blocks' packet rates. */
    private static double spread(List<ThroughputBlocks.Block> blocks) {
        double min = Double.MAX_VALUE;
        double max = 0;
        for (ThroughputBlocks.Block b : blocks) {
            min = Math.min(min, b.packetsPerSecond());
            max = Math.max(max, b.packetsPerSecond());
        }
        double mean = ThroughputBlocks.meanPacketsPerSecond(blocks);
        return mean > 0 ? (max - min) / mean : Double.MAX_VALUE;
    }

    private Backends.Running startBackend(Backend backend, String name, List<Path> sockets, int mbufs, int memoryMiB) {
        if (backend.isJvhost()) {
            List<JvhostProcess.Port> ports = new ArrayList<>();
            for (int i = 0; i < sockets.size(); i++) {
                ports.add(new JvhostProcess.Port("p" + i, sockets.get(i), "n" + i / 2));
            }
            return Backends.jvhost(JvhostProcess.start(env.logDir(), name + "-jvhost", env.javaCommand(),
                    Integer.toString(BenchEnv.BACKEND_CPU), backend.model(), ports, START_TIMEOUT));
        }
        Testpmd.Builder b = ioForwarder(name + "-be", BenchEnv.BACKEND_CPU, mbufs, memoryMiB, 10);
        for (Path s : sockets) {
            b.vhostUser(s);
        }
        return Backends.testpmd(b.start());
    }

    /**
     * A testpmd forwarding io-mode with one forwarding lcore, main and forwarding lcore both on {@code cpu}
     * (the main lcore sleeps between statistics prints).
     */
    private Testpmd.Builder ioForwarder(String prefix, int cpu, int mbufs, int memoryMiB, int statsPeriodSeconds) {
        return Testpmd.builder(env.logDir())
                .lcores("0@" + cpu + ",1@" + cpu)
                .filePrefix(env.filePrefix(prefix))
                .memoryMiB(memoryMiB)
                .forwardMode("io").nbCores(1).totalMbufs(mbufs)
                .statsPeriodSeconds(statsPeriodSeconds)
                .startTimeout(START_TIMEOUT);
    }

    private Testpmd startFrontEnd(String name, List<Path> sockets, int frameBytes, int mbufs, int memoryMiB) {
        Testpmd.Builder b = ioForwarder(name + "-fe", BenchEnv.LOAD_CPU, mbufs, memoryMiB, 1);
        List<String> app = new ArrayList<>(List.of("--tx-first", "--txpkts=" + frameBytes));
        for (int i = 0; i < sockets.size(); i++) {
            b.vdev("net_virtio_user" + i + ",path=" + sockets.get(i).toAbsolutePath() + ",queues=1,mac=" + mac(i));
            // The burst --tx-first sends on port i goes to the MAC of the port paired with it.
            app.add("--eth-peer=" + i + "," + mac(i ^ 1));
        }
        b.extraAppArgs(app.toArray(String[]::new));
        return b.start();
    }

    /** Locally administered, unique per front-end port. */
    static String mac(int port) {
        return String.format(Locale.ROOT, "02:6a:76:00:%02x:%02x", port >> 8, port & 0xff);
    }

    private static void checkPorts(Testpmd frontEnd, int expected) {
        frontEnd.log().refresh();
        for (String line : frontEnd.log().lines()) {
            var m = FORWARDING_PORTS.matcher(line);
            if (m.find()) {
                if (Integer.parseInt(m.group(1)) != expected) {
                    throw new HarnessTimeoutException("testpmd front-end forwards on " + m.group(1) + " ports, expected "
                            + expected + "\n" + frontEnd.log().tail(40));
                }
                return;
            }
        }
        throw new IllegalStateException("testpmd front-end printed no forwarding line\n" + frontEnd.log().tail(40));
    }

    private static void deleteQuietly(Path p) {
        try {
            Files.deleteIfExists(p);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}

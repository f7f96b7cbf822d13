package io.jvhost.it.bench;

import io.jvhost.it.frontend.MeshGenerator;
import io.jvhost.it.harness.SerialLog;
import net.openhft.affinity.Affinity;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;

/**
 * Case 5, mesh: {@code N} ports in one network, each port's frames spread round-robin over all the
 * other ports ({@link MeshGenerator}, our own front-end: testpmd addresses one peer per port), so a TX
 * batch holds interleaved destinations and every receiver's used ring and interrupt are shared by
 * several senders. With 2 ports sending it is a loopback through the same generator, the reference the
 * mesh is compared with. One run is one jvhost and one generator with all the ports, measured in phases
 * that differ in how many of them send (the loopback before and after the mesh, then the loopback with
 * dirty-page logging on, as while guests migrate), so every ratio within a run compares measurements
 * at the machine's same speed level. jvhost is confined to {@link BenchEnv#BACKEND_CPU}
 * ({@code taskset}, {@code workers.cpus}), the generator's thread is pinned to {@link BenchEnv#LOAD_CPU}.
 *
 * <p>Thread safety: one bench thread (plus the generator thread it starts and stops).
 */
final class MeshBench {

    private static final Duration START_TIMEOUT = Duration.ofSeconds(90);
    /** Least traffic after a change of phase: the rings' frames for the last phase's ports drain at once. */
    private static final Duration PHASE_WARMUP = Duration.ofSeconds(2);
    /** Rounds of the loopback and every mesh in one run ({@link BenchMain}: then the loopback once more). */
    static final int ROUNDS = 3;

    /**
     * One measurement.
     *
     * @param mpps              frames per second the generator received (all ports), millions
     * @param cpuMsPerMillion   jvhost's CPU time (ms) per million frames forwarded
     * @param workMsPerMillion  jvhost's workers' busy time (ms) per million frames: the CPU forwarding took,
     *                          without the polls that found an empty ring ({@link JvhostProcess#workersBusySeconds})
     * @param busyFraction      that busy time over the window (the rest: empty polls and the loop itself)
     * @param backendCores      jvhost's CPU use in cores
     * @param switchesPerSecond jvhost's context switches per second
     * @param otherCores        CPU the rest of the machine used, besides jvhost and the generator's JVM
     * @param warmupSeconds     how long the warm-up took
     */
    record Result(double mpps, double cpuMsPerMillion, double workMsPerMillion, double busyFraction,
                  double backendCores, double switchesPerSecond,
                  double otherCores, double warmupSeconds) {
    }

    /**
     * A phase of a run: {@code senders} ports send to each other ({@link MeshGenerator#activate});
     * {@code dirtyLog}: the back-end's dirty-page logging is on (LOG_ALL for every port, as while a guest
     * migrates; once on it stays on, so such phases come last).
     */
    record Phase(int senders, boolean dirtyLog) {
    }

    private final BenchEnv env;

    MeshBench(BenchEnv env) {
        this.env = env;
    }

    /**
     * One jvhost and one generator of {@code ports} ports, measured in {@code phases} in turn, so the
     * 2-port loopback and the mesh are measured in the same processes over the same front-end memory, at
     * the machine's same speed level (set anew with each fresh front-end memory: separate processes for
     * the loopback and the mesh would compare two draws of it).
     *
     * @param minWarmup least traffic before the first phase (jvhost's JIT), with every port sending; each
     *                  phase then warms up for at least {@link #PHASE_WARMUP}
     * @return one result per phase, in order
     */
    List<Result> measure(int ports, List<Phase> phases, int frameBytes, Duration minWarmup, Duration maxWarmup,
                         Duration window) {
        boolean logging = false;
        for (Phase phase : phases) {
            if (logging && !phase.dirtyLog()) {
                throw new IllegalArgumentException("dirty-page logging stays on once on: " + phases);
            }
            logging |= phase.dirtyLog();
        }
        String name = env.nextName("mesh-" + ports + "p-" + frameBytes + "b");
        List<Path> sockets = new ArrayList<>();
        List<JvhostProcess.Port> config = new ArrayList<>();
        for (int i = 0; i < ports; i++) {
            Path s = env.socketDir().resolve(name + "-" + i + ".sock");
            sockets.add(s);
            config.add(new JvhostProcess.Port("p" + i, s, "mesh"));
        }
        AtomicBoolean stop = new AtomicBoolean();
        AtomicReference<Throwable> failure = new AtomicReference<>();
        Thread driver = null;
        try (JvhostProcess jvhost = JvhostProcess.start(env.logDir(), name + "-jvhost", env.javaCommand(),
                Integer.toString(BenchEnv.BACKEND_CPU), "per-cpu", config, START_TIMEOUT);
             MeshGenerator generator = new MeshGenerator(sockets, frameBytes)) {
            env.remember("mesh, jvhost backend", jvhost.commandLine());
            // jvhost's warm-up with every port sending: its JIT sees every phase's shape before the first
            // window (a first window right after the start measured a loopback 30 % dearer than the same
            // loopback after the meshes).
            generator.activate(ports);
            driver = Thread.ofPlatform().name("mesh-generator").start(() -> {
                Affinity.setAffinity(BenchEnv.LOAD_CPU);
                try {
                    generator.run(stop);
                } catch (Throwable t) {
                    failure.set(t);
                }
            });
            warmUp(jvhost, generator, failure, minWarmup, maxWarmup);
            List<Result> results = new ArrayList<>();
            boolean loggingOn = false;
            for (Phase phase : phases) {
                generator.activate(phase.senders());
                if (phase.dirtyLog() && !loggingOn) {
                    generator.startDirtyLog();
                    loggingOn = true;
                }
                String what = name + ", " + phase.senders() + " ports sending" + (phase.dirtyLog() ? ", LOG_ALL on" : "");
                results.add(window(jvhost, generator, failure, phase.dirtyLog(), what, PHASE_WARMUP, maxWarmup, window));
            }
            return results;
        } catch (IOException e) {
            throw new UncheckedIOException(name + ": the generator failed: " + e.getMessage(), e);
        } finally {
            stop.set(true);
            if (driver != null) {
                try {
                    driver.join(5_000);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
            for (Path s : sockets) {
                try {
                    Files.deleteIfExists(s);
                } catch (IOException e) {
                    // the socket directory goes with the run
                }
            }
        }
    }

    /** Warms up (the rate steady again after a change of phase), then measures one window. */
    private static Result window(JvhostProcess jvhost, MeshGenerator generator, AtomicReference<Throwable> failure,
                                 boolean dirtyLog, String name, Duration minWarmup, Duration maxWarmup,
                                 Duration window) throws IOException {
        double warmedUp = warmUp(jvhost, generator, failure, minWarmup, maxWarmup);
        long machineBefore = ProcSample.machineBusyTicks();
        ProcSample before = ProcSample.read(jvhost.pid());
        ProcSample selfBefore = ProcSample.read(ProcessHandle.current().pid());
        double busyBefore = jvhost.workersBusySeconds();
        long receivedBefore = generator.received();
        SerialLog.sleep(window);
        long receivedAfter = generator.received();
        double busy = jvhost.workersBusySeconds() - busyBefore;
        ProcSample after = ProcSample.read(jvhost.pid());
        ProcSample selfAfter = ProcSample.read(ProcessHandle.current().pid());
        long machineAfter = ProcSample.machineBusyTicks();
        check(jvhost, failure, name);
        if (dirtyLog && generator.dirtyPages() == 0) {
            throw new IllegalStateException(name + ": LOG_ALL on, yet jvhost logged no page written");
        }
        ProcSample.Delta d = before.until(after);
        ProcSample.Delta self = selfBefore.until(selfAfter);
        double frames = receivedAfter - receivedBefore;
        if (frames == 0) {
            throw new IllegalStateException(name + ": no frame arrived in the window");
        }
        double machineCores = (machineAfter - machineBefore) / (double) ProcSample.CLOCK_TICKS_PER_SECOND / d.seconds();
        double otherCores = Math.max(0, machineCores - d.cpuSeconds() / d.seconds() - self.cpuSeconds() / self.seconds());
        return new Result(frames / d.seconds() / 1e6, d.cpuSeconds() * 1000 / (frames / 1e6),
                busy * 1000 / (frames / 1e6), busy / d.seconds(), d.cpuSeconds() / d.seconds(),
                d.switchesPerSecond(), otherCores, warmedUp);
    }

    /**
     * At least {@code min}, then until jvhost's JIT compiler threads were idle for two seconds and the
     * last three one-second rates are within 5 % of each other, at most {@code max}.
     */
    private static double warmUp(JvhostProcess jvhost, MeshGenerator generator, AtomicReference<Throwable> failure,
                                 Duration min, Duration max) {
        long start = System.nanoTime();
        SerialLog.sleep(min);
        List<Long> compiler = new ArrayList<>();
        List<Long> received = new ArrayList<>();
        while (System.nanoTime() - start < max.toNanos()) {
            check(jvhost, failure, "warm-up");
            compiler.add(ProcSample.read(jvhost.pid()).compilerTicks());
            received.add(generator.received());
            int n = received.size();
            if (n >= 4 && compiler.get(n - 1) - compiler.get(n - 3) == 0) {
                double r1 = received.get(n - 1) - received.get(n - 2);
                double r2 = received.get(n - 2) - received.get(n - 3);
                double r3 = received.get(n - 3) - received.get(n - 4);
                double mean = (r1 + r2 + r3) / 3;
                if (mean > 0 && (Math.max(r1, Math.max(r2, r3)) - Math.min(r1, Math.min(r2, r3))) / mean < 0.05) {
                    break;
                }
            }
            SerialLog.sleep(Duration.ofSeconds(1));
        }
        return (System.nanoTime() - start) / 1e9;
    }


    private static void check(JvhostProcess jvhost, AtomicReference<Throwable> failure, String what) {
        Throwable t = failure.get();
        if (t != null) {
            throw new IllegalStateException(what + ": the generator failed: " + t, t);
        }
        if (!jvhost.isAlive()) {
            throw new IllegalStateException(what + ": jvhost exited\n" + jvhost.log().tail(30));
        }
    }
}

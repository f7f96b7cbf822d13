package io.jvhost.it.bench;

import io.jvhost.it.harness.GuestImage;
import io.jvhost.it.harness.MigrationStats;
import io.jvhost.it.harness.ProcessReaper;
import io.jvhost.it.harness.SerialLog;

import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;
import java.util.function.Supplier;
import java.util.function.ToDoubleFunction;

/**
 * jvhost's benchmark against DPDK testpmd (and, for guests with offloads, against QEMU's own
 * virtio-net on a TAP in a Linux bridge), as {@code scripts/bench.sh} runs it:
 * <pre>
 * java -cp integration-tests/target/classes io.jvhost.it.bench.BenchMain
 *      --jvhost-classpath JAR [--quick] [--runs N] [--out DIR] [--project-root DIR] [--command TEXT]
 *      [--only loopback,scaling,guests,offloads,mesh,migration]
 * </pre>
 * The cases: 1. loopback packet rate ({@link PacketRateBench}), 2. scaling with port pairs (the
 * same rig), 3. two TCG guests, TCP stream and request/response ({@link GuestBench}), 4. TCP stream
 * with guest offloads, guest → guest, host → guest and guest → host ({@link OffloadBench}), 5. a mesh
 * of 4 and 8 ports, each spreading its frames over all the others ({@link MeshBench}), 6. live
 * migration of an idle and of a pinging guest between two ports ({@link MigrationBench}).
 * Writes {@code DIR/<stamp>/} (report.md, runs.csv, PNG plots, their data and plots.gp), copies it
 * to {@code DIR/latest/} when it ran everything (not {@code --quick}, {@code --only} or {@code --offload-*}), and keeps every process's log in
 * {@code DIR/tmp/<stamp>/}. DIR defaults to {@code <project>/results}, with {@code --quick} to
 * {@code <project>/results/tmp} (not committed). Exit status 0 when every measurement succeeded, 1 when some failed (the
 * report is written anyway, with the failures listed), 2 for a bad command line.
 */
public final class BenchMain {

    private static final DateTimeFormatter STAMP = DateTimeFormatter.ofPattern("yyyy-MM-dd-HHmm").withZone(ZoneOffset.UTC);
    private static final DateTimeFormatter CLOCK = DateTimeFormatter.ofPattern("HH:mm:ss").withZone(ZoneOffset.UTC);
    private static final String MAIN_CLASS = "io.jvhost.backend.cli.Main";
    /** Cores other processes may use during a packet-rate window before it is measured again. */
    static final double MAX_OTHER_LOAD = 0.25;

    private final BenchPlan plan;
    private final BenchEnv env;
    private final PrintStream out;
    private final Results results = new Results();

    private BenchMain(BenchPlan plan, BenchEnv env, PrintStream out) {
        this.plan = plan;
        this.env = env;
        this.out = out;
    }

    public static void main(String[] args) {
        int status;
        try {
            status = run(args, System.out);
        } catch (IllegalArgumentException e) {
            System.err.println("bench: " + e.getMessage());
            status = 2;
        }
        System.exit(status);
    }

    /** The whole bench; returns the exit status. */
    static int run(String[] args, PrintStream out) {
        boolean quick = false;
        int runs = -1;
        Path outRoot = null;
        Path projectRoot = null;
        String jvhostClasspath = null;
        String command = null;
        List<String> only = Results.CASES;
        List<Backend> offloadSetups = List.of(Backend.values());
        List<OffloadBench.Direction> offloadDirections = List.of(OffloadBench.Direction.values());
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--quick" -> quick = true;
                case "--runs" -> runs = positive(value(args, ++i, "--runs"), "--runs");
                case "--out" -> outRoot = Path.of(value(args, ++i, "--out"));
                case "--project-root" -> projectRoot = Path.of(value(args, ++i, "--project-root"));
                case "--jvhost-classpath" -> jvhostClasspath = value(args, ++i, "--jvhost-classpath");
                case "--command" -> command = value(args, ++i, "--command");
                case "--only" -> only = cases(value(args, ++i, "--only"));
                case "--offload-setups" -> offloadSetups = offloadSetups(value(args, ++i, "--offload-setups"));
                case "--offload-directions" ->
                        offloadDirections = offloadDirections(value(args, ++i, "--offload-directions"));
                default -> throw new IllegalArgumentException("unknown argument " + args[i]
                        + "; usage: BenchMain --jvhost-classpath CP [--quick] [--runs N] [--out DIR]"
                        + " [--project-root DIR] [--command TEXT] [--only " + String.join(",", Results.CASES) + "]"
                        + " [--offload-setups percpu,bridge,jvoff,bridgeoff,dpdktso] [--offload-directions g2g,host]");
            }
        }
        if (jvhostClasspath == null) {
            throw new IllegalArgumentException("--jvhost-classpath is required (the shaded jvhost jar)");
        }
        BenchPlan base = quick ? BenchPlan.quick(runs < 0 ? 1 : runs) : BenchPlan.full(runs < 0 ? 3 : runs);
        BenchPlan plan = base.only(only).withOffloads(offloadSetups, offloadDirections);
        if (projectRoot == null) {
            projectRoot = GuestImage.findProjectRoot();
        }
        projectRoot = projectRoot.toAbsolutePath().normalize();
        if (outRoot == null) {
            // Quick runs are smoke checks: keep them out of the committed results.
            outRoot = quick ? projectRoot.resolve("results").resolve("tmp") : projectRoot.resolve("results");
        }
        outRoot = outRoot.toAbsolutePath().normalize();

        Instant started = Instant.now();
        String stamp = STAMP.format(started) + (quick ? "-quick" : "");
        Path runDir = outRoot.resolve(stamp);
        Path logDir = outRoot.resolve("tmp").resolve(stamp);
        // sun_path holds 107 bytes: the sockets live in a short directory of their own.
        Path socketDir = Path.of("/tmp", "jvbench-" + ProcessHandle.current().pid());
        try {
            Files.createDirectories(logDir);
            Files.createDirectories(socketDir);
        } catch (IOException e) {
            throw new UncheckedIOException("creating " + logDir + " and " + socketDir, e);
        }
        String java = ProcessHandle.current().info().command().orElse("java");
        List<String> javaCommand = new ArrayList<>(List.of(java, "--enable-native-access=ALL-UNNAMED"));
        String extraOptions = System.getenv("JVBENCH_JVHOST_JAVA_OPTS"); // as bin/jvhost's JVHOST_JAVA_OPTS
        if (extraOptions != null && !extraOptions.isBlank()) {
            javaCommand.addAll(List.of(extraOptions.trim().split("\\s+")));
        }
        javaCommand.addAll(List.of("-cp", jvhostClasspath, MAIN_CLASS));
        BenchEnv env = new BenchEnv(socketDir, logDir, javaCommand, new AtomicInteger(), new LinkedHashMap<>());

        String loadBefore = Machine.loadAverage();
        out.printf("bench: %s setting, %d run(s); report in %s, logs in %s; load average %s%n",
                quick ? "quick" : "full", plan.runs(), runDir, logDir, loadBefore);
        if (Machine.load1() > 1.0) {
            out.println("bench: warning: the machine is not quiet (load average " + loadBefore
                    + "); other work skews the numbers");
        }
        GuestImage image = GuestImage.get();
        Map<String, String> machine = Machine.describe(projectRoot, image.manifest());

        BenchMain bench = new BenchMain(plan, env, out);
        try {
            bench.loopback();
            bench.scaling();
            bench.guests(image);
            bench.offloads(image);
            bench.mesh();
            bench.migration(image);
        } finally {
            // Every process was stopped by its measurement; ProcessReaper's shutdown hook covers a crash.
            ProcessReaper.deleteTree(socketDir);
        }

        Duration took = Duration.between(started, Instant.now());
        Report.Header header = new Report.Header(
                DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm 'UTC'").withZone(ZoneOffset.UTC).format(started),
                took.toMinutes() + " min " + took.toSecondsPart() + " s", loadBefore, Machine.loadAverage(), machine,
                command != null ? command : "BenchMain " + String.join(" ", args), readableCommands(env, jvhostClasspath));
        List<String> plotProblems = new Report(plan, bench.results, header).write(runDir);
        // latest/ is the last whole bench: a run narrowed by --only or --offload-* must not replace it.
        if (!quick && plan.equals(base)) {
            copyTree(runDir, outRoot.resolve("latest"));
        }
        out.printf("bench: done in %s: %s%n", header.duration(), runDir.resolve("report.md"));
        for (String f : bench.results.failures()) {
            out.println("bench: FAILED " + f);
        }
        for (String p : plotProblems) {
            out.println("bench: plot problem: " + p);
        }
        return bench.results.failures().isEmpty() && plotProblems.isEmpty() ? 0 : 1;
    }

    // ---- the cases ---------------------------------------------------------------------------------

    private void loopback() {
        PacketRateBench rig = new PacketRateBench(env);
        for (int run = 1; run <= plan.runs(); run++) {
            for (int size : plan.frameSizes()) {
                for (Backend b : plan.loopbackBackends()) {
                    String what = String.format(Locale.ROOT, "loopback %d B, %s, run %d/%d", size, b.label(), run, plan.runs());
                    packetRate(Results.LOOPBACK, rig, b, 1, size, Integer.toString(size), run, what,
                            plan.loopbackWarmup(), plan.loopbackWindow());
                }
            }
        }
    }

    private void scaling() {
        PacketRateBench rig = new PacketRateBench(env);
        for (int run = 1; run <= plan.runs(); run++) {
            for (int pairs : plan.pairs()) {
                for (Backend b : plan.scalingBackends()) {
                    String what = String.format(Locale.ROOT, "scaling %d pair(s), %s, run %d/%d", pairs, b.label(), run,
                            plan.runs());
                    packetRate(Results.SCALING, rig, b, pairs, BenchPlan.SCALING_FRAME_BYTES, Integer.toString(pairs),
                            run, what, plan.scalingWarmup(), plan.scalingWindow());
                }
            }
        }
    }

    private void packetRate(String caseKey, PacketRateBench rig, Backend b, int pairs, int frameBytes, String param,
                            int run, String what, Duration warmup, Duration window) {
        try {
            PacketRateBench.Result r = whenQuiet(what,
                    () -> rig.measure(b, pairs, frameBytes, warmup, plan.maxWarmup(), window),
                    PacketRateBench.Result::otherCores, x -> String.format(Locale.ROOT, " (%.3f Mpps)", x.mpps()));
            results.add(caseKey, b, param, run, Results.MPPS, r.mpps());
            results.add(caseKey, b, param, run, Results.GBPS, r.gbps());
            results.add(caseKey, b, param, run, Results.SWITCHES, r.switchesPerSecond());
            results.add(caseKey, b, param, run, Results.CPU_MS_PER_MPKT, r.cpuMsPerMillion());
            results.add(caseKey, b, param, run, Results.CORES, r.backendCores());
            results.add(caseKey, b, param, run, Results.THREADS, r.threads());
            results.add(caseKey, b, param, run, Results.OTHER_CORES, r.otherCores());
            results.add(caseKey, b, param, run, Results.WARMUP, r.warmupSeconds());
            results.note(caseKey, b, param, r.busiest());
            progress(String.format(Locale.ROOT, "%s: %.3f Mpps, %.2f Gbit/s, %.0f ctx sw/s, %.0f CPU ms/Mpkt;"
                    + " %s; warm-up %.0f s; other load %.2f cores", what, r.mpps(), r.gbps(), r.switchesPerSecond(),
                    r.cpuMsPerMillion(), r.busiest(), r.warmupSeconds(), r.otherCores()));
        } catch (RuntimeException e) {
            results.add(caseKey, b, param, run, Results.MPPS, Double.NaN);
            results.fail(what, e);
            progress(what + ": FAILED " + e);
            writeFailure(what, e);
        }
    }

    /**
     * Runs {@code measure}, and again (up to {@link BenchPlan#attempts()} times) while other processes used
     * more than {@link #MAX_OTHER_LOAD} of the two CPUs: they take their share from the backend or the
     * front-end, and a number half someone else's is not published. Returns the last measurement.
     */
    private <R> R whenQuiet(String what, Supplier<R> measure, ToDoubleFunction<R> otherCores, Function<R, String> rate) {
        R r = measure.get();
        for (int attempt = 2; attempt <= plan.attempts() && otherCores.applyAsDouble(r) > MAX_OTHER_LOAD; attempt++) {
            progress(String.format(Locale.ROOT, "%s: other processes used %.2f cores in the window%s;"
                    + " measuring again (attempt %d of %d)", what, otherCores.applyAsDouble(r), rate.apply(r), attempt,
                    plan.attempts()));
            SerialLog.sleep(Duration.ofSeconds(10));
            r = measure.get();
        }
        return r;
    }

    /**
     * Case 5: per run one jvhost and one generator with the most ports, in phases: {@link MeshBench#ROUNDS}
     * rounds of the 2-port loopback and every mesh, the loopback once more, then the loopback with
     * dirty-page logging on. The machine's speed level changes from one process to the next and, more
     * slowly, within one, so a mesh is compared with the loopbacks right before and after it.
     */
    private void mesh() {
        List<Integer> counts = plan.meshPorts();
        if (counts.isEmpty()) {
            return; // not in --only
        }
        MeshBench rig = new MeshBench(env);
        int reference = counts.getFirst();
        record Planned(MeshBench.Phase phase, int round) {
            String param() {
                return Report.meshParam(phase.senders(), phase.dirtyLog());
            }
        }
        List<Planned> schedule = new ArrayList<>();
        for (int round = 1; round <= MeshBench.ROUNDS; round++) {
            for (int ports : counts) {
                schedule.add(new Planned(new MeshBench.Phase(ports, false), round));
            }
        }
        schedule.add(new Planned(new MeshBench.Phase(reference, false), MeshBench.ROUNDS + 1));
        schedule.add(new Planned(new MeshBench.Phase(reference, true), MeshBench.ROUNDS));
        List<MeshBench.Phase> phases = schedule.stream().map(Planned::phase).toList();
        int most = counts.stream().mapToInt(Integer::intValue).max().orElseThrow();
        Backend b = Backend.JVHOST_PER_CPU;
        for (int run = 1; run <= plan.runs(); run++) {
            String what = String.format(Locale.ROOT, "mesh of %d ports, run %d/%d", most, run, plan.runs());
            try {
                List<MeshBench.Result> rs = whenQuiet(what, () -> rig.measure(most, phases, BenchPlan.MESH_FRAME_BYTES,
                                plan.meshWarmup(), plan.maxWarmup(), plan.meshWindow()),
                        l -> l.stream().mapToDouble(MeshBench.Result::otherCores).max().orElse(0), x -> "");
                for (int i = 0; i < rs.size(); i++) {
                    MeshBench.Result r = rs.get(i);
                    Planned p = schedule.get(i);
                    String param = p.param();
                    int sample = Report.meshSample(run, p.round());
                    results.add(Results.MESH, b, param, sample, Results.MPPS, r.mpps());
                    results.add(Results.MESH, b, param, sample, Results.CPU_MS_PER_MPKT, r.cpuMsPerMillion());
                    results.add(Results.MESH, b, param, sample, Results.CORES, r.backendCores());
                    results.add(Results.MESH, b, param, sample, Results.WORK_MS_PER_MPKT, r.workMsPerMillion());
                    results.add(Results.MESH, b, param, sample, Results.BUSY, r.busyFraction());
                    results.add(Results.MESH, b, param, sample, Results.SWITCHES, r.switchesPerSecond());
                    results.add(Results.MESH, b, param, sample, Results.OTHER_CORES, r.otherCores());
                    results.add(Results.MESH, b, param, sample, Results.WARMUP, r.warmupSeconds());
                    progress(String.format(Locale.ROOT, "%s, round %d, ports sending %s: %.3f Mpps, %.0f CPU ms/Mpkt,"
                            + " %.0f work ms/Mpkt (busy %.2f), %.2f cores, %.0f ctx sw/s; warm-up %.0f s; other load"
                            + " %.2f cores", what, p.round(), Report.meshLabel(param), r.mpps(), r.cpuMsPerMillion(),
                            r.workMsPerMillion(), r.busyFraction(), r.backendCores(), r.switchesPerSecond(),
                            r.warmupSeconds(), r.otherCores()));
                }
            } catch (RuntimeException e) {
                for (Planned p : schedule) {
                    results.add(Results.MESH, b, p.param(), Report.meshSample(run, p.round()), Results.MPPS, Double.NaN);
                }
                results.fail(what, e);
                progress(what + ": FAILED " + e);
                writeFailure(what, e);
            }
        }
    }

    /** Case 6: per run each row once per backend, jvhost then testpmd, so drift hits both alike. */
    private void migration(GuestImage image) {
        if (plan.migrationRows().isEmpty()) {
            return;
        }
        MigrationBench rig = new MigrationBench(env, image);
        for (int run = 1; run <= plan.runs(); run++) {
            for (MigrationBench.Row row : plan.migrationRows()) {
                for (Backend b : plan.migrationBackends()) {
                    migrationMeasurement(rig, row, b, run);
                }
            }
        }
    }

    private void migrationMeasurement(MigrationBench rig, MigrationBench.Row row, Backend b, int run) {
        String what = String.format(Locale.ROOT, "migration, %s guest, %s%s, run %d/%d", row.param(), b.label(),
                MigrationBench.sharesSocket(b, row) ? " (destination on the same port)" : "", run, plan.runs());
        String p = row.param();
        try {
            MigrationBench.Result r = rig.measure(b, row, plan.migrationPings(), plan.migrationPingInterval());
            MigrationStats stats = r.stats();
            double mib = stats.transferredBytes() / 1048576.0;
            results.add(Results.MIGRATION, b, p, run, Results.DOWNTIME_MS, stats.downtimeMs());
            results.add(Results.MIGRATION, b, p, run, Results.TOTAL_MS, stats.totalTimeMs());
            results.add(Results.MIGRATION, b, p, run, Results.TRANSFERRED_MIB, mib);
            results.add(Results.MIGRATION, b, p, run, Results.DIRTY_SYNCS, stats.dirtySyncCount());
            String pings = "";
            if (r.pings() != null) {
                int sent = r.pings().transmitted();
                int lost = sent - r.pings().received();
                results.add(Results.MIGRATION, b, p, run, Results.PINGS_SENT, sent);
                results.add(Results.MIGRATION, b, p, run, Results.PINGS_LOST, lost);
                pings = String.format(Locale.ROOT, ", %d of %d pings lost", lost, sent);
            }
            progress(String.format(Locale.ROOT, "%s: downtime %d ms, total %d ms, %.1f MiB, %d dirty syncs%s", what,
                    stats.downtimeMs(), stats.totalTimeMs(), mib, stats.dirtySyncCount(), pings));
        } catch (RuntimeException e) {
            results.add(Results.MIGRATION, b, p, run, Results.DOWNTIME_MS, Double.NaN);
            results.fail(what, e);
            progress(what + ": FAILED " + String.valueOf(e.getMessage()).lines().findFirst().orElse(""));
            writeFailure(what, e);
        }
    }

    private void guests(GuestImage image) {
        if (plan.guestTests().isEmpty()) {
            return;
        }
        GuestBench rig = new GuestBench(env, image);
        for (int run = 1; run <= plan.runs(); run++) {
            for (Backend b : plan.guestBackends()) {
                String what = String.format(Locale.ROOT, "guests, %s, run %d/%d", b.label(), run, plan.runs());
                try {
                    record(Results.GUESTS, what, b, run, rig.measure(b, plan.guestTests(), plan.guestSeconds()));
                } catch (RuntimeException e) {
                    results.fail(what, e);
                    progress(what + ": FAILED " + e);
                    writeFailure(what, e);
                }
            }
        }
    }

    /**
     * Case 4: per run, every setup once guest to guest, then every setup once with the host, so that drift
     * hits all setups alike and each jvhost boot is directly followed by its reference's (the setups' order).
     */
    private void offloads(GuestImage image) {
        if (plan.offloadSizes().isEmpty()) {
            return;
        }
        OffloadBench rig = new OffloadBench(env, image);
        List<OffloadBench.Direction> hostDirections =
                List.of(OffloadBench.Direction.HOST_TO_GUEST, OffloadBench.Direction.GUEST_TO_HOST);
        boolean pairs = plan.offloadDirections().contains(OffloadBench.Direction.GUEST_TO_GUEST);
        boolean host = plan.offloadDirections().stream().anyMatch(hostDirections::contains);
        for (int run = 1; run <= plan.runs(); run++) {
            if (pairs) {
                for (Backend setup : plan.offloadSetups()) {
                    String what = String.format(Locale.ROOT, "offloads guest → guest, %s, run %d/%d", setup.label(),
                            run, plan.runs());
                    offloadMeasurement(what, setup, run, List.of(OffloadBench.Direction.GUEST_TO_GUEST),
                            () -> rig.measurePair(setup, plan.offloadSizes(), plan.offloadSeconds()));
                }
            }
            if (host) {
                for (Backend setup : plan.offloadSetups()) {
                    String what = String.format(Locale.ROOT, "offloads host ↔ guest, %s, run %d/%d", setup.label(),
                            run, plan.runs());
                    offloadMeasurement(what, setup, run, hostDirections,
                            () -> rig.measureHost(setup, plan.offloadSizes(), plan.offloadSeconds()));
                }
            }
        }
    }

    private void offloadMeasurement(String what, Backend setup, int run, List<OffloadBench.Direction> directions,
                                    Supplier<Map<String, Double>> measurement) {
        try {
            record(Results.OFFLOADS, what, setup, run, measurement.get());
        } catch (RuntimeException e) {
            for (OffloadBench.Direction d : directions) {
                for (int size : plan.offloadSizes()) {
                    results.add(Results.OFFLOADS, setup, OffloadBench.param(d, size), run, Results.VALUE, Double.NaN);
                }
            }
            results.fail(what, e);
            progress(what + ": FAILED " + e.getMessage().lines().findFirst().orElse(""));
            writeFailure(what, e);
        }
    }

    /** One guest measurement's values (NaN: the test failed, recorded as a failure too), and a progress line. */
    private void record(String caseKey, String what, Backend backend, int run, Map<String, Double> values) {
        List<String> failed = new ArrayList<>();
        StringBuilder line = new StringBuilder(what).append(':');
        for (Map.Entry<String, Double> e : values.entrySet()) {
            results.add(caseKey, backend, e.getKey(), run, Results.VALUE, e.getValue());
            line.append(String.format(Locale.ROOT, " %s=%.0f", e.getKey(), e.getValue()));
            if (e.getValue().isNaN()) {
                failed.add(e.getKey());
            }
        }
        if (!failed.isEmpty()) {
            results.fail(what, new IllegalStateException("no result for " + failed + " (see the client's serial log)"));
        }
        progress(line.toString());
    }

    private void progress(String line) {
        out.println("[" + CLOCK.format(Instant.now()) + "] " + line);
        out.flush();
    }

    /** The whole exception, with any process log tail it carries, next to the processes' logs. */
    private void writeFailure(String what, RuntimeException e) {
        try (PrintStream ps = new PrintStream(Files.newOutputStream(env.logDir().resolve("failures.log"),
                java.nio.file.StandardOpenOption.CREATE, java.nio.file.StandardOpenOption.APPEND))) {
            ps.println("=== " + what);
            e.printStackTrace(ps);
        } catch (IOException io) {
            out.println("bench: cannot write failures.log: " + io);
        }
    }

    // ---- helpers ----------------------------------------------------------------------------------

    /** The remembered command lines, with the jvhost snapshot's temporary path named for what it is. */
    private static Map<String, String> readableCommands(BenchEnv env, String jvhostClasspath) {
        Map<String, String> out = new LinkedHashMap<>();
        for (Map.Entry<String, String> e : env.commands().entrySet()) {
            out.put(e.getKey(), jvhostClasspath.endsWith(".jar")
                    ? e.getValue().replace(jvhostClasspath, "JVHOST_JAR") : e.getValue());
        }
        if (jvhostClasspath.endsWith(".jar")) {
            out.put("JVHOST_JAR", "a copy of vhost-user-backend/target/vhost-user-backend-*-all.jar taken when the bench started");
        }
        return out;
    }

    private static String value(String[] args, int i, String option) {
        if (i >= args.length) {
            throw new IllegalArgumentException(option + " needs a value");
        }
        return args[i];
    }

    private static List<String> cases(String list) {
        List<String> out = List.of(list.split(","));
        for (String c : out) {
            if (!Results.CASES.contains(c)) {
                throw new IllegalArgumentException("--only takes " + String.join(", ", Results.CASES) + "; got '" + c + "'");
            }
        }
        return out;
    }

    /** {@code --offload-setups}: backend tags ({@link Backend#tag}), case 4's setups only. */
    private static List<Backend> offloadSetups(String list) {
        List<Backend> out = new ArrayList<>();
        for (String tag : list.split(",")) {
            Backend b = Arrays.stream(Backend.values()).filter(x -> x.tag().equals(tag)).findFirst()
                    .orElseThrow(() -> new IllegalArgumentException("--offload-setups takes percpu, bridge, jvoff, "
                            + "bridgeoff, dpdktso; got '" + tag + "'"));
            out.add(b);
        }
        return out;
    }

    /** {@code --offload-directions}: {@code g2g} (the guest pair's boot) and {@code host} (both host directions). */
    private static List<OffloadBench.Direction> offloadDirections(String list) {
        List<OffloadBench.Direction> out = new ArrayList<>();
        for (String d : list.split(",")) {
            switch (d) {
                case "g2g" -> out.add(OffloadBench.Direction.GUEST_TO_GUEST);
                case "host" -> out.addAll(List.of(OffloadBench.Direction.HOST_TO_GUEST,
                        OffloadBench.Direction.GUEST_TO_HOST));
                default -> throw new IllegalArgumentException("--offload-directions takes g2g, host; got '" + d + "'");
            }
        }
        return out;
    }

    private static int positive(String s, String option) {
        try {
            int n = Integer.parseInt(s);
            if (n >= 1) {
                return n;
            }
        } catch (NumberFormatException e) {
            // Reported below.
        }
        throw new IllegalArgumentException(option + " needs a positive integer, got '" + s + "'");
    }

    /** Replaces {@code target} by a copy of the files of {@code source} (one level, no directories). */
    private static void copyTree(Path source, Path target) {
        try {
            ProcessReaper.deleteTree(target);
            Files.createDirectories(target);
            try (var files = Files.list(source)) {
                for (Path f : files.toList()) {
                    if (Files.isRegularFile(f)) {
                        Files.copy(f, target.resolve(f.getFileName()), StandardCopyOption.REPLACE_EXISTING);
                    }
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException("copying " + source + " to " + target, e);
        }
    }
}

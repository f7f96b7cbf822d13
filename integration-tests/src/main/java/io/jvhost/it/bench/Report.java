package io.jvhost.it.bench;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.DoubleFunction;

/**
 * Writes one run's {@code report.md} (Markdown tables of medians, jvhost/DPDK ratios next to the
 * absolute numbers), {@code runs.csv} (every sample), the plot data and {@code plots.gp}, and
 * renders the plots with gnuplot ({@code loopback.png}, {@code scaling.png}, {@code guests.png},
 * {@code offloads.png}, {@code migration.png}).
 */
final class Report {

    /** Header fields: when, how long, load, the machine and versions, the command that ran. */
    record Header(String started, String duration, String loadBefore, String loadAfter, Map<String, String> machine,
                  String commandLine, Map<String, String> commands) {
    }

    private final BenchPlan plan;
    private final Results results;
    private final Header header;

    Report(BenchPlan plan, Results results, Header header) {
        this.plan = plan;
        this.results = results;
        this.header = header;
    }

    /** Writes everything into {@code dir}; returns the plots that gnuplot failed to render (empty when fine). */
    List<String> write(Path dir) {
        List<String> problems = new ArrayList<>();
        try {
            Files.createDirectories(dir);
            Files.writeString(dir.resolve("runs.csv"), results.csv());
            Files.writeString(dir.resolve("loopback.dat"), loopbackData());
            Files.writeString(dir.resolve("scaling.dat"), scalingData());
            Files.writeString(dir.resolve("guests-stream.dat"), guestData("stream:"));
            Files.writeString(dir.resolve("guests-rr.dat"), guestData("rr:"));
            for (OffloadBench.Direction d : OffloadBench.Direction.values()) {
                Files.writeString(dir.resolve(offloadDataFile(d)), offloadData(d));
            }
            Files.writeString(dir.resolve("migration.dat"), migrationData());
            Files.writeString(dir.resolve("plots.gp"), gnuplot());
            problems.addAll(renderPlots(dir));
            Files.writeString(dir.resolve("report.md"), markdown(problems));
        } catch (IOException e) {
            throw new UncheckedIOException("writing the report in " + dir, e);
        }
        return problems;
    }

    // ---- Markdown -------------------------------------------------------------------------------

    String markdown(List<String> plotProblems) {
        StringBuilder md = new StringBuilder();
        md.append("# jvhost benchmark").append(plan.quick() ? " (quick setting: smoke test only, not for comparison)" : "")
                .append("\n\n");
        md.append("Started ").append(header.started()).append(", took ").append(header.duration())
                .append("; load average (1/5/15 min) ").append(header.loadBefore()).append(" before, ")
                .append(header.loadAfter()).append(" after. Medians of ").append(plan.runs())
                .append(plan.runs() == 1 ? " run" : " runs (min–max in parentheses)").append(".\n\n");
        md.append("| | |\n|---|---|\n");
        for (Map.Entry<String, String> e : header.machine().entrySet()) {
            md.append("| ").append(e.getKey()).append(" | ").append(escape(e.getValue())).append(" |\n");
        }
        md.append("| command | `").append(header.commandLine()).append("` |\n\n");
        if (!results.failures().isEmpty()) {
            md.append("**Failed measurements** (empty cells below; logs in the run's tmp directory):\n\n");
            for (String f : results.failures()) {
                md.append("- ").append(escape(f)).append('\n');
            }
            md.append('\n');
        }

        md.append("## 1. Loopback packet rate\n\n").append(plan.frameSizes().isEmpty() ? NOT_RUN : loopbackSection());
        md.append("## 2. Scaling with devices\n\n").append(plan.pairs().isEmpty() ? NOT_RUN : scalingSection());
        md.append("## 3. Guests\n\n").append(plan.guestTests().isEmpty() ? NOT_RUN : guestSection());
        md.append("## 4. Offloads: TCP stream\n\n").append(plan.offloadSizes().isEmpty() ? NOT_RUN : offloadSection());
        md.append("## 5. Mesh\n\n").append(plan.meshPorts().isEmpty() ? NOT_RUN : meshSection());
        md.append("## 6. Migration\n\n").append(plan.migrationRows().isEmpty() ? NOT_RUN : migrationSection());
        if (!plotProblems.isEmpty()) {
            md.append("Plots not rendered: ").append(escape(String.join("; ", plotProblems))).append("\n\n");
        }

        md.append("## How it was measured\n\n");
        md.append("Every process has its own socket directory and `--file-prefix` and is stopped by pid. ")
                .append("Raw samples: [runs.csv](runs.csv). Command lines of the first measurement of each kind:\n\n");
        for (Map.Entry<String, String> e : header.commands().entrySet()) {
            md.append("- ").append(e.getKey()).append(":\n  `").append(e.getValue()).append("`\n");
        }
        return md.toString();
    }

    private static final String NOT_RUN = "Not run (`--only`).\n\n";

    private String loopbackSection() {
        return "testpmd front-end (2 `net_virtio_user` ports, io forwarding, `--tx-first`, one lcore on CPU 0) "
                + "through the backend on CPU 1: jvhost with both ports in one network, or testpmd with two "
                + "`net_vhost` ports (io forwarding, one lcore). Rates are what the front-end received, averaged over a "
                + seconds(plan.loopbackWindow()) + " window after " + warmup(Results.LOOPBACK, plan.loopbackWarmup())
                + "; Gbit/s counts frame bytes.\n\n"
                + loopbackTable() + '\n' + otherLoad(Results.LOOPBACK)
                + pairSection()
                + "![loopback](loopback.png)\n\n";
    }

    /**
     * The loopback runs as pairs: in every run each jvhost measurement is directly followed by the DPDK
     * one at the same size, so both meet the same machine. The machine switches between two speed
     * levels from one front-end start to the next; a pair's level is read off its DPDK rate (DPDK's own
     * levels are further apart than its noise).
     */
    private String pairSection() {
        if (!plan.loopbackBackends().contains(Backend.DPDK) || !plan.loopbackBackends().contains(Backend.JVHOST_PER_CPU)) {
            return "";
        }
        List<String> head = new ArrayList<>(List.of("frame bytes"));
        for (int run = 1; run <= plan.runs(); run++) {
            head.add("pair " + run + " jvhost/DPDK Mpps (ratio, level)");
        }
        head.add("median ratio");
        List<List<String>> rows = new ArrayList<>();
        for (int size : plan.frameSizes()) {
            String p = Integer.toString(size);
            double best = 0;
            for (double v : results.values(Results.LOOPBACK, Backend.DPDK, p, Results.MPPS)) {
                best = Math.max(best, v);
            }
            double high = LEVEL_SPLIT * best;
            List<String> row = new ArrayList<>(List.of(p));
            addPairCells(row, Results.LOOPBACK, p, Results.MPPS, Backend.JVHOST_PER_CPU, Backend.DPDK, "%.2f",
                    d -> ", " + (Double.isNaN(d) ? "–" : d >= high ? "high" : "low"));
            rows.add(row);
        }
        return "Pairs (each jvhost run directly followed by a DPDK run, a fresh front-end each; target: median ratio "
                + "at least 1.0). Level: *high* when the pair's DPDK rate is at least "
                + Math.round(LEVEL_SPLIT * 100) + " % of the best DPDK rate at that size in this bench, else *low*:\n\n"
                + table(head, rows) + '\n';
    }

    /**
     * Appends to {@code row} one cell per run, {@code a/b (ratio…)} with {@code b}'s value's {@code note} after
     * the ratio, then the median of the runs' ratios: runs of {@code a} and {@code b} that directly followed
     * each other meet the same machine, where medians of each alone can pit a high level against a low one.
     */
    private void addPairCells(List<String> row, String caseKey, String param, String metric, Backend a, Backend b,
                              String valueFormat, DoubleFunction<String> note) {
        List<Double> ratios = new ArrayList<>();
        for (int run = 1; run <= plan.runs(); run++) {
            double x = results.value(caseKey, a, param, run, metric);
            double y = results.value(caseKey, b, param, run, metric);
            double ratio = x / y;
            if (Double.isFinite(ratio)) {
                ratios.add(ratio);
            }
            row.add(format(valueFormat, x) + "/" + format(valueFormat, y) + " (" + format("%.2f", ratio) + note.apply(y)
                    + ")");
        }
        row.add(format("%.2f", Results.median(ratios.stream().mapToDouble(Double::doubleValue).toArray())));
    }

    /** Below this share of the best DPDK rate a pair ran at the machine's low level. */
    private static final double LEVEL_SPLIT = 0.8;

    /** The mesh case's parameter: the port count, "+log" with dirty-page logging on. */
    static String meshParam(int ports, boolean dirtyLog) {
        return ports + (dirtyLog ? "+log" : "");
    }

    /**
     * The sample index of round {@code round} of run {@code run} of the mesh case: its runs hold
     * {@link MeshBench#ROUNDS} rounds and a last loopback each.
     */
    static int meshSample(int run, int round) {
        return (run - 1) * (MeshBench.ROUNDS + 1) + round;
    }

    /** A mesh parameter as the table says it: the ports sending, and whether logging was on. */
    static String meshLabel(String param) {
        return param.endsWith("+log") ? param.substring(0, param.length() - "+log".length()) + ", LOG_ALL on" : param;
    }

    private String meshSection() {
        List<String> head = List.of("ports sending", "jvhost Mpps", "CPU ms/Mpkt", "CPU per frame / loopback",
                "work ms/Mpkt", "work per frame / loopback", "work ratio per round", "busy", "cores", "ctx sw/s");
        int first = plan.meshPorts().getFirst();
        List<List<String>> rows = new ArrayList<>();
        for (int ports : plan.meshPorts()) {
            rows.add(meshRow(first, meshParam(ports, false)));
        }
        rows.add(meshRow(first, meshParam(first, true)));
        int most = plan.meshPorts().stream().mapToInt(Integer::intValue).max().orElseThrow();
        return BenchPlan.MESH_FRAME_BYTES + "-byte frames; N ports in one network, each port's frames spread round-robin "
                + "over all the other sending ports (our own front-end, `io.jvhost.it.frontend.MeshGenerator`: every "
                + "sending port's TX ring kept full of prebuilt frames, every port's RX ring of buffers, one thread "
                + "pinned to CPU 0), jvhost per-cpu confined to CPU 1. A run is one jvhost and one generator with "
                + most + " ports, warmed up with all of them sending, then measured in phases that differ in how many "
                + "ports send: " + MeshBench.ROUNDS + " rounds of " + first + " (a loopback through the same generator, "
                + "the reference) and each mesh, " + first + " once more, then " + first + " with dirty-page logging "
                + "on for every port, as while guests migrate (SET_LOG_BASE, LOG_ALL, the used rings logged; target: "
                + "under 15 % of the rate). The machine's speed level changes from one process to the next and, more "
                + "slowly, within one, so a mesh's ratio is taken per round, against the mean of the loopbacks right "
                + "before and after it (the logging row's against the loopback before it), and the table gives the "
                + "median of the rounds' ratios (target: the mesh's CPU per frame within 1.2× of the loopback's). "
                + "CPU per frame is jvhost's utime+stime over the window divided by the frames the generator received; "
                + "jvhost polls its rings all the time here (cores ≈ 1), so it is the inverse of the rate and grows "
                + "when the generator is the slower side. *Work* is the workers' own busy time (`busy_seconds` of "
                + "`/api/workers`: kicks and polls that moved frames, not the polls that found an empty ring) per "
                + "frame, and *busy* that time over the window (the rest went to polls that found nothing and to the "
                + "loop itself; much below the loopback's, jvhost waited for the generator). "
                + "Window " + seconds(plan.meshWindow()) + " per phase.\n\n"
                + table(head, rows) + '\n' + otherLoad(Results.MESH);
    }

    private List<String> meshRow(int reference, String p) {
        Backend b = Backend.JVHOST_PER_CPU;
        boolean isReference = p.equals(meshParam(reference, false));
        double[] cpu = meshRatios(reference, p, Results.CPU_MS_PER_MPKT);
        double[] work = meshRatios(reference, p, Results.WORK_MS_PER_MPKT);
        StringBuilder perRound = new StringBuilder();
        for (double r : work) {
            perRound.append(perRound.isEmpty() ? "" : " ").append(format("%.2f", r));
        }
        return List.of(meshLabel(p), cellWithSpread(Results.MESH, b, p, Results.MPPS, "%.2f"),
                cellWithSpread(Results.MESH, b, p, Results.CPU_MS_PER_MPKT, "%.0f"),
                isReference ? "1" : format("%.2f", Results.median(cpu)),
                cellWithSpread(Results.MESH, b, p, Results.WORK_MS_PER_MPKT, "%.0f"),
                isReference ? "1" : format("%.2f", Results.median(work)),
                isReference || perRound.isEmpty() ? "–" : perRound.toString(),
                cell(Results.MESH, b, p, Results.BUSY, "%.2f"),
                cell(Results.MESH, b, p, Results.CORES, "%.2f"), cell(Results.MESH, b, p, Results.SWITCHES, "%.0f"));
    }

    /**
     * Per round of every run: {@code metric} of {@code param} over the mean of the loopbacks right before
     * and after it (logging on: over the loopback before it); rounds that failed are left out.
     */
    private double[] meshRatios(int reference, String param, String metric) {
        Backend b = Backend.JVHOST_PER_CPU;
        String loopback = meshParam(reference, false);
        boolean logging = param.equals(meshParam(reference, true));
        List<Double> ratios = new ArrayList<>();
        for (int run = 1; run <= plan.runs(); run++) {
            for (int round = 1; round <= MeshBench.ROUNDS; round++) {
                double value = results.value(Results.MESH, b, param, meshSample(run, round), metric);
                double after = results.value(Results.MESH, b, loopback, meshSample(run, round + 1), metric);
                double before = results.value(Results.MESH, b, loopback, meshSample(run, round), metric);
                double ratio = logging ? value / after : value / ((before + after) / 2);
                if (Double.isFinite(ratio)) {
                    ratios.add(ratio);
                }
            }
        }
        return ratios.stream().mapToDouble(Double::doubleValue).toArray();
    }

    private String migrationSection() {
        List<String> head = List.of("guest, backend", "downtime ms", "total ms", "MiB transferred", "dirty syncs",
                "pings lost");
        List<List<String>> rows = new ArrayList<>();
        for (MigrationBench.Row row : plan.migrationRows()) {
            for (Backend b : plan.migrationBackends()) {
                rows.add(migrationRow(row, b));
            }
        }
        return "Guest B (TCG, 1 vCPU, 256 MiB memfd, `virtio-net-pci` with `vectors=0`) on the backend's port 1 moves "
                + "with QMP `migrate` to a second QEMU started with `-incoming tcp:127.0.0.1:PORT` on port 2 "
                + "(`max-bandwidth` " + (MigrationBench.MAX_BANDWIDTH >> 20) + " MiB/s, QEMU 7.2's default, set for "
                + "both backends; QEMU's default downtime limit, 300 ms). Numbers are QEMU's `query-migrate`: downtime, "
                + "total time, RAM transferred, dirty-bitmap syncs (each collects the backend's dirty log). "
                + "*idle*: B only sleeps. *ping*: B pings guest A (port 0) through the backend, "
                + plan.migrationPings() + " echo requests " + plan.migrationPingInterval() + " s apart, the migration "
                + "starting about 1 s after the first; pings lost of " + plan.migrationPings()
                + " (target: at most 1, downtime within 300 ms). jvhost: one network, the ports of A, B's "
                + "source and B's destination in it. testpmd: `net_vhost` ports with io forwarding, which pairs "
                + "ports 0-1, 2-3 and has no MAC learning (`--port-topology` only offers paired, chained and loop), so a "
                + "B moved to a third port cannot reach A: in the *ping* row testpmd's destination QEMU connects to "
                + "B's own `net_vhost` socket (DPDK's vhost-user server takes a second connection, and the port's "
                + "device changes when the source stops and the destination starts); that row moves the guest, not "
                + "the port.\n\n"
                + table(head, rows) + '\n' + "![migration](migration.png)\n\n";
    }

    private List<String> migrationRow(MigrationBench.Row row, Backend b) {
        String p = row.param();
        String lost = "–";
        if (row == MigrationBench.Row.PING) {
            lost = cellWithSpread(Results.MIGRATION, b, p, Results.PINGS_LOST, "%.0f") + " of "
                    + cell(Results.MIGRATION, b, p, Results.PINGS_SENT, "%.0f");
        }
        return List.of(p + ", " + b.label() + (MigrationBench.sharesSocket(b, row) ? " (same port)" : ""),
                cellWithSpread(Results.MIGRATION, b, p, Results.DOWNTIME_MS, "%.0f"),
                cellWithSpread(Results.MIGRATION, b, p, Results.TOTAL_MS, "%.0f"),
                cellWithSpread(Results.MIGRATION, b, p, Results.TRANSFERRED_MIB, "%.1f"),
                cellWithSpread(Results.MIGRATION, b, p, Results.DIRTY_SYNCS, "%.0f"), lost);
    }

    private String scalingSection() {
        return BenchPlan.SCALING_FRAME_BYTES + "-byte frames; N port pairs, each pair its own network, one front-end "
                + "testpmd with 2N ports on CPU 0, the backend confined to CPU 1 (jvhost: `taskset -c 1`, "
                + "`workers.cpus: \"1\"`). Context switches are the backend process's, all threads "
                + "(`/proc/PID/task/*/status`); CPU time per million frames is its utime+stime over the window divided "
                + "by the frames forwarded. Window " + seconds(plan.scalingWindow()) + " after "
                + warmup(Results.SCALING, plan.scalingWarmup()) + ".\n\n"
                + scalingTable() + '\n' + otherLoad(Results.SCALING)
                + "Backend threads in the last run (CPU share of one core over the window):\n\n"
                + threadTable() + '\n'
                + "![scaling](scaling.png)\n\n";
    }

    private String guestSection() {
        return "Two TCG guests (1 vCPU, 256 MiB) in one network; nothing pinned (jvhost `workers.cpus: \"0-1\"`, "
                + "testpmd `-l 0,1`). TCP stream: iperf3 with the given write size, receiver's rate. "
                + "Request/response: iperf 2 `--bounceback` (100-byte messages, one in flight per connection), "
                + "transactions per second summed over the connections. " + plan.guestSeconds() + " s per test.\n\n"
                + "TCP stream, Mbit/s:\n\n" + guestTable("stream:", "message bytes") + '\n'
                + "Request/response, transactions/s:\n\n" + guestTable("rr:", "instances") + '\n'
                + "![guests](guests.png)\n\n";
    }

    private String offloadSection() {
        StringBuilder md = new StringBuilder();
        md.append("The TCP stream table of the 2012 per-cpu vhost RFC, with guest offloads. iperf3 TCP stream, ")
                .append(plan.offloadSeconds()).append(" s per test, the given write size (`-l`), the receiver's rate in ")
                .append("Mbit/s. *guest → guest*: two guests, 192.0.2.2 sends to 192.0.2.1. *host → guest* and ")
                .append("*guest → host*: one guest and the host, a network namespace the bench creates with `iperf3 -s` ")
                .append("on ").append(OffloadBench.HOST_ADDRESS).append(" (the guest runs `iperf3 -R` for host → guest). ")
                .append("Every guest: TCG, 1 vCPU, 256 MiB, QEMU's default CPU model, the same image; nothing pinned. ")
                .append("One boot of the pair measures every size of guest → guest, one boot of the single guest both ")
                .append("host directions; each run measures every setup once before the next run starts.\n\n");
        md.append("Setups (columns):\n\n");
        for (Backend b : plan.offloadSetups()) {
            md.append("- **").append(offloadLabel(b)).append("**: ").append(offloadSetupText(b)).append('\n');
        }
        md.append('\n').append(offloadTable()).append('\n').append(offloadPairSection());
        String problems = offloadProblems();
        if (!problems.isEmpty()) {
            md.append(problems).append('\n');
        }
        md.append("![offloads](offloads.png)\n\n");
        return md.toString();
    }

    private static String offloadSetupText(Backend b) {
        return switch (b) {
            case JVHOST_PER_CPU -> "jvhost with its default config (`workers.cpus: \"0-1\"`, per-cpu); the host's end "
                    + "is a TAP port (`tap:`) that jvhost creates and the bench moves into the namespace";
            case JVHOST_OFFLOADS_OFF -> "the same with `offloads: false` on every port";
            case BRIDGE -> "no vhost backend: QEMU's own virtio-net (`-netdev tap`, MSI-X, vhost-net off) on a TAP in a "
                    + "Linux bridge inside the namespace, QEMU's default offloads (checksum and TSO/UFO on); the "
                    + "bridge holds the host's address";
            case BRIDGE_OFFLOADS_OFF -> "the same with `" + String.join(",", io.jvhost.it.harness.TapNic.OFFLOADS_OFF)
                    + "` on the device";
            case DPDK_TSO -> "DPDK testpmd, `net_vhost` ports with `tso=1`, io forwarding, `-l 0,1`; the host's end is "
                    + "a `net_tap` port (io-forwarded to the guest's port, moved into the namespace) with testpmd's "
                    + "TCP TSO and checksum TX offloads enabled on it, so that the tap PMD segments and checksums what "
                    + "the guest handed over (host → guest only, see below)";
            default -> b.label();
        };
    }

    /** Column names of case 4: jvhost per-cpu and the bridge are measured with their offloads on. */
    private static String offloadLabel(Backend b) {
        return switch (b) {
            case JVHOST_PER_CPU -> "jvhost offloads on";
            case BRIDGE -> "TAP+bridge offloads on";
            default -> b.label();
        };
    }

    private String offloadTable() {
        List<Backend> bs = plan.offloadSetups();
        List<String> head = new ArrayList<>(List.of("direction", "write bytes"));
        for (Backend b : bs) {
            head.add(offloadLabel(b));
        }
        List<Backend[]> ratios = offloadRatios();
        for (Backend[] r : ratios) {
            head.add(offloadLabel(r[0]) + " / " + offloadLabel(r[1]));
        }
        List<List<String>> rows = new ArrayList<>();
        for (OffloadBench.Direction d : plan.offloadDirections()) {
            for (int size : plan.offloadSizes()) {
                String p = OffloadBench.param(d, size);
                List<String> row = new ArrayList<>(List.of(d.label(), Integer.toString(size)));
                for (Backend b : bs) {
                    row.add(cellWithSpread(Results.OFFLOADS, b, p, Results.VALUE, "%.0f"));
                }
                for (Backend[] r : ratios) {
                    row.add(format("%.2f", results.median(Results.OFFLOADS, r[0], p, Results.VALUE)
                            / results.median(Results.OFFLOADS, r[1], p, Results.VALUE)));
                }
                rows.add(row);
            }
        }
        return table(head, rows);
    }

    /**
     * jvhost (offloads on) against the bridge (on) run by run: a guest's QEMU start sets the machine's speed
     * level for that boot, so a median of each setup's own runs can compare a high boot with a low one; the
     * ratio within a run compares two boots that followed each other.
     */
    private String offloadPairSection() {
        List<Backend> bs = plan.offloadSetups();
        if (!bs.contains(Backend.JVHOST_PER_CPU) || !bs.contains(Backend.BRIDGE)) {
            return "";
        }
        List<String> head = new ArrayList<>(List.of("direction", "write bytes"));
        for (int run = 1; run <= plan.runs(); run++) {
            head.add("run " + run);
        }
        head.add("median ratio");
        List<List<String>> rows = new ArrayList<>();
        for (OffloadBench.Direction d : plan.offloadDirections()) {
            for (int size : plan.offloadSizes()) {
                String p = OffloadBench.param(d, size);
                List<String> row = new ArrayList<>(List.of(d.label(), Integer.toString(size)));
                addPairCells(row, Results.OFFLOADS, p, Results.VALUE, Backend.JVHOST_PER_CPU, Backend.BRIDGE, "%.0f",
                        b -> "");
                rows.add(row);
            }
        }
        return "Run by run, " + offloadLabel(Backend.JVHOST_PER_CPU) + " / " + offloadLabel(Backend.BRIDGE)
                + " Mbit/s (ratio); in each run the jvhost boot is directly followed by the bridge's (target: median "
                + "ratio at least 1.0):\n\n" + table(head, rows) + '\n';
    }

    /** jvhost (offloads on) against the bridge (on) and against DPDK (tso=1), where the plan has them. */
    private List<Backend[]> offloadRatios() {
        List<Backend[]> out = new ArrayList<>();
        List<Backend> bs = plan.offloadSetups();
        if (bs.contains(Backend.JVHOST_PER_CPU)) {
            for (Backend ref : List.of(Backend.BRIDGE, Backend.DPDK_TSO)) {
                if (bs.contains(ref)) {
                    out.add(new Backend[] {Backend.JVHOST_PER_CPU, ref});
                }
            }
        }
        return out;
    }

    /** What the reader must know about empty or odd cells of case 4, from this run's failures and numbers. */
    private String offloadProblems() {
        StringBuilder md = new StringBuilder();
        if (plan.offloadSetups().contains(Backend.DPDK_TSO)) {
            md.append("- **").append(offloadLabel(Backend.DPDK_TSO)).append("**, guest → host is not measured: ")
                    .append("with `tso=1` the guest sends TSO frames larger than the MTU with partial checksums, ")
                    .append("which reach the kernel only through the tap PMD's software segmentation. DPDK 22.11's ")
                    .append("tap PMD counts a TX error for every full-sized TSO segment (it compares the MSS plus all ")
                    .append("headers, 1514 bytes, with the MTU of 1500, and drops the rest of the burst), so TCP ")
                    .append("stalls at 1–2 Mbit/s (tried while building this bench): a number about the tap PMD, not ")
                    .append("the vhost PMD.\n");
        }
        return md.toString();
    }

    /** How the warm-up was decided and how long it took. */
    private String warmup(String caseKey, java.time.Duration min) {
        double[] v = results.samples().stream()
                .filter(s -> s.caseKey().equals(caseKey) && s.metric().equals(Results.WARMUP) && !Double.isNaN(s.value()))
                .mapToDouble(Results.Sample::value).toArray();
        double max = 0;
        for (double x : v) {
            max = Math.max(max, x);
        }
        return "a warm-up of at least " + seconds(min) + ", then until the backend's JIT compiler threads had been "
                + "idle for 2 s and three successive rates were within 5 %, at most " + seconds(plan.maxWarmup())
                + (v.length == 0 ? "" : String.format(Locale.ROOT, " (it took %.0f s at the median, %.0f s at most)",
                Results.median(v), max));
    }

    /** One sentence on the CPU the rest of the machine used during a case's windows. */
    private String otherLoad(String caseKey) {
        double[] v = results.samples().stream()
                .filter(s -> s.caseKey().equals(caseKey) && s.metric().equals(Results.OTHER_CORES) && !Double.isNaN(s.value()))
                .mapToDouble(Results.Sample::value).toArray();
        if (v.length == 0) {
            return "";
        }
        double max = 0;
        for (double x : v) {
            max = Math.max(max, x);
        }
        return String.format(Locale.ROOT, "CPU used by other processes during the windows (machine busy time less "
                + "backend and front-end): median %.2f, max %.2f cores%s. A window with more than %.2f cores of other "
                + "load is measured again, up to %d attempts.%n%n", Results.median(v), max,
                max > BenchMain.MAX_OTHER_LOAD ? " — the machine was not quiet, treat these numbers with care" : "",
                BenchMain.MAX_OTHER_LOAD, plan.attempts());
    }

    private String loopbackTable() {
        List<Backend> bs = plan.loopbackBackends();
        List<String> head = new ArrayList<>(List.of("frame bytes"));
        for (Backend b : bs) {
            head.add(b.label() + " Mpps");
        }
        addRatioHeads(head, bs, "Mpps");
        for (Backend b : bs) {
            head.add(b.label() + " Gbit/s");
        }
        addRatioHeads(head, bs, "Gbit/s");
        for (Backend b : bs) {
            head.add(b.label() + " CPU ms/Mpkt");
        }
        for (Backend b : bs) {
            if (b.isJvhost()) {
                head.add(b.label() + " ctx sw/s");
            }
        }
        List<List<String>> rows = new ArrayList<>();
        for (int size : plan.frameSizes()) {
            String p = Integer.toString(size);
            List<String> row = new ArrayList<>(List.of(p));
            for (Backend b : bs) {
                row.add(cellWithSpread(Results.LOOPBACK, b, p, Results.MPPS, "%.2f"));
            }
            addRatios(row, Results.LOOPBACK, bs, p, Results.MPPS);
            for (Backend b : bs) {
                row.add(cell(Results.LOOPBACK, b, p, Results.GBPS, "%.2f"));
            }
            addRatios(row, Results.LOOPBACK, bs, p, Results.GBPS);
            for (Backend b : bs) {
                row.add(cell(Results.LOOPBACK, b, p, Results.CPU_MS_PER_MPKT, "%.0f"));
            }
            for (Backend b : bs) {
                if (b.isJvhost()) {
                    row.add(cell(Results.LOOPBACK, b, p, Results.SWITCHES, "%.0f"));
                }
            }
            rows.add(row);
        }
        return table(head, rows);
    }

    private String scalingTable() {
        List<Backend> bs = plan.scalingBackends();
        List<String> head = new ArrayList<>(List.of("port pairs"));
        for (Backend b : bs) {
            head.add(b.label() + " Mpps");
        }
        addRatioHeads(head, bs, "Mpps");
        for (Backend b : bs) {
            head.add(b.label() + " ctx sw/s");
        }
        for (Backend b : bs) {
            head.add(b.label() + " CPU ms/Mpkt");
        }
        List<List<String>> rows = new ArrayList<>();
        for (int pairs : plan.pairs()) {
            String p = Integer.toString(pairs);
            List<String> row = new ArrayList<>(List.of(p));
            for (Backend b : bs) {
                row.add(cellWithSpread(Results.SCALING, b, p, Results.MPPS, "%.2f"));
            }
            addRatios(row, Results.SCALING, bs, p, Results.MPPS);
            for (Backend b : bs) {
                row.add(cell(Results.SCALING, b, p, Results.SWITCHES, "%.0f"));
            }
            for (Backend b : bs) {
                row.add(cell(Results.SCALING, b, p, Results.CPU_MS_PER_MPKT, "%.0f"));
            }
            rows.add(row);
        }
        return table(head, rows);
    }

    private String threadTable() {
        List<String> head = List.of("port pairs", "backend", "threads", "CPU (cores)", "busiest threads");
        List<List<String>> rows = new ArrayList<>();
        for (int pairs : plan.pairs()) {
            String p = Integer.toString(pairs);
            for (Backend b : plan.scalingBackends()) {
                rows.add(List.of(p, b.label(), cell(Results.SCALING, b, p, Results.THREADS, "%.0f"),
                        cell(Results.SCALING, b, p, Results.CORES, "%.2f"),
                        escape(results.noteOf(Results.SCALING, b, p))));
            }
        }
        return table(head, rows);
    }

    private String guestTable(String kind, String paramHeader) {
        List<Backend> bs = plan.guestBackends();
        List<String> head = new ArrayList<>(List.of(paramHeader));
        for (Backend b : bs) {
            head.add(b.label());
        }
        addRatioHeads(head, bs, "");
        List<List<String>> rows = new ArrayList<>();
        for (String test : plan.guestTests()) {
            if (!test.startsWith(kind)) {
                continue;
            }
            List<String> row = new ArrayList<>(List.of(test.substring(kind.length())));
            for (Backend b : bs) {
                row.add(cellWithSpread(Results.GUESTS, b, test, Results.VALUE, "%.0f"));
            }
            addRatios(row, Results.GUESTS, bs, test, Results.VALUE);
            rows.add(row);
        }
        return table(head, rows);
    }

    private static void addRatioHeads(List<String> head, List<Backend> bs, String unit) {
        if (!bs.contains(Backend.DPDK)) {
            return;
        }
        for (Backend b : bs) {
            if (b.isJvhost()) {
                head.add(b.label() + "/DPDK" + (unit.isEmpty() ? "" : " " + unit));
            }
        }
    }

    private void addRatios(List<String> row, String caseKey, List<Backend> bs, String param, String metric) {
        if (!bs.contains(Backend.DPDK)) {
            return;
        }
        double ref = results.median(caseKey, Backend.DPDK, param, metric);
        for (Backend b : bs) {
            if (b.isJvhost()) {
                row.add(format("%.2f", results.median(caseKey, b, param, metric) / ref));
            }
        }
    }

    private String cell(String caseKey, Backend b, String param, String metric, String fmt) {
        return format(fmt, results.median(caseKey, b, param, metric));
    }

    /** The median, with min–max when there are several runs. */
    private String cellWithSpread(String caseKey, Backend b, String param, String metric, String fmt) {
        double[] v = results.values(caseKey, b, param, metric);
        String median = format(fmt, Results.median(v));
        if (v.length < 2) {
            return median;
        }
        double min = Double.MAX_VALUE;
        double max = -Double.MAX_VALUE;
        for (double x : v) {
            min = Math.min(min, x);
            max = Math.max(max, x);
        }
        return median + " (" + format(fmt, min) + "–" + format(fmt, max) + ")";
    }

    private static String format(String fmt, double v) {
        return Double.isNaN(v) || Double.isInfinite(v) ? "–" : String.format(Locale.ROOT, fmt, v);
    }

    private static String table(List<String> head, List<List<String>> rows) {
        StringBuilder sb = new StringBuilder("| ").append(String.join(" | ", head)).append(" |\n|");
        for (int i = 0; i < head.size(); i++) {
            sb.append(i > 0 && numeric(rows, i) ? "---:|" : "---|");
        }
        sb.append('\n');
        for (List<String> row : rows) {
            sb.append("| ").append(String.join(" | ", row)).append(" |\n");
        }
        return sb.toString();
    }

    /** Whether every cell of column {@code c} is a number, a dash or a number with its range. */
    private static boolean numeric(List<List<String>> rows, int c) {
        for (List<String> row : rows) {
            if (c < row.size() && !row.get(c).matches("[0-9.–]+( \\([0-9.]+–[0-9.]+\\))?")) {
                return false;
            }
        }
        return true;
    }

    private static String escape(String s) {
        return s.replace("|", "\\|").replace("\n", " ");
    }

    private static String seconds(java.time.Duration d) {
        return d.toSeconds() + " s";
    }

    // ---- plot data and gnuplot -----------------------------------------------------------------

    /** gnuplot reads {@code ?} as a missing value (set datafile missing). */
    private static String dat(double v) {
        return Double.isNaN(v) || Double.isInfinite(v) ? "?" : String.format(Locale.ROOT, "%.6g", v);
    }

    String loopbackData() {
        StringBuilder sb = new StringBuilder("# frame_bytes");
        for (Backend b : plan.loopbackBackends()) {
            sb.append(' ').append(b.tag()).append("_mpps");
        }
        for (Backend b : plan.loopbackBackends()) {
            sb.append(' ').append(b.tag()).append("_gbps");
        }
        sb.append('\n');
        for (int size : plan.frameSizes()) {
            String p = Integer.toString(size);
            sb.append(p);
            for (Backend b : plan.loopbackBackends()) {
                sb.append(' ').append(dat(results.median(Results.LOOPBACK, b, p, Results.MPPS)));
            }
            for (Backend b : plan.loopbackBackends()) {
                sb.append(' ').append(dat(results.median(Results.LOOPBACK, b, p, Results.GBPS)));
            }
            sb.append('\n');
        }
        return sb.toString();
    }

    String scalingData() {
        StringBuilder sb = new StringBuilder("# pairs");
        for (String m : List.of("mpps", "ctx", "cpu_ms_per_mpkt")) {
            for (Backend b : plan.scalingBackends()) {
                sb.append(' ').append(b.tag()).append('_').append(m);
            }
        }
        sb.append('\n');
        for (int pairs : plan.pairs()) {
            String p = Integer.toString(pairs);
            sb.append(p);
            for (String m : List.of(Results.MPPS, Results.SWITCHES, Results.CPU_MS_PER_MPKT)) {
                for (Backend b : plan.scalingBackends()) {
                    sb.append(' ').append(dat(results.median(Results.SCALING, b, p, m)));
                }
            }
            sb.append('\n');
        }
        return sb.toString();
    }

    String guestData(String kind) {
        StringBuilder sb = new StringBuilder("# " + kind.replace(":", ""));
        for (Backend b : plan.guestBackends()) {
            sb.append(' ').append(b.tag());
        }
        sb.append('\n');
        for (String test : plan.guestTests()) {
            if (test.startsWith(kind)) {
                sb.append(test.substring(kind.length()));
                for (Backend b : plan.guestBackends()) {
                    sb.append(' ').append(dat(results.median(Results.GUESTS, b, test, Results.VALUE)));
                }
                sb.append('\n');
            }
        }
        return sb.toString();
    }

    /** Case 6: one line per row (idle, ping), downtime then total time per backend. */
    String migrationData() {
        List<String> metrics = List.of(Results.DOWNTIME_MS, Results.TOTAL_MS);
        StringBuilder sb = new StringBuilder("# guest");
        for (String m : metrics) {
            for (Backend b : plan.migrationBackends()) {
                sb.append(' ').append(b.tag()).append('_').append(m);
            }
        }
        sb.append('\n');
        for (MigrationBench.Row row : plan.migrationRows()) {
            sb.append(row.param());
            for (String m : metrics) {
                for (Backend b : plan.migrationBackends()) {
                    sb.append(' ').append(dat(results.median(Results.MIGRATION, b, row.param(), m)));
                }
            }
            sb.append('\n');
        }
        return sb.toString();
    }

    private static String offloadDataFile(OffloadBench.Direction d) {
        return "offloads-" + d.tag() + ".dat";
    }

    String offloadData(OffloadBench.Direction d) {
        StringBuilder sb = new StringBuilder("# write_bytes");
        for (Backend b : plan.offloadSetups()) {
            sb.append(' ').append(b.tag()).append("_mbps");
        }
        sb.append('\n');
        for (int size : plan.offloadSizes()) {
            sb.append(size);
            for (Backend b : plan.offloadSetups()) {
                sb.append(' ').append(dat(results.median(Results.OFFLOADS, b, OffloadBench.param(d, size), Results.VALUE)));
            }
            sb.append('\n');
        }
        return sb.toString();
    }

    private String offloadPlot(String subtitle) {
        StringBuilder gp = new StringBuilder();
        List<Backend> ob = plan.offloadSetups();
        List<OffloadBench.Direction> directions = plan.offloadDirections();
        gp.append("set terminal pngcairo size ").append(160 + 480 * directions.size())
                .append(",460 font 'DejaVu Sans,10'\nset output 'offloads.png'\n");
        gp.append("set multiplot layout 1,").append(directions.size())
                .append(" title 'TCP stream with guest offloads (TCG guests, iperf3), ").append(subtitle).append("'\n");
        gp.append("set xlabel 'iperf3 write size (bytes)'\nset ylabel 'Mbit/s'\nset key top left\n");
        for (OffloadBench.Direction d : directions) {
            gp.append("set title '").append(d.label()).append("'\n");
            StringBuilder plot = new StringBuilder("plot ");
            for (int i = 0; i < ob.size(); i++) {
                plot.append(i == 0 ? "'" + offloadDataFile(d) + "'" : ", ''").append(" using ").append(2 + i)
                        .append(i == 0 ? ":xtic(1)" : "").append(" title '").append(offloadLabel(ob.get(i))).append("'");
            }
            gp.append(plot).append('\n');
        }
        gp.append("unset title\nunset multiplot\n");
        return gp.toString();
    }

    String gnuplot() {
        String subtitle = "medians of " + plan.runs() + (plan.runs() == 1 ? " run" : " runs") + ", " + header.started();
        StringBuilder gp = new StringBuilder();
        gp.append("# Renders the plots of report.md from the .dat files beside it: gnuplot plots.gp\n");
        gp.append("set datafile missing '?'\nset grid ytics\nset key top left\n");
        gp.append("set style data histograms\nset style histogram clustered gap 1\n");
        gp.append("set style fill solid 0.85 border -1\nset boxwidth 0.9\nset yrange [0:*]\n\n");

        if (!plan.frameSizes().isEmpty()) {
            gp.append(loopbackPlot(subtitle));
        }
        if (!plan.pairs().isEmpty()) {
            gp.append(scalingPlot(subtitle));
        }
        if (!plan.guestTests().isEmpty()) {
            gp.append(guestPlot(subtitle));
        }
        if (!plan.offloadSizes().isEmpty()) {
            gp.append(offloadPlot(subtitle));
        }
        if (!plan.migrationRows().isEmpty()) {
            gp.append(migrationPlot(subtitle));
        }
        return gp.toString();
    }

    private String loopbackPlot(String subtitle) {
        StringBuilder gp = new StringBuilder();
        List<Backend> lb = plan.loopbackBackends();
        gp.append("set terminal pngcairo size 1100,420 font 'DejaVu Sans,10'\nset output 'loopback.png'\n");
        gp.append("set multiplot layout 1,2 title 'Loopback packet rate through the backend (testpmd front-end, io fwd), ")
                .append(subtitle).append("'\n");
        gp.append("set xlabel 'frame bytes'\nset ylabel 'Mpps'\n");
        gp.append("set key top right\n").append(histogram("loopback.dat", lb, 2));
        gp.append("set ylabel 'Gbit/s'\n");
        gp.append("set key top left\n").append(histogram("loopback.dat", lb, 2 + lb.size()));
        gp.append("unset multiplot\n\n");
        return gp.toString();
    }

    private String scalingPlot(String subtitle) {
        StringBuilder gp = new StringBuilder();
        List<Backend> sb = plan.scalingBackends();
        gp.append("set terminal pngcairo size 1500,420 font 'DejaVu Sans,10'\nset output 'scaling.png'\n");
        gp.append("set multiplot layout 1,3 title 'Scaling with port pairs (64-byte frames, backend on one CPU), ")
                .append(subtitle).append("'\n");
        int maxPairs = plan.pairs().stream().mapToInt(Integer::intValue).max().orElse(1);
        gp.append("set style data linespoints\nset logscale x 2\nset xlabel 'port pairs'\n")
                .append(String.format(Locale.ROOT, "set xrange [%.2f:%.2f]%n", 0.8, maxPairs * 1.25))
                .append("set xtics (")
                .append(String.join(", ", plan.pairs().stream().map(String::valueOf).toList())).append(")\n");
        gp.append("set key top right\nset ylabel 'Mpps (all pairs)'\n").append(lines("scaling.dat", sb, 2));
        gp.append("set ylabel 'context switches/s (backend process)'\n").append(lines("scaling.dat", sb, 2 + sb.size()));
        gp.append("set key top left\nset ylabel 'CPU ms per million frames'\n")
                .append(lines("scaling.dat", sb, 2 + 2 * sb.size()));
        gp.append("unset multiplot\nunset logscale x\nset xtics autofreq\nset xrange [*:*]\nset key top left\n")
                .append("set style data histograms\n\n");
        return gp.toString();
    }

    private String guestPlot(String subtitle) {
        StringBuilder gp = new StringBuilder();
        List<Backend> gb = plan.guestBackends();
        gp.append("set terminal pngcairo size 1100,420 font 'DejaVu Sans,10'\nset output 'guests.png'\n");
        gp.append("set multiplot layout 1,2 title 'Two TCG guests through the backend, ").append(subtitle).append("'\n");
        gp.append("set xlabel 'iperf3 write size (bytes)'\nset ylabel 'TCP stream Mbit/s'\n");
        gp.append(histogram("guests-stream.dat", gb, 2));
        gp.append("set xlabel 'parallel connections'\nset ylabel 'request/response transactions/s'\n");
        gp.append(histogram("guests-rr.dat", gb, 2));
        gp.append("unset multiplot\n");
        return gp.toString();
    }

    private String migrationPlot(String subtitle) {
        StringBuilder gp = new StringBuilder();
        List<Backend> mb = plan.migrationBackends();
        gp.append("\nset terminal pngcairo size 1100,420 font 'DejaVu Sans,10'\nset output 'migration.png'\n");
        gp.append("set multiplot layout 1,2 title 'Live migration of a TCG guest between two backend ports, ")
                .append(subtitle).append("'\n");
        gp.append("set xlabel 'guest'\nset ylabel 'downtime ms'\n").append(histogram("migration.dat", mb, 2));
        gp.append("set ylabel 'total migration time ms'\n").append(histogram("migration.dat", mb, 2 + mb.size()));
        gp.append("unset multiplot\n");
        return gp.toString();
    }

    private static String histogram(String file, List<Backend> backends, int firstColumn) {
        StringBuilder sb = new StringBuilder("plot ");
        for (int i = 0; i < backends.size(); i++) {
            sb.append(i == 0 ? "'" + file + "'" : ", ''").append(" using ").append(firstColumn + i)
                    .append(i == 0 ? ":xtic(1)" : "").append(" title '").append(backends.get(i).label()).append("'");
        }
        return sb.append('\n').toString();
    }

    private static String lines(String file, List<Backend> backends, int firstColumn) {
        StringBuilder sb = new StringBuilder("plot ");
        for (int i = 0; i < backends.size(); i++) {
            sb.append(i == 0 ? "'" + file + "'" : ", ''").append(" using 1:").append(firstColumn + i)
                    .append(" title '").append(backends.get(i).label()).append("' lw 2 pt 7");
        }
        return sb.append('\n').toString();
    }

    /** The PNGs this plan's plots.gp renders. */
    private List<String> pngs() {
        List<String> out = new ArrayList<>();
        if (!plan.frameSizes().isEmpty()) {
            out.add("loopback.png");
        }
        if (!plan.pairs().isEmpty()) {
            out.add("scaling.png");
        }
        if (!plan.guestTests().isEmpty()) {
            out.add("guests.png");
        }
        if (!plan.offloadSizes().isEmpty()) {
            out.add("offloads.png");
        }
        if (!plan.migrationRows().isEmpty()) {
            out.add("migration.png");
        }
        return out;
    }

    private List<String> renderPlots(Path dir) {
        List<String> problems = new ArrayList<>();
        try {
            Process p = new ProcessBuilder("gnuplot", "plots.gp").directory(dir.toFile()).redirectErrorStream(true)
                    .redirectInput(ProcessBuilder.Redirect.from(Path.of("/dev/null").toFile())).start();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
            if (!p.waitFor(60, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                problems.add("gnuplot timed out");
            } else if (p.exitValue() != 0) {
                problems.add("gnuplot exit " + p.exitValue() + ": " + out);
            }
            Files.writeString(dir.resolve("plots.log"), out);
        } catch (IOException e) {
            problems.add("gnuplot: " + e.getMessage());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            problems.add("interrupted");
        }
        for (String png : pngs()) {
            if (!Files.isRegularFile(dir.resolve(png))) {
                problems.add(png + " missing");
            }
        }
        return problems;
    }
}

package io.jvhost.it.bench;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Every number one bench run measured, kept per run so that the report can show medians and the
 * spread, and so that {@code runs.csv} has them all. A failed measurement is a NaN sample plus a
 * line in {@link #failures()}.
 *
 * <p>Thread safety: one bench thread.
 */
final class Results {

    /** Case keys. */
    static final String LOOPBACK = "loopback";
    static final String SCALING = "scaling";
    static final String GUESTS = "guests";
    static final String OFFLOADS = "offloads";
    static final String MESH = "mesh";
    static final String MIGRATION = "migration";
    /** Every case, in the order they run. */
    static final List<String> CASES = List.of(LOOPBACK, SCALING, GUESTS, OFFLOADS, MESH, MIGRATION);

    /** Metric names (columns of runs.csv). */
    static final String MPPS = "mpps";
    static final String GBPS = "gbps";
    static final String SWITCHES = "ctx_switches_per_s";
    static final String CPU_MS_PER_MPKT = "cpu_ms_per_mpkt";
    static final String CORES = "cpu_cores";
    /** The backend's own busy time per million frames (its workers' accounting, empty polls left out). */
    static final String WORK_MS_PER_MPKT = "work_ms_per_mpkt";
    /** The backend's busy time over the window, in cores. */
    static final String BUSY = "busy_cores";
    static final String THREADS = "threads";
    static final String OTHER_CORES = "other_cpu_cores";
    static final String WARMUP = "warmup_s";
    static final String VALUE = "value";
    /** Case 6: QEMU's query-migrate, and B's pings across the migration. */
    static final String DOWNTIME_MS = "downtime_ms";
    static final String TOTAL_MS = "total_ms";
    static final String TRANSFERRED_MIB = "transferred_mib";
    static final String DIRTY_SYNCS = "dirty_syncs";
    static final String PINGS_SENT = "pings_sent";
    static final String PINGS_LOST = "pings_lost";

    /** One number: {@code caseKey}, {@code backend}, {@code param} (frame size, pairs, test) and run. */
    record Sample(String caseKey, Backend backend, String param, int run, String metric, double value) {
    }

    private final List<Sample> samples = new ArrayList<>();
    private final Map<String, String> notes = new LinkedHashMap<>();
    private final List<String> failures = new ArrayList<>();

    void add(String caseKey, Backend backend, String param, int run, String metric, double value) {
        samples.add(new Sample(caseKey, backend, param, run, metric, value));
    }

    /** A text attached to a cell (the last run's busiest threads), shown in the thread table. */
    void note(String caseKey, Backend backend, String param, String text) {
        notes.put(caseKey + "|" + backend + "|" + param, text);
    }

    String noteOf(String caseKey, Backend backend, String param) {
        return notes.getOrDefault(caseKey + "|" + backend + "|" + param, "");
    }

    void fail(String what, Throwable cause) {
        String message = String.valueOf(cause.getMessage());
        int nl = message.indexOf('\n');
        failures.add(what + ": " + cause.getClass().getSimpleName() + ": " + (nl < 0 ? message : message.substring(0, nl)));
    }

    List<String> failures() {
        return List.copyOf(failures);
    }

    List<Sample> samples() {
        return List.copyOf(samples);
    }

    /** The values of all runs, NaN (failed runs) left out, in run order. */
    double[] values(String caseKey, Backend backend, String param, String metric) {
        return samples.stream()
                .filter(s -> s.caseKey().equals(caseKey) && s.backend() == backend && s.param().equals(param)
                        && s.metric().equals(metric) && !Double.isNaN(s.value()))
                .mapToDouble(Sample::value).toArray();
    }

    /** The value of one run, NaN when it failed or was not measured. */
    double value(String caseKey, Backend backend, String param, int run, String metric) {
        for (Sample s : samples) {
            if (s.caseKey().equals(caseKey) && s.backend() == backend && s.param().equals(param) && s.run() == run
                    && s.metric().equals(metric)) {
                return s.value();
            }
        }
        return Double.NaN;
    }

    /** The median over the runs; NaN if no run succeeded. */
    double median(String caseKey, Backend backend, String param, String metric) {
        return median(values(caseKey, backend, param, metric));
    }

    static double median(double[] values) {
        if (values.length == 0) {
            return Double.NaN;
        }
        double[] v = values.clone();
        Arrays.sort(v);
        int n = v.length;
        return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
    }

    /** {@code case,backend,param,run,metric,value}, one line per sample. */
    String csv() {
        StringBuilder sb = new StringBuilder("case,backend,param,run,metric,value\n");
        for (Sample s : samples) {
            sb.append(s.caseKey()).append(',').append(s.backend().tag()).append(',').append(s.param()).append(',')
                    .append(s.run()).append(',').append(s.metric()).append(',')
                    .append(Double.isNaN(s.value()) ? "NaN" : String.format(Locale.ROOT, "%.6g", s.value())).append('\n');
        }
        return sb.toString();
    }
}

package io.jvhost.it.bench;

import java.time.Duration;
import java.util.List;

/**
 * What one bench run measures and for how long. {@link #full} is the published setting,
 * {@link #quick} a tiny one that only shows the machinery works (its numbers mean little: jvhost's
 * JIT has no time to warm up).
 *
 * @param quick            the tiny setting
 * @param runs             repetitions of every measurement; tables show medians
 * @param attempts         cases 1 and 2: tries per measurement while other processes load the machine
 * @param frameSizes       case 1: testpmd {@code --txpkts}, bytes per frame
 * @param loopbackBackends case 1: backends compared
 * @param loopbackWarmup   case 1: least traffic before the window (jvhost's JIT compiles the data path)
 * @param maxWarmup        cases 1 and 2: most traffic before the window (the warm-up ends earlier when
 *                         the backend's JIT is idle and the rate steady)
 * @param loopbackWindow   case 1: measured window
 * @param pairs            case 2: numbers of port pairs
 * @param scalingBackends  case 2: backends compared
 * @param scalingWarmup    case 2: least traffic before the window
 * @param scalingWindow    case 2: measured window
 * @param guestTests       case 3: {@code jv.bench} tests: {@code stream:LEN}, {@code rr:P}
 * @param guestSeconds     case 3: seconds per test
 * @param guestBackends    case 3: backends compared
 * @param offloadSizes     case 4: iperf3 write sizes ({@code -l}), bytes
 * @param offloadSeconds   case 4: seconds per test
 * @param offloadSetups    case 4: setups compared ({@link OffloadBench}), each jvhost one directly followed by
 *                         its reference so that their runs pair up
 * @param offloadDirections case 4: which boots run: guest → guest, and host ↔ guest (both host directions)
 * @param meshPorts        case 5: port counts of the mesh ({@link MeshBench}); 2 is its loopback reference
 * @param meshWarmup       case 5: least traffic before the window
 * @param meshWindow       case 5: measured window
 * @param migrationRows    case 6: idle and pinging guest ({@link MigrationBench})
 * @param migrationBackends case 6: backends compared
 * @param migrationPings   case 6: echo requests the pinging guest sends across its migration
 * @param migrationPingInterval case 6: seconds between them (busybox {@code ping -i})
 */
record BenchPlan(boolean quick, int runs, int attempts,
                 List<Integer> frameSizes, List<Backend> loopbackBackends, Duration loopbackWarmup,
                 Duration maxWarmup, Duration loopbackWindow,
                 List<Integer> pairs, List<Backend> scalingBackends, Duration scalingWarmup, Duration scalingWindow,
                 List<String> guestTests, int guestSeconds, List<Backend> guestBackends,
                 List<Integer> offloadSizes, int offloadSeconds, List<Backend> offloadSetups,
                 List<OffloadBench.Direction> offloadDirections,
                 List<Integer> meshPorts, Duration meshWarmup, Duration meshWindow,
                 List<MigrationBench.Row> migrationRows, List<Backend> migrationBackends, int migrationPings,
                 String migrationPingInterval) {

    /** Frame size of case 2 (the RFC's small-packet case). */
    static final int SCALING_FRAME_BYTES = 64;
    /** Frame size of case 5. */
    static final int MESH_FRAME_BYTES = 64;

    BenchPlan {
        if (runs < 1 || attempts < 1) {
            throw new IllegalArgumentException("runs and attempts must be >= 1: " + runs + ", " + attempts);
        }
        frameSizes = List.copyOf(frameSizes);
        loopbackBackends = List.copyOf(loopbackBackends);
        pairs = List.copyOf(pairs);
        scalingBackends = List.copyOf(scalingBackends);
        guestTests = List.copyOf(guestTests);
        guestBackends = List.copyOf(guestBackends);
        offloadSizes = List.copyOf(offloadSizes);
        offloadSetups = List.copyOf(offloadSetups);
        offloadDirections = List.copyOf(offloadDirections);
        meshPorts = List.copyOf(meshPorts);
        migrationRows = List.copyOf(migrationRows);
        migrationBackends = List.copyOf(migrationBackends);
    }

    static BenchPlan full(int runs) {
        List<Backend> all = List.of(Backend.JVHOST_PER_CPU, Backend.JVHOST_PER_DEVICE, Backend.DPDK);
        return new BenchPlan(false, runs, 3,
                List.of(64, 256, 1518), List.of(Backend.JVHOST_PER_CPU, Backend.DPDK),
                Duration.ofSeconds(6), Duration.ofSeconds(20), Duration.ofSeconds(8),
                List.of(1, 2, 4, 8, 16), all, Duration.ofSeconds(5), Duration.ofSeconds(4),
                List.of("stream:256", "stream:1024", "stream:4096", "stream:16384", "rr:1", "rr:10", "rr:30"), 5,
                all,
                List.of(256, 1024, 4096, 16384), 5, List.of(Backend.JVHOST_PER_CPU, Backend.BRIDGE,
                        Backend.JVHOST_OFFLOADS_OFF, Backend.BRIDGE_OFFLOADS_OFF, Backend.DPDK_TSO),
                List.of(OffloadBench.Direction.values()),
                List.of(2, 4, 8), Duration.ofSeconds(6), Duration.ofSeconds(8),
                List.of(MigrationBench.Row.values()), List.of(Backend.JVHOST_PER_CPU, Backend.DPDK), 30, "0.5");
    }

    /** This plan with the cases not in {@code cases} ({@link Results#LOOPBACK} ...) left out. */
    BenchPlan only(List<String> cases) {
        return new BenchPlan(quick, runs, attempts,
                cases.contains(Results.LOOPBACK) ? frameSizes : List.of(), loopbackBackends, loopbackWarmup, maxWarmup,
                loopbackWindow,
                cases.contains(Results.SCALING) ? pairs : List.of(), scalingBackends, scalingWarmup, scalingWindow,
                cases.contains(Results.GUESTS) ? guestTests : List.of(), guestSeconds, guestBackends,
                cases.contains(Results.OFFLOADS) ? offloadSizes : List.of(), offloadSeconds, offloadSetups,
                offloadDirections,
                cases.contains(Results.MESH) ? meshPorts : List.of(), meshWarmup, meshWindow,
                cases.contains(Results.MIGRATION) ? migrationRows : List.of(), migrationBackends, migrationPings,
                migrationPingInterval);
    }

    /**
     * This plan with case 4 narrowed to {@code setups} (kept in this plan's order) and to the boots that
     * measure {@code directions}: a focused comparison, e.g. jvhost against the bridge guest to guest only.
     */
    BenchPlan withOffloads(List<Backend> setups, List<OffloadBench.Direction> directions) {
        return new BenchPlan(quick, runs, attempts, frameSizes, loopbackBackends, loopbackWarmup, maxWarmup,
                loopbackWindow, pairs, scalingBackends, scalingWarmup, scalingWindow, guestTests, guestSeconds,
                guestBackends, offloadSizes, offloadSeconds,
                offloadSetups.stream().filter(setups::contains).toList(),
                offloadDirections.stream().filter(directions::contains).toList(),
                meshPorts, meshWarmup, meshWindow, migrationRows, migrationBackends, migrationPings,
                migrationPingInterval);
    }

    static BenchPlan quick(int runs) {
        return new BenchPlan(true, runs, 1,
                List.of(64), List.of(Backend.JVHOST_PER_CPU, Backend.DPDK),
                Duration.ofSeconds(2), Duration.ofSeconds(4), Duration.ofSeconds(2),
                List.of(2), List.of(Backend.JVHOST_PER_CPU, Backend.JVHOST_PER_DEVICE, Backend.DPDK),
                Duration.ofSeconds(2), Duration.ofSeconds(2),
                List.of("stream:1024", "rr:4"), 2, List.of(Backend.JVHOST_PER_CPU, Backend.DPDK),
                List.of(1024), 2, List.of(Backend.JVHOST_PER_CPU, Backend.BRIDGE, Backend.JVHOST_OFFLOADS_OFF,
                        Backend.DPDK_TSO),
                List.of(OffloadBench.Direction.values()),
                List.of(2, 4), Duration.ofSeconds(2), Duration.ofSeconds(2),
                List.of(MigrationBench.Row.values()), List.of(Backend.JVHOST_PER_CPU, Backend.DPDK), 30, "0.3");
    }
}

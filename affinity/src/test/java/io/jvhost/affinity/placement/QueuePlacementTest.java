package io.jvhost.affinity.placement;

import io.jvhost.affinity.topology.CpuTopology;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.SplittableRandom;
import java.util.TreeMap;

import static io.jvhost.affinity.placement.QueuePlacement.NONE;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * Every rule and fallback of {@link QueuePlacement}. The main topology is 2 sockets × 4 cores × 2 threads:
 * socket 0 = CPUs 0-3 and 8-11, socket 1 = 4-7 and 12-15, CPU n and n+8 share a core.
 */
class QueuePlacementTest {

    private static final CpuTopology T16 = CpuTopology.uniform(2, 4, 2);
    private static final int[] ALL16 = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};

    private final QueuePlacement leastLoaded = QueuePlacement.of(PlacementMode.SOCKET_AFFINE, BalanceMode.LEAST_LOADED, 1);

    static WorkerLoads workers(CpuTopology t, int[] cpus, double[] loads, int[] queues) {
        return WorkerLoads.of(t, cpus, loads, queues);
    }

    static WorkerLoads idle(CpuTopology t, int... cpus) {
        return WorkerLoads.of(t, cpus, new double[cpus.length], new int[cpus.length]);
    }

    private static double[] fill(int n, double value) {
        double[] out = new double[n];
        java.util.Arrays.fill(out, value);
        return out;
    }

    // ---- the rule ----

    @Test
    void shouldPickLeastLoadedWorkerOnVcpuSocketOutsideVcpuCore() {
        double[] loads = fill(16, 0.5);
        loads[9] = 0.1;
        loads[8] = 0.0; // the vCPU's SMT sibling: excluded
        loads[4] = 0.0; // other socket: excluded
        WorkerLoads w = workers(T16, ALL16, loads, new int[16]);

        assertEquals(new Choice(9, PlacementRule.SAME_SOCKET_OTHER_CORE), leastLoaded.choose(T16, w, NONE, 0));
    }

    @Test
    void shouldNeverPickVcpusSmtSiblingWhileAnotherCoreOnItsSocketHasAWorker() {
        WorkerLoads w = workers(T16, new int[] {8, 1, 4}, new double[] {0.0, 0.9, 0.0}, new int[] {0, 5, 0});

        assertEquals(new Choice(1, PlacementRule.SAME_SOCKET_OTHER_CORE), leastLoaded.choose(T16, w, NONE, 0));
    }

    @Test
    void shouldBreakLoadTiesByFewestQueuesThenLowestCpu() {
        WorkerLoads fewer = workers(T16, new int[] {1, 2, 3}, new double[] {0.2, 0.2, 0.2}, new int[] {3, 1, 1});
        WorkerLoads even = workers(T16, new int[] {3, 2, 1}, new double[] {0.2, 0.2, 0.2}, new int[] {1, 1, 1});

        assertEquals(2, leastLoaded.choose(T16, fewer, NONE, 0).workerCpu());
        assertEquals(1, leastLoaded.choose(T16, even, NONE, 0).workerCpu());
    }

    @Test
    void shouldPreferLowerLoadOverFewerQueues() {
        WorkerLoads w = workers(T16, new int[] {1, 2}, new double[] {0.3, 0.1}, new int[] {0, 4});

        assertEquals(2, leastLoaded.choose(T16, w, NONE, 0).workerCpu());
    }

    // ---- fallbacks ----

    @Test
    void shouldUseVcpuOwnCoreWhenItIsTheOnlyOneWithWorkersOnItsSocket() {
        WorkerLoads w = workers(T16, new int[] {0, 8, 4}, new double[] {0.5, 0.3, 0.0}, new int[3]);

        assertEquals(new Choice(8, PlacementRule.SAME_SOCKET_SAME_CORE), leastLoaded.choose(T16, w, NONE, 0));
    }

    @Test
    void shouldUseLeastLoadedWorkerOnAnotherSocketWhenVcpuSocketHasNone() {
        WorkerLoads w = workers(T16, new int[] {4, 5, 12}, new double[] {0.3, 0.2, 0.25}, new int[3]);

        assertEquals(new Choice(5, PlacementRule.OTHER_SOCKET), leastLoaded.choose(T16, w, NONE, 1));
    }

    @Test
    void shouldUseLeastLoadedWorkerAnywhereWhenVcpuIsUnknown() {
        double[] loads = fill(16, 0.5);
        loads[13] = 0.05;
        WorkerLoads w = workers(T16, ALL16, loads, new int[16]);

        assertEquals(new Choice(13, PlacementRule.VCPU_UNKNOWN), leastLoaded.choose(T16, w, NONE, NONE));
        assertEquals(new Choice(13, PlacementRule.VCPU_UNKNOWN), leastLoaded.choose(T16, w, NONE, 99));
    }

    @Test
    void shouldKeepCurrentWorkerAndSayNoUsableWorkerWhenEveryWorkerCpuIsOffline() {
        CpuTopology workersOffline = T16.withOnline(new int[] {0, 4});
        WorkerLoads w = idle(workersOffline, 1, 2, 3);

        assertEquals(new Choice(3, PlacementRule.NO_USABLE_WORKER), leastLoaded.choose(workersOffline, w, 3, 0));
        assertEquals(new Choice(NONE, PlacementRule.NO_USABLE_WORKER), leastLoaded.choose(workersOffline, w, NONE, 0));
    }

    @Test
    void shouldNeverChooseAWorkerWhoseCpuIsOffline() {
        CpuTopology nineOffline = T16.withOnline(new int[] {0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 11, 12, 13, 14, 15});
        WorkerLoads w = workers(nineOffline, new int[] {1, 9}, new double[] {0.8, 0.0}, new int[] {4, 0});

        assertEquals(new Choice(1, PlacementRule.SAME_SOCKET_OTHER_CORE), leastLoaded.choose(nineOffline, w, NONE, 0));
        assertEquals(new Choice(1, PlacementRule.SAME_SOCKET_OTHER_CORE), leastLoaded.choose(nineOffline, w, 9, 0));
    }

    @Test
    void shouldPlaceOnTheOtherCoreOfASingleTwoCoreSocket() {
        CpuTopology t = CpuTopology.uniform(1, 2, 1);
        WorkerLoads both = idle(t, 0, 1);
        CpuTopology oneOffline = t.withOnline(new int[] {0});
        WorkerLoads onlyZero = idle(oneOffline, 0, 1);

        assertEquals(new Choice(1, PlacementRule.SAME_SOCKET_OTHER_CORE), leastLoaded.choose(t, both, NONE, 0));
        assertEquals(new Choice(0, PlacementRule.SAME_SOCKET_OTHER_CORE), leastLoaded.choose(t, both, NONE, 1));
        assertEquals(new Choice(0, PlacementRule.SAME_SOCKET_SAME_CORE), leastLoaded.choose(oneOffline, onlyZero, NONE, 0));
    }

    @Test
    void shouldApplyEveryFallbackOnUnevenSockets() {
        CpuTopology t = CpuTopology.ofSockets(List.of(List.of(0, 1, 2), List.of(3)));
        WorkerLoads w = workers(t, new int[] {0, 1, 2, 3}, new double[] {0.4, 0.1, 0.3, 0.9}, new int[4]);
        CpuTopology threeOffline = t.withOnline(new int[] {0, 1, 2});
        WorkerLoads w3 = workers(threeOffline, new int[] {0, 1, 2, 3}, new double[] {0.4, 0.1, 0.3, 0.0}, new int[4]);

        assertEquals(new Choice(3, PlacementRule.SAME_SOCKET_SAME_CORE), leastLoaded.choose(t, w, NONE, 3));
        assertEquals(new Choice(1, PlacementRule.OTHER_SOCKET), leastLoaded.choose(threeOffline, w3, NONE, 3));
        assertEquals(new Choice(2, PlacementRule.SAME_SOCKET_OTHER_CORE), leastLoaded.choose(t, w, NONE, 1));
    }

    // ---- hysteresis ----

    @Test
    void shouldMoveWhenCurrentWorkerIsBusierThanBestByMoreThanThreshold() {
        // 0.4 - 0.2 = 0.2 > 0.15; after moving a 0.1 share, 0.3 is still below the 0.4 of now.
        WorkerLoads w = workers(T16, new int[] {1, 2}, new double[] {0.4, 0.2}, new int[] {4, 2});

        assertEquals(new Choice(2, PlacementRule.SAME_SOCKET_OTHER_CORE), leastLoaded.choose(T16, w, 1, 0));
    }

    @Test
    void shouldStayWhenTheLoadDifferenceIsWithinThreshold() {
        WorkerLoads w = workers(T16, new int[] {1, 2}, new double[] {0.25, 0.12}, new int[] {9, 4});

        assertEquals(new Choice(1, PlacementRule.SAME_SOCKET_OTHER_CORE), leastLoaded.choose(T16, w, 1, 0));
    }

    @Test
    void shouldStayWhenTheMoveWouldOnlySwapWhichWorkerIsBusier() {
        // 0.4 over 2 queues against 0.2: moving a 0.2 share leaves 0.2 and 0.4, the same imbalance reversed.
        WorkerLoads w = workers(T16, new int[] {1, 2}, new double[] {0.4, 0.2}, new int[] {2, 1});

        assertEquals(new Choice(1, PlacementRule.SAME_SOCKET_OTHER_CORE), leastLoaded.choose(T16, w, 1, 0));
    }

    @Test
    void shouldKeepASingleBusyQueueRatherThanSwapItToAnIdleWorker() {
        WorkerLoads w = workers(T16, new int[] {1, 2}, new double[] {0.9, 0.0}, new int[] {1, 0});

        assertEquals(new Choice(1, PlacementRule.SAME_SOCKET_OTHER_CORE), leastLoaded.choose(T16, w, 1, 0));
    }

    @Test
    void shouldRankALoadMoveByHowMuchItLowersTheBusierWorker() {
        WorkerLoads w = workers(T16, new int[] {1, 2}, new double[] {0.9, 0.0}, new int[] {3, 0});

        QueuePlacement.Decision d = leastLoaded.decide(T16, w, 1, 0);

        assertEquals(new Choice(2, PlacementRule.SAME_SOCKET_OTHER_CORE), d.choice());
        assertEquals(0.3, d.gain(), 1e-12); // min(share 0.3, 0.9 - 0.0 - 0.3)
    }

    @Test
    void shouldLeaveVcpuCoreEvenForABusierWorkerOnceAnotherCoreHasOne() {
        WorkerLoads w = workers(T16, new int[] {2, 1}, new double[] {0.0, 0.7}, new int[] {1, 3});

        assertEquals(new Choice(1, PlacementRule.SAME_SOCKET_OTHER_CORE), leastLoaded.choose(T16, w, 2, 10));
    }

    @Test
    void shouldLeaveAnotherSocketOnceVcpuSocketHasAUsableWorker() {
        WorkerLoads w = workers(T16, new int[] {1, 4}, new double[] {0.6, 0.0}, new int[] {2, 1});

        assertEquals(new Choice(1, PlacementRule.SAME_SOCKET_OTHER_CORE), leastLoaded.choose(T16, w, 4, 0));
    }

    // ---- random ----

    @Test
    void shouldDrawUniformlyAmongCandidatesWithTheInjectedGenerator() {
        QueuePlacement random = new QueuePlacement(PlacementMode.SOCKET_AFFINE, BalanceMode.RANDOM, 0.15,
                new SplittableRandom(42));
        SplittableRandom same = new SplittableRandom(42);
        int[] candidates = {1, 2, 3, 9, 10, 11};
        WorkerLoads w = idle(T16, ALL16);

        for (int i = 0; i < 20; i++) {
            assertEquals(new Choice(candidates[same.nextInt(6)], PlacementRule.SAME_SOCKET_OTHER_CORE),
                    random.choose(T16, w, NONE, 0));
        }
    }

    @Test
    void shouldReachEveryCandidateAndNothingElseWhenDrawing() {
        QueuePlacement random = QueuePlacement.of(PlacementMode.SOCKET_AFFINE, BalanceMode.RANDOM, 7);
        WorkerLoads w = idle(T16, ALL16);
        TreeMap<Integer, Integer> counts = new TreeMap<>();

        for (int i = 0; i < 6000; i++) {
            counts.merge(random.choose(T16, w, NONE, 0).workerCpu(), 1, Integer::sum);
        }

        assertEquals(List.of(1, 2, 3, 9, 10, 11), List.copyOf(counts.keySet()));
        counts.values().forEach(n -> assertEquals(1000, n, 150));
    }

    @Test
    void shouldKeepAValidWorkerUnderRandomBalanceWhateverTheLoad() {
        QueuePlacement random = QueuePlacement.of(PlacementMode.SOCKET_AFFINE, BalanceMode.RANDOM, 7);
        WorkerLoads w = workers(T16, new int[] {1, 2}, new double[] {1.0, 0.0}, new int[] {8, 0});

        assertEquals(new Choice(1, PlacementRule.SAME_SOCKET_OTHER_CORE), random.choose(T16, w, 1, 0));
    }

    @Test
    void shouldFallBackToLeastLoadedUnderRandomBalanceWhenVcpuSocketHasNoWorker() {
        QueuePlacement random = QueuePlacement.of(PlacementMode.SOCKET_AFFINE, BalanceMode.RANDOM, 7);
        WorkerLoads w = workers(T16, new int[] {4, 5, 6}, new double[] {0.3, 0.1, 0.2}, new int[3]);

        for (int i = 0; i < 10; i++) {
            assertEquals(new Choice(5, PlacementRule.OTHER_SOCKET), random.choose(T16, w, NONE, 0));
        }
    }

    // ---- round-robin ----

    @Test
    void shouldSpreadNewQueuesInTurnIgnoringVcpuAndLoad() {
        QueuePlacement rr = QueuePlacement.of(PlacementMode.ROUND_ROBIN, BalanceMode.LEAST_LOADED, 1);
        WorkerLoads w = workers(T16, new int[] {0, 4, 8}, new double[] {0.9, 0.0, 0.5}, new int[3]);

        int[] got = new int[5];
        for (int i = 0; i < got.length; i++) {
            got[i] = rr.choose(T16, w, NONE, 0).workerCpu();
        }

        assertEquals(List.of(0, 4, 8, 0, 4), java.util.Arrays.stream(got).boxed().toList());
        assertEquals(new Choice(8, PlacementRule.ROUND_ROBIN), rr.choose(T16, w, NONE, 8));
    }

    @Test
    void shouldKeepUsableWorkerAndSkipOfflineOnesInRoundRobin() {
        QueuePlacement rr = QueuePlacement.of(PlacementMode.ROUND_ROBIN, BalanceMode.LEAST_LOADED, 1);
        CpuTopology fourOffline = T16.withOnline(new int[] {0, 8});
        WorkerLoads w = idle(fourOffline, 0, 4, 8);

        assertEquals(new Choice(8, PlacementRule.ROUND_ROBIN), rr.choose(fourOffline, w, 8, 0));
        assertEquals(new Choice(0, PlacementRule.ROUND_ROBIN), rr.choose(fourOffline, w, 4, 0));
        assertEquals(new Choice(8, PlacementRule.ROUND_ROBIN), rr.choose(fourOffline, w, 4, 0));
    }

    // ---- input checks ----

    @Test
    void shouldRejectAThresholdOutsideZeroToOne() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new QueuePlacement(
                PlacementMode.SOCKET_AFFINE, BalanceMode.LEAST_LOADED, 1.5, new SplittableRandom(1)));
        assertEquals("threshold must be within 0..1, got 1.5", e.getMessage());
    }

    @Test
    void shouldParseConfigNames() {
        assertEquals(PlacementMode.ROUND_ROBIN, PlacementMode.fromConfigName("round-robin"));
        assertEquals(BalanceMode.LEAST_LOADED, BalanceMode.fromConfigName("least-loaded"));
        assertEquals("socket-affine", PlacementMode.SOCKET_AFFINE.configName());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> BalanceMode.fromConfigName("fair"));
        assertEquals("'fair' is not least-loaded or random", e.getMessage());
    }
}

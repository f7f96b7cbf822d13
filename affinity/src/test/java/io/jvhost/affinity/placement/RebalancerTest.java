package io.jvhost.affinity.placement;

import io.jvhost.affinity.topology.CpuTopology;
import org.junit.jupiter.api.Test;

import java.util.List;

import static io.jvhost.affinity.placement.QueuePlacement.NONE;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** Topology: 2 sockets × 4 cores × 2 threads; the vCPU mostly runs on CPU 0 (socket 0, core {0, 8}). */
class RebalancerTest {

    private static final CpuTopology T16 = CpuTopology.uniform(2, 4, 2);
    private static final PlacementRule OTHER_CORE = PlacementRule.SAME_SOCKET_OTHER_CORE;

    private static Rebalancer rebalancer(int dwell, int budget) {
        return new Rebalancer(QueuePlacement.of(PlacementMode.SOCKET_AFFINE, BalanceMode.LEAST_LOADED, 1),
                new Rebalancer.Settings(dwell, budget, 3));
    }

    private static WorkerLoads workers(CpuTopology t, int[] cpus, double[] loads, int[] queues) {
        return WorkerLoads.of(t, cpus, loads, queues);
    }

    private static QueueState q(String id, int worker, int vcpu) {
        return new QueueState(id, worker, vcpu);
    }

    private static Move move(String id, int from, int to, Move.Cause cause, PlacementRule rule) {
        return new Move(id, from, to, cause, rule);
    }

    @Test
    void shouldPlaceNewQueuesAtOnceSpreadingThemBeforeAnyLoadIsMeasured() {
        Rebalancer r = rebalancer(10, 0);

        Rebalancer.Plan plan = r.rebalance(T16, workers(T16, new int[] {1, 2, 3}, new double[3], new int[3]),
                List.of(q("a", NONE, 0), q("b", NONE, 0), q("c", NONE, 0)));

        assertEquals(new Rebalancer.Plan(1, List.of(
                move("a", NONE, 1, Move.Cause.UNASSIGNED, OTHER_CORE),
                move("b", NONE, 2, Move.Cause.UNASSIGNED, OTHER_CORE),
                move("c", NONE, 3, Move.Cause.UNASSIGNED, OTHER_CORE)), List.of()), plan);
    }

    @Test
    void shouldNotSendTwoQueuesToTheSameIdleWorkerInOneRound() {
        Rebalancer r = rebalancer(10, 2);

        Rebalancer.Plan plan = r.rebalance(T16,
                workers(T16, new int[] {1, 2, 3}, new double[] {0.9, 0.0, 0.0}, new int[] {3, 0, 0}),
                List.of(q("a", 1, 0), q("b", 1, 0), q("c", 1, 0)));

        assertEquals(List.of(move("a", 1, 2, Move.Cause.LOAD, OTHER_CORE), move("b", 1, 3, Move.Cause.LOAD, OTHER_CORE)),
                plan.moves());
    }

    @Test
    void shouldMoveTheQueueWithTheBiggestGainFirst() {
        Rebalancer r = rebalancer(10, 1);

        // Worker 1: 0.5 over 2 queues lowers by min(0.25, 0.25); worker 2: 0.9 over 3 by min(0.3, 0.6).
        Rebalancer.Plan plan = r.rebalance(T16,
                workers(T16, new int[] {1, 2, 3}, new double[] {0.5, 0.9, 0.0}, new int[] {2, 3, 0}),
                List.of(q("a", 1, 0), q("b", 1, 0), q("c", 2, 0), q("d", 2, 0), q("e", 2, 0)));

        assertEquals(List.of(move("c", 2, 3, Move.Cause.LOAD, OTHER_CORE)), plan.moves());
    }

    @Test
    void shouldEvacuateAnOfflineWorkerAtOnceWhateverTheBudget() {
        CpuTopology oneOffline = T16.withOnline(new int[] {0, 2, 3, 9});
        Rebalancer r = rebalancer(10, 0);

        Rebalancer.Plan plan = r.rebalance(oneOffline,
                workers(oneOffline, new int[] {1, 2, 3, 9}, new double[] {0.3, 0.0, 0.0, 0.0}, new int[] {3, 0, 0, 0}),
                List.of(q("a", 1, 0), q("b", 1, 0), q("c", 1, 0)));

        assertEquals(List.of(
                move("a", 1, 2, Move.Cause.WORKER_UNUSABLE, OTHER_CORE),
                move("b", 1, 3, Move.Cause.WORKER_UNUSABLE, OTHER_CORE),
                move("c", 1, 9, Move.Cause.WORKER_UNUSABLE, OTHER_CORE)), plan.moves());
    }

    @Test
    void shouldMoveOffAnOfflineWorkerEvenWithinTheQueuesDwell() {
        Rebalancer r = rebalancer(10, 2);
        int[] cpus = {1, 4};

        Rebalancer.Plan first = r.rebalance(T16, workers(T16, cpus, new double[2], new int[] {0, 1}),
                List.of(q("a", 4, 0)));
        CpuTopology oneOffline = T16.withOnline(new int[] {0, 4});
        Rebalancer.Plan second = r.rebalance(oneOffline, workers(oneOffline, cpus, new double[2], new int[] {1, 0}),
                List.of(q("a", 1, 0)));

        assertEquals(List.of(move("a", 4, 1, Move.Cause.BETTER_PLACEMENT, OTHER_CORE)), first.moves());
        assertEquals(List.of(move("a", 1, 4, Move.Cause.WORKER_UNUSABLE, PlacementRule.OTHER_SOCKET)), second.moves());
    }

    @Test
    void shouldBringQueuesBackWhenTheirSocketsWorkerCpuComesOnlineAgain() {
        Rebalancer r = rebalancer(10, 2);
        int[] cpus = {1, 4};
        CpuTopology oneOffline = T16.withOnline(new int[] {0, 4});

        Rebalancer.Plan whileOffline = r.rebalance(oneOffline, workers(oneOffline, cpus, new double[2], new int[2]),
                List.of(q("a", NONE, 0)));
        Rebalancer.Plan backOnline = r.rebalance(T16, workers(T16, cpus, new double[2], new int[] {0, 1}),
                List.of(q("a", 4, 0)));

        assertEquals(List.of(move("a", NONE, 4, Move.Cause.UNASSIGNED, PlacementRule.OTHER_SOCKET)), whileOffline.moves());
        // A first placement starts no dwell: the queue may move in the very next period.
        assertEquals(List.of(move("a", 4, 1, Move.Cause.BETTER_PLACEMENT, OTHER_CORE)), backOnline.moves());
    }

    @Test
    void shouldMoveAQueueOffTheCoreItsVcpuMigratedTo() {
        Rebalancer r = rebalancer(10, 2);

        Rebalancer.Plan plan = r.rebalance(T16,
                workers(T16, new int[] {1, 2}, new double[] {0.5, 0.0}, new int[] {2, 1}),
                List.of(q("a", 2, 10)));

        assertEquals(List.of(move("a", 2, 1, Move.Cause.BETTER_PLACEMENT, OTHER_CORE)), plan.moves());
    }

    @Test
    void shouldSpendAtMostTheBudgetOnPlacementMovesEachPeriod() {
        Rebalancer r = rebalancer(10, 2);
        LoadTracker tracker = new LoadTracker(new int[] {1, 2, 4}, 100);
        for (int i = 0; i < 4; i++) {
            tracker.queueAssigned(4);
        }

        Rebalancer.Plan first = r.rebalance(T16, WorkerLoads.of(tracker, T16),
                List.of(q("a", 4, 0), q("b", 4, 0), q("c", 4, 0), q("d", 4, 0)));
        tracker.apply(first.moves());
        Rebalancer.Plan second = r.rebalance(T16, WorkerLoads.of(tracker, T16),
                List.of(q("a", 1, 0), q("b", 2, 0), q("c", 4, 0), q("d", 4, 0)));

        assertEquals(List.of(move("a", 4, 1, Move.Cause.BETTER_PLACEMENT, OTHER_CORE),
                move("b", 4, 2, Move.Cause.BETTER_PLACEMENT, OTHER_CORE)), first.moves());
        assertEquals(List.of(move("c", 4, 1, Move.Cause.BETTER_PLACEMENT, OTHER_CORE),
                move("d", 4, 2, Move.Cause.BETTER_PLACEMENT, OTHER_CORE)), second.moves());
    }

    @Test
    void shouldFollowTheVcpuAtOnceEvenRightAfterAMove() {
        // The minimum dwell holds back load moves only: a queue on the wrong socket (or on its vCPU's
        // core) is what placement exists to avoid.
        Rebalancer r = rebalancer(3, 2);
        int[] cpus = {1, 4};
        WorkerLoads w = workers(T16, cpus, new double[2], new int[] {1, 0});

        Rebalancer.Plan p1 = r.rebalance(T16, workers(T16, cpus, new double[2], new int[] {0, 1}), List.of(q("a", 4, 0)));
        // The vCPU now runs on socket 1 (CPU 5): worker 4 is the right one again, one period later.
        Rebalancer.Plan p2 = r.rebalance(T16, w, List.of(q("a", 1, 5)));

        assertEquals(List.of(move("a", 4, 1, Move.Cause.BETTER_PLACEMENT, OTHER_CORE)), p1.moves());
        assertEquals(List.of(move("a", 1, 4, Move.Cause.BETTER_PLACEMENT, OTHER_CORE)), p2.moves());
        assertEquals(2, p2.period());
    }

    @Test
    void shouldForgetTheDwellOfAQueueThatWentAway() {
        Rebalancer r = rebalancer(10, 2);
        int[] cpus = {1, 4};

        r.rebalance(T16, workers(T16, cpus, new double[2], new int[] {0, 1}), List.of(q("a", 4, 0)));
        r.rebalance(T16, workers(T16, cpus, new double[2], new int[] {0, 0}), List.of());
        Rebalancer.Plan back = r.rebalance(T16, workers(T16, cpus, new double[2], new int[] {1, 0}),
                List.of(q("a", 1, 5)));

        assertEquals(List.of(move("a", 1, 4, Move.Cause.BETTER_PLACEMENT, OTHER_CORE)), back.moves());
    }

    @Test
    void shouldReportQueuesStrandedWithoutAnyUsableWorker() {
        CpuTopology workersOffline = T16.withOnline(new int[] {0, 4});
        Rebalancer r = rebalancer(10, 2);

        Rebalancer.Plan plan = r.rebalance(workersOffline,
                workers(workersOffline, new int[] {1, 2}, new double[2], new int[] {1, 0}),
                List.of(q("a", 1, 0), q("b", NONE, 0)));

        assertEquals(new Rebalancer.Plan(1, List.of(), List.of("a", "b")), plan);
    }

    @Test
    void shouldNotReactTwiceToTheSameImbalanceWhileLoadsCatchUp() {
        int[] cpus = {1, 2};
        Rebalancer r = rebalancer(10, 1);

        Rebalancer.Plan p1 = r.rebalance(T16, workers(T16, cpus, new double[] {0.9, 0.0}, new int[] {3, 0}),
                List.of(q("a", 1, 0), q("b", 1, 0), q("c", 1, 0)));
        // One period later the decaying loads have moved a fifth of the way (to 0.6 and 0.3, the truth).
        double caughtUp = 1 - Math.pow(0.5, 1.0 / 3);
        WorkerLoads stale = workers(T16, cpus, new double[] {0.9 - 0.3 * caughtUp, 0.3 * caughtUp}, new int[] {2, 1});
        List<QueueState> after = List.of(q("a", 2, 0), q("b", 1, 0), q("c", 1, 0));
        Rebalancer.Plan p2 = r.rebalance(T16, stale, after);
        Rebalancer.Plan withoutMemory = rebalancer(10, 1).rebalance(T16, stale, after);

        assertEquals(List.of(move("a", 1, 2, Move.Cause.LOAD, OTHER_CORE)), p1.moves());
        assertEquals(List.of(), p2.moves());
        assertEquals(List.of(move("b", 1, 2, Move.Cause.LOAD, OTHER_CORE)), withoutMemory.moves());
    }

    @Test
    void shouldNeverMoveForLoadUnderRandomBalanceOrRoundRobin() {
        WorkerLoads w = workers(T16, new int[] {1, 2}, new double[] {1.0, 0.0}, new int[] {3, 0});
        List<QueueState> queues = List.of(q("a", 1, 0), q("b", 1, 0), q("c", 1, 0));
        Rebalancer.Settings settings = new Rebalancer.Settings(0, 8, 3);
        Rebalancer random = new Rebalancer(QueuePlacement.of(PlacementMode.SOCKET_AFFINE, BalanceMode.RANDOM, 3), settings);
        Rebalancer roundRobin = new Rebalancer(
                QueuePlacement.of(PlacementMode.ROUND_ROBIN, BalanceMode.LEAST_LOADED, 3), settings);

        assertEquals(List.of(), random.rebalance(T16, w, queues).moves());
        assertEquals(List.of(), roundRobin.rebalance(T16, w, queues).moves());
    }

    @Test
    void shouldMoveQueuesOfAnOfflineWorkerInTurnUnderRoundRobin() {
        CpuTopology twoOffline = T16.withOnline(new int[] {1, 3, 4});
        Rebalancer r = new Rebalancer(QueuePlacement.of(PlacementMode.ROUND_ROBIN, BalanceMode.LEAST_LOADED, 3),
                Rebalancer.Settings.defaults());

        Rebalancer.Plan plan = r.rebalance(twoOffline,
                workers(twoOffline, new int[] {1, 2, 3}, new double[3], new int[] {0, 3, 0}),
                List.of(q("a", 2, 0), q("b", 2, 0), q("c", 2, 0)));

        assertEquals(List.of(
                move("a", 2, 1, Move.Cause.WORKER_UNUSABLE, PlacementRule.ROUND_ROBIN),
                move("b", 2, 3, Move.Cause.WORKER_UNUSABLE, PlacementRule.ROUND_ROBIN),
                move("c", 2, 1, Move.Cause.WORKER_UNUSABLE, PlacementRule.ROUND_ROBIN)), plan.moves());
    }

    @Test
    void shouldDecideTheSamePlansForTheSameSeed() {
        Rebalancer one = new Rebalancer(QueuePlacement.of(PlacementMode.SOCKET_AFFINE, BalanceMode.RANDOM, 99),
                Rebalancer.Settings.defaults());
        Rebalancer two = new Rebalancer(QueuePlacement.of(PlacementMode.SOCKET_AFFINE, BalanceMode.RANDOM, 99),
                Rebalancer.Settings.defaults());
        int[] all = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
        WorkerLoads w = workers(T16, all, new double[16], new int[16]);
        List<QueueState> fresh = List.of(q("a", NONE, 0), q("b", NONE, 4), q("c", NONE, 9), q("d", NONE, 13));

        for (int period = 0; period < 5; period++) {
            assertEquals(one.rebalance(T16, w, fresh), two.rebalance(T16, w, fresh));
        }
    }

    @Test
    void shouldRejectADuplicateQueueId() {
        Rebalancer r = rebalancer(10, 2);
        WorkerLoads w = workers(T16, new int[] {1}, new double[1], new int[1]);

        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> r.rebalance(T16, w, List.of(q("vm0/0", 1, 0), q("vm0/0", 1, 0))));
        assertEquals("queue vm0/0 is listed twice", e.getMessage());
    }

    @Test
    void shouldRejectSettingsOutOfRange() {
        IllegalArgumentException dwell = assertThrows(IllegalArgumentException.class,
                () -> new Rebalancer.Settings(-1, 2, 3));
        IllegalArgumentException halfLife = assertThrows(IllegalArgumentException.class,
                () -> new Rebalancer.Settings(1, 2, 0));

        assertEquals("minDwellPeriods must be >= 0, got -1", dwell.getMessage());
        assertEquals("loadHalfLifePeriods must be > 0, got 0.0", halfLife.getMessage());
    }
}

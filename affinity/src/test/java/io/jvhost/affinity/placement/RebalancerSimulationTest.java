package io.jvhost.affinity.placement;

import io.jvhost.affinity.topology.CpuTopology;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Closed-loop behaviour over many periods (see {@link SimulatedHost}). Topology 2 sockets × 4 cores × 2
 * threads; all vCPUs run on CPU 0, so workers 1, 2, 3 (socket 0, other cores) are the candidates.
 */
class RebalancerSimulationTest {

    private static final CpuTopology T16 = CpuTopology.uniform(2, 4, 2);
    private static final PlacementRule OTHER_CORE = PlacementRule.SAME_SOCKET_OTHER_CORE;

    private static Rebalancer defaultRebalancer() {
        return new Rebalancer(QueuePlacement.of(PlacementMode.SOCKET_AFFINE, BalanceMode.LEAST_LOADED, 1),
                Rebalancer.Settings.defaults());
    }

    @ParameterizedTest(name = "noise seed {0}")
    @ValueSource(longs = {1, 2, 3, 4, 5, 6, 7, 8})
    void shouldNotFlapBetweenTwoEquallyLoadedWorkers(long seed) {
        SimulatedHost host = new SimulatedHost(T16, new int[] {1, 2}, defaultRebalancer(), seed, 0.05)
                .queue("a", 1, 0, 0.2).queue("b", 1, 0, 0.2).queue("c", 2, 0, 0.2).queue("d", 2, 0, 0.2);

        assertEquals(List.of(), host.run(1000));
        assertEquals(List.of(2, 2), host.queueCounts());
    }

    @ParameterizedTest(name = "noise seed {0}")
    @ValueSource(longs = {1, 2, 3, 4, 5, 6, 7, 8})
    void shouldNotFlapWhenNoMoveCanEvenOutTheLoad(long seed) {
        // 0.4 against 0.2: moving one 0.2 queue would only swap the two loads.
        SimulatedHost host = new SimulatedHost(T16, new int[] {1, 2}, defaultRebalancer(), seed, 0.05)
                .queue("a", 1, 0, 0.2).queue("b", 1, 0, 0.2).queue("c", 2, 0, 0.2);

        assertEquals(List.of(), host.run(1000));
    }

    @ParameterizedTest(name = "noise seed {0}")
    @ValueSource(longs = {1, 2, 3, 4, 5, 6, 7, 8})
    void shouldLeaveOneBusyQueueBesideAnIdleWorker(long seed) {
        SimulatedHost host = new SimulatedHost(T16, new int[] {1, 2}, defaultRebalancer(), seed, 0.05)
                .queue("a", 1, 0, 0.7);

        assertEquals(List.of(), host.run(1000));
    }

    @ParameterizedTest(name = "noise seed {0}")
    @ValueSource(longs = {1, 2, 3, 4, 5, 6, 7, 8})
    void shouldFixARealImbalanceWithTwoMovesAndThenSettle(long seed) {
        SimulatedHost host = new SimulatedHost(T16, new int[] {1, 2}, defaultRebalancer(), seed, 0.02)
                .queue("a", 1, 0, 0.2).queue("b", 1, 0, 0.2).queue("c", 1, 0, 0.2).queue("d", 1, 0, 0.2);

        List<Move> settling = host.run(100);
        List<Move> afterwards = host.run(900);

        assertEquals(List.of(new Move("a", 1, 2, Move.Cause.LOAD, OTHER_CORE),
                new Move("b", 1, 2, Move.Cause.LOAD, OTHER_CORE)), settling);
        assertEquals(List.of(), afterwards);
        assertEquals(List.of(2, 2), host.queueCounts());
    }

    @ParameterizedTest(name = "noise seed {0}")
    @ValueSource(longs = {1, 2, 3, 4, 5, 6, 7, 8})
    void shouldSpreadAcrossThreeWorkersWithoutMovingAnyQueueTwiceWithinItsDwell(long seed) {
        SimulatedHost host = new SimulatedHost(T16, new int[] {1, 2, 3}, defaultRebalancer(), seed, 0.05);
        for (int i = 0; i < 9; i++) {
            host.queue("q" + i, 1, 0, 0.1);
        }

        host.run(300);
        List<Move> afterwards = host.run(700);

        assertEquals(List.of(3, 3, 3), host.queueCounts());
        assertEquals(List.of(), afterwards);
        assertTrue(host.shortestVoluntaryRepeat() >= Rebalancer.Settings.defaults().minDwellPeriods());
    }

    @ParameterizedTest(name = "noise seed {0}")
    @ValueSource(longs = {1, 2, 3, 4, 5, 6, 7, 8})
    void shouldEvacuateAWorkerWhoseCpuGoesOfflineAndRefillItWhenItReturns(long seed) {
        SimulatedHost host = new SimulatedHost(T16, new int[] {1, 2, 3}, defaultRebalancer(), seed, 0.02)
                .queue("a", 1, 0, 0.2).queue("b", 1, 0, 0.2).queue("c", 2, 0, 0.2)
                .queue("d", 2, 0, 0.2).queue("e", 3, 0, 0.2).queue("f", 3, 0, 0.2);
        assertEquals(List.of(), host.run(50));

        host.online(0, 1, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
        List<Move> offline = host.run(1);
        List<Move> whileOffline = host.run(99);

        // Workers 1 and 3 carry the same load: noise decides which gets "c", but they get one each.
        assertEquals(List.of("c", "d"), offline.stream().map(Move::queueId).toList());
        assertEquals(List.of(1, 3), offline.stream().map(Move::toCpu).sorted().toList());
        offline.forEach(m -> assertEquals(Move.Cause.WORKER_UNUSABLE, m.cause()));
        assertEquals(List.of(), whileOffline);
        assertEquals(List.of(3, 0, 3), host.queueCounts());

        host.online(T16.online());
        List<Move> back = host.run(100);
        List<Move> afterwards = host.run(500);

        assertEquals(2, back.size());
        back.forEach(m -> assertEquals(2, m.toCpu()));
        back.forEach(m -> assertEquals(Move.Cause.LOAD, m.cause()));
        assertEquals(List.of(), afterwards);
        assertEquals(List.of(2, 2, 2), host.queueCounts());
    }
}

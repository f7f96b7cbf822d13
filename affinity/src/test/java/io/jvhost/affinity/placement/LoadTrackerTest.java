package io.jvhost.affinity.placement;

import io.jvhost.affinity.topology.CpuTopology;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class LoadTrackerTest {

    @Test
    void shouldOnlySetTheBaselineOnFirstSample() {
        LoadTracker t = new LoadTracker(new int[] {1}, 100);

        t.sample(1, 5_000, 10_000);

        assertEquals(0.0, t.load(1));
    }

    @Test
    void shouldAverageBusyRatioWithHalfLifeWeight() {
        LoadTracker t = new LoadTracker(new int[] {1}, 100);
        t.sample(1, 0, 0);

        t.sample(1, 50, 100);   // ratio 0.5 over one half-life: 0 * 0.5 + 0.5 * 0.5
        assertEquals(0.25, t.load(1));
        t.sample(1, 150, 200);  // ratio 1.0: 0.25 * 0.5 + 1.0 * 0.5
        assertEquals(0.625, t.load(1));
        t.sample(1, 150, 400);  // idle for two half-lives: 0.625 * 0.25
        assertEquals(0.15625, t.load(1));
    }

    @Test
    void shouldConvergeToASteadyBusyRatio() {
        LoadTracker t = LoadTracker.forRebalanceInterval(new int[] {3}, 100_000_000);
        long busy = 0;
        for (long now = 0; now <= 5_000_000_000L; now += 100_000_000) {
            t.sample(3, busy, now);
            busy += 30_000_000;
        }

        // 50 periods of 0.3 after the baseline, half-life 3 periods: 0.3 * (1 - 0.5^(50/3)).
        assertEquals(0.3 * (1 - Math.pow(0.5, 50.0 / 3)), t.load(3), 1e-12);
        assertEquals(300_000_000, t.halfLifeNanos());
    }

    @Test
    void shouldClampRatioAndIgnoreSamplesThatDoNotAdvanceTime() {
        LoadTracker t = new LoadTracker(new int[] {1}, 100);
        t.sample(1, 0, 0);

        t.sample(1, 500, 100);  // more busy than wall time: counts as 1.0
        assertEquals(0.5, t.load(1));
        t.sample(1, 900, 100);  // same timestamp: ignored
        t.sample(1, 900, 50);   // going back: ignored
        assertEquals(0.5, t.load(1));
        t.sample(1, 400, 200);  // busy counter went back: counts as 0
        assertEquals(0.25, t.load(1));
    }

    @Test
    void shouldCountQueuesAssignedReleasedAndMoved() {
        LoadTracker t = new LoadTracker(new int[] {2, 1}, 100);

        t.queueAssigned(1);
        t.queueAssigned(1);
        t.queueMoved(1, 2);
        t.queueMoved(QueuePlacement.NONE, 2);
        t.apply(List.of(new Move("q", 2, 1, Move.Cause.LOAD, PlacementRule.SAME_SOCKET_OTHER_CORE)));
        t.queueReleased(2);

        assertEquals(2, t.queues(1));
        assertEquals(0, t.queues(2));
        assertArrayEquals(new int[] {1, 2}, t.workerCpus());
    }

    @Test
    void shouldRefuseToReleaseAQueueTheWorkerDoesNotHave() {
        LoadTracker t = new LoadTracker(new int[] {1}, 100);

        IllegalStateException e = assertThrows(IllegalStateException.class, () -> t.queueReleased(1));
        assertEquals("worker on CPU 1 has no queue to release", e.getMessage());
    }

    @Test
    void shouldRejectCpusWithoutWorker() {
        LoadTracker t = new LoadTracker(new int[] {1, 3}, 100);

        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> t.load(2));
        assertEquals("CPU 2 has no worker", e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> t.sample(7, 0, 0));
        assertThrows(IllegalArgumentException.class, () -> new LoadTracker(new int[] {1, 1}, 100));
        assertThrows(IllegalArgumentException.class, () -> new LoadTracker(new int[] {1}, 0));
    }

    @Test
    void shouldFeedAWorkerViewWithUsableWorkersOnlyOnline() {
        LoadTracker t = new LoadTracker(new int[] {0, 1, 2}, 100);
        t.sample(1, 0, 0);
        t.sample(1, 100, 100);
        t.queueAssigned(1);
        CpuTopology topology = CpuTopology.uniform(1, 3, 1).withOnline(new int[] {0, 1});

        WorkerLoads view = WorkerLoads.of(t, topology);

        assertArrayEquals(new int[] {0, 1, 2}, view.workerCpus());
        assertArrayEquals(new int[] {0, 1}, view.usableCpus());
        assertEquals(0.5, view.load(1));
        assertEquals(1, view.queues(1));
        assertEquals(0.0, view.load(7));
    }
}

package io.jvhost.affinity.placement;

import io.jvhost.affinity.topology.CpuTopology;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class WorkerLoadsTest {

    private static final CpuTopology T4 = CpuTopology.uniform(1, 4, 1).withOnline(new int[] {0, 1, 3});

    @Test
    void shouldSortWorkersAndMarkOfflineOnesUnusable() {
        WorkerLoads w = WorkerLoads.of(T4, new int[] {3, 2, 1}, new double[] {0.3, 0.2, 0.1}, new int[] {3, 2, 1});

        assertArrayEquals(new int[] {1, 2, 3}, w.workerCpus());
        assertArrayEquals(new int[] {1, 3}, w.usableCpus());
        assertTrue(w.isWorker(2));
        assertFalse(w.isUsable(2));
        assertFalse(w.isUsable(0));
        assertEquals(0.2, w.load(2));
        assertEquals(3, w.queues(3));
    }

    @Test
    void shouldEstimateQueueShareAsEvenSplitOrPoolMean() {
        WorkerLoads w = WorkerLoads.of(T4, new int[] {1, 3}, new double[] {0.6, 0.2}, new int[] {3, 1});

        assertEquals(0.2, w.queueShare(1), 1e-12);
        assertEquals(0.2, w.queueShare(QueuePlacement.NONE), 1e-12); // (0.6 + 0.2) / 4
    }

    @Test
    void shouldMoveLoadAndCountOnACopyOnly() {
        WorkerLoads w = WorkerLoads.of(T4, new int[] {1, 3}, new double[] {0.6, 0.0}, new int[] {3, 0});

        WorkerLoads copy = w.copy();
        copy.move(1, 3, 0.2);

        assertEquals(0.4, copy.load(1), 1e-12);
        assertEquals(0.2, copy.load(3), 1e-12);
        assertEquals(2, copy.queues(1));
        assertEquals(1, copy.queues(3));
        assertEquals(0.6, w.load(1));
        assertEquals(3, w.queues(1));
    }

    @Test
    void shouldRejectMismatchedArraysAndDuplicateCpus() {
        IllegalArgumentException lengths = assertThrows(IllegalArgumentException.class,
                () -> WorkerLoads.of(T4, new int[] {1, 3}, new double[] {0.1}, new int[] {0, 0}));
        IllegalArgumentException twice = assertThrows(IllegalArgumentException.class,
                () -> WorkerLoads.of(T4, new int[] {1, 1}, new double[2], new int[2]));

        assertEquals("need one load and one queue count per worker CPU", lengths.getMessage());
        assertEquals("worker CPU 1 is negative or listed twice", twice.getMessage());
    }
}

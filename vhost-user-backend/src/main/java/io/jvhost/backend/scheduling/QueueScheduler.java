package io.jvhost.backend.scheduling;

import io.jvhost.backend.datapath.DataWorker;
/**
 * Chooses the worker that serves each virtqueue. Control threads call {@link #assign} and
 * {@link #release} when a queue starts or stops; the housekeeping thread calls {@link #rebalance}.
 * Implementations serialise these themselves (control path only: workers never call them).
 */
public interface QueueScheduler {

    /** A worker for {@code queue}, which starts now; the scheduler tracks it until released. */
    DataWorker assign(ServedQueue queue);

    /** {@code queue} stopped; it was served by {@code worker}. */
    void release(ServedQueue queue, DataWorker worker);

    /** One rebalance period: re-evaluate placements and move queues. Housekeeping thread. */
    default void rebalance() {
    }

    /** Rebalance periods run so far, or -1 for a scheduler that never moves a queue. */
    default long rebalancePeriods() {
        return -1;
    }
}

package io.jvhost.backend.scheduling;

import io.jvhost.backend.datapath.DataWorker;
/**
 * The simplest fair placement: the worker serving the fewest virtqueues, lowest CPU first on ties.
 * Used where no topology-aware placement applies (tests, a single worker).
 */
public final class LeastQueuesScheduler implements QueueScheduler {

    private final DataWorker[] workers;

    public LeastQueuesScheduler(DataWorker[] workers) {
        if (workers.length == 0) {
            throw new IllegalArgumentException("no workers");
        }
        this.workers = workers.clone();
    }

    @Override
    public synchronized DataWorker assign(ServedQueue queue) {
        DataWorker best = workers[0];
        for (DataWorker w : workers) {
            if (w.queueCount() < best.queueCount()) {
                best = w;
            }
        }
        best.queueAssigned();
        return best;
    }

    @Override
    public synchronized void release(ServedQueue queue, DataWorker worker) {
        worker.queueReleased();
    }
}

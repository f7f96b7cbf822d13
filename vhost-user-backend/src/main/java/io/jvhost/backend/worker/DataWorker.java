package io.jvhost.backend.worker;

import io.jvhost.affinity.pool.Worker;
import io.jvhost.backend.switching.DeliveryContext;

/**
 * A worker thread as the data path uses it: the thread itself plus the per-thread forwarding scratch
 * and the number of virtqueues it serves (for placement).
 */
public final class DataWorker {

    private final Worker worker;
    private final DeliveryContext context = new DeliveryContext();
    private volatile int queueCount;
    private volatile long migrationsIn;

    public DataWorker(Worker worker) {
        this.worker = worker;
    }

    public Worker worker() {
        return worker;
    }

    /** Forwarding scratch; only the worker thread may use it. */
    public DeliveryContext context() {
        return context;
    }

    public int cpu() {
        return worker.cpu();
    }

    public int queueCount() {
        return queueCount;
    }

    synchronized void queueAssigned() {
        queueCount++;
    }

    synchronized void queueReleased() {
        queueCount--;
    }

    /** Virtqueues moved onto this worker by rebalancing. */
    public long migrationsIn() {
        return migrationsIn;
    }

    synchronized void queueMovedIn() {
        queueCount++;
        migrationsIn++;
    }

    @Override
    public String toString() {
        return worker.name();
    }
}

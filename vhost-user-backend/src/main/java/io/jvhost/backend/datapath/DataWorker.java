package io.jvhost.backend.datapath;

import io.jvhost.affinity.pool.Worker;

/**
 * A worker thread as the data path uses it: the thread itself plus the per-thread forwarding scratch
 * and the number of virtqueues it serves (for placement).
 */
public final class DataWorker {

    private final Worker worker;
    private final DeliveryContext context = new DeliveryContext();
    private final long busyPollNanos;
    private final long backpressureNanos;
    private volatile int queueCount;
    private volatile long migrationsIn;

    /** A worker that re-enables kicks as soon as a ring runs dry (no busy polling). */
    public DataWorker(Worker worker) {
        this(worker, 0);
    }

    /**
     * @param busyPollNanos how long a queue keeps polling its dry ring, after its last frame, before it
     *                      asks for kicks again ({@code workers.busy-poll-us})
     */
    public DataWorker(Worker worker, long busyPollNanos) {
        this(worker, busyPollNanos, 0);
    }

    /**
     * @param backpressureNanos how long a transmit queue may wait, its frame uncompleted, for a receiver
     *                          without buffers before it drops for it ({@code workers.backpressure-timeout-us};
     *                          0: drop at once)
     */
    public DataWorker(Worker worker, long busyPollNanos, long backpressureNanos) {
        if (busyPollNanos < 0) {
            throw new IllegalArgumentException("busyPollNanos < 0: " + busyPollNanos);
        }
        if (backpressureNanos < 0) {
            throw new IllegalArgumentException("backpressureNanos < 0: " + backpressureNanos);
        }
        this.worker = worker;
        this.busyPollNanos = busyPollNanos;
        this.backpressureNanos = backpressureNanos;
    }

    public Worker worker() {
        return worker;
    }

    /** Forwarding scratch; only the worker thread may use it. */
    public DeliveryContext context() {
        return context;
    }

    /** Busy-poll window of this worker's queues, in nanoseconds (0: none). */
    public long busyPollNanos() {
        return busyPollNanos;
    }

    /** Longest wait of a frame for a full receiver, in nanoseconds (0: none). */
    public long backpressureNanos() {
        return backpressureNanos;
    }

    public int cpu() {
        return worker.cpu();
    }

    public int queueCount() {
        return queueCount;
    }

    public synchronized void queueAssigned() {
        queueCount++;
    }

    public synchronized void queueReleased() {
        queueCount--;
    }

    /** Virtqueues moved onto this worker by rebalancing. */
    public long migrationsIn() {
        return migrationsIn;
    }

    public synchronized void queueMovedIn() {
        queueCount++;
        migrationsIn++;
    }

    @Override
    public String toString() {
        return worker.name();
    }
}

package io.jvhost.backend.worker;

/**
 * Chooses the worker that serves a virtqueue. Control threads call it when a queue starts or stops.
 */
public interface QueueScheduler {

    /** A worker for virtqueue {@code index} of port {@code port}; counts the queue on it. */
    DataWorker assign(String port, int index);

    /** The queue no longer runs on {@code worker}. */
    void release(DataWorker worker);
}

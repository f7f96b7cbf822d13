package io.jvhost.backend.worker;

import java.util.Map;

/**
 * The classic vhost model, kept as a baseline: one unpinned thread per device serving all of its
 * virtqueues, RX and TX alike.
 */
public final class PerDeviceScheduler implements QueueScheduler {

    private final Map<String, DataWorker> workerOfPort;

    public PerDeviceScheduler(Map<String, DataWorker> workerOfPort) {
        this.workerOfPort = Map.copyOf(workerOfPort);
    }

    @Override
    public DataWorker assign(String port, int index) {
        DataWorker w = workerOfPort.get(port);
        if (w == null) {
            throw new IllegalArgumentException("no device thread for port " + port);
        }
        w.queueAssigned();
        return w;
    }

    @Override
    public void release(DataWorker worker) {
        worker.queueReleased();
    }
}

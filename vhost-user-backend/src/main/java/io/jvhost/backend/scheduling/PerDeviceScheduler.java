package io.jvhost.backend.scheduling;

import io.jvhost.backend.datapath.DataWorker;
import java.util.Map;

/**
 * The classic vhost model, kept as a baseline: one unpinned thread per device serving all of its
 * virtqueues, RX and TX alike. Nothing moves.
 */
public final class PerDeviceScheduler implements QueueScheduler {

    private final Map<String, DataWorker> workerOfPort;

    public PerDeviceScheduler(Map<String, DataWorker> workerOfPort) {
        this.workerOfPort = Map.copyOf(workerOfPort);
    }

    @Override
    public DataWorker assign(ServedQueue queue) {
        DataWorker w = workerOfPort.get(queue.port());
        if (w == null) {
            throw new IllegalArgumentException("no device thread for port " + queue.port());
        }
        w.queueAssigned();
        return w;
    }

    @Override
    public void release(ServedQueue queue, DataWorker worker) {
        worker.queueReleased();
    }
}

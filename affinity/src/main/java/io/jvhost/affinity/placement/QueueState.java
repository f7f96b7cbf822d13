package io.jvhost.affinity.placement;

import java.util.Objects;

/**
 * One virtqueue as the {@link Rebalancer} sees it.
 *
 * @param id        opaque stable key, e.g. {@code vm0/1} (port/index); it keys the minimum dwell
 * @param workerCpu CPU of the worker serving it, or {@link QueuePlacement#NONE} when not yet placed
 * @param vcpuCpu   CPU the vCPU that kicks it last ran on, or {@link QueuePlacement#NONE} when unknown
 */
public record QueueState(String id, int workerCpu, int vcpuCpu) {

    public QueueState {
        Objects.requireNonNull(id, "id");
    }
}

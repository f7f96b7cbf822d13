package io.jvhost.affinity.placement;

/**
 * A queue the {@link Rebalancer} wants on another worker.
 *
 * @param queueId the {@link QueueState#id()}
 * @param fromCpu its worker now, or {@link QueuePlacement#NONE} for a first placement
 * @param toCpu   its new worker
 * @param cause   why it moves
 * @param rule    the placement rule that chose {@code toCpu}
 */
public record Move(String queueId, int fromCpu, int toCpu, Cause cause, PlacementRule rule) {

    /** Why a queue moves, in the order the rebalancer handles them. */
    public enum Cause {
        /** It had no worker (a first placement; starts no dwell, not a migration). */
        UNASSIGNED,
        /** Its worker's CPU is offline (or not in the pool): moved at once, regardless of dwell and budget. */
        WORKER_UNUSABLE,
        /** Its worker is no longer an allowed candidate (the vCPU moved socket or onto the worker's core). */
        BETTER_PLACEMENT,
        /** Its worker is busier than the best candidate by more than the threshold. */
        LOAD
    }
}

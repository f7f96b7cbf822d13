package io.jvhost.affinity.placement;

/**
 * Where a queue should be served, and why.
 *
 * @param workerCpu the worker's CPU; {@link QueuePlacement#NONE} only with {@link PlacementRule#NO_USABLE_WORKER}
 *                  for a queue that had no worker
 * @param rule      the rule that produced it
 */
public record Choice(int workerCpu, PlacementRule rule) {
}

/**
 * Which worker serves which virtqueue: pure, deterministic decisions, no threads, no I/O.
 *
 * <p>{@link io.jvhost.affinity.placement.QueuePlacement} chooses a worker for one queue (rules and
 * fallbacks there); {@link io.jvhost.affinity.placement.LoadTracker} keeps each worker's decaying busy
 * ratio and queue count; {@link io.jvhost.affinity.placement.Rebalancer} decides each period's moves.
 *
 * <p>Thread rule: all of them, with {@link io.jvhost.affinity.topology.CpuHotplugMonitor}, belong to the
 * housekeeping thread. A queue starting on another thread asks that thread (a task), or all callers
 * share one lock.
 *
 * <p>The daemon, each {@code workers.rebalance-interval-ms}:
 * <pre>{@code
 * Change change = hotplug.poll();
 * if (!change.isEmpty()) {
 *     topology = topology.withOnline(change.onlineArray());
 *     for (int cpu : change.cameOnline()) { Worker w = pool.forCpu(cpu); if (w != null) w.repin(); }
 * }
 * long now = System.nanoTime();
 * for (Worker w : pool.workers()) tracker.sample(w.cpu(), w.busyNanos(), now);
 * Plan plan = rebalancer.rebalance(topology, WorkerLoads.of(tracker, topology), queueStates());
 * for (Move m : plan.moves()) migrate(m.queueId(), m.toCpu());   // count migrations, log m.cause()
 * tracker.apply(movesCarriedOut);
 * plan.stranded();                                              // warn: no online worker CPU
 * }</pre>
 * A new queue gets {@code placement.choose(topology, WorkerLoads.of(tracker, topology), NONE, vcpuCpu)}
 * and {@code tracker.queueAssigned(cpu)}; a stopped one {@code tracker.queueReleased(cpu)}.
 */
package io.jvhost.affinity.placement;

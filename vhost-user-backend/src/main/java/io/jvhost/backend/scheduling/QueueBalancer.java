package io.jvhost.backend.scheduling;

import io.jvhost.backend.datapath.DataWorker;
import io.jvhost.affinity.placement.Choice;
import io.jvhost.affinity.placement.LoadTracker;
import io.jvhost.affinity.placement.Move;
import io.jvhost.affinity.placement.QueuePlacement;
import io.jvhost.affinity.placement.QueueState;
import io.jvhost.affinity.placement.Rebalancer;
import io.jvhost.affinity.placement.WorkerLoads;
import io.jvhost.affinity.topology.CpuHotplugMonitor;
import io.jvhost.affinity.topology.CpuTopology;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The per-CPU design's scheduler: each virtqueue goes to a pinned worker on the socket of the vCPU
 * that kicks it, not on that vCPU's core, chosen by load or at random ({@link QueuePlacement}), and is
 * re-evaluated every rebalance period ({@link Rebalancer}: hysteresis, minimum dwell, a move budget).
 * CPU hotplug: a worker whose CPU went offline is unusable, so its queues move at once; when the CPU
 * returns, the worker is re-pinned and rejoins placement.
 *
 * <p>Threads: one lock guards all placement state; control threads take it to place or release a queue,
 * the housekeeping thread to rebalance. Workers never take it.
 */
public final class QueueBalancer implements QueueScheduler {

    private static final System.Logger LOG = System.getLogger(QueueBalancer.class.getName());

    private final Map<Integer, DataWorker> workerOfCpu = new LinkedHashMap<>();
    private final QueuePlacement placement;
    private final Rebalancer rebalancer;
    private final LoadTracker loads;
    private final CpuHotplugMonitor hotplug;
    private final Map<String, ServedQueue> queues = new LinkedHashMap<>();
    private CpuTopology topology;
    private long rebalancePeriods;

    /**
     * @param hotplug watches CPUs going offline and online, or null for a fixed topology
     */
    public QueueBalancer(CpuTopology topology, DataWorker[] workers, QueuePlacement placement,
                         Rebalancer.Settings settings, long rebalanceIntervalNanos, CpuHotplugMonitor hotplug) {
        this.topology = topology;
        int[] cpus = new int[workers.length];
        for (int i = 0; i < workers.length; i++) {
            workerOfCpu.put(workers[i].cpu(), workers[i]);
            cpus[i] = workers[i].cpu();
        }
        this.placement = placement;
        this.rebalancer = new Rebalancer(placement, settings);
        this.loads = LoadTracker.forRebalanceInterval(cpus, rebalanceIntervalNanos);
        this.hotplug = hotplug;
    }

    @Override
    public synchronized DataWorker assign(ServedQueue queue) {
        Choice choice = placement.choose(topology, WorkerLoads.of(loads, topology), QueuePlacement.NONE, queue.vcpuCpu());
        DataWorker worker = workerOfCpu.get(choice.workerCpu());
        if (worker == null) {
            // No usable worker at all (every pool CPU offline): serve it anyway; the kernel runs the
            // unpinned thread elsewhere, and the next period moves it when a CPU returns.
            worker = workerOfCpu.values().iterator().next();
        }
        loads.queueAssigned(worker.cpu());
        worker.queueAssigned();
        queues.put(queue.id(), queue);
        return worker;
    }

    @Override
    public synchronized void release(ServedQueue queue, DataWorker worker) {
        if (queues.remove(queue.id()) != null) {
            loads.queueReleased(worker.cpu());
            worker.queueReleased();
        }
    }

    @Override
    public void rebalance() {
        synchronized (this) {
            pollHotplug();
            long now = System.nanoTime();
            for (DataWorker w : workerOfCpu.values()) {
                loads.sample(w.cpu(), w.worker().busyNanos(), now);
            }
            List<QueueState> states = new ArrayList<>(queues.size());
            for (ServedQueue q : queues.values()) {
                DataWorker owner = q.owner();
                states.add(new QueueState(q.id(), owner == null ? QueuePlacement.NONE : owner.cpu(), q.vcpuCpu()));
            }
            Rebalancer.Plan plan = rebalancer.rebalance(topology, WorkerLoads.of(loads, topology), states);
            List<Move> done = new ArrayList<>();
            for (Move m : plan.moves()) {
                ServedQueue q = queues.get(m.queueId());
                DataWorker from = q.owner();
                DataWorker to = workerOfCpu.get(m.toCpu());
                if (from == null || to == null || from == to) {
                    continue;
                }
                q.moveTo(to);
                from.queueReleased();
                to.queueMovedIn();
                done.add(m);
                LOG.log(System.Logger.Level.DEBUG, () -> "queue " + m.queueId() + ": cpu" + m.fromCpu() + " -> cpu"
                        + m.toCpu() + " (" + m.cause() + ", " + m.rule() + ")");
            }
            loads.apply(done);
            if (!plan.stranded().isEmpty()) {
                LOG.log(System.Logger.Level.WARNING, "no online worker CPU for queues " + plan.stranded());
            }
            rebalancePeriods++;
        }
    }

    private void pollHotplug() {
        if (hotplug == null) {
            return;
        }
        CpuHotplugMonitor.Change change = hotplug.poll();
        if (change.isEmpty()) {
            return;
        }
        topology = topology.withOnline(change.onlineArray());
        LOG.log(System.Logger.Level.INFO, "CPU hotplug: offline " + change.wentOffline() + ", online " + change.cameOnline());
        for (int cpu : change.cameOnline()) {
            DataWorker w = workerOfCpu.get(cpu);
            if (w != null) {
                w.worker().repin();
            }
        }
    }

    @Override
    public synchronized long rebalancePeriods() {
        return rebalancePeriods;
    }

    public synchronized CpuTopology topology() {
        return topology;
    }
}

package io.jvhost.affinity.placement;

import io.jvhost.affinity.topology.CpuTopology;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * The daemon's rebalance loop in miniature, deterministic: queues with fixed true busy ratios, each
 * worker's busy time advanced by the sum of its queues' ratios plus seeded noise, a {@link LoadTracker}
 * sampled every period, and every move of the {@link Rebalancer}'s plan carried out at once.
 */
final class SimulatedHost {

    static final long PERIOD_NANOS = 100_000_000;

    private final int[] workerCpus;
    private final LoadTracker tracker;
    private final Rebalancer rebalancer;
    private final SplittableRandom noise;
    private final double noiseAmplitude;
    private final long[] busyNanos;
    private final Map<String, int[]> queues = new LinkedHashMap<>(); // id -> {worker cpu, vcpu cpu}
    private final Map<String, Double> queueLoad = new LinkedHashMap<>();
    private final List<Move> moves = new ArrayList<>();
    private final List<Long> movePeriods = new ArrayList<>();
    private CpuTopology topology;
    private long now;

    SimulatedHost(CpuTopology topology, int[] workerCpus, Rebalancer rebalancer, long noiseSeed, double noiseAmplitude) {
        this.topology = topology;
        this.workerCpus = workerCpus.clone();
        this.tracker = LoadTracker.forRebalanceInterval(workerCpus, PERIOD_NANOS);
        this.rebalancer = rebalancer;
        this.noise = new SplittableRandom(noiseSeed);
        this.noiseAmplitude = noiseAmplitude;
        this.busyNanos = new long[workerCpus.length];
        for (int cpu : workerCpus) {
            tracker.sample(cpu, 0, 0);
        }
    }

    SimulatedHost queue(String id, int workerCpu, int vcpuCpu, double load) {
        queues.put(id, new int[] {workerCpu, vcpuCpu});
        queueLoad.put(id, load);
        tracker.queueAssigned(workerCpu);
        return this;
    }

    void online(int... cpus) {
        topology = topology.withOnline(cpus);
    }

    /** Runs {@code periods} periods; returns the moves made in them. */
    List<Move> run(int periods) {
        int before = moves.size();
        for (int i = 0; i < periods; i++) {
            period();
        }
        return List.copyOf(moves.subList(before, moves.size()));
    }

    private void period() {
        now += PERIOD_NANOS;
        for (int w = 0; w < workerCpus.length; w++) {
            double ratio = noiseAmplitude * (2 * noise.nextDouble() - 1);
            for (Map.Entry<String, int[]> q : queues.entrySet()) {
                if (q.getValue()[0] == workerCpus[w]) {
                    ratio += queueLoad.get(q.getKey());
                }
            }
            busyNanos[w] += (long) (Math.clamp(ratio, 0.0, 1.0) * PERIOD_NANOS);
            tracker.sample(workerCpus[w], busyNanos[w], now);
        }
        List<QueueState> states = new ArrayList<>();
        queues.forEach((id, q) -> states.add(new QueueState(id, q[0], q[1])));
        Rebalancer.Plan plan = rebalancer.rebalance(topology, WorkerLoads.of(tracker, topology), states);
        for (Move m : plan.moves()) {
            queues.get(m.queueId())[0] = m.toCpu();
            moves.add(m);
            movePeriods.add(plan.period());
        }
        tracker.apply(plan.moves());
    }

    /** Queues per worker, in {@code workerCpus} order. */
    List<Integer> queueCounts() {
        List<Integer> counts = new ArrayList<>();
        for (int cpu : workerCpus) {
            int n = 0;
            for (int[] q : queues.values()) {
                n += q[0] == cpu ? 1 : 0;
            }
            counts.add(n);
        }
        return counts;
    }

    /** The smallest number of periods between two voluntary moves of one queue; MAX_VALUE if none. */
    long shortestVoluntaryRepeat() {
        long shortest = Long.MAX_VALUE;
        Map<String, Long> last = new LinkedHashMap<>();
        for (int i = 0; i < moves.size(); i++) {
            Move m = moves.get(i);
            Long previous = last.put(m.queueId(), movePeriods.get(i));
            boolean voluntary = m.cause() == Move.Cause.LOAD || m.cause() == Move.Cause.BETTER_PLACEMENT;
            if (previous != null && voluntary) {
                shortest = Math.min(shortest, movePeriods.get(i) - previous);
            }
        }
        return shortest;
    }
}

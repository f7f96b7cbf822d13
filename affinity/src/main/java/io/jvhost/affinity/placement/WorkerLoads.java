package io.jvhost.affinity.placement;

import io.jvhost.affinity.topology.CpuTopology;

import java.util.Arrays;

/**
 * One decision round's view of the pool: which workers are usable (their CPU is online), their load and
 * queue count. {@link QueuePlacement} reads it; the {@link Rebalancer} works on a copy that it updates
 * with the expected effect of each move it decides.
 *
 * <p>Not thread-safe; build it on the thread that uses it.
 */
public final class WorkerLoads {

    private final int[] workerCpus;
    private final int[] usableCpus;
    private final int[] indexOfCpu;
    private final boolean[] usable;
    private final double[] load;
    private final int[] queues;

    private WorkerLoads(int[] workerCpus, int[] usableCpus, int[] indexOfCpu, boolean[] usable, double[] load,
                        int[] queues) {
        this.workerCpus = workerCpus;
        this.usableCpus = usableCpus;
        this.indexOfCpu = indexOfCpu;
        this.usable = usable;
        this.load = load;
        this.queues = queues;
    }

    /** The tracker's loads and counts; usable = the tracker's workers whose CPU is online in {@code topology}. */
    public static WorkerLoads of(LoadTracker tracker, CpuTopology topology) {
        int[] cpus = tracker.workerCpus();
        double[] loads = new double[cpus.length];
        int[] counts = new int[cpus.length];
        for (int i = 0; i < cpus.length; i++) {
            loads[i] = tracker.load(cpus[i]);
            counts[i] = tracker.queues(cpus[i]);
        }
        return of(topology, cpus, loads, counts);
    }

    /**
     * Explicit values (tests, or a daemon with its own accounting); the arrays are parallel.
     *
     * @throws IllegalArgumentException for arrays of different lengths or a CPU listed twice
     */
    public static WorkerLoads of(CpuTopology topology, int[] workerCpus, double[] loads, int[] queueCounts) {
        if (loads.length != workerCpus.length || queueCounts.length != workerCpus.length) {
            throw new IllegalArgumentException("need one load and one queue count per worker CPU");
        }
        Integer[] order = new Integer[workerCpus.length];
        Arrays.setAll(order, i -> i);
        Arrays.sort(order, (a, b) -> Integer.compare(workerCpus[a], workerCpus[b]));
        int n = workerCpus.length;
        int[] cpus = new int[n];
        double[] l = new double[n];
        int[] q = new int[n];
        boolean[] u = new boolean[n];
        int max = -1;
        for (int i = 0; i < n; i++) {
            cpus[i] = workerCpus[order[i]];
            l[i] = loads[order[i]];
            q[i] = queueCounts[order[i]];
            u[i] = topology.isOnline(cpus[i]);
            if (cpus[i] < 0 || cpus[i] == max) {
                throw new IllegalArgumentException("worker CPU " + cpus[i] + " is negative or listed twice");
            }
            max = cpus[i];
        }
        int[] index = new int[max + 1];
        Arrays.fill(index, -1);
        int usableCount = 0;
        for (int i = 0; i < n; i++) {
            index[cpus[i]] = i;
            usableCount += u[i] ? 1 : 0;
        }
        int[] usableCpus = new int[usableCount];
        for (int i = 0, k = 0; i < n; i++) {
            if (u[i]) {
                usableCpus[k++] = cpus[i];
            }
        }
        return new WorkerLoads(cpus, usableCpus, index, u, l, q);
    }

    /** All pool CPUs, ascending. */
    public int[] workerCpus() {
        return workerCpus.clone();
    }

    /** Pool CPUs that are online, ascending. */
    public int[] usableCpus() {
        return usableCpus.clone();
    }

    public boolean isWorker(int cpu) {
        return index(cpu) >= 0;
    }

    /** Whether {@code cpu} has a worker and is online. */
    public boolean isUsable(int cpu) {
        int i = index(cpu);
        return i >= 0 && usable[i];
    }

    /** The worker's busy ratio; 0 for a CPU without a worker. */
    public double load(int cpu) {
        int i = index(cpu);
        return i < 0 ? 0 : load[i];
    }

    /** The worker's queue count; 0 for a CPU without a worker. */
    public int queues(int cpu) {
        int i = index(cpu);
        return i < 0 ? 0 : queues[i];
    }

    int usableCount() {
        return usableCpus.length;
    }

    int usableCpu(int k) {
        return usableCpus[k];
    }

    /**
     * The load one queue on {@code cpu} is expected to carry: an even share of its worker's load, or the
     * mean over the pool for a queue without a (known) worker.
     */
    double queueShare(int cpu) {
        int i = index(cpu);
        if (i < 0) {
            return meanQueueLoad();
        }
        return queues[i] > 0 ? load[i] / queues[i] : load[i];
    }

    /** Total load over total queues of the pool; 0 without queues. */
    double meanQueueLoad() {
        double total = 0;
        int count = 0;
        for (int i = 0; i < load.length; i++) {
            total += load[i];
            count += queues[i];
        }
        return count == 0 ? 0 : total / count;
    }

    /** The expected effect of moving one queue carrying {@code share}; {@code fromCpu} may be NONE. */
    void move(int fromCpu, int toCpu, double share) {
        int from = index(fromCpu);
        if (from >= 0) {
            load[from] = Math.max(0, load[from] - share);
            queues[from] = Math.max(0, queues[from] - 1);
        }
        int to = index(toCpu);
        load[to] += share;
        queues[to]++;
    }

    /** Adjusts a worker's load (not below 0); ignored for a CPU without a worker. */
    void addLoad(int cpu, double delta) {
        int i = index(cpu);
        if (i >= 0) {
            load[i] = Math.max(0, load[i] + delta);
        }
    }

    WorkerLoads copy() {
        return new WorkerLoads(workerCpus, usableCpus, indexOfCpu, usable, load.clone(), queues.clone());
    }

    private int index(int cpu) {
        return cpu >= 0 && cpu < indexOfCpu.length ? indexOfCpu[cpu] : -1;
    }
}

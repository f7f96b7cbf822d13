package io.jvhost.affinity.placement;

import java.util.Arrays;
import java.util.List;

/**
 * Each pool worker's load, as an exponentially decaying busy ratio (0..1), and how many queues it
 * serves.
 *
 * <p>Each period the daemon feeds every worker's cumulative busy time ({@code Worker.busyNanos()}) and
 * the current {@code System.nanoTime()}; the ratio of the two deltas is averaged with weight
 * {@code 1 - 0.5^(elapsed / halfLife)}, so irregular periods weigh what they last. The first sample of
 * a worker only sets its baseline.
 *
 * <p>Queue counts are what the daemon reports: {@link #queueAssigned}, {@link #queueReleased} and
 * {@link #apply} for the moves it carried out.
 *
 * <p>Not thread-safe: the housekeeping thread owns it (worker threads only publish their busy counters).
 */
public final class LoadTracker {

    /** Default half-life of the busy ratio, in rebalance periods. */
    public static final double DEFAULT_HALF_LIFE_PERIODS = 3;

    private final int[] workerCpus;
    private final int[] indexOfCpu;
    private final long halfLifeNanos;
    private final double[] load;
    private final long[] lastBusyNanos;
    private final long[] lastWallNanos;
    private final boolean[] sampled;
    private final int[] queues;

    /**
     * @param workerCpus    the pool's CPUs (one worker each)
     * @param halfLifeNanos time for an old busy ratio to weigh half
     */
    public LoadTracker(int[] workerCpus, long halfLifeNanos) {
        if (halfLifeNanos <= 0) {
            throw new IllegalArgumentException("half-life must be positive, got " + halfLifeNanos + " ns");
        }
        this.workerCpus = Arrays.stream(workerCpus).sorted().distinct().toArray();
        if (this.workerCpus.length != workerCpus.length || (workerCpus.length > 0 && this.workerCpus[0] < 0)) {
            throw new IllegalArgumentException("worker CPUs must be distinct and non-negative: "
                    + Arrays.toString(workerCpus));
        }
        int n = this.workerCpus.length;
        this.indexOfCpu = new int[n == 0 ? 0 : this.workerCpus[n - 1] + 1];
        Arrays.fill(indexOfCpu, -1);
        for (int i = 0; i < n; i++) {
            indexOfCpu[this.workerCpus[i]] = i;
        }
        this.halfLifeNanos = halfLifeNanos;
        this.load = new double[n];
        this.lastBusyNanos = new long[n];
        this.lastWallNanos = new long[n];
        this.sampled = new boolean[n];
        this.queues = new int[n];
    }

    /** A tracker whose half-life is {@link #DEFAULT_HALF_LIFE_PERIODS} rebalance periods. */
    public static LoadTracker forRebalanceInterval(int[] workerCpus, long rebalanceIntervalNanos) {
        return new LoadTracker(workerCpus, (long) (rebalanceIntervalNanos * DEFAULT_HALF_LIFE_PERIODS));
    }

    /**
     * Folds in one sample of a worker's cumulative counters.
     *
     * @param busyNanos total busy time of the worker so far
     * @param wallNanos a monotonic timestamp ({@code System.nanoTime()}); a sample not later than the
     *                  previous one is ignored
     */
    public void sample(int cpu, long busyNanos, long wallNanos) {
        int i = index(cpu);
        if (sampled[i]) {
            long elapsed = wallNanos - lastWallNanos[i];
            if (elapsed <= 0) {
                return;
            }
            double ratio = Math.clamp((double) (busyNanos - lastBusyNanos[i]) / elapsed, 0.0, 1.0);
            double keep = Math.pow(0.5, (double) elapsed / halfLifeNanos);
            load[i] = load[i] * keep + ratio * (1 - keep);
        }
        sampled[i] = true;
        lastBusyNanos[i] = busyNanos;
        lastWallNanos[i] = wallNanos;
    }

    /** The worker's decaying busy ratio, 0 until its second sample. */
    public double load(int cpu) {
        return load[index(cpu)];
    }

    /** Queues the worker serves, as reported. */
    public int queues(int cpu) {
        return queues[index(cpu)];
    }

    public void queueAssigned(int cpu) {
        queues[index(cpu)]++;
    }

    /** @throws IllegalStateException if the worker has no queue (the caller's bookkeeping is wrong) */
    public void queueReleased(int cpu) {
        int i = index(cpu);
        if (queues[i] == 0) {
            throw new IllegalStateException("worker on CPU " + cpu + " has no queue to release");
        }
        queues[i]--;
    }

    /** Records a move the daemon carried out; {@code fromCpu} may be {@link QueuePlacement#NONE}. */
    public void queueMoved(int fromCpu, int toCpu) {
        if (fromCpu != QueuePlacement.NONE) {
            queueReleased(fromCpu);
        }
        queueAssigned(toCpu);
    }

    /** Records moves the daemon carried out (all of a {@link Rebalancer.Plan}'s, typically). */
    public void apply(List<Move> moves) {
        for (Move m : moves) {
            queueMoved(m.fromCpu(), m.toCpu());
        }
    }

    /** The pool's CPUs, ascending. */
    public int[] workerCpus() {
        return workerCpus.clone();
    }

    public long halfLifeNanos() {
        return halfLifeNanos;
    }

    private int index(int cpu) {
        int i = cpu >= 0 && cpu < indexOfCpu.length ? indexOfCpu[cpu] : -1;
        if (i < 0) {
            throw new IllegalArgumentException("CPU " + cpu + " has no worker");
        }
        return i;
    }
}

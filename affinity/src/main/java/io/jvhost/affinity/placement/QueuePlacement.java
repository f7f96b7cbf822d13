package io.jvhost.affinity.placement;

import io.jvhost.affinity.topology.CpuTopology;

import java.util.Arrays;
import java.util.SplittableRandom;
import java.util.random.RandomGenerator;

/**
 * Chooses the worker for one virtqueue.
 *
 * <p>{@link PlacementMode#SOCKET_AFFINE}: the worker should share the socket (last-level cache, memory
 * controller) of the vCPU thread that kicks the queue, but not its physical core, where the two would
 * compete for execution units, or, worse, for the one CPU. Rules, tried in order:
 * <ol>
 *   <li>candidates = usable workers on the vCPU's socket, except the vCPU's core (the vCPU's CPU and all
 *       its SMT siblings); {@link PlacementRule#SAME_SOCKET_OTHER_CORE}</li>
 *   <li>(a) none: usable workers on the vCPU's socket, its core included; {@link PlacementRule#SAME_SOCKET_SAME_CORE}</li>
 *   <li>(b) none on that socket: all usable workers, least-loaded; {@link PlacementRule#OTHER_SOCKET}</li>
 *   <li>(c) the vCPU's CPU is unknown (or not in the topology): all usable workers, least-loaded;
 *       {@link PlacementRule#VCPU_UNKNOWN}</li>
 *   <li>(d) no usable worker at all: the current worker is kept (or {@link #NONE} stays);
 *       {@link PlacementRule#NO_USABLE_WORKER}, which the caller should report</li>
 * </ol>
 * Usable = a pool worker whose CPU is online; a worker on an offline CPU is never a candidate.
 * Within the candidates of the first two rules {@link BalanceMode#LEAST_LOADED} takes the lowest load
 * (ties: fewest queues, then lowest CPU) and {@link BalanceMode#RANDOM} draws uniformly; rules (b) and
 * (c) are always least-loaded.
 *
 * <p>Hysteresis: a queue whose current worker is still a candidate of the rule that applies stays
 * there unless, with least-loaded, both hold:
 * <ul>
 *   <li>the current worker's load exceeds the best candidate's by more than {@code threshold}; and</li>
 *   <li>after the move the best candidate would still be lighter than the current worker is now by
 *       more than {@code threshold / 3}, counting the queue's own share (its worker's load over its
 *       queue count). Without this, one busy queue would ping-pong between two workers, each move
 *       only swapping which of them is the busy one.</li>
 * </ul>
 * With random balance a valid current worker is always kept.
 *
 * <p>{@link PlacementMode#ROUND_ROBIN} ignores vCPUs and load: a queue on a usable worker stays, any
 * other goes to the next usable worker after the one chosen last (ascending CPU order, wrapping).
 *
 * <p>Not thread-safe (random generator, round-robin cursor): call from one thread, the housekeeping
 * thread, or under one lock shared with the {@link Rebalancer} that uses it.
 */
public final class QueuePlacement {

    /** No CPU: a queue without a worker, or a vCPU whose CPU is unknown. */
    public static final int NONE = -1;
    /** Default hysteresis threshold, in busy ratio. */
    public static final double DEFAULT_THRESHOLD = 0.15;

    private final PlacementMode mode;
    private final BalanceMode balance;
    private final double threshold;
    private final double swapMargin;
    private final RandomGenerator random;
    private int lastRoundRobin = NONE;

    /**
     * @param threshold how much busier (busy ratio, 0..1) the current worker must be before a queue moves
     * @param random    draws for {@link BalanceMode#RANDOM}; seeded in tests
     */
    public QueuePlacement(PlacementMode mode, BalanceMode balance, double threshold, RandomGenerator random) {
        if (!(threshold >= 0 && threshold <= 1)) {
            throw new IllegalArgumentException("threshold must be within 0..1, got " + threshold);
        }
        this.mode = mode;
        this.balance = balance;
        this.threshold = threshold;
        this.swapMargin = threshold / 3;
        this.random = random;
    }

    /** With {@link #DEFAULT_THRESHOLD} and a {@link SplittableRandom} seeded with {@code seed}. */
    public static QueuePlacement of(PlacementMode mode, BalanceMode balance, long seed) {
        return new QueuePlacement(mode, balance, DEFAULT_THRESHOLD, new SplittableRandom(seed));
    }

    public PlacementMode mode() {
        return mode;
    }

    public BalanceMode balance() {
        return balance;
    }

    public double threshold() {
        return threshold;
    }

    /**
     * The worker {@code queue} should be on now.
     *
     * @param currentCpu its worker's CPU, or {@link #NONE}
     * @param vcpuCpu    the CPU its kicking vCPU last ran on, or {@link #NONE}
     */
    public Choice choose(CpuTopology topology, WorkerLoads workers, int currentCpu, int vcpuCpu) {
        return decide(topology, workers, currentCpu, vcpuCpu).choice();
    }

    /**
     * A choice with what the rebalancer needs to rank it.
     *
     * @param currentValid whether the current worker is a candidate of the rule that applied
     * @param gain         for a least-loaded choice with a valid current worker: by how much the move
     *                     lowers the busier of the two workers, {@code min(share, current - best - share)}
     */
    record Decision(Choice choice, boolean currentValid, double gain) {

        boolean moves(int currentCpu) {
            return choice.workerCpu() != currentCpu && choice.workerCpu() != NONE;
        }
    }

    Decision decide(CpuTopology topology, WorkerLoads workers, int currentCpu, int vcpuCpu) {
        if (workers.usableCount() == 0) {
            return new Decision(new Choice(currentCpu, PlacementRule.NO_USABLE_WORKER), false, 0);
        }
        if (mode == PlacementMode.ROUND_ROBIN) {
            if (workers.isUsable(currentCpu)) {
                return new Decision(new Choice(currentCpu, PlacementRule.ROUND_ROBIN), true, 0);
            }
            return new Decision(new Choice(nextInTurn(workers), PlacementRule.ROUND_ROBIN), false, 0);
        }
        int socket = vcpuCpu == NONE ? -1 : topology.socketOf(vcpuCpu);
        PlacementRule rule;
        int[] candidates;
        if (socket < 0) {
            rule = PlacementRule.VCPU_UNKNOWN;
            candidates = workers.usableCpus();
        } else {
            candidates = onSocket(topology, workers, socket, vcpuCpu, true);
            rule = PlacementRule.SAME_SOCKET_OTHER_CORE;
            if (candidates.length == 0) {
                candidates = onSocket(topology, workers, socket, vcpuCpu, false);
                rule = PlacementRule.SAME_SOCKET_SAME_CORE;
            }
            if (candidates.length == 0) {
                candidates = workers.usableCpus();
                rule = PlacementRule.OTHER_SOCKET;
            }
        }
        boolean currentValid = contains(candidates, currentCpu);
        boolean drawn = balance == BalanceMode.RANDOM
                && (rule == PlacementRule.SAME_SOCKET_OTHER_CORE || rule == PlacementRule.SAME_SOCKET_SAME_CORE);
        if (currentValid && balance == BalanceMode.RANDOM) {
            return new Decision(new Choice(currentCpu, rule), true, 0);
        }
        if (drawn) {
            return new Decision(new Choice(candidates[random.nextInt(candidates.length)], rule), false, 0);
        }
        int best = leastLoaded(candidates, workers);
        if (!currentValid) {
            return new Decision(new Choice(best, rule), false, 0);
        }
        double difference = workers.load(currentCpu) - workers.load(best);
        double share = workers.queueShare(currentCpu);
        double gapAfter = difference - share;
        boolean pays = best != currentCpu && difference > threshold && gapAfter > swapMargin;
        return new Decision(new Choice(pays ? best : currentCpu, rule), true, Math.min(share, gapAfter));
    }

    /** Usable workers on {@code socket}, optionally without the vCPU's core, ascending. */
    private static int[] onSocket(CpuTopology topology, WorkerLoads workers, int socket, int vcpuCpu,
                                  boolean otherCoreOnly) {
        int[] out = new int[workers.usableCount()];
        int n = 0;
        for (int k = 0; k < workers.usableCount(); k++) {
            int cpu = workers.usableCpu(k);
            if (topology.socketOf(cpu) == socket && !(otherCoreOnly && topology.sameCore(cpu, vcpuCpu))) {
                out[n++] = cpu;
            }
        }
        return Arrays.copyOf(out, n);
    }

    /** Lowest load, then fewest queues, then lowest CPU (candidates are ascending). */
    private static int leastLoaded(int[] candidates, WorkerLoads workers) {
        int best = candidates[0];
        for (int i = 1; i < candidates.length; i++) {
            int cpu = candidates[i];
            double diff = workers.load(cpu) - workers.load(best);
            if (diff < 0 || (diff == 0 && workers.queues(cpu) < workers.queues(best))) {
                best = cpu;
            }
        }
        return best;
    }

    private int nextInTurn(WorkerLoads workers) {
        int chosen = workers.usableCpu(0);
        for (int k = 0; k < workers.usableCount(); k++) {
            if (workers.usableCpu(k) > lastRoundRobin) {
                chosen = workers.usableCpu(k);
                break;
            }
        }
        lastRoundRobin = chosen;
        return chosen;
    }

    private static boolean contains(int[] cpus, int cpu) {
        for (int c : cpus) {
            if (c == cpu) {
                return true;
            }
        }
        return false;
    }
}

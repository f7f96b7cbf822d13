package io.jvhost.affinity.placement;

import io.jvhost.affinity.topology.CpuTopology;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * Decides, once per rebalance period, which queues move to which worker. It starts no thread and
 * touches no worker: it returns a {@link Plan} that the daemon carries out.
 *
 * <p>Order of work in one period, each decision seeing the expected effect of the ones before it (the
 * moved queue's share leaves its old worker and lands on the new one), so two queues do not both jump
 * onto the same idle worker:
 * <ol>
 *   <li>queues without a worker, or whose worker's CPU is offline: placed at once, ignoring dwell and
 *       budget (a queue on an offline CPU's worker is served by an unpinned thread somewhere);</li>
 *   <li>queues whose worker is no longer a candidate (their vCPU changed socket, or now runs on the
 *       worker's core): in input order, within the budget;</li>
 *   <li>load moves ({@link BalanceMode#LEAST_LOADED} only): the move that most lowers the busier of its
 *       two workers first, within the budget.</li>
 * </ol>
 * Steps 2 and 3 share a budget of {@link Settings#maxMovesPerPeriod()} moves; step 3 skips queues moved
 * less than {@link Settings#minDwellPeriods()} periods ago (step 2 follows the vCPU at once). A first
 * placement starts no dwell.
 *
 * <p>The busy ratio lags a move by its half-life. So that the next periods do not react again to the
 * imbalance a move already fixed, each move's expected effect is remembered as a per-worker correction
 * that decays with the same half-life as the {@link LoadTracker} ({@link Settings#loadHalfLifePeriods()}):
 * measured load plus correction stays near the post-move load while the measurement catches up.
 *
 * <p>Deterministic: the same inputs, in the same order, and the same {@link QueuePlacement} seed give the
 * same plans. Not thread-safe: one thread (the housekeeping thread) calls it, and uses the same
 * {@link QueuePlacement} for single placements on that thread.
 */
public final class Rebalancer {

    /** Corrections smaller than this (busy ratio) are dropped. */
    private static final double NEGLIGIBLE = 1e-6;

    private final QueuePlacement placement;
    private final Settings settings;
    private final double correctionKeep;
    private final Map<String, Long> lastMovedPeriod = new HashMap<>();
    private final TreeMap<Integer, Double> correction = new TreeMap<>();
    private long period;

    public Rebalancer(QueuePlacement placement, Settings settings) {
        this.placement = placement;
        this.settings = settings;
        this.correctionKeep = Math.pow(0.5, 1 / settings.loadHalfLifePeriods());
    }

    /**
     * Tuning of the rebalancer.
     *
     * @param minDwellPeriods     a queue moved (for placement or load) is not moved again for this many
     *                            periods, except off an offline CPU; 0 disables
     * @param maxMovesPerPeriod   placement and load moves per period (forced moves are not counted)
     * @param loadHalfLifePeriods the {@link LoadTracker}'s half-life in rebalance periods
     */
    public record Settings(int minDwellPeriods, int maxMovesPerPeriod, double loadHalfLifePeriods) {

        public Settings {
            if (minDwellPeriods < 0) {
                throw new IllegalArgumentException("minDwellPeriods must be >= 0, got " + minDwellPeriods);
            }
            if (maxMovesPerPeriod < 0) {
                throw new IllegalArgumentException("maxMovesPerPeriod must be >= 0, got " + maxMovesPerPeriod);
            }
            if (!(loadHalfLifePeriods > 0)) {
                throw new IllegalArgumentException("loadHalfLifePeriods must be > 0, got " + loadHalfLifePeriods);
            }
        }

        /** Dwell 10 periods (1 s at the default 100 ms), 2 moves a period, half-life 3 periods. */
        public static Settings defaults() {
            return new Settings(10, 2, LoadTracker.DEFAULT_HALF_LIFE_PERIODS);
        }
    }

    /**
     * One period's decisions.
     *
     * @param period   1 for the first call, then +1 per call
     * @param moves    in the order decided; carry them out, then {@link LoadTracker#apply} those done
     * @param stranded ids of queues that need a worker (none, or an offline one) but no worker is usable:
     *                 rule (d); they keep their worker, the daemon should report them
     */
    public record Plan(long period, List<Move> moves, List<String> stranded) {
    }

    /**
     * Decides this period's moves.
     *
     * @param topology the current topology (its online set defines usable workers)
     * @param workers  this period's loads ({@link WorkerLoads#of(LoadTracker, CpuTopology)}); not modified
     * @param queues   every queue being served or waiting for a worker; ids distinct
     * @throws IllegalArgumentException for a duplicate queue id
     */
    public Plan rebalance(CpuTopology topology, WorkerLoads workers, List<QueueState> queues) {
        period++;
        WorkerLoads view = workers.copy();
        decayCorrections(view);
        forgetGoneQueues(queues);
        List<Move> moves = new ArrayList<>();
        List<String> stranded = new ArrayList<>();
        boolean[] done = new boolean[queues.size()];

        for (int i = 0; i < queues.size(); i++) {
            QueueState q = queues.get(i);
            if (q.workerCpu() != QueuePlacement.NONE && view.isUsable(q.workerCpu())) {
                continue;
            }
            QueuePlacement.Decision d = placement.decide(topology, view, q.workerCpu(), q.vcpuCpu());
            done[i] = true;
            if (!d.moves(q.workerCpu())) {
                stranded.add(q.id());
                continue;
            }
            Move.Cause cause = q.workerCpu() == QueuePlacement.NONE ? Move.Cause.UNASSIGNED : Move.Cause.WORKER_UNUSABLE;
            moves.add(apply(view, q, d, cause));
        }

        int budget = settings.maxMovesPerPeriod();
        for (int i = 0; i < queues.size() && budget > 0; i++) {
            QueueState q = queues.get(i);
            // No dwell here: a queue on its vCPU's own core (or another socket) is the case the
            // design exists to avoid, so it follows the vCPU at once; the budget bounds the churn.
            if (done[i]) {
                continue;
            }
            QueuePlacement.Decision d = placement.decide(topology, view, q.workerCpu(), q.vcpuCpu());
            if (!d.currentValid() && d.moves(q.workerCpu())) {
                done[i] = true;
                moves.add(apply(view, q, d, Move.Cause.BETTER_PLACEMENT));
                budget--;
            }
        }

        while (budget > 0) {
            int bestIndex = -1;
            QueuePlacement.Decision best = null;
            for (int i = 0; i < queues.size(); i++) {
                QueueState q = queues.get(i);
                if (done[i] || dwelling(q)) {
                    continue;
                }
                QueuePlacement.Decision d = placement.decide(topology, view, q.workerCpu(), q.vcpuCpu());
                if (d.currentValid() && d.moves(q.workerCpu()) && (best == null || d.gain() > best.gain())) {
                    best = d;
                    bestIndex = i;
                }
            }
            if (best == null) {
                break;
            }
            done[bestIndex] = true;
            moves.add(apply(view, queues.get(bestIndex), best, Move.Cause.LOAD));
            budget--;
        }
        return new Plan(period, List.copyOf(moves), List.copyOf(stranded));
    }

    /** Periods decided so far. */
    public long period() {
        return period;
    }

    private Move apply(WorkerLoads view, QueueState q, QueuePlacement.Decision d, Move.Cause cause) {
        int from = q.workerCpu();
        int to = d.choice().workerCpu();
        double share = view.queueShare(from);
        view.move(from, to, share);
        if (view.isWorker(from)) {
            correction.merge(from, -share, Double::sum);
        }
        correction.merge(to, share, Double::sum);
        if (from != QueuePlacement.NONE) {
            lastMovedPeriod.put(q.id(), period);
        }
        return new Move(q.id(), from, to, cause, d.choice().rule());
    }

    private boolean dwelling(QueueState q) {
        Long moved = lastMovedPeriod.get(q.id());
        return moved != null && period - moved < settings.minDwellPeriods();
    }

    /** Ages last periods' corrections by one period and adds them to this period's view. */
    private void decayCorrections(WorkerLoads view) {
        correction.replaceAll((cpu, delta) -> delta * correctionKeep);
        correction.values().removeIf(delta -> Math.abs(delta) < NEGLIGIBLE);
        correction.forEach(view::addLoad);
    }

    private void forgetGoneQueues(List<QueueState> queues) {
        Set<String> ids = new HashSet<>();
        for (QueueState q : queues) {
            if (!ids.add(q.id())) {
                throw new IllegalArgumentException("queue " + q.id() + " is listed twice");
            }
        }
        lastMovedPeriod.keySet().retainAll(ids);
    }
}

package io.jvhost.backend.switching;

import io.jvhost.backend.datapath.DeliveryContext;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

/**
 * A packets-per-second limit that every worker forwarding for one port shares: a token bucket in its
 * GCRA form (ITU-T I.371's virtual scheduling), whose whole state is one {@code long}, the theoretical
 * arrival time ({@code tat}) of the next frame that conforms.
 *
 * <p>Why one atomic bucket per port and not one per queue with the rate split: a port's queues may run
 * on several workers and a storm may come on one queue only, which a split rate would hold to a
 * fraction of the limit. Only frames of the limited class (broadcast, multicast, unknown unicast) reach
 * the bucket, never known unicast. A frame over the limit costs one load and no store, so a storm that
 * is being dropped keeps the bucket's cache line shared between the workers; it is written at most
 * {@code rate} times a second (a compare-and-set per frame let through). No allocation, no lock.
 *
 * <p>Bursts: up to {@link #burstOf} frames pass back to back after a quiet spell (a tenth of a second
 * of the rate, at least {@value #MIN_BURST} or the rate when smaller), so a guest's boot-time ARP, DHCP
 * and neighbour discovery pass even under a tight limit.
 *
 * <p>Times are {@link System#nanoTime()} values, compared by difference; the worker passes the time at
 * the start of its batch ({@link DeliveryContext#nowNanos()}), tests pass a fake clock.
 */
public final class TokenBucket {

    /** The rate that means no limit (the default of every class). */
    public static final long UNLIMITED = -1;
    /** The largest rate accepted: 100 Mpps, more than one port can send. */
    public static final long MAX_PPS = 100_000_000;
    /** The smallest burst of a rate of at least this many packets per second. */
    static final long MIN_BURST = 16;
    private static final long NANOS_PER_SECOND = 1_000_000_000L;

    private static final VarHandle TAT;

    static {
        try {
            TAT = MethodHandles.lookup().findVarHandle(TokenBucket.class, "tat", long.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    private final long pps;
    /** One frame's share of a second at the rate. */
    private final long intervalNanos;
    /** How far ahead of now {@code tat} may run and a frame still pass: (burst - 1) intervals. */
    private final long toleranceNanos;
    @SuppressWarnings("unused") // through TAT
    private volatile long tat;

    /**
     * @param pps       packets per second, 0 (none passes) to {@link #MAX_PPS}, or {@link #UNLIMITED}
     * @param nowNanos  the time the bucket starts full
     */
    public TokenBucket(long pps, long nowNanos) {
        if (pps != UNLIMITED && (pps < 0 || pps > MAX_PPS)) {
            throw new IllegalArgumentException("rate out of range: " + pps);
        }
        this.pps = pps;
        this.intervalNanos = pps > 0 ? NANOS_PER_SECOND / pps : 0;
        this.toleranceNanos = pps > 0 ? (burstOf(pps) - 1) * intervalNanos : 0;
        this.tat = nowNanos;
    }

    /** The frames a bucket of rate {@code pps} lets through back to back when it is full. */
    public static long burstOf(long pps) {
        return Math.max(pps / 10, Math.min(pps, MIN_BURST));
    }

    /** The configured rate, or {@link #UNLIMITED}. */
    public long pps() {
        return pps;
    }

    /** Takes one frame's token at {@code nowNanos}: false when the frame is over the limit. Any thread. */
    public boolean tryTake(long nowNanos) {
        final long interval = intervalNanos;
        if (interval == 0) {
            return pps != 0; // unlimited, or nothing passes
        }
        while (true) {
            long t = (long) TAT.getAcquire(this);
            long start = t - nowNanos < 0 ? nowNanos : t; // a bucket idle since t is full again
            if (start - nowNanos > toleranceNanos) {
                return false; // over the limit: no store, the line stays shared
            }
            if (TAT.compareAndSet(this, t, start + interval)) {
                return true;
            }
        }
    }
}

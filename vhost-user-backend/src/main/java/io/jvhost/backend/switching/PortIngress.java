package io.jvhost.backend.switching;

import java.util.Arrays;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.LongAdder;

/**
 * What a port may send into its network: port security (the source MACs allowed, the config's
 * {@code mac} and {@code allowed-macs}) and storm control (packets-per-second limits on the frames the
 * switch floods: broadcast, multicast and unknown unicast, the config's {@code storm-control}), with
 * the counts of frames each dropped. One per port; {@link L2Switch#forward} consults it at ingress.
 *
 * <p>Threads: immutable but for the buckets and counters, which any worker forwarding for the port
 * updates; the counters are {@link LongAdder}s because a port's queues may run on several workers.
 */
public final class PortIngress {

    /** Port security allows at most this many source MACs per port (a linear scan per frame stays short). */
    public static final int MAX_ALLOWED_MACS = 64;

    private static final long[] ANY_SOURCE = new long[0];

    private final long[] allowedSources;
    private final TokenBucket broadcast;
    private final TokenBucket multicast;
    private final TokenBucket unknownUnicast;
    private final LongAdder stormDrops = new LongAdder();
    private final LongAdder spoofDrops = new LongAdder();
    private final LongAdder unlearned = new LongAdder();
    /** Learned MACs of the port in its network's table; written under that table's lock. */
    private volatile int learnedMacs;
    private final AtomicBoolean macLimitLogged = new AtomicBoolean();

    /**
     * @param allowedSources the unicast source MACs the port may send from; empty: any (no port security)
     * @param broadcastPps      the limit on broadcast frames ({@link TokenBucket#UNLIMITED}: none)
     * @param multicastPps      the limit on other group-addressed frames
     * @param unknownUnicastPps the limit on unicast frames to a destination the switch does not know
     * @param nowNanos          when the buckets start full
     */
    public PortIngress(long[] allowedSources, long broadcastPps, long multicastPps, long unknownUnicastPps,
                       long nowNanos) {
        if (allowedSources.length > MAX_ALLOWED_MACS) {
            throw new IllegalArgumentException("more than " + MAX_ALLOWED_MACS + " allowed MACs");
        }
        for (long mac : allowedSources) {
            if (MacAddress.isGroup(mac) || mac == 0 || (mac & ~MacAddress.BROADCAST) != 0) {
                throw new IllegalArgumentException("not a unicast MAC address: " + MacAddress.format(mac));
            }
        }
        this.allowedSources = allowedSources.length == 0 ? ANY_SOURCE : allowedSources.clone();
        this.broadcast = new TokenBucket(broadcastPps, nowNanos);
        this.multicast = new TokenBucket(multicastPps, nowNanos);
        this.unknownUnicast = new TokenBucket(unknownUnicastPps, nowNanos);
    }

    /** No port security, no storm control. */
    public static PortIngress open() {
        return new PortIngress(ANY_SOURCE, TokenBucket.UNLIMITED, TokenBucket.UNLIMITED, TokenBucket.UNLIMITED, 0);
    }

    /** Whether port security is on: only {@link #allowedSources()} may send. */
    public boolean secured() {
        return allowedSources.length > 0;
    }

    /** The source MACs allowed (a copy); empty when any is. */
    public long[] allowedSources() {
        return allowedSources.clone();
    }

    /** Whether a frame from {@code source} may enter. Per frame: a scan of at most {@value #MAX_ALLOWED_MACS}. */
    boolean allowsSource(long source) {
        final long[] allowed = allowedSources;
        if (allowed.length == 0) {
            return true;
        }
        for (long mac : allowed) {
            if (mac == source) {
                return true;
            }
        }
        return false;
    }

    /** Takes a token for a frame the switch is about to flood to {@code destination}, known to be flooded. */
    boolean admitFlood(long destination, boolean unknownUnicast, long nowNanos) {
        TokenBucket bucket = unknownUnicast ? this.unknownUnicast
                : destination == MacAddress.BROADCAST ? broadcast : multicast;
        return bucket.tryTake(nowNanos);
    }

    /** The port's learned MAC count changes by {@code delta}. Under its network's MAC table lock. */
    void countLearned(int delta) {
        learnedMacs += delta;
    }

    /** MACs the port's network learned on it now (pinned ones not included). */
    public int learnedMacs() {
        return learnedMacs;
    }

    /**
     * A frame's source was not learned: the port holds its share of the table ({@link MacTable#MAX_PER_PORT})
     * or the table is full. Returns true the first time, so that it is said once.
     */
    boolean countUnlearned() {
        unlearned.increment();
        return !macLimitLogged.get() && macLimitLogged.compareAndSet(false, true);
    }

    /** Frames whose new source MAC was not learned (the port's or the table's limit); they were forwarded. */
    public long unlearned() {
        return unlearned.sum();
    }

    void countStormDrop() {
        stormDrops.increment();
    }

    void countSpoofDrop() {
        spoofDrops.increment();
    }

    /** Frames dropped at ingress for being over a storm-control limit. */
    public long stormDrops() {
        return stormDrops.sum();
    }

    /**
     * Frames dropped at ingress for their source MAC: not one port security allows, or one pinned to
     * another port of the network.
     */
    public long spoofDrops() {
        return spoofDrops.sum();
    }

    public long broadcastPps() {
        return broadcast.pps();
    }

    public long multicastPps() {
        return multicast.pps();
    }

    public long unknownUnicastPps() {
        return unknownUnicast.pps();
    }

    @Override
    public String toString() {
        return "PortIngress[allowed=" + Arrays.toString(Arrays.stream(allowedSources).mapToObj(MacAddress::format)
                .toArray()) + ", broadcast=" + broadcastPps() + ", multicast=" + multicastPps()
                + ", unknown-unicast=" + unknownUnicastPps() + "]";
    }
}

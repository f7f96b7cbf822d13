package io.jvhost.backend.switching;

import io.jvhost.backend.datapath.Frame;
import io.jvhost.backend.datapath.DeliveryContext;
import java.util.Arrays;
import java.util.concurrent.atomic.LongAdder;

/**
 * One isolated L2 network: a learning switch over its ports. Frames to a group address or to an
 * unknown unicast address are flooded to every other port; a frame addressed to the port it came
 * from is dropped (no hairpin).
 *
 * <p>At ingress each port's {@link PortIngress} applies first: a source MAC port security does not
 * allow, or one pinned to another port, drops the frame (a spoof drop of the sender); a frame to be
 * flooded takes a token of its class (broadcast, multicast, unknown unicast) or is dropped (a storm
 * drop of the sender), so that one port's storm cannot fill every other port's receive rings. The MACs
 * of a secured port are pinned in the table while it is attached: another port cannot take them over.
 *
 * <p>{@link #forward} runs on any worker thread concurrently; port membership changes copy the port
 * array (rare, control threads).
 */
public final class L2Switch {

    private static final System.Logger LOG = System.getLogger(L2Switch.class.getName());

    /** Entries not refreshed for this long are aged out (the Linux bridge default is 300 s). */
    public static final long DEFAULT_AGEING_NANOS = 300_000_000_000L;

    private final String name;
    private final MacTable macTable = new MacTable();
    private volatile SwitchPort[] ports = new SwitchPort[0];
    private final LongAdder flooded = new LongAdder();
    private final LongAdder learned = new LongAdder();
    private final LongAdder hairpinDrops = new LongAdder();
    private final LongAdder aged = new LongAdder();

    public L2Switch(String name) {
        this.name = name;
    }

    public String name() {
        return name;
    }

    /**
     * Adds {@code port} and pins the MACs its port security allows to it. Control threads.
     *
     * @throws IllegalArgumentException one of those MACs is pinned to another port of this network
     *                                  already (nothing changed)
     */
    public void attach(SwitchPort port) {
        synchronized (this) {
            long[] macs = port.ingress().allowedSources();
            for (long mac : macs) {
                SwitchPort owner = macTable.pinnedTo(mac);
                if (owner != null && owner != port) {
                    throw new IllegalArgumentException("MAC " + MacAddress.format(mac) + " belongs to port "
                            + owner.name() + " of network " + name + " already");
                }
            }
            for (long mac : macs) {
                if (!macTable.pin(mac, port)) {
                    macTable.forgetAll(port);
                    throw new IllegalArgumentException("network " + name + ": more than " + MacTable.MAX_PINNED
                            + " MACs of secured ports");
                }
            }
            SwitchPort[] next = Arrays.copyOf(ports, ports.length + 1);
            next[ports.length] = port;
            ports = next;
        }
        offloadsChanged();
    }

    public void detach(SwitchPort port) {
        synchronized (this) {
            ports = Arrays.stream(ports).filter(p -> p != port).toArray(SwitchPort[]::new);
            macTable.forgetAll(port);
        }
        offloadsChanged();
    }

    /** What the ports other than {@code except} take as it is, together (the union of their offloads). */
    public int receivableOffloads(SwitchPort except) {
        int union = 0;
        for (SwitchPort p : ports) {
            if (p != except) {
                union |= p.receivableOffloads();
            }
        }
        return union;
    }

    /** A port's offloads changed (a guest negotiated, or went away): tells every port. Control threads. */
    public void offloadsChanged() {
        for (SwitchPort p : ports) {
            p.networkOffloadsChanged();
        }
    }

    /**
     * Forgets what was learned about {@code port} (its guest went away or reset), keeping it attached
     * and its pinned MACs.
     */
    public void forget(SwitchPort port) {
        macTable.forget(port);
    }

    /** Forwards one frame that arrived on {@code from}. Worker threads; no allocation. */
    public void forward(Frame frame, SwitchPort from, DeliveryContext context) {
        final PortIngress ingress = from.ingress();
        final long source = frame.source();
        if (!ingress.allowsSource(source)) {
            ingress.countSpoofDrop();
            return;
        }
        if (!MacAddress.isGroup(source)) {
            int learnt = macTable.learn(source, from, context.nowNanos());
            if (learnt == MacTable.LEARNED) {
                learned.increment();
            } else if (learnt == MacTable.PINNED_ELSEWHERE) {
                ingress.countSpoofDrop(); // another port's secured MAC: neither learned nor forwarded
                return;
            } else if (learnt != MacTable.KNOWN && ingress.countUnlearned()) {
                LOG.log(System.Logger.Level.WARNING, "network " + name + ": port " + from.name() + " sends from more "
                        + "new MACs than it may have learned (" + MacTable.MAX_PER_PORT + " per port, "
                        + MacTable.MAX_ENTRIES + " in all); their frames are forwarded, their sources not learned");
            }
        }
        final long destination = frame.destination();
        boolean unknownUnicast = false;
        if (!MacAddress.isGroup(destination)) {
            SwitchPort to = macTable.lookup(destination);
            if (to == from) {
                hairpinDrops.increment();
                return;
            }
            if (to != null) {
                to.deliver(frame, context);
                return;
            }
            unknownUnicast = true;
        }
        if (!ingress.admitFlood(destination, unknownUnicast, context.nowNanos())) {
            ingress.countStormDrop();
            return;
        }
        flooded.increment();
        final SwitchPort[] all = ports;
        context.flooding(true); // no receiver may hold the sender back: the others would wait too
        try {
            for (SwitchPort p : all) {
                if (p != from) {
                    p.deliver(frame, context);
                }
            }
        } finally {
            context.flooding(false);
        }
    }

    /** Ages out stale MAC entries. Housekeeping thread. */
    public void age(long nowNanos, long ageingNanos) {
        aged.add(macTable.age(nowNanos - ageingNanos));
    }

    public int macCount() {
        return macTable.size();
    }

    public SwitchPort lookup(long mac) {
        return macTable.lookup(mac);
    }

    public long flooded() {
        return flooded.sum();
    }

    public long learned() {
        return learned.sum();
    }

    public long hairpinDrops() {
        return hairpinDrops.sum();
    }

    public long aged() {
        return aged.sum();
    }
}

package io.jvhost.backend.switching;

import java.util.Arrays;
import java.util.concurrent.atomic.LongAdder;

/**
 * One isolated L2 network: a learning switch over its ports. Frames to a group address or to an
 * unknown unicast address are flooded to every other port; a frame addressed to the port it came
 * from is dropped (no hairpin).
 *
 * <p>{@link #forward} runs on any worker thread concurrently; port membership changes copy the port
 * array (rare, control threads).
 */
public final class L2Switch {

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

    public void attach(SwitchPort port) {
        synchronized (this) {
            SwitchPort[] next = Arrays.copyOf(ports, ports.length + 1);
            next[ports.length] = port;
            ports = next;
        }
        offloadsChanged();
    }

    public void detach(SwitchPort port) {
        synchronized (this) {
            ports = Arrays.stream(ports).filter(p -> p != port).toArray(SwitchPort[]::new);
            macTable.forget(port);
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

    /** Forgets what was learned about {@code port} (its guest went away or reset), keeping it attached. */
    public void forget(SwitchPort port) {
        macTable.forget(port);
    }

    /** Forwards one frame that arrived on {@code from}. Worker threads. */
    public void forward(Frame frame, SwitchPort from, DeliveryContext context) {
        final long source = frame.source();
        if (!MacAddress.isGroup(source) && macTable.learn(source, from, context.nowNanos())) {
            learned.increment();
        }
        final long destination = frame.destination();
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

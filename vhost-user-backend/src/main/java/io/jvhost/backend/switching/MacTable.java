package io.jvhost.backend.switching;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

/**
 * MAC address to port, read lock-free by every worker, written under one lock.
 *
 * <p>An open-addressing table (linear probing, never more than half full) learned into in place: a
 * new address costs one slot write, O(1), not a copy of the table (issue 12: the read-copy-update
 * snapshot copied every entry per new or moved MAC, so learning n addresses cost O(n²)). The table
 * doubles when half full (a copy, amortised O(1) per address: learning n addresses writes fewer than
 * 3n slots, see {@link #slotWrites()}).
 *
 * <p>How readers stay lock-free without a seqlock: a slot's key only ever goes from empty to an
 * address, never back or to another address, in a published table. A new entry's port and time are
 * written first and its key last with release semantics; a reader loads the key with acquire
 * semantics, so a key it sees comes with its port. A moved address (same key, another port) is one
 * release store of the port: a reader sees the old port or the new one, both right for that address
 * at some instant. Removal (ageing, a port going away) is housekeeping and may be O(n): it builds a
 * fresh table without the entries and publishes it whole, so no reader ever sees a slot change key
 * under it, and the table needs neither tombstones nor backward shifts.
 *
 * <p>Pinned entries are the MACs of ports with port security ({@link #pin}): never aged, never moved
 * by a frame from another port ({@link #learn} returns {@link #PINNED_ELSEWHERE}), removed only with
 * their port ({@link #forgetAll}). They do not count against {@link #MAX_ENTRIES}, so a hostile port
 * filling the table cannot keep a secured port out.
 *
 * <p>Refreshing a known entry's last-seen time is a plain store, and only when the stored time is
 * older than {@link #REFRESH_NANOS}, so workers do not bounce a cache line per frame.
 */
public final class MacTable {

    /** Entries are refreshed at most this often. */
    static final long REFRESH_NANOS = 1_000_000_000L;
    /** A full table stops learning (unknown destinations flood) rather than growing without bound. */
    public static final int MAX_ENTRIES = 4096;
    /** Pinned entries a table holds at most, beside {@link #MAX_ENTRIES} learned ones. */
    public static final int MAX_PINNED = 4096;
    /**
     * Learned entries one port may hold: a guest sending from ever new source MACs fills a quarter of
     * the table at most, and the other ports' guests are still learned (else their unicast would flood
     * to every port, the hostile one included).
     */
    public static final int MAX_PER_PORT = MAX_ENTRIES / 4;

    /** {@link #learn}: the address was known on that port already (refreshed at most). */
    public static final int KNOWN = 0;
    /** {@link #learn}: a new address, or one that moved to this port. */
    public static final int LEARNED = 1;
    /** {@link #learn}: a new address, but the table is full; nothing changed. */
    public static final int FULL = 2;
    /** {@link #learn}: the address is pinned to another port; nothing changed. */
    public static final int PINNED_ELSEWHERE = 3;
    /** {@link #learn}: a new address, but the port holds {@link #MAX_PER_PORT} already; nothing changed. */
    public static final int PORT_FULL = 4;

    private static final int MIN_CAPACITY = 64;
    private static final VarHandle KEYS = MethodHandles.arrayElementVarHandle(long[].class);
    private static final VarHandle PORTS = MethodHandles.arrayElementVarHandle(SwitchPort[].class);

    private volatile Slots slots = new Slots(MIN_CAPACITY);
    private final Object writeLock = new Object();
    /** Slots written since creation (inserts, moves and copies): an operation count for tests. Writers only. */
    private long slotWrites;

    /** The port that last sent from {@code mac} (or it is pinned to), or null. Any thread; no allocation. */
    public SwitchPort lookup(long mac) {
        Slots s = slots;
        int i = s.find(mac);
        return i < 0 ? null : s.port(i);
    }

    /**
     * Records that {@code mac} was seen on {@code port}. Any thread; a known address takes no lock.
     *
     * @return {@link #KNOWN}, {@link #LEARNED}, {@link #FULL}, {@link #PORT_FULL} or {@link #PINNED_ELSEWHERE}
     */
    public int learn(long mac, SwitchPort port, long nowNanos) {
        Slots s = slots;
        int i = s.find(mac);
        if (i >= 0) {
            if (s.port(i) == port) {
                if (!s.pinned[i] && nowNanos - s.lastSeen[i] > REFRESH_NANOS) {
                    s.lastSeen[i] = nowNanos; // benign race: any recent time will do
                }
                return KNOWN;
            }
            if (s.pinned[i]) {
                return PINNED_ELSEWHERE; // a pinned entry never changes in place: no lock needed to know
            }
        }
        if (port.ingress().learnedMacs() >= MAX_PER_PORT) {
            return PORT_FULL; // every frame of a port past its share would otherwise take the lock; put re-checks
        }
        synchronized (writeLock) {
            return put(mac, port, nowNanos, false);
        }
    }

    /**
     * Pins {@code mac} to {@code port}: it is never aged and no frame from another port moves it. An
     * entry learned for it before is taken over. Control threads.
     *
     * @return false when {@code mac} is pinned to another port already, or {@link #MAX_PINNED} are
     */
    public boolean pin(long mac, SwitchPort port) {
        synchronized (writeLock) {
            int r = put(mac, port, 0, true);
            return r == LEARNED || r == KNOWN;
        }
    }

    /** The port {@code mac} is pinned to, or null. */
    public SwitchPort pinnedTo(long mac) {
        Slots s = slots;
        int i = s.find(mac);
        return i >= 0 && s.pinned[i] ? s.port(i) : null;
    }

    /** Under the write lock. */
    private int put(long mac, SwitchPort port, long nowNanos, boolean pin) {
        Slots s = slots;
        int i = s.find(mac);
        if (i >= 0) {
            if (s.pinned[i]) {
                return s.port(i) == port ? KNOWN : PINNED_ELSEWHERE;
            }
            SwitchPort was = s.port(i);
            if (pin) {
                s.learnedCount--;
                s.pinnedCount++;
                was.ingress().countLearned(-1);
                s.pinned[i] = true; // before the port: a reader that sees the new port sees the pin
            } else if (was == port) {
                return KNOWN; // another worker learned it meanwhile
            } else if (port.ingress().learnedMacs() >= MAX_PER_PORT) {
                return PORT_FULL;
            } else {
                was.ingress().countLearned(-1);
                port.ingress().countLearned(1);
            }
            s.lastSeen[i] = nowNanos;
            PORTS.setRelease(s.ports, i, port);
            slotWrites++;
            return LEARNED;
        }
        if (pin ? s.pinnedCount >= MAX_PINNED : s.learnedCount >= MAX_ENTRIES) {
            return FULL;
        }
        if (!pin && port.ingress().learnedMacs() >= MAX_PER_PORT) {
            return PORT_FULL;
        }
        if ((s.learnedCount + s.pinnedCount + 1) * 2 > s.keys.length) {
            s = publish(s.copy(s.keys.length * 2, null, false, false, 0));
        }
        s.insert(mac, port, nowNanos, pin);
        if (!pin) {
            port.ingress().countLearned(1);
        }
        slotWrites++;
        return LEARNED;
    }

    /** Drops learned entries not seen since {@code oldestNanos}. Returns how many were dropped. */
    public int age(long oldestNanos) {
        synchronized (writeLock) {
            Slots current = slots;
            Slots next = current.copy(current.keys.length, null, false, true, oldestNanos);
            int dropped = current.learnedCount - next.learnedCount;
            if (dropped > 0) {
                publish(next);
            }
            return dropped;
        }
    }

    /** Drops the entries learned on {@code port} (its guest went away or reset); its pinned ones stay. */
    public void forget(SwitchPort port) {
        synchronized (writeLock) {
            Slots current = slots;
            publish(current.copy(current.keys.length, port, false, false, 0));
        }
    }

    /** Drops every entry of {@code port}, pinned ones too (it left the network). */
    public void forgetAll(SwitchPort port) {
        synchronized (writeLock) {
            Slots current = slots;
            publish(current.copy(current.keys.length, port, true, false, 0));
        }
    }

    /** Entries, learned and pinned. Management threads and tests. */
    public int size() {
        synchronized (writeLock) {
            Slots s = slots;
            return s.learnedCount + s.pinnedCount;
        }
    }

    /** Slots written since the table was made, copies included. */
    long slotWrites() {
        synchronized (writeLock) {
            return slotWrites;
        }
    }

    private Slots publish(Slots next) {
        slotWrites += next.learnedCount + next.pinnedCount;
        slots = next;
        return next;
    }

    /** One table; see the class comment for which fields change in place and how. */
    private static final class Slots {
        final long[] keys;        // mac + 1, so that 0 marks an empty slot; through KEYS
        final SwitchPort[] ports; // through PORTS
        final long[] lastSeen;
        final boolean[] pinned;
        final int mask;
        /** Writers only (under the lock). */
        int learnedCount;
        int pinnedCount;

        Slots(int capacity) {
            keys = new long[capacity];
            ports = new SwitchPort[capacity];
            lastSeen = new long[capacity];
            pinned = new boolean[capacity];
            mask = capacity - 1;
        }

        int find(long mac) {
            final long key = mac + 1;
            final long[] k = keys;
            int i = hash(mac) & mask;
            // Never more than half full, so a probe always meets an empty slot.
            while (true) {
                long slot = (long) KEYS.getAcquire(k, i);
                if (slot == key) {
                    return i;
                }
                if (slot == 0) {
                    return -1;
                }
                i = (i + 1) & mask;
            }
        }

        SwitchPort port(int i) {
            return (SwitchPort) PORTS.getAcquire(ports, i);
        }

        /** A new key into an empty slot: its port, time and pin first, the key last (release). */
        void insert(long mac, SwitchPort port, long seen, boolean pin) {
            int i = hash(mac) & mask;
            while (keys[i] != 0) {
                i = (i + 1) & mask;
            }
            ports[i] = port;
            lastSeen[i] = seen;
            pinned[i] = pin;
            if (pin) {
                pinnedCount++;
            } else {
                learnedCount++;
            }
            KEYS.setRelease(keys, i, mac + 1);
        }

        /**
         * A fresh table of the entries to keep: all but those of {@code removed} (learned ones, or
         * pinned ones too with {@code withPinned}) and, when {@code ageing}, learned ones not seen since
         * {@code oldestNanos}.
         * It shrinks to fit, never below {@link #MIN_CAPACITY}, and is unpublished until returned.
         */
        Slots copy(int capacity, SwitchPort removed, boolean withPinned, boolean ageing, long oldestNanos) {
            int kept = 0;
            for (int i = 0; i < keys.length; i++) {
                if (keep(i, removed, withPinned, ageing, oldestNanos)) {
                    kept++;
                }
            }
            int fit = MIN_CAPACITY;
            while ((kept + 1) * 2 > fit) {
                fit *= 2;
            }
            Slots next = new Slots(capacity > keys.length ? capacity : Math.min(capacity, fit));
            for (int i = 0; i < keys.length; i++) {
                if (keep(i, removed, withPinned, ageing, oldestNanos)) {
                    next.insert(keys[i] - 1, ports[i], lastSeen[i], pinned[i]);
                } else if (keys[i] != 0 && !pinned[i]) {
                    ports[i].ingress().countLearned(-1); // the caller publishes next (under the lock)
                }
            }
            return next;
        }

        private boolean keep(int i, SwitchPort removed, boolean withPinned, boolean ageing, long oldestNanos) {
            if (keys[i] == 0) {
                return false;
            }
            if (ports[i] == removed && (withPinned || !pinned[i])) {
                return false;
            }
            return pinned[i] || !ageing || lastSeen[i] - oldestNanos >= 0;
        }

        private static int hash(long mac) {
            long h = mac * 0x9E3779B97F4A7C15L;
            return (int) (h ^ (h >>> 32));
        }
    }
}

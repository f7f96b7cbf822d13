package io.jvhost.backend.switching;

/**
 * MAC address to port, read lock-free by every worker, written rarely.
 *
 * <p>Readers take the current {@link Snapshot} (one volatile read) and probe an open-addressing array.
 * A new address or a moved address copies the table under a lock and publishes the copy
 * (read-copy-update): learning is rare next to lookups, and it keeps the hot path free of locks.
 * Refreshing a known entry's last-seen time is a plain store into the snapshot's array, and only
 * when the stored time is older than {@link #REFRESH_NANOS}, so workers do not bounce a cache line per frame.
 */
public final class MacTable {

    /** Entries are refreshed at most this often. */
    static final long REFRESH_NANOS = 1_000_000_000L;
    /** A full table stops learning (unknown destinations flood) rather than growing without bound. */
    public static final int MAX_ENTRIES = 4096;

    private volatile Snapshot snapshot = new Snapshot(64);
    private final Object writeLock = new Object();

    /** The port that last sent from {@code mac}, or null. Any thread. */
    public SwitchPort lookup(long mac) {
        Snapshot s = snapshot;
        int i = s.find(mac);
        return i < 0 ? null : s.ports[i];
    }

    /**
     * Records that {@code mac} was seen on {@code port}. Any thread.
     *
     * @return true when the table changed (a new or moved address)
     */
    public boolean learn(long mac, SwitchPort port, long nowNanos) {
        Snapshot s = snapshot;
        int i = s.find(mac);
        if (i >= 0 && s.ports[i] == port) {
            if (nowNanos - s.lastSeen[i] > REFRESH_NANOS) {
                s.lastSeen[i] = nowNanos; // benign race: any recent time will do
            }
            return false;
        }
        synchronized (writeLock) {
            Snapshot current = snapshot;
            int j = current.find(mac);
            if (j >= 0 && current.ports[j] == port) {
                return false;
            }
            if (j < 0 && current.size >= MAX_ENTRIES) {
                return false;
            }
            Snapshot next = current.copyWith(mac, port, nowNanos);
            snapshot = next;
            return true;
        }
    }

    /** Drops entries not seen since {@code oldestNanos}. Returns how many were dropped. */
    public int age(long oldestNanos) {
        synchronized (writeLock) {
            Snapshot current = snapshot;
            Snapshot next = current.filter(null, oldestNanos);
            int dropped = current.size - next.size;
            if (dropped > 0) {
                snapshot = next;
            }
            return dropped;
        }
    }

    /** Drops every entry pointing at {@code port} (it went away). */
    public void forget(SwitchPort port) {
        synchronized (writeLock) {
            snapshot = snapshot.filter(port, Long.MIN_VALUE);
        }
    }

    public int size() {
        return snapshot.size;
    }

    /** One immutable-shaped generation of the table (only {@code lastSeen} is refreshed in place). */
    private static final class Snapshot {
        final long[] keys;        // mac + 1, so that 0 marks an empty slot
        final SwitchPort[] ports;
        final long[] lastSeen;
        final int mask;
        int size;

        Snapshot(int capacity) {
            keys = new long[capacity];
            ports = new SwitchPort[capacity];
            lastSeen = new long[capacity];
            mask = capacity - 1;
        }

        int find(long mac) {
            final long key = mac + 1;
            final long[] k = keys;
            int i = hash(mac) & mask;
            // The table is never more than half full, so a probe always meets an empty slot.
            while (true) {
                long slot = k[i];
                if (slot == key) {
                    return i;
                }
                if (slot == 0) {
                    return -1;
                }
                i = (i + 1) & mask;
            }
        }

        private void put(long mac, SwitchPort port, long seen) {
            int i = hash(mac) & mask;
            while (keys[i] != 0 && keys[i] != mac + 1) {
                i = (i + 1) & mask;
            }
            if (keys[i] == 0) {
                size++;
            }
            keys[i] = mac + 1;
            ports[i] = port;
            lastSeen[i] = seen;
        }

        Snapshot copyWith(long mac, SwitchPort port, long seen) {
            int capacity = keys.length;
            while ((size + 1) * 2 > capacity) {
                capacity *= 2;
            }
            Snapshot next = new Snapshot(capacity);
            for (int i = 0; i < keys.length; i++) {
                if (keys[i] != 0) {
                    next.put(keys[i] - 1, ports[i], lastSeen[i]);
                }
            }
            next.put(mac, port, seen);
            return next;
        }

        Snapshot filter(SwitchPort removed, long oldestNanos) {
            Snapshot next = new Snapshot(keys.length);
            for (int i = 0; i < keys.length; i++) {
                if (keys[i] != 0 && ports[i] != removed && lastSeen[i] - oldestNanos >= 0) {
                    next.put(keys[i] - 1, ports[i], lastSeen[i]);
                }
            }
            return next;
        }

        private static int hash(long mac) {
            long h = mac * 0x9E3779B97F4A7C15L;
            return (int) (h ^ (h >>> 32));
        }
    }
}

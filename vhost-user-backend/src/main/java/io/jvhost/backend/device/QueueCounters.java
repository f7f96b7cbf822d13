package io.jvhost.backend.device;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

/**
 * Packet, byte and drop counts of one virtqueue. One writer at a time (the owning worker, or the
 * sender holding an RX queue's claim), any number of readers: writes are release stores of
 * {@code get + n} (no locked instruction on the hot path), reads are acquire loads.
 */
final class QueueCounters {

    private static final VarHandle PACKETS;
    private static final VarHandle BYTES;
    private static final VarHandle DROPS;
    private static final VarHandle MIGRATIONS;

    static {
        try {
            MethodHandles.Lookup l = MethodHandles.lookup();
            PACKETS = l.findVarHandle(QueueCounters.class, "packets", long.class);
            BYTES = l.findVarHandle(QueueCounters.class, "bytes", long.class);
            DROPS = l.findVarHandle(QueueCounters.class, "drops", long.class);
            MIGRATIONS = l.findVarHandle(QueueCounters.class, "migrations", long.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    private long packets;
    private long bytes;
    private long drops;
    private long migrations;

    void addPackets(long n, long byteCount) {
        PACKETS.setRelease(this, packets + n);
        BYTES.setRelease(this, bytes + byteCount);
    }

    void addDrops(long n) {
        DROPS.setRelease(this, drops + n);
    }

    void addMigration() {
        MIGRATIONS.setRelease(this, migrations + 1);
    }

    long packets() {
        return (long) PACKETS.getAcquire(this);
    }

    long bytes() {
        return (long) BYTES.getAcquire(this);
    }

    long drops() {
        return (long) DROPS.getAcquire(this);
    }

    long migrations() {
        return (long) MIGRATIONS.getAcquire(this);
    }
}

package io.jvhost.backend.device;

import io.jvhost.backend.management.QueueStatus;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

/**
 * Packet, byte and drop counts of one virtqueue, and what happened to offloads on it: frames
 * segmented and checksums completed in software, offload frames passed on as they were (RX side),
 * frames dropped for a bad offload header (TX side). One writer at a time (the owning worker, or the
 * sender holding an RX queue's claim), any number of readers: writes are release stores of
 * {@code get + n} (no locked instruction on the hot path), reads are acquire loads.
 */
final class QueueCounters {

    private static final VarHandle PACKETS;
    private static final VarHandle BYTES;
    private static final VarHandle DROPS;
    private static final VarHandle SEGMENTED;
    private static final VarHandle CHECKSUMS;
    private static final VarHandle PASSED_THROUGH;
    private static final VarHandle BAD_OFFLOADS;
    private static final VarHandle CPU_NANOS;
    private static final VarHandle WAITS;
    private static final VarHandle RECEIVE_CPU_NANOS;
    private static final VarHandle CONTENDED_DROPS;

    static {
        try {
            MethodHandles.Lookup l = MethodHandles.lookup();
            PACKETS = l.findVarHandle(QueueCounters.class, "packets", long.class);
            BYTES = l.findVarHandle(QueueCounters.class, "bytes", long.class);
            DROPS = l.findVarHandle(QueueCounters.class, "drops", long.class);
            SEGMENTED = l.findVarHandle(QueueCounters.class, "segmented", long.class);
            CHECKSUMS = l.findVarHandle(QueueCounters.class, "checksums", long.class);
            PASSED_THROUGH = l.findVarHandle(QueueCounters.class, "passedThrough", long.class);
            BAD_OFFLOADS = l.findVarHandle(QueueCounters.class, "badOffloads", long.class);
            CPU_NANOS = l.findVarHandle(QueueCounters.class, "cpuNanos", long.class);
            WAITS = l.findVarHandle(QueueCounters.class, "waits", long.class);
            RECEIVE_CPU_NANOS = l.findVarHandle(QueueCounters.class, "receiveCpuNanos", long.class);
            CONTENDED_DROPS = l.findVarHandle(QueueCounters.class, "contendedDrops", long.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    private long packets;
    private long bytes;
    private long drops;
    private long segmented;
    private long checksums;
    private long passedThrough;
    private long badOffloads;
    /** Only the owning worker adds to it (kicks and polls of this queue), never an RX claim holder. */
    private long cpuNanos;
    private long waits;
    /** Other workers' time copying into this (RX) queue: several may add at once, so an atomic add. */
    @SuppressWarnings("unused") // through RECEIVE_CPU_NANOS
    private volatile long receiveCpuNanos;
    /** Drops by senders that did not hold the claim (it was taken): several may add at once. */
    @SuppressWarnings("unused") // through CONTENDED_DROPS
    private volatile long contendedDrops;

    void addPackets(long n, long byteCount) {
        PACKETS.setRelease(this, packets + n);
        BYTES.setRelease(this, bytes + byteCount);
    }

    void addDrops(long n) {
        DROPS.setRelease(this, drops + n);
    }

    /** One drop, counted by a thread that is not this queue's one writer (an atomic add). */
    void addDropAtomically() {
        CONTENDED_DROPS.getAndAdd(this, 1L);
    }

    /**
     * Worker time spent on this queue's kicks and polls, less what its copies into other ports' RX
     * rings charged them ({@link io.jvhost.backend.datapath.DeliveryContext#settleCopies}).
     */
    void addCpuNanos(long n) {
        CPU_NANOS.setRelease(this, cpuNanos + n);
    }

    /** Senders' worker time spent copying into this queue. Any thread; once per sender's wakeup. */
    void addReceiveCpuNanos(long n) {
        RECEIVE_CPU_NANOS.getAndAdd(this, n);
    }

    /** What this queue was charged: its own work and the copies into it. */
    long cpuNanos() {
        return (long) CPU_NANOS.getAcquire(this) + receiveCpuNanos;
    }

    /** A frame from this (TX) queue waited for a receiver without buffers instead of being dropped. */
    void addWait() {
        WAITS.setRelease(this, waits + 1);
    }

    long waits() {
        return (long) WAITS.getAcquire(this);
    }

    /** A GSO frame was cut into segments (or fragments) in software. */
    void addSegmented() {
        SEGMENTED.setRelease(this, segmented + 1);
    }

    /** {@code n} checksums were computed in software. */
    void addChecksums(long n) {
        CHECKSUMS.setRelease(this, checksums + n);
    }

    /** A frame with offload information went to a receiver that takes it as it is. */
    void addPassedThrough() {
        PASSED_THROUGH.setRelease(this, passedThrough + 1);
    }

    /** {@code n} frames were dropped for a bad offload header. */
    void addBadOffloads(long n) {
        BAD_OFFLOADS.setRelease(this, badOffloads + n);
    }

    long segmented() {
        return (long) SEGMENTED.getAcquire(this);
    }

    long checksums() {
        return (long) CHECKSUMS.getAcquire(this);
    }

    long passedThrough() {
        return (long) PASSED_THROUGH.getAcquire(this);
    }

    long badOffloads() {
        return (long) BAD_OFFLOADS.getAcquire(this);
    }

    QueueStatus.OffloadCounts offloadCounts() {
        return new QueueStatus.OffloadCounts(segmented(), checksums(), passedThrough(), badOffloads());
    }

    long packets() {
        return (long) PACKETS.getAcquire(this);
    }

    long bytes() {
        return (long) BYTES.getAcquire(this);
    }

    long drops() {
        return (long) DROPS.getAcquire(this) + contendedDrops;
    }

}

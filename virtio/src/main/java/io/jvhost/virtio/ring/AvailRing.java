package io.jvhost.virtio.ring;

import io.jvhost.virtio.LittleEndian;

import java.lang.foreign.MemorySegment;
import java.lang.invoke.VarHandle;

/**
 * Flyweight over the driver area of a split virtqueue (virtio 1.2 §2.7.6 "The Virtqueue Available
 * Ring"), little-endian, 2-byte aligned, {@code 6 + 2 * queueSize} bytes. Only the driver writes it.
 *
 * <pre>
 *  0        2        4                          4+2*N          6+2*N
 *  +--------+--------+------ ... ---------------+--------------+
 *  | flags  | idx    | ring[N]: le16 head ids   | used_event   |
 *  +--------+--------+------ ... ---------------+--------------+
 * </pre>
 *
 * <p>{@code idx} is read with acquire semantics so that the ring entries and descriptors the driver
 * wrote before publishing it are visible (§2.7.13.3, the driver's write barrier pairs with it).
 * The fence is explicit ({@link VarHandle#acquireFence()} after a plain load) rather than a
 * {@code getAcquire} VarHandle because atomic access modes refuse heap segments backed by
 * {@code byte[]}, which tests use as guest memory.
 *
 * <p>Re-wrapped (never re-allocated) when the memory table changes. Owner thread only.
 */
public final class AvailRing {

    public static final int ALIGNMENT = 2;
    public static final int FLAGS_OFFSET = 0;
    public static final int IDX_OFFSET = 2;
    public static final int RING_OFFSET = 4;
    public static final int ENTRY_SIZE = 2;

    /** Flag: the driver asks for no used-buffer notification (ignored with EVENT_IDX, §2.7.7). */
    public static final int F_NO_INTERRUPT = 1;

    private MemorySegment segment;
    private long usedEventOffset;

    /** Bytes of the driver area for a queue of {@code queueSize} entries (used_event included). */
    public static long byteSize(int queueSize) {
        return RING_OFFSET + (long) ENTRY_SIZE * queueSize + 2;
    }

    /** Offset of {@code used_event}, just after the ring. */
    public static long usedEventOffset(int queueSize) {
        return RING_OFFSET + (long) ENTRY_SIZE * queueSize;
    }

    /** Points this flyweight at a driver area of {@link #byteSize(int)} bytes. */
    public AvailRing wrap(MemorySegment driverArea, int queueSize) {
        segment = driverArea;
        usedEventOffset = usedEventOffset(queueSize);
        return this;
    }

    public MemorySegment segment() {
        return segment;
    }

    public int flags() {
        return LittleEndian.u16(segment, FLAGS_OFFSET);
    }

    /** The driver's avail idx, with acquire semantics (see class comment). */
    public int idxAcquire() {
        int idx = LittleEndian.u16(segment, IDX_OFFSET);
        VarHandle.acquireFence();
        return idx;
    }

    /** Head id in ring slot {@code slot} (0..N-1); read after {@link #idxAcquire()}. */
    public int entry(int slot) {
        return LittleEndian.u16(segment, RING_OFFSET + (long) ENTRY_SIZE * slot);
    }

    /** The driver's {@code used_event} (meaningful with VIRTIO_F_RING_EVENT_IDX). */
    public int usedEvent() {
        return LittleEndian.u16(segment, usedEventOffset);
    }
}

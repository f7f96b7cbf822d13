package io.jvhost.virtio.ring;

import io.jvhost.virtio.LittleEndian;

import java.lang.foreign.MemorySegment;
import java.lang.invoke.VarHandle;

/**
 * Flyweight over the device area of a split virtqueue (virtio 1.2 §2.7.8 "The Virtqueue Used Ring"),
 * little-endian, 4-byte aligned, {@code 6 + 8 * queueSize} bytes. Only the device writes it.
 *
 * <pre>
 *  0        2        4                                   4+8*N          6+8*N
 *  +--------+--------+------------ ... -----------------+--------------+
 *  | flags  | idx    | ring[N]: { le32 id, le32 len }   | avail_event  |
 *  +--------+--------+------------ ... -----------------+--------------+
 * </pre>
 *
 * <p>{@code idx} is published with release semantics after the elements it covers are written
 * (§2.7.8: the elements must be visible before the idx that covers them). The fence is explicit
 * ({@link VarHandle#releaseFence()} before a plain store) because atomic access modes refuse heap
 * segments backed by {@code byte[]}.
 *
 * <p>Re-wrapped (never re-allocated) when the memory table changes. Owner thread only.
 */
public final class UsedRing {

    public static final int ALIGNMENT = 4;
    public static final int FLAGS_OFFSET = 0;
    public static final int IDX_OFFSET = 2;
    public static final int RING_OFFSET = 4;
    public static final int ELEMENT_SIZE = 8;
    /** Within an element: head id of the used chain (le32). */
    public static final int ELEMENT_ID_OFFSET = 0;
    /** Within an element: bytes the device wrote into the chain (le32). */
    public static final int ELEMENT_LENGTH_OFFSET = 4;

    /** Flag: the device asks for no available-buffer notification (ignored with EVENT_IDX, §2.7.10). */
    public static final int F_NO_NOTIFY = 1;

    private MemorySegment segment;
    private long availEventOffset;

    /** Bytes of the device area for a queue of {@code queueSize} entries (avail_event included). */
    public static long byteSize(int queueSize) {
        return RING_OFFSET + (long) ELEMENT_SIZE * queueSize + 2;
    }

    /** Offset of {@code avail_event}, just after the ring. */
    public static long availEventOffset(int queueSize) {
        return RING_OFFSET + (long) ELEMENT_SIZE * queueSize;
    }

    /** Points this flyweight at a device area of {@link #byteSize(int)} bytes. */
    public UsedRing wrap(MemorySegment deviceArea, int queueSize) {
        segment = deviceArea;
        availEventOffset = availEventOffset(queueSize);
        return this;
    }

    public MemorySegment segment() {
        return segment;
    }

    public int flags() {
        return LittleEndian.u16(segment, FLAGS_OFFSET);
    }

    public void setFlags(int flags) {
        LittleEndian.putU16(segment, FLAGS_OFFSET, flags);
    }

    /** Plain read of idx: only the device writes it, so the owner thread reads its own value. */
    public int idx() {
        return LittleEndian.u16(segment, IDX_OFFSET);
    }

    /** Release-stores idx: every element written before this call is visible to the driver first. */
    public void publishIdx(int idx) {
        VarHandle.releaseFence();
        LittleEndian.putU16(segment, IDX_OFFSET, idx);
    }

    /** Writes element {@code slot} (0..N-1); invisible to the driver until {@link #publishIdx(int)}. */
    public void setElement(int slot, int id, int length) {
        long offset = RING_OFFSET + (long) ELEMENT_SIZE * slot;
        LittleEndian.putU32(segment, offset + ELEMENT_ID_OFFSET, id);
        LittleEndian.putU32(segment, offset + ELEMENT_LENGTH_OFFSET, length);
    }

    public int elementId(int slot) {
        return (int) LittleEndian.u32(segment, RING_OFFSET + (long) ELEMENT_SIZE * slot + ELEMENT_ID_OFFSET);
    }

    /** Unsigned length of element {@code slot}. */
    public long elementLength(int slot) {
        return LittleEndian.u32(segment, RING_OFFSET + (long) ELEMENT_SIZE * slot + ELEMENT_LENGTH_OFFSET);
    }

    public int availEvent() {
        return LittleEndian.u16(segment, availEventOffset);
    }

    /** Writes {@code avail_event}: "kick me when you publish the entry at this avail index" (§2.7.10). */
    public void setAvailEvent(int availIdx) {
        LittleEndian.putU16(segment, availEventOffset, availIdx);
    }
}

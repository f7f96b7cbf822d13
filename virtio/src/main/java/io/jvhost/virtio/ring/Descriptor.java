package io.jvhost.virtio.ring;

import io.jvhost.virtio.LittleEndian;

import java.lang.foreign.MemorySegment;

/**
 * Layout of one split-virtqueue descriptor (virtio 1.2 §2.7.5 "The Virtqueue Descriptor Table"),
 * 16 bytes, little-endian, in the descriptor table or in an indirect table (§2.7.5.3).
 *
 * <pre>
 *  0                    8          12         14         16
 *  +--------------------+----------+----------+----------+
 *  | addr: le64 gpa     | len: le32| flags:le16| next:le16|
 *  +--------------------+----------+----------+----------+
 * </pre>
 *
 * <p>Static accessors over ({@code table}, {@code offset}) rather than a flyweight: the chain walker
 * reads descriptors from several tables (the ring's, indirect ones) and keeps no per-descriptor state.
 */
public final class Descriptor {

    /** Bytes per descriptor; also the descriptor table's alignment (§2.7 "Alignment"). */
    public static final int SIZE = 16;
    public static final int ALIGNMENT = 16;

    /** Guest-physical address of the buffer (le64). */
    public static final int GPA_OFFSET = 0;
    /** Buffer length in bytes (le32, unsigned). */
    public static final int LENGTH_OFFSET = 8;
    /** {@link #F_NEXT}, {@link #F_WRITE}, {@link #F_INDIRECT} (le16). */
    public static final int FLAGS_OFFSET = 12;
    /** Index of the next descriptor in the same table, valid with {@link #F_NEXT} (le16). */
    public static final int NEXT_OFFSET = 14;

    /** The chain continues at {@code next}. */
    public static final int F_NEXT = 1;
    /** The buffer is device-writable (otherwise device-readable). */
    public static final int F_WRITE = 2;
    /** The buffer is a table of descriptors (needs VIRTIO_F_RING_INDIRECT_DESC). */
    public static final int F_INDIRECT = 4;

    private Descriptor() {
    }

    public static long gpa(MemorySegment table, long offset) {
        return LittleEndian.u64(table, offset + GPA_OFFSET);
    }

    /** Unsigned 32-bit length, widened. */
    public static long length(MemorySegment table, long offset) {
        return LittleEndian.u32(table, offset + LENGTH_OFFSET);
    }

    public static int flags(MemorySegment table, long offset) {
        return LittleEndian.u16(table, offset + FLAGS_OFFSET);
    }

    public static int next(MemorySegment table, long offset) {
        return LittleEndian.u16(table, offset + NEXT_OFFSET);
    }

    /** Writes a whole descriptor (the driver's side; used by tools and tests). */
    public static void write(MemorySegment table, long offset, long gpa, int length, int flags, int next) {
        LittleEndian.putU64(table, offset + GPA_OFFSET, gpa);
        LittleEndian.putU32(table, offset + LENGTH_OFFSET, length);
        LittleEndian.putU16(table, offset + FLAGS_OFFSET, flags);
        LittleEndian.putU16(table, offset + NEXT_OFFSET, next);
    }
}

package io.jvhost.virtio;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * Little-endian scalar access to guest memory. Virtio 1.x structures are little-endian whatever the
 * host's order (virtio 1.x §1.4, "le16/le32/le64"); unsigned values are widened on read.
 *
 * <p>The layouts are the unaligned variants: the ring code checks alignment once (at configure) and
 * heap segments backed by {@code byte[]} (tests) only allow unaligned layouts.
 */
public final class LittleEndian {

    public static final ValueLayout.OfShort U16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    public static final ValueLayout.OfInt U32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    public static final ValueLayout.OfLong U64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private LittleEndian() {
    }

    /** Unsigned 16-bit value at {@code offset}, widened to 0..65535. */
    public static int u16(MemorySegment segment, long offset) {
        return Short.toUnsignedInt(segment.get(U16, offset));
    }

    /** Unsigned 32-bit value at {@code offset}, widened to 0..2^32-1. */
    public static long u32(MemorySegment segment, long offset) {
        return Integer.toUnsignedLong(segment.get(U32, offset));
    }

    /** 64-bit value at {@code offset}; compare it with {@link Long#compareUnsigned}. */
    public static long u64(MemorySegment segment, long offset) {
        return segment.get(U64, offset);
    }

    /** Stores the low 16 bits of {@code value}. */
    public static void putU16(MemorySegment segment, long offset, int value) {
        segment.set(U16, offset, (short) value);
    }

    /** Stores {@code value} as an unsigned 32-bit value (the bit pattern of an int). */
    public static void putU32(MemorySegment segment, long offset, int value) {
        segment.set(U32, offset, value);
    }

    public static void putU64(MemorySegment segment, long offset, long value) {
        segment.set(U64, offset, value);
    }
}

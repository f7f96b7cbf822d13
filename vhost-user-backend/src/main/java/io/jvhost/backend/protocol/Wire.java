package io.jvhost.backend.protocol;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * Field accessors for vhost-user messages: little-endian (vhost-user.rst says "machine native byte
 * order", and every supported host is little-endian), unaligned (payloads live in byte arrays), and
 * widened to {@code long} where the wire value is an unsigned 32-bit number.
 */
final class Wire {

    static final ValueLayout.OfInt U32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfLong U64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** A MAC address: six bytes in wire order (network order, not native). */
    static final ValueLayout.OfInt MAC_HIGH = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);
    static final ValueLayout.OfShort MAC_LOW = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);

    private Wire() {
    }

    static int u32(MemorySegment segment, long offset) {
        return segment.get(U32, offset);
    }

    static long u32Unsigned(MemorySegment segment, long offset) {
        return Integer.toUnsignedLong(segment.get(U32, offset));
    }

    static long u64(MemorySegment segment, long offset) {
        return segment.get(U64, offset);
    }

    /** The six bytes at {@code offset} as a 48-bit number, the first byte highest (SEND_RARP's MAC). */
    static long mac(MemorySegment segment, long offset) {
        return (Integer.toUnsignedLong(segment.get(MAC_HIGH, offset)) << 16) | (segment.get(MAC_LOW, offset + 4) & 0xFFFFL);
    }

    static void putU32(MemorySegment segment, long offset, int value) {
        segment.set(U32, offset, value);
    }

    static void putU64(MemorySegment segment, long offset, long value) {
        segment.set(U64, offset, value);
    }
}

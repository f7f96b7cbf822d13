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

    static void putU32(MemorySegment segment, long offset, int value) {
        segment.set(U32, offset, value);
    }

    static void putU64(MemorySegment segment, long offset, long value) {
        segment.set(U64, offset, value);
    }
}

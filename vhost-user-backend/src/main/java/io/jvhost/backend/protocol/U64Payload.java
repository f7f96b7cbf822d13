package io.jvhost.backend.protocol;

import java.lang.foreign.MemorySegment;

/**
 * A single u64 payload (vhost-user.rst, "A single 64-bit integer"): feature bits, queue counts and
 * REPLY_ACK status.
 *
 * <pre>
 *   0        8
 *   | value  |
 * </pre>
 */
public final class U64Payload {

    public static final int VALUE = 0;
    public static final int SIZE = 8;

    private U64Payload() {
    }

    public static long value(MemorySegment payload) {
        return Wire.u64(payload, VALUE);
    }

    public static MemorySegment of(long value) {
        MemorySegment payload = MemorySegment.ofArray(new byte[SIZE]);
        Wire.putU64(payload, VALUE, value);
        return payload;
    }
}

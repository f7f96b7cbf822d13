package io.jvhost.backend.protocol;

import java.lang.foreign.MemorySegment;

/**
 * {@code struct vhost_vring_state} (vhost-user.rst, "A vring state description"): SET_VRING_NUM,
 * SET_VRING_BASE, GET_VRING_BASE (request and reply), SET_VRING_ENABLE.
 *
 * <pre>
 *   0        4        8
 *   | index  | num    |      both u32
 * </pre>
 */
public final class VringStatePayload {

    public static final int INDEX = 0;
    public static final int NUM = 4;
    public static final int SIZE = 8;

    private VringStatePayload() {
    }

    public static int index(MemorySegment payload) {
        return Wire.u32(payload, INDEX);
    }

    /** The number, unsigned. */
    public static long num(MemorySegment payload) {
        return Wire.u32Unsigned(payload, NUM);
    }

    public static MemorySegment of(int index, int num) {
        MemorySegment payload = MemorySegment.ofArray(new byte[SIZE]);
        Wire.putU32(payload, INDEX, index);
        Wire.putU32(payload, NUM, num);
        return payload;
    }
}

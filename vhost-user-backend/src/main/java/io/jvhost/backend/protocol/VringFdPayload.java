package io.jvhost.backend.protocol;

import java.lang.foreign.MemorySegment;

/**
 * The u64 of SET_VRING_KICK, SET_VRING_CALL and SET_VRING_ERR (vhost-user.rst): the queue index in
 * bits 0-7 and VHOST_USER_VRING_NOFD_MASK in bit 8, set when no fd is attached (polling).
 *
 * <pre>
 *   63            9   8      7       0
 *   | reserved (0) | NOFD | index    |
 * </pre>
 */
public final class VringFdPayload {

    public static final int VALUE = 0;
    public static final int SIZE = 8;
    public static final long INDEX_MASK = 0xff;
    public static final long NOFD_MASK = 0x100;

    private VringFdPayload() {
    }

    public static long value(MemorySegment payload) {
        return Wire.u64(payload, VALUE);
    }

    public static int index(long value) {
        return (int) (value & INDEX_MASK);
    }

    public static boolean noFd(long value) {
        return (value & NOFD_MASK) != 0;
    }

    /** Bits other than the index and NOFD. */
    public static long reservedBits(long value) {
        return value & ~(INDEX_MASK | NOFD_MASK);
    }

    public static MemorySegment of(int index, boolean noFd) {
        return U64Payload.of((index & INDEX_MASK) | (noFd ? NOFD_MASK : 0));
    }
}

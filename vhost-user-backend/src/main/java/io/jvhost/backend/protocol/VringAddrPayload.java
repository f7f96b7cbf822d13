package io.jvhost.backend.protocol;

import java.lang.foreign.MemorySegment;

/**
 * {@code struct vhost_vring_addr} (vhost-user.rst, "A vring address description"), for
 * SET_VRING_ADDR. Without VIRTIO_F_IOMMU_PLATFORM the three ring addresses are front-end (QEMU)
 * virtual addresses; {@code log} is a guest-physical address used only with VHOST_VRING_F_LOG.
 *
 * <pre>
 *   0        4        8            16           24            32           40
 *   | index  | flags  | desc (u64) | used (u64) | avail (u64) | log (u64)  |
 * </pre>
 */
public final class VringAddrPayload {

    public static final int INDEX = 0;
    public static final int FLAGS = 4;
    public static final int DESC = 8;
    public static final int USED = 16;
    public static final int AVAIL = 24;
    public static final int LOG = 32;
    public static final int SIZE = 40;

    /** flags bit 0: log writes to the used ring (live migration). */
    public static final int VHOST_VRING_F_LOG = 0x1;

    private VringAddrPayload() {
    }

    public static int index(MemorySegment payload) {
        return Wire.u32(payload, INDEX);
    }

    public static int flags(MemorySegment payload) {
        return Wire.u32(payload, FLAGS);
    }

    public static long descFrontendVa(MemorySegment payload) {
        return Wire.u64(payload, DESC);
    }

    public static long usedFrontendVa(MemorySegment payload) {
        return Wire.u64(payload, USED);
    }

    public static long availFrontendVa(MemorySegment payload) {
        return Wire.u64(payload, AVAIL);
    }

    public static long logGpa(MemorySegment payload) {
        return Wire.u64(payload, LOG);
    }

    public static MemorySegment of(int index, int flags, long descFrontendVa, long usedFrontendVa,
                                   long availFrontendVa, long logGpa) {
        MemorySegment payload = MemorySegment.ofArray(new byte[SIZE]);
        Wire.putU32(payload, INDEX, index);
        Wire.putU32(payload, FLAGS, flags);
        Wire.putU64(payload, DESC, descFrontendVa);
        Wire.putU64(payload, USED, usedFrontendVa);
        Wire.putU64(payload, AVAIL, availFrontendVa);
        Wire.putU64(payload, LOG, logGpa);
        return payload;
    }
}

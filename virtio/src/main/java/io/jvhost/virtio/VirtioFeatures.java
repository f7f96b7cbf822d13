package io.jvhost.virtio;

/**
 * Device-independent feature bits (virtio 1.x §6, "Reserved Feature Bits"), as bit numbers.
 * Device types add their own bits below 24 (for virtio-net see
 * {@code io.jvhost.virtio.net.VirtioNetFeatures}).
 */
public final class VirtioFeatures {

    /** Legacy: notify when the avail ring becomes empty even if notifications are suppressed. */
    public static final int NOTIFY_ON_EMPTY = 24;
    /** Legacy: the device accepts any descriptor layout (implied by VERSION_1). */
    public static final int ANY_LAYOUT = 27;
    /** §2.7.5.3: descriptors may point to an indirect descriptor table. */
    public static final int RING_INDIRECT_DESC = 28;
    /** §2.7.7/§2.7.10: used_event and avail_event fields suppress notifications. */
    public static final int RING_EVENT_IDX = 29;
    /** Compliance with virtio 1.x (modern device: little-endian, 12-byte net header...). */
    public static final int VERSION_1 = 32;
    /** The device sits behind an IOMMU (addresses are IOVAs). */
    public static final int ACCESS_PLATFORM = 33;
    /** §2.8: packed virtqueue layout. */
    public static final int RING_PACKED = 34;
    /** Buffers are used in the order they were made available. */
    public static final int IN_ORDER = 35;

    private VirtioFeatures() {
    }

    /** The mask of feature bit number {@code bit}. */
    public static long mask(int bit) {
        return 1L << bit;
    }

    /** Whether {@code features} has bit number {@code bit} set. */
    public static boolean has(long features, int bit) {
        return (features & (1L << bit)) != 0;
    }
}

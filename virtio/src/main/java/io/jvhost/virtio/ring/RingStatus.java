package io.jvhost.virtio.ring;

/**
 * Status codes of the data path (ints, so the hot path neither throws nor allocates).
 *
 * <p>Non-negative: normal outcomes. Negative: the driver broke the ring; the queue is broken from then
 * on ({@link SplitVirtqueue#isBroken()}, {@link SplitVirtqueue#brokenReason()}) and keeps answering
 * the same status. A broken queue needs a device reset (DEVICE_NEEDS_RESET, virtio 1.2 §2.1 "Device Status Field").
 */
public final class RingStatus {

    /** Done. */
    public static final int OK = 0;
    /** No available chain. */
    public static final int EMPTY = 1;
    /** RX ({@code RxFrameWriter}): not enough RX buffers for the frame; nothing consumed. */
    public static final int NO_BUFFERS = 2;
    /** RX ({@code RxFrameWriter}): the frame cannot fit the offered buffers; frame dropped, nothing consumed. */
    public static final int FRAME_TOO_LARGE = 3;

    /** An avail ring entry names a head id &ge; queue size. */
    public static final int ERR_HEAD_OUT_OF_RANGE = -1;
    /** A descriptor's {@code next} is &ge; the size of its table. */
    public static final int ERR_NEXT_OUT_OF_RANGE = -2;
    /** The chain walked more descriptors than its table holds (a loop), or has more buffers than the chain object holds. */
    public static final int ERR_LOOP_OR_TOO_LONG = -3;
    /** A buffer or indirect table is (partly) outside guest memory, or its end wraps 2^64. */
    public static final int ERR_UNMAPPED = -4;
    /** Indirect descriptor not negotiated, nested, with NEXT, or with a length not a positive multiple of 16. */
    public static final int ERR_INDIRECT = -5;
    /** A device-readable descriptor follows a device-writable one (driver requirement of §2.7.5 "The Virtqueue Descriptor Table"). */
    public static final int ERR_WRITE_BEFORE_READ = -6;
    /** The avail idx moved more than the queue size ahead of the device. */
    public static final int ERR_AVAIL_JUMP = -7;
    /** The chain's layout is unusable for this device queue (e.g. an RX chain with readable buffers). */
    public static final int ERR_CHAIN_LAYOUT = -8;

    private RingStatus() {
    }

    /** Whether {@code status} is a ring error (the queue is broken). */
    public static boolean isError(int status) {
        return status < 0;
    }

    /** Constant name of {@code status}, for logs and test messages. */
    public static String name(int status) {
        return switch (status) {
            case OK -> "OK";
            case EMPTY -> "EMPTY";
            case NO_BUFFERS -> "NO_BUFFERS";
            case FRAME_TOO_LARGE -> "FRAME_TOO_LARGE";
            case ERR_HEAD_OUT_OF_RANGE -> "ERR_HEAD_OUT_OF_RANGE";
            case ERR_NEXT_OUT_OF_RANGE -> "ERR_NEXT_OUT_OF_RANGE";
            case ERR_LOOP_OR_TOO_LONG -> "ERR_LOOP_OR_TOO_LONG";
            case ERR_UNMAPPED -> "ERR_UNMAPPED";
            case ERR_INDIRECT -> "ERR_INDIRECT";
            case ERR_WRITE_BEFORE_READ -> "ERR_WRITE_BEFORE_READ";
            case ERR_AVAIL_JUMP -> "ERR_AVAIL_JUMP";
            case ERR_CHAIN_LAYOUT -> "ERR_CHAIN_LAYOUT";
            default -> "status " + status;
        };
    }
}

package io.jvhost.virtio.net;

import io.jvhost.virtio.LittleEndian;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Layout of {@code struct virtio_net_hdr} (virtio 1.2 §5.1.6 "Device Operation"), little-endian, in
 * front of every frame on both TX and RX queues.
 *
 * <pre>
 *  0       1          2          4          6            8             10            12
 *  +-------+----------+----------+----------+------------+-------------+-------------+
 *  | flags | gso_type | hdr_len  | gso_size | csum_start | csum_offset | num_buffers |
 *  |  u8   |   u8     |  le16    |  le16    |   le16     |   le16      |  le16       |
 *  +-------+----------+----------+----------+------------+-------------+-------------+
 * </pre>
 *
 * <p>{@code num_buffers} exists when VIRTIO_F_VERSION_1 or VIRTIO_NET_F_MRG_RXBUF is negotiated (the
 * header is then 12 bytes); a legacy device without MRG_RXBUF uses the first 10 bytes only. Without
 * MRG_RXBUF but with VERSION_1 the device sets num_buffers to 1 (§5.1.6.4).
 *
 * <p>Static accessors over ({@code segment}, {@code offset}); the header may also span descriptors,
 * in which case callers copy it into a small scratch segment first.
 *
 * <p>The data path carries the first eight bytes (flags to csum_start) as one {@code long}, the
 * little-endian load of bytes 0-7 ({@link #pack}, {@link #flags(long)} ...): a frame without offload
 * information is the value 0, and writing the header back is one store.
 */
public final class NetHeader {

    public static final int FLAGS_OFFSET = 0;
    public static final int GSO_TYPE_OFFSET = 1;
    public static final int HDR_LEN_OFFSET = 2;
    public static final int GSO_SIZE_OFFSET = 4;
    public static final int CSUM_START_OFFSET = 6;
    public static final int CSUM_OFFSET_OFFSET = 8;
    public static final int NUM_BUFFERS_OFFSET = 10;

    /** Header length with num_buffers (VERSION_1 or MRG_RXBUF). */
    public static final int LENGTH = 12;
    /** Legacy header length without num_buffers. */
    public static final int LEGACY_LENGTH = 10;

    public static final int F_NEEDS_CSUM = 1;
    public static final int F_DATA_VALID = 2;
    public static final int F_RSC_INFO = 4;

    public static final int GSO_NONE = 0;
    public static final int GSO_TCPV4 = 1;
    public static final int GSO_UDP = 3;
    public static final int GSO_TCPV6 = 4;
    public static final int GSO_UDP_L4 = 5;
    public static final int GSO_ECN = 0x80;

    /** The flags bits a driver may set on transmit (§5.1.6.2: DATA_VALID and RSC_INFO are device-only). */
    public static final int TX_FLAGS = F_NEEDS_CSUM;

    private NetHeader() {
    }

    /** Bytes 0-7 of a header as the little-endian long the data path carries. */
    public static long pack(int flags, int gsoType, int hdrLen, int gsoSize, int csumStart) {
        return (flags & 0xFFL) | (gsoType & 0xFFL) << 8 | (hdrLen & 0xFFFFL) << 16 | (gsoSize & 0xFFFFL) << 32
                | (csumStart & 0xFFFFL) << 48;
    }

    public static int flags(long packed) {
        return (int) packed & 0xFF;
    }

    public static int gsoType(long packed) {
        return (int) (packed >>> 8) & 0xFF;
    }

    public static int hdrLen(long packed) {
        return (int) (packed >>> 16) & 0xFFFF;
    }

    public static int gsoSize(long packed) {
        return (int) (packed >>> 32) & 0xFFFF;
    }

    public static int csumStart(long packed) {
        return (int) (packed >>> 48) & 0xFFFF;
    }

    /** {@code packed} with its flags byte replaced. */
    public static long withFlags(long packed, int flags) {
        return (packed & ~0xFFL) | (flags & 0xFFL);
    }

    /** Header length for the negotiated features: 12 with VERSION_1 or MRG_RXBUF, else 10. */
    public static int length(long negotiatedFeatures) {
        return VirtioNetFeatures.has(negotiatedFeatures, VirtioNetFeatures.VERSION_1)
                || VirtioNetFeatures.has(negotiatedFeatures, VirtioNetFeatures.MRG_RXBUF)
                ? LENGTH : LEGACY_LENGTH;
    }

    public static int flags(MemorySegment segment, long offset) {
        return Byte.toUnsignedInt(segment.get(ValueLayout.JAVA_BYTE, offset + FLAGS_OFFSET));
    }

    public static int gsoType(MemorySegment segment, long offset) {
        return Byte.toUnsignedInt(segment.get(ValueLayout.JAVA_BYTE, offset + GSO_TYPE_OFFSET));
    }

    public static int hdrLen(MemorySegment segment, long offset) {
        return LittleEndian.u16(segment, offset + HDR_LEN_OFFSET);
    }

    public static int gsoSize(MemorySegment segment, long offset) {
        return LittleEndian.u16(segment, offset + GSO_SIZE_OFFSET);
    }

    public static int csumStart(MemorySegment segment, long offset) {
        return LittleEndian.u16(segment, offset + CSUM_START_OFFSET);
    }

    public static int csumOffset(MemorySegment segment, long offset) {
        return LittleEndian.u16(segment, offset + CSUM_OFFSET_OFFSET);
    }

    /** Only meaningful in a 12-byte header. */
    public static int numBuffers(MemorySegment segment, long offset) {
        return LittleEndian.u16(segment, offset + NUM_BUFFERS_OFFSET);
    }

    /**
     * Writes a header with no offload information (flags 0, GSO_NONE) of {@code length} bytes (10 or
     * 12); with 12 bytes, {@code num_buffers} is set to {@code numBuffers}.
     */
    public static void writeZeroed(MemorySegment segment, long offset, int length, int numBuffers) {
        write(segment, offset, length, 0L, 0, numBuffers);
    }

    /**
     * Writes a header of {@code length} bytes (10 or 12): bytes 0-7 from {@code packed}, then
     * {@code csumOffset}, then (12 bytes) {@code numBuffers}.
     */
    public static void write(MemorySegment segment, long offset, int length, long packed, int csumOffset,
                             int numBuffers) {
        if (length != LENGTH && length != LEGACY_LENGTH) {
            throw new IllegalArgumentException("virtio-net header length must be 10 or 12: " + length);
        }
        LittleEndian.putU64(segment, offset, packed);
        LittleEndian.putU16(segment, offset + CSUM_OFFSET_OFFSET, csumOffset);
        if (length == LENGTH) {
            LittleEndian.putU16(segment, offset + NUM_BUFFERS_OFFSET, numBuffers);
        }
    }
}

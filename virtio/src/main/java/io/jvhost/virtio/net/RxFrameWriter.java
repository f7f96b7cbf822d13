package io.jvhost.virtio.net;

import io.jvhost.virtio.LittleEndian;
import io.jvhost.virtio.ring.DescriptorChain;
import io.jvhost.virtio.ring.RingStatus;
import io.jvhost.virtio.ring.SplitVirtqueue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Objects;

/**
 * Copies one frame into a virtio-net receive queue (virtio 1.2 §5.1.6.4 "Processing of Incoming
 * Packets"): a virtio-net header, then the frame, one copy per byte.
 *
 * <p>The frame is an optional prefix (headers the caller rebuilt in a scratch buffer, for software
 * segmentation or a completed checksum) followed by a range of a {@link FrameSource}: the readable
 * part of another guest's TX chain or a plain segment (a TAP read). Source and RX buffers are walked
 * in step so each {@link MemorySegment#copy} call moves the longest run contiguous on both sides. The
 * header's first eight bytes and {@code csum_offset} come from the caller ({@link NetHeader#pack};
 * 0 for a frame without offload information); {@code num_buffers} is set here.
 *
 * <p>Buffer policy:
 * <ul>
 * <li>VIRTIO_NET_F_MRG_RXBUF negotiated: as many RX chains as the frame needs; each chain's used
 * length is the bytes written into it and the header's {@code num_buffers} counts the chains. If the
 * ring runs out midway, every chain taken for this frame is given back ({@link SplitVirtqueue#rewind})
 * and the answer is {@link RingStatus#NO_BUFFERS}: nothing is consumed, the caller may retry later
 * (after {@link SplitVirtqueue#enableNotifications()}) or drop.</li>
 * <li>Not negotiated: exactly one chain, which must hold header + frame (§5.1.6.3.1 makes the driver
 * post big enough buffers: Linux posts 64 KiB chains when it accepts GSO frames). If it cannot, the
 * chain is given back unconsumed and the answer is {@link RingStatus#FRAME_TOO_LARGE}: the caller
 * drops the frame (DPDK does the same; returning the chain with length 0 would only cost the guest a
 * buffer and an rx_length_error).</li>
 * <li>An RX chain with device-readable buffers, or (mergeable) with fewer writable bytes than the
 * header, breaks the queue with {@link RingStatus#ERR_CHAIN_LAYOUT} (the driver violated
 * §5.1.6.3.1; Linux vhost-net also fails the queue on readable RX descriptors).</li>
 * </ul>
 *
 * <p>While the queue logs dirty pages ({@link SplitVirtqueue#isLogging}), every chain written is logged
 * once its bytes are in: header, frame and {@code num_buffers}, by guest-physical address
 * ({@link SplitVirtqueue#logWritten}); a chain given back afterwards stays logged, which costs the
 * migration one page copy and nothing else.
 *
 * <p>On {@link RingStatus#OK} the chains are pushed to the RX queue's shadow used ring; the caller
 * publishes ({@link SplitVirtqueue#publishUsed()}) once per batch and notifies if told to.
 *
 * <p>Threading: one writer per thread, reused for every frame; the caller must hold the RX queue.
 * The source must stay valid during the call. No allocation.
 */
public final class RxFrameWriter {

    /** Default limit of RX chains one frame may use (num_buffers); a 64 KiB frame in 1.5 KiB buffers needs 44. */
    public static final int DEFAULT_MAX_CHAINS_PER_FRAME = 256;

    private final DescriptorChain first;
    private final DescriptorChain current;
    private final int[] heads;
    private final int[] usedLengths;
    /** Header bytes for a header that spans descriptors; native like the guest memory it is copied to. */
    private final MemorySegment header = Arena.ofAuto().allocate(NetHeader.LENGTH, 8);
    /** The view the chain and segment convenience methods wrap their argument in. */
    private final FrameSource plain = new FrameSource();

    private long headerBytes;
    private int headerCsumOffset;
    private MemorySegment prefix;
    private long prefixOffset;
    private long prefixRemaining;
    private DescriptorChain sourceChain;
    private int sourceBuffer;
    private long sourceBufferOffset;
    private MemorySegment sourceSegment;
    private long sourceOffset;
    private long sourceRemaining;
    private int lastChainCount;

    public RxFrameWriter() {
        this(DescriptorChain.DEFAULT_CAPACITY, DEFAULT_MAX_CHAINS_PER_FRAME);
    }

    /**
     * @param maxBuffersPerChain capacity of the scratch chains (longer RX chains break the queue)
     * @param maxChainsPerFrame  most RX chains one frame may use; a frame needing more is
     *                           {@link RingStatus#FRAME_TOO_LARGE}
     */
    public RxFrameWriter(int maxBuffersPerChain, int maxChainsPerFrame) {
        if (maxChainsPerFrame <= 0 || maxChainsPerFrame > 0xFFFF) {
            throw new IllegalArgumentException("maxChainsPerFrame must be in 1..65535: " + maxChainsPerFrame);
        }
        first = new DescriptorChain(maxBuffersPerChain);
        current = new DescriptorChain(maxBuffersPerChain);
        heads = new int[maxChainsPerFrame];
        usedLengths = new int[maxChainsPerFrame];
    }

    /**
     * Writes {@code frameLength} bytes of {@code txChain}'s readable part, starting {@code skip} bytes
     * into it (its virtio-net header length), into {@code rx}, behind a header without offload
     * information.
     *
     * @return {@link RingStatus#OK}, {@link RingStatus#NO_BUFFERS}, {@link RingStatus#FRAME_TOO_LARGE}
     * or a negative ring status (the RX queue is broken)
     * @throws IllegalArgumentException when {@code [skip, skip + frameLength)} is not inside the
     *                                  readable part (a caller bug)
     */
    public int write(SplitVirtqueue rx, DescriptorChain txChain, long skip, long frameLength) {
        if (skip < 0 || frameLength < 0 || frameLength > txChain.readableLength() - skip) {
            throw new IllegalArgumentException("frame [" + skip + ", +" + frameLength
                    + ") outside the readable length " + txChain.readableLength());
        }
        try {
            return write(rx, 0L, 0, null, 0, plain.wrapChain(txChain, skip, frameLength), 0, frameLength);
        } finally {
            plain.clear();
        }
    }

    /**
     * Writes {@code length} bytes of {@code frame} from {@code offset} into {@code rx}, behind a
     * header without offload information.
     *
     * @return as {@link #write(SplitVirtqueue, DescriptorChain, long, long)}
     */
    public int write(SplitVirtqueue rx, MemorySegment frame, long offset, long length) {
        Objects.checkFromIndexSize(offset, length, frame.byteSize());
        try {
            return write(rx, 0L, 0, null, 0, plain.wrapSegment(frame, offset, length), 0, length);
        } finally {
            plain.clear();
        }
    }

    /**
     * Writes one frame into {@code rx}: a virtio-net header made of {@code header} (bytes 0-7,
     * {@link NetHeader#pack}) and {@code csumOffset}, then {@code prefixLength} bytes of
     * {@code prefix} (from offset 0; none when 0), then {@code length} bytes of {@code source} from
     * frame offset {@code from}.
     *
     * @return as {@link #write(SplitVirtqueue, DescriptorChain, long, long)}
     * @throws IndexOutOfBoundsException when the ranges are outside {@code prefix} or {@code source}
     */
    public int write(SplitVirtqueue rx, long header, int csumOffset, MemorySegment prefix, long prefixLength,
                     FrameSource source, long from, long length) {
        Objects.checkFromIndexSize(from, length, source.length());
        if (prefixLength > 0) {
            Objects.checkFromIndexSize(0, prefixLength, prefix.byteSize());
        }
        this.headerBytes = header;
        this.headerCsumOffset = csumOffset;
        this.prefix = prefix;
        this.prefixOffset = 0;
        this.prefixRemaining = prefixLength;
        DescriptorChain chain = source.chain();
        if (chain != null) {
            long offset = source.chainOffset() + from;
            int buffer = 0;
            final int readable = chain.readableCount();
            while (buffer < readable && offset >= chain.length(buffer)) {
                offset -= chain.length(buffer);
                buffer++;
            }
            sourceChain = chain;
            sourceBuffer = buffer;
            sourceBufferOffset = offset;
            sourceSegment = null;
        } else {
            sourceChain = null;
            sourceSegment = source.segment();
            sourceOffset = source.segmentOffset() + from;
        }
        return writeFrame(rx, prefixLength + length, length);
    }

    /** RX chains the last successful write used (num_buffers). */
    public int lastChainCount() {
        return lastChainCount;
    }

    private int writeFrame(SplitVirtqueue rx, long frameLength, long sourceLength) {
        try {
            final long features = rx.features();
            final int headerLength = NetHeader.length(features);
            if (frameLength > Integer.MAX_VALUE - headerLength) {
                return RingStatus.FRAME_TOO_LARGE;
            }
            sourceRemaining = sourceLength;
            int status = rx.pop(first);
            if (status != RingStatus.OK) {
                return status == RingStatus.EMPTY ? RingStatus.NO_BUFFERS : status;
            }
            if (first.readableCount() != 0) {
                return readableInRx(rx, first);
            }
            int total = headerLength + (int) frameLength;
            if (!VirtioNetFeatures.has(features, VirtioNetFeatures.MRG_RXBUF)) {
                if (first.writableLength() < total) {
                    rx.rewind(1);
                    return RingStatus.FRAME_TOO_LARGE;
                }
                fill(first, headerLength);
                writeHeader(headerLength, 1);
                rx.logWritten(first, total);
                rx.pushUsed(first.head(), total);
                lastChainCount = 1;
                return RingStatus.OK;
            }
            if (first.writableLength() < headerLength) {
                return tooSmallForHeader(rx, first, headerLength);
            }
            heads[0] = first.head();
            usedLengths[0] = headerLength + (int) fill(first, headerLength);
            // Logged now and again once its header is in: a frame that runs out of buffers gives the chain
            // back, and then only this marks what was written into it.
            rx.logWritten(first, usedLengths[0]);
            int chains = 1;
            while (prefixRemaining > 0 || sourceRemaining > 0) {
                if (chains == heads.length) {
                    rx.rewind(chains);
                    return RingStatus.FRAME_TOO_LARGE;
                }
                status = rx.pop(current);
                if (status == RingStatus.EMPTY) {
                    rx.rewind(chains);
                    return RingStatus.NO_BUFFERS;
                }
                if (status != RingStatus.OK) {
                    return status;
                }
                if (current.readableCount() != 0) {
                    return readableInRx(rx, current);
                }
                if (current.writableLength() < headerLength) {
                    return tooSmallForHeader(rx, current, headerLength);
                }
                heads[chains] = current.head();
                usedLengths[chains] = (int) fill(current, 0);
                rx.logWritten(current, usedLengths[chains]); // current is refilled by the next pop
                chains++;
            }
            writeHeader(headerLength, chains);
            rx.logWritten(first, usedLengths[0]); // its header (num_buffers) is written last
            for (int i = 0; i < chains; i++) {
                rx.pushUsed(heads[i], usedLengths[i]);
            }
            lastChainCount = chains;
            return RingStatus.OK;
        } finally {
            // Do not keep the caller's memory reachable between frames.
            sourceChain = null;
            sourceSegment = null;
            prefix = null;
        }
    }

    /**
     * Copies from the source cursor (prefix first) into {@code dst}'s writable part from
     * {@code dstWritableOffset}, until the source or the chain runs out.
     *
     * @return bytes copied
     */
    private long fill(DescriptorChain dst, long dstWritableOffset) {
        final int end = dst.bufferCount();
        int buffer = dst.readableCount();
        long skip = dstWritableOffset;
        while (buffer < end && skip >= dst.length(buffer)) {
            skip -= dst.length(buffer);
            buffer++;
        }
        long copied = 0;
        while ((prefixRemaining > 0 || sourceRemaining > 0) && buffer < end) {
            long room = dst.length(buffer) - skip;
            MemorySegment dstSegment = dst.segmentOf(buffer);
            long dstOffset = dst.offset(buffer) + skip;
            long n;
            if (prefixRemaining > 0) {
                n = Math.min(room, prefixRemaining);
                MemorySegment.copy(prefix, prefixOffset, dstSegment, dstOffset, n);
                prefixOffset += n;
                prefixRemaining -= n;
            } else if (sourceChain != null) {
                long sourceLength = sourceChain.length(sourceBuffer);
                n = Math.min(Math.min(room, sourceLength - sourceBufferOffset), sourceRemaining);
                MemorySegment.copy(sourceChain.segmentOf(sourceBuffer), sourceChain.offset(sourceBuffer) + sourceBufferOffset,
                        dstSegment, dstOffset, n);
                sourceBufferOffset += n;
                if (sourceBufferOffset == sourceLength) {
                    sourceBuffer++;
                    sourceBufferOffset = 0;
                }
                sourceRemaining -= n;
            } else {
                n = Math.min(room, sourceRemaining);
                MemorySegment.copy(sourceSegment, sourceOffset, dstSegment, dstOffset, n);
                sourceOffset += n;
                sourceRemaining -= n;
            }
            copied += n;
            skip += n;
            if (skip == dst.length(buffer)) {
                buffer++;
                skip = 0;
            }
        }
        return copied;
    }

    /** Writes the header into the first chain (it may span that chain's first descriptors). */
    private void writeHeader(int headerLength, int numBuffers) {
        int buffer = first.readableCount(); // the first device-writable buffer
        if (headerLength == NetHeader.LENGTH && first.length(buffer) >= NetHeader.LENGTH) {
            // Common case: two stores. Bytes 0-7 are flags..csum_start, 8-9 csum_offset, 10-11
            // num_buffers; bounds hold: the walker checked the buffer lies in its region.
            MemorySegment segment = first.segmentOf(buffer);
            long offset = first.offset(buffer);
            segment.set(LittleEndian.U64, offset, headerBytes);
            segment.set(LittleEndian.U32, offset + 8, (headerCsumOffset & 0xFFFF) | numBuffers << 16);
            return;
        }
        NetHeader.write(header, 0, headerLength, headerBytes, headerCsumOffset, numBuffers);
        first.writeBytes(0, header, 0, headerLength);
    }
    private static int readableInRx(SplitVirtqueue rx, DescriptorChain chain) {
        return rx.markBroken(RingStatus.ERR_CHAIN_LAYOUT, "RX chain head " + chain.head() + " has "
                + chain.readableCount() + " device-readable buffers");
    }

    private static int tooSmallForHeader(SplitVirtqueue rx, DescriptorChain chain, int headerLength) {
        return rx.markBroken(RingStatus.ERR_CHAIN_LAYOUT, "RX chain head " + chain.head() + " has "
                + chain.writableLength() + " writable bytes, less than the " + headerLength + "-byte virtio-net header");
    }
}

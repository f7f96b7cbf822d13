package io.jvhost.virtio.net;

import io.jvhost.virtio.ring.DescriptorChain;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Objects;

/**
 * Where the bytes of a frame being forwarded lie: a range of the readable part of a guest's TX
 * descriptor chain (after its virtio-net header), or a range of a plain segment (a TAP read). A view,
 * never a copy; one instance per worker, re-pointed for every frame.
 *
 * <p>Offsets given to the accessors are frame offsets: 0 is the first byte of the Ethernet header.
 * The chain must stay valid (not pushed back to its ring) while the view is used.
 */
public final class FrameSource {

    /** The TX chain holding the frame, or null when the frame is in {@link #segment()}. */
    private DescriptorChain chain;
    private long chainOffset;
    private MemorySegment segment;
    private long segmentOffset;
    private long length;

    /** Points at {@code length} bytes of {@code chain}'s readable part, {@code offset} bytes into it. */
    public FrameSource wrapChain(DescriptorChain chain, long offset, long length) {
        this.chain = chain;
        this.chainOffset = offset;
        this.segment = null;
        this.length = length;
        return this;
    }

    /** Points at {@code length} bytes of {@code segment} from {@code offset}. */
    public FrameSource wrapSegment(MemorySegment segment, long offset, long length) {
        this.chain = null;
        this.segment = segment;
        this.segmentOffset = offset;
        this.length = length;
        return this;
    }

    /** Drops the references to guest memory (between frames). */
    public void clear() {
        chain = null;
        segment = null;
        length = 0;
    }

    /** Frame length in bytes (no virtio-net header). */
    public long length() {
        return length;
    }

    /** The TX chain, or null for a segment frame. */
    public DescriptorChain chain() {
        return chain;
    }

    /** Where the frame starts in the chain's readable part. */
    public long chainOffset() {
        return chainOffset;
    }

    /** The segment, or null for a chain frame. */
    public MemorySegment segment() {
        return segment;
    }

    public long segmentOffset() {
        return segmentOffset;
    }

    /**
     * Copies {@code count} bytes from frame offset {@code from} to {@code dst}.
     *
     * @throws IndexOutOfBoundsException when {@code [from, from + count)} is not inside the frame
     */
    public void copyTo(long from, MemorySegment dst, long dstOffset, int count) {
        Objects.checkFromIndexSize(from, count, length);
        if (chain != null) {
            chain.readBytes(chainOffset + from, dst, dstOffset, count);
        } else {
            MemorySegment.copy(segment, segmentOffset + from, dst, dstOffset, count);
        }
    }

    /** The byte at frame offset {@code at}, widened to 0..255. */
    public int byteAt(long at) {
        Objects.checkIndex(at, length);
        return chain != null
                ? Byte.toUnsignedInt(chain.readByte(chainOffset + at))
                : Byte.toUnsignedInt(segment.get(ValueLayout.JAVA_BYTE, segmentOffset + at));
    }
}

package io.jvhost.backend.switching;

import io.jvhost.virtio.ring.DescriptorChain;

import java.lang.foreign.MemorySegment;

/**
 * The frame being forwarded, as a view of where it already lies: the readable part of a guest's TX
 * descriptor chain (after its virtio-net header), or a slice of a plain buffer (a TAP read).
 * One instance per worker, re-pointed for every frame; never copied.
 */
public final class Frame {

    /** TX chain holding the frame, or null when the frame is in {@link #segment()}. */
    private DescriptorChain chain;
    private long chainOffset;
    private MemorySegment segment;
    private long segmentOffset;
    private long length;
    private long destination;
    private long source;
    private int flowHint;

    /** Points at a frame in a TX chain, {@code offset} bytes into its readable part. */
    public void wrapChain(DescriptorChain chain, long offset, long length, long destination, long source, int flowHint) {
        this.chain = chain;
        this.chainOffset = offset;
        this.segment = null;
        this.length = length;
        this.destination = destination;
        this.source = source;
        this.flowHint = flowHint;
    }

    /** Points at a frame in a plain buffer. */
    public void wrapSegment(MemorySegment segment, long offset, long length, long destination, long source, int flowHint) {
        this.chain = null;
        this.segment = segment;
        this.segmentOffset = offset;
        this.length = length;
        this.destination = destination;
        this.source = source;
        this.flowHint = flowHint;
    }

    public DescriptorChain chain() {
        return chain;
    }

    public long chainOffset() {
        return chainOffset;
    }

    public MemorySegment segment() {
        return segment;
    }

    public long segmentOffset() {
        return segmentOffset;
    }

    /** Ethernet frame length in bytes (no virtio-net header). */
    public long length() {
        return length;
    }

    public long destination() {
        return destination;
    }

    public long source() {
        return source;
    }

    /** Spreads frames over a destination's queue pairs (the source queue pair, for now). */
    public int flowHint() {
        return flowHint;
    }
}

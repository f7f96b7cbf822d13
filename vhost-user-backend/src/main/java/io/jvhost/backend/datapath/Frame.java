package io.jvhost.backend.datapath;

import io.jvhost.backend.offload.FrameOffload;
import io.jvhost.virtio.net.FrameSource;
import io.jvhost.virtio.ring.DescriptorChain;

import java.lang.foreign.MemorySegment;

/**
 * The frame being forwarded, as a view of where it already lies ({@link #bytes()}: the readable part
 * of a guest's TX chain after its virtio-net header, or a slice of a plain buffer such as a TAP read),
 * its MAC addresses, and the offload information the sender gave with it ({@link #offload()}).
 * One instance per worker, re-pointed for every frame; never copied.
 */
public final class Frame {

    private final FrameSource bytes = new FrameSource();
    private final FrameOffload offload = new FrameOffload();
    private long destination;
    private long source;
    private int sourceQueuePair;

    /**
     * Points at a frame in a TX chain, {@code offset} bytes into its readable part. The offload
     * information is left as it is: the sender sets it next ({@link FrameOffload#parse} or
     * {@link FrameOffload#clear}).
     */
    public void wrapChain(DescriptorChain chain, long offset, long length, long destination, long source, int sourceQueuePair) {
        bytes.wrapChain(chain, offset, length);
        this.destination = destination;
        this.source = source;
        this.sourceQueuePair = sourceQueuePair;
    }

    /** Points at a frame in a plain buffer; the offload information as for {@link #wrapChain}. */
    public void wrapSegment(MemorySegment segment, long offset, long length, long destination, long source, int sourceQueuePair) {
        bytes.wrapSegment(segment, offset, length);
        this.destination = destination;
        this.source = source;
        this.sourceQueuePair = sourceQueuePair;
    }

    /** Where the frame's bytes are. */
    public FrameSource bytes() {
        return bytes;
    }

    /** The sender's offload information, validated. */
    public FrameOffload offload() {
        return offload;
    }

    /** Ethernet frame length in bytes (no virtio-net header). */
    public long length() {
        return bytes.length();
    }

    public long destination() {
        return destination;
    }

    public long source() {
        return source;
    }

    /**
     * The queue pair of the sender the frame came from: a multi-queue receiver takes it on the pair of the
     * same number (modulo the pairs it runs), so one flow stays on one pair. 0 for a TAP.
     */
    public int sourceQueuePair() {
        return sourceQueuePair;
    }
}

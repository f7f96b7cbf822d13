package io.jvhost.backend.switching;

import io.jvhost.backend.offload.SoftwareOffload;
import io.jvhost.virtio.net.RxFrameWriter;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * Per-worker scratch for forwarding: the RX writer, the frame view, and the destination queue this
 * worker holds claimed for a run of frames, so that a destination publishes its used ring and signals
 * its guest once per run, not once per frame.
 * Owned by one worker thread; never shared.
 */
public final class DeliveryContext {

    /**
     * A destination lock the sender may keep across consecutive frames of one batch, so a run of frames
     * to the same guest queue costs one lock, not one per frame. A worker holds at most one claim and
     * releases it before it takes another or flushes anything, so no two workers can wait on each other.
     */
    public interface Claim {
        /** Publishes what this sender left pending and unlocks. Holder only. */
        void publishAndRelease();
    }

    private final RxFrameWriter writer = new RxFrameWriter();
    private final Frame frame = new Frame();
    /** Native like guest memory, so the MAC and header reads it goes through see one kind of segment. */
    private final MemorySegment macScratch = Arena.ofAuto().allocate(16, 8);
    private final SoftwareOffload software = new SoftwareOffload();
    private Claim held;
    private long nowNanos;

    public RxFrameWriter writer() {
        return writer;
    }

    public Frame frame() {
        return frame;
    }

    /** What a receiver did not negotiate, done in software. */
    public SoftwareOffload software() {
        return software;
    }

    /** 16 bytes to read a frame's two MAC addresses (or a virtio-net header that spans descriptors) into. */
    public MemorySegment macScratch() {
        return macScratch;
    }

    /** Time at the start of the current batch, for MAC ageing and storm control without a clock read per frame. */
    public long nowNanos() {
        return nowNanos;
    }

    public void startBatch() {
        nowNanos = System.nanoTime();
    }

    /** Starts a batch at {@code nanos}, a fake clock's time (tests). */
    public void startBatch(long nanos) {
        nowNanos = nanos;
    }

    /** The claim this worker holds now, or null. */
    public Claim held() {
        return held;
    }

    /** Records that this worker now holds {@code claim} (it released any other first). */
    public void hold(Claim claim) {
        held = claim;
    }

    /**
     * Publishes and releases the claim held, if any: at the end of a sender's batch, before taking
     * another claim, and as the safety net after a failed batch.
     */
    public void releaseHeld() {
        Claim h = held;
        if (h != null) {
            held = null;
            h.publishAndRelease();
        }
    }
}

package io.jvhost.backend.datapath;

import io.jvhost.backend.offload.SoftwareOffload;
import io.jvhost.virtio.net.RxFrameWriter;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;

/**
 * Per-worker scratch for forwarding: the RX writer, the frame view, the destination queue this
 * worker holds claimed for a run of frames, and the destinations it wrote to in this batch: each
 * publishes its used ring and signals its guest once per sender's batch, however the frames to the
 * destinations interleave (A, B, A, B or a flood), not once per frame or per run.
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

        /** Unlocks, leaving what was written unpublished until {@link #publish()}. Holder only. */
        void release();

        /** Locks, publishes what senders left pending (one used index store, one signal), unlocks. Holding no claim. */
        void publish();
    }

    /**
     * A sending queue that can keep a frame, uncompleted in its own ring, while the receiver has no
     * buffers, and send it again when woken.
     */
    public interface Waiter {
        /** The receiver it waits for posted buffers (or stopped). Any thread; must not block. */
        void receiverReady();
    }

    /** Something other queues' workers copy frames into, charged for its part of that work. */
    public interface Receiver {
        /** Adds {@code nanos} of worker time spent copying into it. Any thread. */
        void chargeCopies(long nanos);
    }

    /** The frame went, or was dropped: the sender goes on. */
    public static final int NO_WAIT = 0;
    /** The receiver has no buffers: wait for its kick (within the bound). */
    public static final int WAIT_FOR_BUFFERS = 1;
    /** Another worker holds the receiver's claim: try again shortly (within the bound). */
    public static final int RETRY_SOON = 2;

    private final RxFrameWriter writer = new RxFrameWriter();
    private final Frame frame = new Frame();
    /** Native like guest memory, so the MAC and header reads it goes through see one kind of segment. */
    private final MemorySegment macScratch = Arena.ofAuto().allocate(16, 8);
    private final SoftwareOffload software = new SoftwareOffload();
    private Claim held;
    /** Destinations released unpublished in this batch; published at its end ({@link #releaseHeld}). */
    private Claim[] unpublished = new Claim[8];
    private int unpublishedCount;
    private long batch;
    /** Who was copied into since the last {@link #settleCopies}, and how many bytes each. */
    private Receiver[] copiedTo = new Receiver[8];
    private long[] copiedBytes = new long[8];
    private int copiedCount;
    private long copiedTotal;
    private long nowNanos;
    private Waiter sender;
    private boolean waitedInVain;
    private boolean flooding;
    /** Why the current frame must wait ({@link #NO_WAIT}, {@link #WAIT_FOR_BUFFERS}, {@link #RETRY_SOON}). */
    private int waitReason;

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
        batch++;
    }

    /** {@code bytes} of a frame were copied into {@code receiver}. Per frame: no clock read. */
    public void copied(Receiver receiver, long bytes) {
        int n = copiedCount;
        int i = n - 1;
        if (n == 0 || copiedTo[i] != receiver) { // usually the same as the last frame's
            i = 0;
            while (i < n && copiedTo[i] != receiver) {
                i++;
            }
            if (i == n) {
                if (n == copiedTo.length) { // once per new high-water mark of receivers per wakeup
                    copiedTo = Arrays.copyOf(copiedTo, n * 2);
                    copiedBytes = Arrays.copyOf(copiedBytes, n * 2);
                }
                copiedTo[n] = receiver;
                copiedBytes[n] = 0;
                copiedCount = n + 1;
            }
        }
        copiedBytes[i] += bytes;
        copiedTotal += bytes;
    }

    /**
     * A wakeup of the sending queue took {@code nanos}: charges the receivers of its copies half of it,
     * split by the bytes copied into each, and returns the rest, the sender's. With one copy between two
     * guests, the copy is both the sender's transmit and the receiver's receive work (behind a Linux
     * bridge each guest's own vhost thread makes one of two copies); no clock is read per receiver.
     */
    public long settleCopies(long nanos) {
        final int n = copiedCount;
        if (n == 0) {
            return nanos;
        }
        final double perByte = (double) (nanos >>> 1) / Math.max(1, copiedTotal);
        long given = 0;
        for (int i = 0; i < n; i++) {
            long share = (long) (perByte * copiedBytes[i]);
            copiedTo[i].chargeCopies(share);
            copiedTo[i] = null;
            given += share;
        }
        copiedCount = 0;
        copiedTotal = 0;
        return nanos - given;
    }

    /** Counts this worker's batches: a destination tells a claim that starts its part of a batch. */
    public long batch() {
        return batch;
    }

    /**
     * The frames forwarded from now on come from {@code sender}, which may wait for a full receiver
     * (null: it cannot; frames that find no room are dropped). {@code waitedInVain}: it already waited
     * its bound for the frame at its head, so the receiver that still has no room is given up on.
     */
    public void sendFrom(Waiter sender, boolean waitedInVain) {
        this.sender = sender;
        this.waitedInVain = waitedInVain;
        this.waitReason = NO_WAIT;
    }

    /** Who a full receiver may ask to wait: null for a flooded frame or a sender that cannot wait. */
    public Waiter waiter() {
        return flooding ? null : sender;
    }

    public boolean waitedInVain() {
        return waitedInVain;
    }

    /** The switch delivers the current frame to every port ({@code true}) or to one. */
    public void flooding(boolean flooding) {
        this.flooding = flooding;
    }

    /** A receiver asks the sender ({@link #waiter()}) to keep the current frame: {@code reason} says why. */
    public void waitWith(int reason) {
        waitReason = reason;
    }

    /** Why the current frame must wait ({@link #NO_WAIT}: it need not); clears it. */
    public int takeWaitReason() {
        int r = waitReason;
        waitReason = NO_WAIT;
        return r;
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
     * Unlocks the claim held, if any, before the sender claims another destination in the same batch;
     * what it wrote there is published at the batch's end.
     */
    public void switchClaim() {
        Claim h = held;
        if (h == null) {
            return;
        }
        held = null;
        h.release();
        for (int i = 0; i < unpublishedCount; i++) {
            if (unpublished[i] == h) {
                return;
            }
        }
        if (unpublishedCount == unpublished.length) { // once per new high-water mark of destinations per batch
            unpublished = Arrays.copyOf(unpublished, unpublishedCount * 2);
        }
        unpublished[unpublishedCount++] = h;
    }

    /**
     * Publishes and releases the claim held, if any, then publishes every destination released earlier
     * in the batch: at the end of a sender's batch, and as the safety net after a failed batch. A
     * destination that fails to publish does not keep the others from it; the first failure is thrown.
     */
    public void releaseHeld() {
        Throwable failure = null;
        Claim h = held;
        if (h != null) {
            held = null;
            try {
                h.publishAndRelease();
            } catch (RuntimeException | InternalError e) {
                failure = e;
            }
        }
        final int n = unpublishedCount;
        unpublishedCount = 0;
        for (int i = 0; i < n; i++) {
            Claim c = unpublished[i];
            unpublished[i] = null;
            if (c == h) {
                continue; // published just now
            }
            try {
                c.publish();
            } catch (RuntimeException | InternalError e) {
                if (failure == null) {
                    failure = e;
                }
            }
        }
        if (failure instanceof RuntimeException r) {
            throw r;
        }
        if (failure instanceof InternalError e) {
            throw e;
        }
    }
}

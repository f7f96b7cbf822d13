package io.jvhost.backend.device;

import io.jvhost.affinity.pool.Worker;
import io.jvhost.backend.offload.FrameOffload;
import io.jvhost.backend.switching.DeliveryContext;
import io.jvhost.backend.switching.Frame;
import io.jvhost.backend.switching.MacAddress;
import io.jvhost.backend.worker.DataWorker;
import io.jvhost.virtio.LittleEndian;
import io.jvhost.virtio.net.NetHeader;
import io.jvhost.virtio.ring.DescriptorChain;
import io.jvhost.virtio.ring.RingStatus;
import io.jvhost.virtio.ring.SplitVirtqueue;

import java.lang.foreign.MemorySegment;

/**
 * A transmit queue: the guest's frames leave through here into the port's network.
 *
 * <p>On a kick the owning worker suppresses further kicks, pops chains in batches, forwards each frame
 * (the destination copies it straight out of this chain's buffers), completes the batch with one used
 * index update and at most one call, and releases the destination it holds (which publishes the frames
 * it received). A long burst stops after
 * {@link #BUDGET} chains and the queue joins the worker's poll list ({@link io.jvhost.affinity.pool.Worker#poll}),
 * kicks still off: it comes back on the next loop turn, after the worker's other queues had theirs, so
 * one busy guest cannot starve them.
 *
 * <p>When the ring runs dry the queue keeps polling it for the worker's busy-poll window (counted from
 * the last frame) before it re-enables kicks, followed by a re-check that closes the race with a driver
 * that added meanwhile. A kick costs the driver a system call (an eventfd write, or a VM exit for a
 * guest) and the worker a wakeup; a sender that pauses for a few microseconds between bursts would
 * otherwise pay both for every burst (measured: 64-byte loopback ran at 2.1 Mpps with one kick per
 * 32-frame burst and at 4.8 Mpps once the worker never slept). An empty poll reads the avail index
 * only and is not counted as busy time: the worker would take any other work in that time.
 */
final class TxQueue extends NetQueue {

    /** Chains per batch: one used-index store, one call and one flush of destinations per batch. */
    static final int BATCH = 64;
    /** Chains per worker turn before yielding to the worker's other queues. */
    static final int BUDGET = 256;
    /** A busy-poll window below this is no window: not worth a poll turn. */
    static final long MIN_WINDOW_NANOS = 1_000;

    private static final int ETHERNET_HEADER = 14;

    private final DescriptorChain chain = new DescriptorChain();
    private final Worker.Poller poller = this::poll;
    /** Call eventfd; written by the owning worker only (control threads go through it). */
    private int callFd = -1;
    private volatile boolean running;
    /** When the last non-empty batch started: the busy-poll window counts from it. */
    private long lastFrameNanos;
    /** The last batch found the ring empty before its end: the next frame ends a gap. */
    private boolean dry;
    /** This queue's busy-poll window now, at most the worker's (see {@link #adaptWindow}); -1 until first used. */
    private long windowNanos = -1;

    TxQueue(VirtioNetPort port, int index) {
        super(port, index);
    }

    void start(DataWorker worker, int kickFd, int callFd) {
        this.callFd = callFd;
        clearBroken();
        running = true;
        attach(worker, kickFd);
    }

    /** Control thread: stop, and return the next avail index. */
    int stop() {
        running = false;
        detach();
        return ring.nextAvail();
    }

    void setCallFd(int fd) {
        DataWorker w = owner;
        if (w == null) {
            callFd = fd;
        } else {
            w.worker().call(() -> {
                callFd = fd;
                return null;
            });
        }
    }

    boolean running() {
        return running;
    }

    @Override
    void onKick(DataWorker worker) {
        if (running && processSafely(worker)) {
            worker.worker().poll(poller);
        }
    }

    @Override
    void onAttached() {
        DataWorker w = serving;
        if (running && processSafely(w)) {
            w.worker().poll(poller);
        }
    }

    @Override
    void onDetached() {
        // The poller, if listed on this worker, sees another worker (or none) serving and leaves.
    }

    /** One poll-list turn. Owning worker. */
    private boolean poll() {
        DataWorker w = serving;
        // After a move or stop the old worker's poller finds another worker (or none) serving the queue,
        // and leaves the ring alone.
        if (w == null || !w.worker().inWorkerThread() || !running) {
            return false;
        }
        if (ring.pendingCount() == 0 && inPollWindow(w, w.worker().turnNanos())) {
            return true; // empty poll: not busy time
        }
        long started = w.worker().workStarted();
        boolean again = processSafely(w);
        w.worker().workEnded(started);
        return again;
    }

    /** Whether {@code now} is inside the busy-poll window that follows the last frame. */
    private boolean inPollWindow(DataWorker worker, long now) {
        if (windowNanos < 0) {
            windowNanos = worker.busyPollNanos();
        }
        return now - lastFrameNanos < windowNanos;
    }

    /** The busy-poll window now (-1 before the first frame). Owning worker (tests). */
    long pollWindowNanos() {
        return windowNanos;
    }

    /**
     * Polling pays only if the sender's next frame comes within the window, or if the worker polls
     * other queues anyway. A gap that short (caught by polling, or by a kick soon after the window
     * closed) opens the window fully; a longer one halves it, down to no polling at all, while this
     * queue is the only one its worker polls: then the window is pure spinning. A guest that sends in
     * bursts microseconds apart keeps the worker polling (64-byte loopback: kicks would halve the
     * rate), so does a worker busy with many queues (a poll of this one is one load in its turn); a
     * lone TCG guest's TCP stream (a frame every 100 us or more) stops costing the CPUs it shares
     * with the vCPUs 50 us of spinning per frame, and pays a kick instead.
     */
    private void adaptWindow(DataWorker worker, long gapNanos) {
        long max = worker.busyPollNanos();
        // A miss is seen after a kick: this queue is not in the poll list, the others there are.
        if (gapNanos <= max || worker.worker().pollerCount() > 0) {
            windowNanos = max;
        } else {
            long half = windowNanos >> 1;
            windowNanos = half < MIN_WINDOW_NANOS ? 0 : half;
        }
    }

    /** {@link #process}, and whatever happens, no destination stays claimed by this worker. */
    private boolean processSafely(DataWorker worker) {
        try {
            return process(worker);
        } finally {
            worker.context().releaseHeld();
        }
    }

    /**
     * Forwards up to {@link #BUDGET} chains with kicks off.
     *
     * @return true when the queue must stay in the poll list (budget used up, or inside the busy-poll
     * window), kicks still off; false when kicks are back on (or the queue broke)
     */
    private boolean process(DataWorker worker) {
        final SplitVirtqueue ring = this.ring;
        final DescriptorChain chain = this.chain;
        final DeliveryContext context = worker.context();
        final Frame frame = context.frame();
        final int headerLength = port.headerLength();
        final int sendable = port.sendableOffloads();
        final FrameOffload offload = frame.offload();
        final int pair = index >>> 1;
        int budget = BUDGET;
        ring.disableNotifications();
        while (true) {
            context.startBatch();
            ring.touchAvailable(BATCH, headerLength); // overlap the batch's first cache misses
            int popped = 0;
            long bytes = 0;
            long drops = 0;
            long badOffloads = 0;
            while (popped < BATCH) {
                int status = ring.pop(chain);
                if (status == RingStatus.EMPTY) {
                    break;
                }
                if (status != RingStatus.OK) {
                    finishBatch(popped, bytes, drops, context);
                    if (badOffloads > 0) {
                        counters.addBadOffloads(badOffloads);
                    }
                    running = false;
                    broken(ring.brokenReason());
                    return false;
                }
                popped++;
                long frameLength = chain.readableLength() - headerLength;
                if (frameLength < ETHERNET_HEADER) {
                    drops++; // a runt (or a chain with no readable data): complete it, forward nothing
                } else {
                    // The virtio-net header, usually alone in (or at the start of) the first buffer.
                    long vnetHeader;
                    int csumOffset;
                    if (chain.length(0) >= headerLength) {
                        MemorySegment first = chain.segmentOf(0);
                        long at = chain.offset(0);
                        vnetHeader = first.get(LittleEndian.U64, at);
                        csumOffset = LittleEndian.u16(first, at + NetHeader.CSUM_OFFSET_OFFSET);
                    } else {
                        MemorySegment scratch = context.macScratch();
                        chain.readBytes(0, scratch, 0, headerLength);
                        vnetHeader = scratch.get(LittleEndian.U64, 0);
                        csumOffset = LittleEndian.u16(scratch, NetHeader.CSUM_OFFSET_OFFSET);
                    }
                    // The two MACs are usually in one buffer, right after the header (or at the start
                    // of the second buffer when the header has a descriptor of its own): read them
                    // in place, else gather them across buffers.
                    MemorySegment macs;
                    long at;
                    if (chain.length(0) >= headerLength + 12L) {
                        macs = chain.segmentOf(0);
                        at = chain.offset(0) + headerLength;
                    } else if (chain.length(0) == headerLength && chain.readableCount() > 1 && chain.length(1) >= 12) {
                        macs = chain.segmentOf(1);
                        at = chain.offset(1);
                    } else {
                        macs = context.macScratch();
                        at = 0;
                        chain.readBytes(headerLength, macs, 0, 12);
                    }
                    long destination = MacAddress.read(macs, at);
                    long source = MacAddress.read(macs, at + 6);
                    frame.wrapChain(chain, headerLength, frameLength, destination, source, pair);
                    int checked = FrameOffload.OK;
                    if (vnetHeader == 0 && frameLength <= FrameOffload.MAX_FRAME) {
                        offload.clear(); // the common plain frame: nothing to check
                    } else {
                        checked = offload.parse(vnetHeader, csumOffset, sendable, NetHeader.TX_FLAGS, frame.bytes());
                    }
                    if (checked == FrameOffload.OK) {
                        port.network().forward(frame, port, context);
                        bytes += frameLength;
                    } else {
                        drops++;
                        if (checked != FrameOffload.TOO_LONG) {
                            badOffloads++;
                        }
                    }
                }
                ring.pushUsed(chain.head(), 0);
            }
            finishBatch(popped, bytes, drops, context);
            if (badOffloads > 0) {
                counters.addBadOffloads(badOffloads);
            }
            if (popped > 0) {
                long now = context.nowNanos();
                if (dry) {
                    adaptWindow(worker, now - lastFrameNanos);
                }
                lastFrameNanos = now;
                dry = popped < BATCH;
            }
            budget -= popped;
            if (popped == BATCH) {
                if (budget <= 0) {
                    return true; // back on the next loop turn, after the worker's other queues
                }
                continue;
            }
            if (inPollWindow(worker, context.nowNanos())) {
                return true; // dry for now: poll a while before paying for kicks
            }
            if (!ring.enableNotifications()) {
                return false;
            }
            ring.disableNotifications();
        }
    }

    private void finishBatch(int popped, long bytes, long drops, DeliveryContext context) {
        if (popped == 0) {
            return;
        }
        if (ring.publishUsed()) {
            signal(callFd);
        }
        context.releaseHeld();
        counters.addPackets(popped - drops, bytes);
        if (drops > 0) {
            counters.addDrops(drops);
        }
    }
}

package io.jvhost.backend.device;

import io.jvhost.affinity.pool.Worker;
import io.jvhost.backend.offload.FrameOffload;
import io.jvhost.backend.datapath.DeliveryContext;
import io.jvhost.backend.datapath.Frame;
import io.jvhost.backend.switching.MacAddress;
import io.jvhost.backend.datapath.DataWorker;
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
 * it received). A long burst stops once
 * the turn's budget is spent ({@link #BUDGET} chains, {@link #DESCRIPTOR_BUDGET} descriptors walked or
 * {@link #BYTE_BUDGET} bytes) and the queue joins the worker's poll list ({@link io.jvhost.affinity.pool.Worker#addPoller}),
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
 *
 * <p>Back-pressure: when a frame's one receiver has no buffers ({@link RxQueue}), its chain goes back to
 * the ring uncompleted and the queue stops with kicks off, so its guest's ring fills and its stack
 * slows down, as it would behind a full TAP queue. The receiver's kick wakes it ({@link #receiverReady});
 * at the latest it tries again after {@code workers.backpressure-timeout-us} ({@link Worker#addPollerAt}),
 * and then gives that receiver up (drops for it) and goes on. One frame waits, at the head of the ring,
 * and the frames behind it wait with it: the bound is what keeps a stuck receiver from holding up
 * this guest's traffic to others for longer.
 */
final class TxQueue extends NetQueue implements DeliveryContext.Waiter {

    /**
     * Chains per batch: one used-index store, one call and one flush of destinations per batch. Each
     * destination a batch reaches costs its own used-index store, fence and suppression check, however
     * few of the batch's frames it takes: a sender spreading its frames over seven guests gives each
     * about a seventh of the batch.
     */
    static final int BATCH = 128;
    /** Chains whose first lines are kept loaded ahead of the walk, refreshed every half of it. */
    static final int TOUCH_AHEAD = 64;
    /** Chains per worker turn before yielding to the worker's other queues. */
    static final int BUDGET = 256;
    /**
     * Descriptors walked per worker turn (indirect entries and zero-length ones included). Chains alone
     * are no measure of the work: one chain may walk as many zero-length descriptors as the queue size
     * (up to 32768, the longest chain a driver may make), and 256 of those would hold the worker for
     * many milliseconds. 4096 is 16 per chain of the chain budget, more than plain and TSO traffic needs.
     */
    static final int DESCRIPTOR_BUDGET = 4096;
    /** Frame bytes per worker turn: 64 of the largest TSO frames, whose copies cost far more than a chain's. */
    static final long BYTE_BUDGET = 4L << 20;
    /**
     * A frame whose receiver another worker holds is tried again this much later: a holder that was
     * not preempted lets go within microseconds; one that was holds it for a time slice.
     */
    static final long CONTENDED_RETRY_NANOS = 20_000;
    /** A busy-poll window below this is no window: not worth a poll turn. */
    static final long MIN_WINDOW_NANOS = 1_000;

    private static final int ETHERNET_HEADER = 14;

    private final DescriptorChain chain = new DescriptorChain();
    private final Worker.Poller poller = this::poll;
    private final Runnable resume = this::resume;
    /** When the chain at the head of the ring began to wait for a full receiver; -1: none waits. Owning worker. */
    private long waitingSince = -1;
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
        waitingSince = -1;
        clearBroken();
        running = true;
        try {
            attach(worker, kickFd);
        } catch (RuntimeException e) {
            running = false; // not registered: nothing serves the ring
            throw e;
        }
    }

    /** Control thread: stop; returns the worker it was assigned to, or null. */
    DataWorker stop() {
        running = false;
        DataWorker was = detach();
        ring.flushLog(); // no worker has the ring any more: GET_VRING_BASE replies with every bit logged
        return was;
    }

    /** Control thread: the new call fd, in use once this returns (the session may close the old one). */
    void setCallFd(int fd) {
        if (!onOwner(() -> callFd = fd)) {
            callFd = fd; // not served: no worker reads it (and the next start sets it anyway)
        }
    }

    boolean running() {
        return running;
    }

    @Override
    void onKick(DataWorker worker) {
        if (running && processSafely(worker)) {
            worker.worker().addPoller(poller);
        }
    }

    @Override
    public void attached(DataWorker w) {
        if (running && processSafely(w)) {
            w.worker().addPoller(poller);
        }
    }

    @Override
    void halt() {
        running = false;
    }

    @Override
    public void detached(DataWorker worker) {
        // The poller, if listed on this worker, sees another worker (or none) serving and leaves.
    }

    /** Any thread: the receiver the head frame waits for has buffers now (or stopped). */
    @Override
    public void receiverReady() {
        DataWorker w = serving();
        if (w != null) {
            w.worker().execute(resume);
        }
    }

    /** Owning worker: sends the waiting frame again (see {@link #receiverReady}). */
    private void resume() {
        DataWorker w = serving();
        if (!binding.servedHere(w) || !running || waitingSince < 0) {
            return; // moved, stopped, or the time bound came first
        }
        if (processMeasured(w)) {
            w.worker().addPoller(poller);
        }
    }

    /** {@link #processSafely}, its time charged to this queue and the receivers of its copies. */
    private boolean processMeasured(DataWorker w) {
        long started = w.worker().workStarted();
        boolean again = processSafely(w);
        counters.addCpuNanos(w.context().settleCopies(w.worker().workEnded(started)));
        return again;
    }

    /** Whether the chain at the head of the ring waits for a full receiver. Owning worker (tests). */
    boolean waiting() {
        return waitingSince >= 0;
    }

    /** One poll-list turn. Owning worker. */
    private boolean poll() {
        DataWorker w = serving();
        // After a move or stop the old worker's poller finds another worker (or none) serving the queue,
        // and leaves the ring alone.
        if (!binding.servedHere(w) || !running) {
            return false;
        }
        try {
            if (ring.pendingCount() == 0 && inPollWindow(w, w.worker().turnNanos())) {
                return true; // empty poll: not busy time
            }
        } catch (RuntimeException | InternalError e) { // the avail idx is guest memory too
            faulted(w, e);
            return running;
        }
        return processMeasured(w);
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

    /**
     * {@link #process}, and whatever happens, no destination stays claimed by this worker; what escapes
     * it stops this queue only ({@link #failed}).
     */
    private boolean processSafely(DataWorker worker) {
        boolean again;
        try {
            again = process(worker);
        } catch (RuntimeException | InternalError e) {
            again = true; // back next turn, unless this stopped the queue
            faulted(worker, e); // while the receiver it may blame is still held
        }
        try {
            worker.context().sendFrom(null, false); // what the worker forwards next (a TAP's frames) cannot wait
            worker.context().releaseHeld();
        } catch (RuntimeException | InternalError e) { // the receiver's publish, or a late SIGBUS
            again = true;
            faulted(worker, e);
        }
        return again && running;
    }

    /**
     * Forwards chains with kicks off until the ring is dry or the turn's budget ({@link #BUDGET} chains,
     * {@link #DESCRIPTOR_BUDGET} descriptors, {@link #BYTE_BUDGET} bytes) is used up, whichever comes first.
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
        int chainsLeft = BUDGET;
        long descriptorsLeft = DESCRIPTOR_BUDGET;
        long bytesLeft = BYTE_BUDGET;
        final long waitNanos = worker.backpressureNanos();
        ring.disableNotifications();
        while (true) {
            context.startBatch();
            context.sendFrom(waitNanos > 0 ? this : null,
                    waitingSince >= 0 && context.nowNanos() - waitingSince >= waitNanos);
            int popped = 0;
            long bytes = 0;
            long drops = 0;
            long badOffloads = 0;
            boolean empty = false;
            while (popped < BATCH) {
                if ((popped & (TOUCH_AHEAD / 2 - 1)) == 0) {
                    ring.touchAvailable(TOUCH_AHEAD, headerLength); // overlap the next chains' cache misses
                }
                int status = ring.pop(chain);
                if (status == RingStatus.EMPTY) {
                    empty = true;
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
                descriptorsLeft -= chain.descriptorCount();
                bytesLeft -= chain.readableLength();
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
                    if (checked != FrameOffload.OK) {
                        drops++;
                        if (checked != FrameOffload.TOO_LONG) {
                            badOffloads++;
                        }
                    } else {
                        forward(frame, context, worker);
                        int wait = context.takeWaitReason();
                        if (wait != DeliveryContext.NO_WAIT) {
                            // The receiver has no room, or another worker holds it: the chain goes
                            // back, uncompleted, and waits for the receiver's kick or a retry.
                            ring.rewind(1);
                            finishBatch(popped - 1, bytes, drops, context);
                            if (badOffloads > 0) {
                                counters.addBadOffloads(badOffloads);
                            }
                            if (waitingSince < 0) {
                                waitingSince = context.nowNanos();
                                counters.addWait();
                            }
                            long bound = waitingSince + waitNanos;
                            long retry = context.nowNanos() + CONTENDED_RETRY_NANOS;
                            worker.worker().addPollerAt(poller,
                                    wait == DeliveryContext.RETRY_SOON && retry - bound < 0 ? retry : bound);
                            return false; // kicks stay off: the receiver's kick, a retry or the bound brings it back
                        }
                        bytes += frameLength;
                    }
                    if (waitingSince >= 0) { // the head frame went (or was given up): nothing waits now
                        waitingSince = -1;
                        context.sendFrom(this, false);
                    }
                }
                ring.pushUsed(chain.head(), 0);
                if (descriptorsLeft <= 0 || bytesLeft <= 0) {
                    break;
                }
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
                dry = empty;
            }
            chainsLeft -= popped;
            boolean spent = chainsLeft <= 0 || descriptorsLeft <= 0 || bytesLeft <= 0;
            if (!empty) {
                if (spent) {
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
            if (spent) {
                return true; // a driver that keeps adding just in time also waits for the next turn
            }
            ring.disableNotifications();
        }
    }

    /**
     * Forwards one frame. When the SIGBUS of a receiver's shrunk memory surfaces under the copy, that
     * receiver stops (it counts the drop) and this queue and its chain go on; a fault of this guest's
     * memory is thrown.
     */
    private void forward(Frame frame, DeliveryContext context, DataWorker worker) {
        try {
            port.network().forward(frame, port, context);
        } catch (InternalError e) {
            if (ownFault(worker, e)) {
                throw e;
            }
        }
    }

    private void finishBatch(int popped, long bytes, long drops, DeliveryContext context) {
        context.releaseHeld(); // the receivers' used rings first: a chain seen completed was delivered
        if (popped == 0) {
            return;
        }
        if (ring.publishUsed()) {
            signal(callFd);
        }
        counters.addPackets(popped - drops, bytes);
        if (drops > 0) {
            counters.addDrops(drops);
        }
    }
}

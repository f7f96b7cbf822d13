package io.jvhost.backend.device;

import io.jvhost.backend.offload.FrameOffload;
import io.jvhost.backend.offload.Offloads;
import io.jvhost.backend.offload.SoftwareOffload;
import io.jvhost.backend.datapath.DeliveryContext;
import io.jvhost.backend.datapath.Frame;
import io.jvhost.backend.datapath.DataWorker;
import io.jvhost.virtio.memory.DirtyLog;
import io.jvhost.virtio.memory.GuestMemory;
import io.jvhost.virtio.net.FrameSource;
import io.jvhost.virtio.net.NetHeader;
import io.jvhost.virtio.net.RxFrameWriter;
import io.jvhost.virtio.ring.RingStatus;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.Arrays;

/**
 * A receive queue: frames for the guest are copied into its buffers here.
 *
 * <p>Cross-worker delivery: any worker whose TX queue forwards a frame to this guest writes this ring
 * itself, straight from the source chain (one copy), under a per-ring claim: a CAS spin lock a sender
 * keeps across consecutive frames to this queue until its batch ends or it sends elsewhere (see
 * {@link DeliveryContext.Claim}). The alternative, a hand-over queue to the RX queue's own worker, costs
 * a second copy or delays the source's completion; the claim is only contended when two workers send to the
 * same guest queue at the same instant. Completions are buffered in the ring's shadow used array and
 * published, with one call, at the end of the sender's batch, however its frames to different queues
 * interleave: a frame for another queue only unlocks this one ({@link DeliveryContext#switchClaim}), and
 * the buffers' first lines are loaded once per batch, when the sender first claims the queue.
 *
 * <p>Back-pressure: a unicast frame for a guest without buffers is not dropped at once. The sending
 * queue leaves its chain uncompleted in its own ring and waits ({@link DeliveryContext.Waiter}); this
 * queue turns the guest's RX kicks on, and its kick (the guest added buffers) wakes every sender waiting.
 * Behind a Linux bridge the TAP queue absorbs such a burst the same way, and TCP never sees a loss. A
 * sender waits at most its bound ({@code workers.backpressure-timeout-us}); a receiver that stays full
 * past it is stalled: frames for it are dropped (counted) at once, without waiting, until one fits
 * again, so one stuck guest costs its senders one wait, not one per frame. Flooded frames and frames
 * from senders that cannot wait (a TAP) are dropped when there is no room. Kicks stay off otherwise.
 */
final class RxQueue extends NetQueue implements DeliveryContext.Claim, DeliveryContext.Receiver {

    private static final VarHandle CLAIM;

    static {
        try {
            CLAIM = MethodHandles.lookup().findVarHandle(RxQueue.class, "claim", int.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    /**
     * RX buffers whose first line is kept loaded ahead of the writes: when a sender first claims the queue
     * in its batch, and again every {@code TOUCH_AHEAD / 2} frames it writes under one claim (only the
     * buffers not touched yet are: {@link io.jvhost.virtio.ring.SplitVirtqueue#touchAvailable}).
     */
    private static final int TOUCH_AHEAD = 32;
    /** Spins of a sender for a claim another holds (each a PAUSE): a few microseconds. */
    static final int CLAIM_SPINS = 256;

    @SuppressWarnings("unused") // through CLAIM
    private volatile int claim;
    // Fields below are guarded by the claim.
    private boolean running;
    private boolean flushPending;
    private int callFd = -1;
    /** Senders waiting for this guest to post buffers; the kick wakes them. */
    private DeliveryContext.Waiter[] waiters = new DeliveryContext.Waiter[4];
    private int waiterCount;
    /** A sender waited its full bound for this queue in vain: drop at once until a frame fits again. */
    private boolean stalled;
    /** The sender batch that last loaded the next buffers' first lines ({@link #TOUCH_AHEAD}). */
    private DeliveryContext touchedBy;
    private long touchedBatch;
    /** Frames still to write under the current claim before the next buffers are touched. */
    private int untilTouch;
    private final Runnable retryKick = this::retryKick;
    /** A sender waited its whole bound for the claim: whoever holds it is stuck (read without the claim). */
    private volatile boolean claimStuck;

    RxQueue(VirtioNetPort port, int index) {
        super(port, index);
    }

    /**
     * A sender's claim: a bounded spin, about one frame's copy. A holder takes that long unless it was
     * preempted (or is stuck), and then waiting would cost a time slice; the sender rather keeps its
     * frame and comes back (or this queue misses a flooded frame). Worker threads.
     */
    private boolean tryLock() {
        for (int spins = 0; spins < CLAIM_SPINS; spins++) {
            if ((int) CLAIM.getOpaque(this) == 0 && CLAIM.compareAndSet(this, 0, 1)) {
                return true;
            }
            Thread.onSpinWait();
        }
        return false;
    }

    /** Control threads (and error paths): wait as long as it takes, yielding the CPU after a spin. */
    private void lock() {
        int spins = 0;
        while (!CLAIM.compareAndSet(this, 0, 1)) {
            if (++spins < CLAIM_SPINS) {
                Thread.onSpinWait();
            } else {
                Thread.yield();
            }
        }
    }

    private void unlock() {
        CLAIM.setRelease(this, 0);
    }

    /**
     * Unlocks after a control thread's change, publishing what senders left pending: a sender whose
     * end-of-batch publish found the claim taken left its entries to the holder.
     */
    private void unlockPublishing() {
        try {
            publishLocked();
        } finally {
            unlock();
        }
    }

    void start(DataWorker worker, int kickFd, int callFd) {
        lock();
        try {
            this.callFd = callFd;
            clearBroken();
            ring.disableNotifications();
            running = true;
        } finally {
            unlockPublishing();
        }
        try {
            attach(worker, kickFd);
        } catch (RuntimeException e) {
            halt(); // not registered: senders must not fill a ring nobody serves
            throw e;
        }
    }

    /**
     * Control thread: stop and publish what senders left pending; returns the worker it was assigned to,
     * or null.
     */
    DataWorker stop() {
        lock();
        try {
            running = false;
            publishLocked();
            ring.flushLog(); // GET_VRING_BASE: every bit of what was written is in the log before the reply
            wakeWaiters(); // they find it stopped and drop
        } finally {
            unlock();
        }
        return detach();
    }

    void setCallFd(int fd) {
        lock();
        try {
            callFd = fd;
        } finally {
            unlockPublishing();
        }
    }

    /**
     * Logs this ring's writes into {@code log} from now on (null: not logged), its used ring at
     * {@code usedLogGpa} (or -1). Under the claim, like every write into the ring: the bits the last
     * holder gathered go to the old log first, so once this returns nobody writes into that one. Control
     * thread.
     */
    void setDirtyLog(DirtyLog log, long usedLogGpa) {
        lock();
        try {
            ring.setDirtyLog(log, usedLogGpa);
        } finally {
            unlockPublishing();
        }
    }

    /**
     * Re-translates the ring after a new memory table, unless stopped (the next start configures it).
     * Senders take the claim, whichever worker they are on. Control thread.
     */
    void updateMemory(GuestMemory memory) {
        lock();
        try {
            if (!running) {
                return;
            }
            ring.updateMemory(memory);
        } catch (RuntimeException e) {
            running = false;
            broken("ring no longer mapped after a memory table change: " + e.getMessage());
        } finally {
            unlockPublishing();
        }
    }

    /**
     * Copies {@code frame} into the guest. Any sending worker. Leaves this queue claimed by the sender
     * ({@link DeliveryContext#held()}): the next frame to it skips the lock, and the sender's end of
     * batch publishes and releases.
     */
    void deliver(Frame frame, DeliveryContext context) {
        boolean claimed = false;
        if (context.held() != this) {
            context.switchClaim(); // one claim at a time: never wait for a lock while holding another
            if (!tryLock()) {
                contended(context);
                return;
            }
            context.hold(this);
            claimed = true;
            if (claimStuck) {
                claimStuck = false;
            }
        }
        if (!running) {
            counters.addDrops(1);
            return;
        }
        try {
            if (claimed ? touchedBy != context || touchedBatch != context.batch() : --untilTouch <= 0) {
                touchedBy = context;
                touchedBatch = context.batch();
                untilTouch = TOUCH_AHEAD / 2;
                ring.touchAvailable(TOUCH_AHEAD, 0); // overlap the misses on the next buffers
            }
            write(frame, context);
        } catch (RuntimeException | InternalError e) {
            // Guest-controlled data the writer did not expect, or a SIGBUS (InternalError) on a memfd the
            // front-end shrank: this queue stops; the sender's queue, which runs this, goes on.
            rethrowIfSendersFault(e);
            counters.addDrops(1);
            fault(e);
        }
    }

    /**
     * A SIGBUS while this guest's memory is intact hit the sender's memory (the frame being copied): it
     * goes on to the sender's queue, which stops; anything else is this ring's to stop on.
     */
    private void rethrowIfSendersFault(Throwable e) {
        if (e instanceof InternalError fault && intact(ring.memory())) {
            throw fault;
        }
    }

    /** Claim held: stops the ring and says why once. */
    private void fault(Throwable e) {
        running = false;
        flushPending = false; // the used ring is what faulted, or may be
        broken("unexpected " + e, e);
    }

    /** Claim held by the caller: stops the ring if its guest's memory shrank ({@link NetQueue#faulted}). */
    void faultIfShrunk(Throwable e) {
        if (running && !intact(ring.memory())) {
            counters.addDrops(1); // the frame being copied
            fault(e);
        }
    }

    private void write(Frame frame, DeliveryContext context) {
        final RxFrameWriter writer = context.writer();
        final FrameSource bytes = frame.bytes();
        final FrameOffload offload = frame.offload();
        final int receivable = port.receivableOffloads();
        final int needs = offload.needs();
        final long length = bytes.length();
        int status;
        int segmentsWritten = 0;
        if (offload.gsoType() == NetHeader.GSO_NONE && length > port.mtu() + VirtioNetPort.FRAME_OVERHEAD) {
            counters.addDrops(1); // larger than the guest's MTU allows
            return;
        }
        if ((needs & ~receivable) == 0) {
            // The guest takes the frame as it is. A plain frame keeps only DATA_VALID, and that only
            // for a guest with GUEST_CSUM (§5.1.6.4: flags are 0 otherwise).
            long header = needs != 0 ? offload.header()
                    : (receivable & Offloads.CSUM) != 0 ? offload.header() & NetHeader.F_DATA_VALID : 0L;
            status = writer.write(ring, header, offload.csumOffset(), null, 0, bytes, 0, length);
            if (status == RingStatus.OK) {
                counters.addPackets(1, length);
                context.copied(this, length);
                flushPending = true;
                if (needs != 0) {
                    counters.addPassedThrough();
                }
            }
        } else {
            SoftwareOffload software = context.software();
            status = offload.gsoType() != NetHeader.GSO_NONE
                    ? software.segment(ring, writer, offload, bytes, receivable, port.mtu())
                    : software.completeChecksum(ring, writer, offload, bytes);
            segmentsWritten = software.segments();
            if (segmentsWritten > 0) {
                counters.addPackets(segmentsWritten, software.bytes());
                context.copied(this, software.bytes());
                flushPending = true; // pushed even if a later segment found no buffer
                if (offload.gsoType() != NetHeader.GSO_NONE) {
                    counters.addSegmented();
                }
            }
            if (software.checksums() > 0) {
                counters.addChecksums(software.checksums());
            }
        }
        if (status == RingStatus.OK) {
            stalled = false;
            return;
        }
        if (status == RingStatus.NO_BUFFERS && segmentsWritten == 0 && waitForBuffers(context)) {
            return; // the sender keeps the frame (nothing of it was written) and comes back
        }
        counters.addDrops(1); // no buffers posted, a frame larger than the guest's buffers, or a broken ring
        if (RingStatus.isError(status)) {
            running = false;
            publishLocked();
            broken(ring.brokenReason());
        }
    }

    /**
     * Another worker holds the claim (preempted, or stuck): a sender that can wait keeps the frame and
     * tries again shortly, within its bound; a flood or a TAP's frame is missed here (counted).
     */
    private void contended(DeliveryContext context) {
        if (context.waiter() != null && !claimStuck) {
            if (!context.waitedInVain()) {
                context.waitWith(DeliveryContext.RETRY_SOON);
                return;
            }
            claimStuck = true; // a sender waited its whole bound: drop at once until the holder lets go
        }
        counters.addDropAtomically();
    }

    /**
     * Claim held, the frame found no buffers: says whether its sender waits for them. It does unless it
     * cannot (a flood, a TAP), its bound ran out for this frame (this queue is stalled from then on), or
     * the queue is stalled already. Asks the guest to kick when it adds buffers; if some came meanwhile,
     * the sender is woken at once and tries again.
     */
    private boolean waitForBuffers(DeliveryContext context) {
        DeliveryContext.Waiter waiter = context.waiter();
        if (waiter == null || stalled) {
            return false;
        }
        if (context.waitedInVain()) {
            stalled = true;
            return false;
        }
        addWaiter(waiter);
        context.waitWith(DeliveryContext.WAIT_FOR_BUFFERS);
        if (ring.enableNotifications()) {
            wakeWaiters(); // buffers (or a broken ring) arrived since the write looked
        }
        return true;
    }

    private void addWaiter(DeliveryContext.Waiter waiter) {
        for (int i = 0; i < waiterCount; i++) {
            if (waiters[i] == waiter) {
                return;
            }
        }
        if (waiterCount == waiters.length) {
            waiters = Arrays.copyOf(waiters, waiterCount * 2); // once per new high-water mark of senders
        }
        waiters[waiterCount++] = waiter;
    }

    /** Claim held: turns kicks off again and wakes every waiting sender. */
    private void wakeWaiters() {
        if (waiterCount == 0) {
            return;
        }
        if (ring.isConfigured()) {
            ring.disableNotifications();
        }
        for (int i = 0; i < waiterCount; i++) {
            waiters[i].receiverReady();
            waiters[i] = null;
        }
        waiterCount = 0;
    }

    @Override
    public void chargeCopies(long nanos) {
        counters.addReceiveCpuNanos(nanos);
    }

    @Override
    public void release() {
        unlock();
    }

    /**
     * End of a sender's batch. If another holds the claim now, it publishes these entries with its own
     * (every holder publishes before it lets go for good), so this sender does not wait for it.
     */
    @Override
    public void publish() {
        if (!tryLock()) {
            return;
        }
        try {
            publishLocked();
        } finally {
            unlock();
        }
    }

    @Override
    public void publishAndRelease() {
        try {
            publishLocked();
        } finally {
            unlock();
        }
    }

    private void publishLocked() {
        if (flushPending) {
            flushPending = false;
            boolean notify;
            try {
                notify = ring.publishUsed();
            } catch (RuntimeException | InternalError e) {
                rethrowIfSendersFault(e); // a late SIGBUS may be the sender's (see NetQueue#faulted)
                fault(e);
                return;
            }
            if (notify) {
                signal(callFd);
            }
        }
    }

    boolean running() {
        lock();
        try {
            return running;
        } finally {
            unlockPublishing();
        }
    }

    @Override
    void halt() {
        lock();
        try {
            running = false;
            wakeWaiters();
        } finally {
            unlockPublishing();
        }
    }

    /** The guest added buffers (kicks are on only while senders wait): wakes them. Owning worker. */
    @Override
    void onKick(DataWorker worker) {
        if (!tryLock()) {
            worker.worker().execute(retryKick); // a sender holds the claim: next loop turn, not a wait
            return;
        }
        try {
            stalled = false;
            wakeWaiters();
        } catch (RuntimeException | InternalError e) { // the used flags are guest memory
            fault(e);
        } finally {
            unlockPublishing();
        }
    }

    /** {@link #onKick} again on the serving worker, after a sender held the claim. */
    private void retryKick() {
        DataWorker w = serving();
        if (binding.servedHere(w)) {
            onKick(w);
        }
    }

    @Override
    public void attached(DataWorker worker) {
    }

    @Override
    public void detached(DataWorker worker) {
    }
}

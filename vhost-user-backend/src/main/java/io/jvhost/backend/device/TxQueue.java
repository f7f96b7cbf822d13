package io.jvhost.backend.device;

import io.jvhost.backend.switching.DeliveryContext;
import io.jvhost.backend.switching.Frame;
import io.jvhost.backend.switching.MacAddress;
import io.jvhost.backend.worker.DataWorker;
import io.jvhost.virtio.ring.DescriptorChain;
import io.jvhost.virtio.ring.RingStatus;
import io.jvhost.virtio.ring.SplitVirtqueue;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * A transmit queue: the guest's frames leave through here into the port's network.
 *
 * <p>On a kick the owning worker suppresses further kicks, pops chains in batches, forwards each frame
 * (the destination copies it straight out of this chain's buffers), completes the batch with one used
 * index update and at most one call, and flushes every destination touched. A long burst yields after
 * {@link #BUDGET} chains (kicks stay suppressed and the worker comes back through its task queue), so one
 * busy guest cannot starve the other queues of the same worker. Only when the ring is empty are kicks
 * re-enabled, followed by a re-check that closes the race with a driver that added meanwhile.
 */
final class TxQueue extends NetQueue {

    /** Chains per batch: one used-index store, one call and one flush of destinations per batch. */
    static final int BATCH = 64;
    /** Chains per worker turn before yielding to the worker's other queues. */
    static final int BUDGET = 256;

    private static final int ETHERNET_HEADER = 14;

    private final DescriptorChain chain = new DescriptorChain();
    private final Runnable resume = this::resume;
    /** Call eventfd; written by the owning worker only (control threads go through it). */
    private int callFd = -1;
    private volatile boolean running;
    private boolean resumeQueued;

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
        if (running) {
            process(worker);
        }
    }

    @Override
    void onAttached() {
        resumeQueued = false;
        if (running) {
            process(serving);
        }
    }

    @Override
    void onDetached() {
        resumeQueued = false;
    }

    private void resume() {
        DataWorker w = serving;
        // A task the old worker still had queued after a move or stop finds another worker (or none)
        // serving the queue, and leaves the ring alone.
        if (w == null || !w.worker().inWorkerThread()) {
            return;
        }
        resumeQueued = false;
        if (running) {
            long started = w.worker().workStarted();
            process(w);
            w.worker().workEnded(started);
        }
    }

    private void process(DataWorker worker) {
        if (resumeQueued) {
            return; // already coming back through the task queue
        }
        final SplitVirtqueue ring = this.ring;
        final DescriptorChain chain = this.chain;
        final DeliveryContext context = worker.context();
        final Frame frame = context.frame();
        final int headerLength = port.headerLength();
        final int pair = index >>> 1;
        int budget = BUDGET;
        ring.disableNotifications();
        while (true) {
            context.startBatch();
            int popped = 0;
            long bytes = 0;
            long drops = 0;
            while (popped < BATCH) {
                int status = ring.pop(chain);
                if (status == RingStatus.EMPTY) {
                    break;
                }
                if (status != RingStatus.OK) {
                    finishBatch(popped, bytes, drops, context);
                    running = false;
                    broken(ring.brokenReason());
                    return;
                }
                popped++;
                long frameLength = chain.readableLength() - headerLength;
                if (frameLength < ETHERNET_HEADER) {
                    drops++; // a runt (or a chain with no readable data): complete it, forward nothing
                } else {
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
                    port.network().forward(frame, port, context);
                    bytes += frameLength;
                }
                ring.pushUsed(chain.head(), 0);
            }
            finishBatch(popped, bytes, drops, context);
            budget -= popped;
            if (popped == BATCH) {
                if (budget <= 0) {
                    // Kicks stay off: we come back through the task queue after the other queues ran.
                    resumeQueued = true;
                    worker.worker().execute(resume);
                    return;
                }
                continue;
            }
            if (!ring.enableNotifications()) {
                return;
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
        context.flushTouched();
        counters.addPackets(popped - drops, bytes);
        if (drops > 0) {
            counters.addDrops(drops);
        }
    }
}

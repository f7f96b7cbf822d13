package io.jvhost.backend.device;

import io.jvhost.backend.linux.EventFd;
import io.jvhost.backend.linux.LinuxException;
import io.jvhost.backend.linux.Mapping;
import io.jvhost.backend.worker.DataWorker;
import io.jvhost.backend.worker.ServedQueue;
import io.jvhost.virtio.memory.GuestMemory;
import io.jvhost.virtio.ring.SplitVirtqueue;
import io.netty.channel.IoEvent;
import io.netty.channel.IoRegistration;
import io.netty.channel.epoll.EpollIoHandle;
import io.netty.channel.epoll.EpollIoOps;
import io.netty.channel.epoll.Native;
import io.netty.channel.unix.FileDescriptor;
import io.netty.util.concurrent.Future;

import java.lang.foreign.MemorySegment;

/**
 * One virtqueue of a virtio-net port and the worker that serves its kicks.
 *
 * <p>The kick eventfd is registered (level-triggered) with exactly one worker's epoll at a time.
 * Moving the queue cancels the registration on the old worker's thread, then registers on the new
 * one and re-checks the ring there: a kick that lands in between stays in the eventfd counter and
 * fires on the new worker, so no kick is lost and no two workers process the ring at once.
 *
 * <p>Threads: {@link #attach}, {@link #detach} and {@link #moveTo} from control threads; {@link #handle}
 * on the owning worker.
 */
abstract sealed class NetQueue implements EpollIoHandle, ServedQueue permits TxQueue, RxQueue {

    private static final System.Logger LOG = System.getLogger(NetQueue.class.getName());

    final VirtioNetPort port;
    final int index;
    final SplitVirtqueue ring;
    final QueueCounters counters = new QueueCounters();
    private FileDescriptor kick;
    /** The worker this queue is assigned to, as control threads and management see it. */
    volatile DataWorker owner;
    /**
     * The worker whose epoll holds the kick right now: set and cleared only inside tasks running on that
     * worker, so a task the old worker still had queued after a move sees null and does not touch the ring.
     */
    volatile DataWorker serving;
    private IoRegistration registration;
    private String brokenReason;

    NetQueue(VirtioNetPort port, int index) {
        this.port = port;
        this.index = index;
        this.ring = new SplitVirtqueue(index);
    }

    @Override
    public final String port() {
        return port.name();
    }

    @Override
    public final int index() {
        return index;
    }

    @Override
    public final int vcpuCpu() {
        return port.vcpuCpuOfQueue(index);
    }

    @Override
    public final DataWorker owner() {
        return owner;
    }

    @Override
    public final FileDescriptor fd() {
        return kick;
    }

    /** Starts serving kicks from {@code kickFd} on {@code worker}. Control thread. */
    final synchronized void attach(DataWorker worker, int kickFd) {
        kick = new FileDescriptor(kickFd);
        register(worker);
    }

    /**
     * Registers the kick with {@code worker}'s epoll first, and only then makes the queue the worker's:
     * when epoll_ctl refuses the fd nothing points at the worker and the caller rolls the start back.
     */
    private void register(DataWorker worker) {
        Future<IoRegistration> registered = worker.worker().register(this).awaitUninterruptibly();
        if (!registered.isSuccess()) { // the cause may be a checked exception: syncUninterruptibly would throw it sneakily
            throw new IllegalStateException("epoll refused the kick fd: " + registered.cause().getMessage(),
                    registered.cause());
        }
        IoRegistration r = registered.getNow();
        owner = worker;
        try {
            worker.worker().call(() -> {
                registration = r;
                serving = worker;
                r.submit(EpollIoOps.EPOLLIN);
                onAttached();
                return null;
            });
        } catch (RuntimeException e) {
            detach(); // never left registered with a worker the caller will not release
            throw e;
        }
    }

    /** Stops serving kicks; waits until the owning worker let go of the ring. Control thread. */
    final synchronized void detach() {
        DataWorker w = owner;
        if (w == null) {
            return;
        }
        w.worker().call(() -> {
            serving = null;
            if (registration != null) {
                registration.cancel();
                registration = null;
            }
            onDetached();
            return null;
        });
        owner = null;
    }

    /**
     * Runs {@code action} on the worker serving the queue and waits for it, with no move in between: a
     * move clears {@link #owner} for a moment, and a new memory table or call fd applied in that moment
     * would be lost (the queue would keep memory its session unmaps next, or a closed fd). Control thread.
     *
     * @return false when no worker serves the queue (stopped): nothing ran
     */
    final synchronized boolean onOwner(Runnable action) {
        DataWorker w = owner;
        if (w == null) {
            return false;
        }
        w.worker().call(() -> {
            action.run();
            return null;
        });
        return true;
    }

    /**
     * Runs {@code action} on the calling thread while the queue is served, with no move in between
     * (see {@link #onOwner}). Control thread.
     *
     * @return false when no worker serves the queue (stopped): nothing ran
     */
    final synchronized boolean whileServed(Runnable action) {
        if (owner == null) {
            return false;
        }
        action.run();
        return true;
    }

    /** Moves the queue to {@code target}, keeping every pending kick. Control or housekeeping thread. */
    @Override
    public final synchronized void moveTo(DataWorker target) {
        if (owner == target || owner == null) {
            return;
        }
        detach();
        counters.addMigration();
        register(target);
    }

    @Override
    public final void handle(IoRegistration registration, IoEvent event) {
        DataWorker w = serving;
        if (w == null || !w.worker().inWorkerThread()) {
            return; // a readiness reported just before the move; the new worker has the fd now
        }
        long started = w.worker().workStarted();
        try {
            EventFd.read(kick.intValue()); // 0 when another ring sharing this eventfd drained it first
            onKick(w);
        } catch (LinuxException | RuntimeException | InternalError e) {
            faulted(w, e);
        }
        counters.addCpuNanos(w.context().settleCopies(w.worker().workEnded(started)));
    }

    /**
     * What escaped this queue's work ({@link #failed}). A SIGBUS (the JVM's InternalError) is raised
     * asynchronously, wherever the thread next checks for it, so it may surface in this queue's code
     * although it hit the memory of the guest this queue was delivering to (or the other way round):
     * it is blamed on the guest whose memory really shrank, as the kernel tells ({@link #intact}).
     * Owning worker.
     */
    final void faulted(DataWorker worker, Throwable e) {
        if (e instanceof InternalError fault && !ownFault(worker, fault)) {
            return;
        }
        failed(worker, e);
    }

    /**
     * Whether a SIGBUS hit this guest's memory; if not, the receiver this worker holds is stopped when
     * its guest's memory shrank (else the guest at fault stops on its next access). Owning worker.
     */
    final boolean ownFault(DataWorker worker, InternalError e) {
        if (!intact(ring.memory())) {
            return true;
        }
        if (worker.context().held() instanceof RxQueue receiver) {
            receiver.faultIfShrunk(e); // this worker holds its claim
        }
        LOG.log(System.Logger.Level.WARNING, "port " + port.name() + ": queue " + index
                + ": a fault on guest memory that is not this guest's: " + e);
        return false;
    }

    /**
     * Whether every region of {@code memory} still has its last byte, i.e. no front-end shrank the file
     * under it (a truncated memfd loses its end first). A probe is a system call per region: error
     * path only. When the kernel cannot be asked the memory counts as intact (nobody is blamed).
     */
    static boolean intact(GuestMemory memory) {
        if (memory == null) {
            return true;
        }
        for (int i = 0; i < memory.regionCount(); i++) {
            MemorySegment segment = memory.segment(i);
            try {
                if (!Mapping.readable(segment, segment.byteSize() - 1)) {
                    return false;
                }
            } catch (LinuxException e) {
                return true;
            }
        }
        return true;
    }

    /**
     * Something escaped the queue's work: guest-controlled data the code did not expect, or an
     * InternalError, which is how the JVM reports a SIGBUS on guest memory (the front-end shrank a
     * memfd it had not sealed). Caught here, not in Netty's loop, which would sleep a second on every
     * such exception (and end the worker on an Error), stalling every queue of the worker: this queue
     * stops, says why once, and the worker goes on at once. Owning worker.
     */
    final void failed(DataWorker worker, Throwable e) {
        halt();
        if (serving == worker) {
            serving = null; // pollers and late readiness events leave the ring alone
            if (registration != null) {
                registration.cancel(); // a kick fd that keeps failing must not keep firing
                registration = null;
            }
        }
        broken("unexpected " + e, e);
    }

    /** Stops processing the ring (after {@link #failed}); the session's stop still runs as usual. Owning worker. */
    abstract void halt();

    /** The driver kicked. Owning worker. */
    abstract void onKick(DataWorker worker);

    /** Now served by {@link #owner}: re-check the ring. Owning worker. */
    abstract void onAttached();

    /** No longer served: finish what is pending. Owning worker. */
    abstract void onDetached();

    /**
     * The front-end broke the ring's rules: stop the queue, keep the port's other queues and every other
     * port forwarding, and say why once. Thread holding the ring.
     */
    final void broken(String reason) {
        broken(reason, null);
    }

    /** {@link #broken(String)} with the exception behind it (logged with its stack trace), or null. */
    final void broken(String reason, Throwable cause) {
        if (brokenReason == null) {
            brokenReason = reason;
            LOG.log(System.Logger.Level.ERROR, "port " + port.name() + ": queue " + index + " stopped: " + reason, cause);
            port.queueBroken(this);
        }
    }

    final String brokenReason() {
        return brokenReason;
    }

    final void clearBroken() {
        brokenReason = null;
    }

    @Override
    public final void close() {
        // The kick fd belongs to the protocol state machine; nothing to release here.
    }

    static void signal(int eventFd) {
        if (eventFd >= 0) {
            Native.eventFdWrite(eventFd, 1L);
        }
    }
}

package io.jvhost.backend.device;

import io.jvhost.backend.worker.DataWorker;
import io.jvhost.backend.worker.ServedQueue;
import io.jvhost.virtio.ring.SplitVirtqueue;
import io.netty.channel.IoEvent;
import io.netty.channel.IoRegistration;
import io.netty.channel.epoll.EpollIoHandle;
import io.netty.channel.epoll.EpollIoOps;
import io.netty.channel.epoll.Native;
import io.netty.channel.unix.FileDescriptor;

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

    private void register(DataWorker worker) {
        owner = worker;
        IoRegistration r = worker.worker().register(this).syncUninterruptibly().getNow();
        worker.worker().call(() -> {
            registration = r;
            serving = worker;
            r.submit(EpollIoOps.EPOLLIN);
            onAttached();
            return null;
        });
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
        Native.eventFdRead(kick.intValue());
        onKick(w);
        w.worker().workEnded(started);
    }

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
        if (brokenReason == null) {
            brokenReason = reason;
            LOG.log(System.Logger.Level.ERROR, "port {0}: queue {1} stopped: {2}", port.name(), index, reason);
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

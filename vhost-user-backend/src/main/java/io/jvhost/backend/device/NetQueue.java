package io.jvhost.backend.device;

import io.jvhost.backend.linux.EventFd;
import io.jvhost.backend.linux.LinuxException;
import io.jvhost.backend.linux.Mapping;
import io.jvhost.backend.datapath.DataWorker;
import io.jvhost.backend.scheduling.ServedQueue;
import io.jvhost.backend.datapath.WorkerBinding;
import io.jvhost.virtio.memory.GuestMemory;
import io.jvhost.virtio.ring.SplitVirtqueue;
import io.netty.channel.IoEvent;
import io.netty.channel.IoRegistration;
import io.netty.channel.epoll.EpollIoHandle;
import io.netty.channel.epoll.Native;
import io.netty.channel.unix.FileDescriptor;

import java.lang.foreign.MemorySegment;

/**
 * One virtqueue of a virtio-net port and the worker that serves its kicks.
 *
 * <p>The kick eventfd is registered (level-triggered) with exactly one worker's epoll at a time
 * ({@link WorkerBinding}). Moving the queue is a command to the old worker, which lets go of the fd,
 * then one to the new, which registers it and re-checks the ring: a kick that lands in between stays in
 * the eventfd counter and fires on the new worker, so no kick is lost and no two workers process the
 * ring at once. A move never waits for a worker.
 *
 * <p>Threads: {@link #attach}, {@link #detach} and {@link #onOwner} from control threads (they wait for
 * the serving worker); {@link #moveTo} from any thread; {@link #handle} on the serving worker.
 */
abstract sealed class NetQueue implements EpollIoHandle, ServedQueue, WorkerBinding.Served permits TxQueue, RxQueue {

    private static final System.Logger LOG = System.getLogger(NetQueue.class.getName());

    final VirtioNetPort port;
    final int index;
    final SplitVirtqueue ring;
    final QueueCounters counters = new QueueCounters();
    private FileDescriptor kick;
    /** Which worker serves the kick, and moves between workers. */
    final WorkerBinding binding = new WorkerBinding(this, this);
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
        return binding.assigned();
    }

    /** The worker serving the ring right now, or null (stopped, failed or between two workers). */
    final DataWorker serving() {
        return binding.serving();
    }

    @Override
    public final FileDescriptor fd() {
        return kick;
    }

    /**
     * Starts serving kicks from {@code kickFd} on {@code worker}; when epoll refuses the fd nothing is left
     * registered and the caller rolls the start back. Control thread.
     */
    final void attach(DataWorker worker, int kickFd) {
        kick = new FileDescriptor(kickFd);
        binding.start(worker);
    }

    /**
     * Stops serving kicks; returns once no worker touches the ring, with the worker the queue was assigned
     * to (null when it was not served). Control thread.
     */
    final DataWorker detach() {
        return binding.stop();
    }

    /**
     * Runs {@code action} on the worker serving the queue and waits for it, with no move in between: a
     * new memory table or call fd applied on a worker the queue just left would be lost (the queue would
     * keep memory its session unmaps next, or a closed fd). Control thread.
     *
     * @return false when no worker serves the queue (stopped): nothing ran
     */
    final boolean onOwner(Runnable action) {
        return binding.onServing(action);
    }

    /** Moves the queue to {@code target} by commands to both workers, keeping every pending kick; never waits. */
    @Override
    public final void moveTo(DataWorker target) {
        binding.moveTo(target);
    }

    /** Moves that completed. */
    final long migrations() {
        return binding.moves();
    }

    @Override
    public final void handle(IoRegistration registration, IoEvent event) {
        DataWorker w = binding.serving();
        if (!binding.servedHere(w)) {
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
        binding.fail(worker); // pollers and late readiness events leave the ring alone
        broken("unexpected " + e, e);
    }

    /** Stops processing the ring (after {@link #failed}); the session's stop still runs as usual. Owning worker. */
    abstract void halt();

    /** The driver kicked. Owning worker. */
    abstract void onKick(DataWorker worker);

    /** Now served by {@code worker}: re-check the ring. That worker. */
    @Override
    public abstract void attached(DataWorker worker);

    /** No longer served by {@code worker}: finish what is pending. That worker. */
    @Override
    public abstract void detached(DataWorker worker);

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

package io.jvhost.backend.datapath;

import io.netty.channel.IoRegistration;
import io.netty.channel.epoll.EpollIoHandle;
import io.netty.channel.epoll.EpollIoOps;
import io.netty.util.concurrent.Future;

/**
 * Which worker serves one fd (a virtqueue's kick, a TAP), and moving it between workers by commands.
 *
 * <p>The fd is in exactly one worker's epoll at a time, level-triggered. A move never waits: it sends
 * the serving worker a command to let go, and that worker has the target take it over; a kick landing in
 * between stays in the fd and fires on the new worker, so none is lost and no two workers serve the
 * ring at once. Only the control paths that must know which worker touches the ring wait: {@link #stop}
 * (before its fds close or its memory is unmapped) and {@link #onServing}. They wait as long as that
 * worker takes, with no fixed timeout: a slow worker delays its own queues, it never disconnects a port.
 *
 * <p>No thread holds this object's monitor while it waits for a worker, so a worker finishing a move
 * takes it at once.
 */
public final class WorkerBinding {

    private static final System.Logger LOG = System.getLogger(WorkerBinding.class.getName());

    /** What a binding tells the handle it serves. Both on the worker concerned. */
    public interface Served {
        /** Now served by {@code worker}: re-check for work that came while nobody was. */
        void attached(DataWorker worker);

        /** No longer served by {@code worker}: pollers it has listed must leave the ring alone. */
        void detached(DataWorker worker);
    }

    private final EpollIoHandle handle;
    private final Served served;
    /** The worker the handle is assigned to (the last move's target), null when stopped. Guarded by this. */
    private DataWorker assigned;
    /** A move's commands are under way: no worker may serve the handle until it arrives. Guarded by this. */
    private boolean moving;
    /** The worker whose epoll holds the fd; written only on that worker's thread. */
    private volatile DataWorker serving;
    private IoRegistration registration; // serving worker only
    /** Moves that arrived; written by the arriving worker only (moves are one at a time). */
    private volatile long moves;

    public WorkerBinding(EpollIoHandle handle, Served served) {
        this.handle = handle;
        this.served = served;
    }

    /** The worker serving the fd now, or null (stopped, failed or between two workers). Any thread. */
    public DataWorker serving() {
        return serving;
    }

    /** Whether the calling thread is {@code worker}'s and it serves the fd now: the guard of every poller. */
    public boolean servedHere(DataWorker worker) {
        return worker != null && serving == worker && worker.worker().inWorkerThread();
    }

    /** The worker the handle is assigned to, as schedulers and management see it, or null when stopped. */
    public synchronized DataWorker assigned() {
        return assigned;
    }

    /**
     * Registers the fd with {@code worker}'s epoll and returns once the worker serves it. When epoll_ctl
     * refuses the fd nothing is left registered, and this throws. Control thread.
     */
    public void start(DataWorker worker) {
        synchronized (this) {
            if (assigned != null) {
                throw new IllegalStateException("already served by " + assigned);
            }
        }
        Future<IoRegistration> registered = worker.worker().register(handle).awaitUninterruptibly();
        if (!registered.isSuccess()) { // the cause may be a checked exception: syncUninterruptibly would throw it sneakily
            throw new IllegalStateException("epoll refused the fd: " + registered.cause().getMessage(),
                    registered.cause());
        }
        synchronized (this) {
            assigned = worker;
            moving = true; // a move asked for before it serves goes on from it
        }
        try {
            worker.worker().call(() -> {
                arrive(worker, registered, false);
                return null;
            });
        } catch (RuntimeException e) {
            stop(); // never left registered with a worker the caller will not release
            throw e;
        }
    }

    /**
     * Stops serving; returns once no worker touches the handle, with the worker it was assigned to (null
     * when it was not served). Control thread.
     */
    public DataWorker stop() {
        DataWorker was;
        DataWorker holder;
        synchronized (this) {
            was = assigned;
            assigned = null; // a move still under way ends at nobody
            awaitArrival();
            holder = serving;
        }
        if (holder != null) {
            holder.worker().call(() -> {
                if (serving == holder) {
                    release(holder);
                }
                return null;
            });
        }
        return was;
    }

    /**
     * Moves the fd to {@code target}; returns at once, the move completes when both workers ran their
     * command. Several moves before one arrives end at the last target. Any thread.
     */
    public void moveTo(DataWorker target) {
        DataWorker from;
        synchronized (this) {
            if (assigned == null || assigned == target) {
                return;
            }
            assigned = target;
            if (moving) {
                return; // the move under way goes on to the newest target
            }
            from = serving;
            if (from == null) {
                return; // failed: nothing serves the fd, so nothing moves (the session's stop still runs)
            }
            moving = true;
        }
        from.worker().execute(() -> handOver(from));
    }

    /** Moves completed so far (a move asked for again before it arrived counts once). Any thread. */
    public long moves() {
        return moves;
    }

    /** Whether a move is under way (tests). */
    public synchronized boolean moving() {
        return moving;
    }

    /**
     * Runs {@code action} on the worker serving the fd and waits for it, with no move in between: once it
     * returns, every worker that serves the handle later sees what the action did. When a failure left
     * the fd unserved (no worker touches the ring) the action runs on the calling thread. Control thread.
     *
     * @return false when the handle is stopped: nothing ran
     */
    public boolean onServing(Runnable action) {
        while (true) {
            DataWorker w;
            synchronized (this) {
                awaitArrival();
                if (assigned == null) {
                    return false;
                }
                w = serving;
            }
            if (w == null) {
                action.run();
                return true;
            }
            boolean ran = w.worker().call(() -> {
                if (serving != w) {
                    return false; // a move came first: try its target
                }
                action.run();
                return true;
            });
            if (ran) {
                return true;
            }
        }
    }

    /**
     * The handle failed on {@code worker}: the fd leaves its epoll (an fd that keeps failing must not
     * keep firing), and pollers find nobody serving. The session's stop still runs as usual. Serving worker.
     */
    public void fail(DataWorker worker) {
        if (serving == worker) {
            serving = null;
            if (registration != null) {
                registration.cancel();
                registration = null;
            }
        }
    }

    /** The old worker's command: let go of the fd, then have the target take it. */
    private void handOver(DataWorker from) {
        if (serving != from) {
            arrived(); // failed meanwhile: stays unserved
            return;
        }
        release(from);
        forward();
    }

    /** Registers with the current target; the registration completes on the target's thread. */
    private void forward() {
        DataWorker target;
        synchronized (this) {
            target = assigned;
            if (target == null) { // stopped meanwhile
                moving = false;
                notifyAll();
                return;
            }
        }
        target.worker().register(handle).addListener(f -> arrive(target, (Future<IoRegistration>) f, true));
    }

    /** The new worker's command (the registration's listener, which Netty runs on its loop). */
    private void arrive(DataWorker target, Future<IoRegistration> registered, boolean moved) {
        if (!target.worker().inWorkerThread()) {
            target.worker().execute(() -> arrive(target, registered, moved));
            return;
        }
        if (!registered.isSuccess()) {
            LOG.log(System.Logger.Level.ERROR, "epoll of " + target + " refused the fd of " + handle
                    + " during a move; it stays unserved until restarted", registered.cause());
            arrived();
            return;
        }
        IoRegistration r = registered.getNow();
        boolean retarget;
        synchronized (this) {
            retarget = assigned != target;
        }
        if (retarget) { // moved again (or stopped) before it arrived
            r.cancel();
            forward();
            return;
        }
        try {
            if (moved) {
                moves++;
            }
            take(target, r);
        } finally {
            arrived();
        }
    }

    private void take(DataWorker worker, IoRegistration r) {
        registration = r;
        serving = worker;
        r.submit(EpollIoOps.EPOLLIN);
        served.attached(worker);
    }

    private void release(DataWorker worker) {
        serving = null;
        if (registration != null) {
            registration.cancel();
            registration = null;
        }
        served.detached(worker);
    }

    private synchronized void arrived() {
        moving = false;
        notifyAll();
    }

    /** Waits until no move is under way; the moving worker needs no lock we hold. Under this monitor. */
    private void awaitArrival() {
        boolean interrupted = false;
        while (moving) {
            try {
                wait();
            } catch (InterruptedException e) {
                interrupted = true; // a control path must see the move through: no worker may be left serving
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }
}

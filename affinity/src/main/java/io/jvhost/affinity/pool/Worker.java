package io.jvhost.affinity.pool;

import io.netty.channel.IoEventLoop;
import io.netty.channel.IoEventLoopGroup;
import io.netty.channel.IoHandle;
import io.netty.channel.IoRegistration;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.util.concurrent.Future;
import net.openhft.affinity.Affinity;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * One data-path thread: a Netty epoll event loop, optionally pinned to one CPU.
 *
 * <p>An idle worker sleeps in {@code epoll_wait} and costs nothing. Virtqueues are served by
 * registering {@link IoHandle}s (kick eventfds) on {@link #loop()}; everything a worker owns is
 * mutated only on its own thread, other threads talk to it through {@link #execute(Runnable)} (Netty's
 * task queue, drained at the top of each loop turn) or {@link #call(Callable)}.
 *
 * <p>Work that must come back without waiting for an event (a queue with kicks off) registers a
 * {@link Poller}: while any is registered the loop polls instead of sleeping ({@link PollingIoHandler}).
 *
 * <p>Busy time is measured by the handlers themselves ({@link #workStarted()} / {@link #workEnded(long)}),
 * two {@code nanoTime} reads per wakeup, and published with release stores so the management thread
 * can read it without locks.
 */
public final class Worker implements AutoCloseable {

    /**
     * Work a worker runs once per loop turn, without sleeping in between, for as long as it answers
     * true: a queue with kicks turned off that has more to do, or that busy-polls its ring for a while
     * before turning kicks back on. Runs on the worker thread; must not block.
     */
    @FunctionalInterface
    public interface Poller {
        /** Does one turn of work; false when the poller is done (it leaves the list). */
        boolean poll();
    }

    private static final System.Logger LOG = System.getLogger(Worker.class.getName());
    /** How long a {@link #call} waits before it says so (and waits on). */
    private static final long SLOW_CALL_SECONDS = 10;
    private static final VarHandle BUSY_NANOS;
    private static final VarHandle WAKEUPS;

    static {
        try {
            MethodHandles.Lookup lookup = MethodHandles.lookup();
            BUSY_NANOS = lookup.findVarHandle(Worker.class, "busyNanos", long.class);
            WAKEUPS = lookup.findVarHandle(Worker.class, "wakeups", long.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    private final String name;
    private final int cpu;
    private final IoEventLoopGroup group;
    private final IoEventLoop loop;
    private volatile PollingIoHandler handler;
    private volatile Thread thread;
    private volatile boolean pinned;
    @SuppressWarnings("unused") // accessed through BUSY_NANOS
    private long busyNanos;
    @SuppressWarnings("unused") // accessed through WAKEUPS
    private long wakeups;

    /**
     * Starts a worker thread.
     *
     * @param name thread name, e.g. {@code jvhost-worker-cpu3}
     * @param cpu  the CPU to pin to, or -1 for an unpinned thread (the per-device model)
     */
    public Worker(String name, int cpu) {
        this.name = name;
        this.cpu = cpu;
        this.group = new MultiThreadIoEventLoopGroup(1, runnable -> {
            Thread t = new Thread(() -> {
                pin();
                runnable.run();
            }, name);
            t.setDaemon(true);
            return t;
        }, executor -> {
            PollingIoHandler h = PollingIoHandler.wrap(EpollIoHandler.newFactory().newHandler(executor));
            handler = h;
            return h;
        });
        this.loop = (IoEventLoop) group.next();
        // Start the thread now so that pinning failures show at start-up, not at first kick.
        call(() -> null);
    }

    private void pin() {
        thread = Thread.currentThread();
        if (cpu < 0) {
            return;
        }
        try {
            Affinity.setAffinity(cpu);
            pinned = Affinity.getAffinity().cardinality() == 1 && Affinity.getAffinity().get(cpu);
        } catch (RuntimeException | LinkageError e) {
            pinned = false;
        }
        if (!pinned) {
            LOG.log(System.Logger.Level.WARNING, "{0}: could not pin to CPU {1}; running unpinned", name, cpu);
        }
    }

    /**
     * Pins the worker thread to {@link #cpu()} again and says whether that worked. Call it when the CPU
     * comes back online after hotplug: taking a CPU offline makes the kernel widen the affinity of the
     * threads bound to it, and bringing it back does not restore it. Any thread but another worker's;
     * waits for the worker to run it.
     */
    public boolean repin() {
        return call(() -> {
            pin();
            return pinned;
        });
    }

    public String name() {
        return name;
    }

    /** The CPU this worker is pinned to, or -1. */
    public int cpu() {
        return cpu;
    }

    /** Whether pinning to {@link #cpu()} succeeded. */
    public boolean pinned() {
        return pinned;
    }

    public IoEventLoop loop() {
        return loop;
    }

    public boolean inWorkerThread() {
        return loop.inEventLoop();
    }

    /** Queues a task for the worker thread. Any thread. */
    public void execute(Runnable task) {
        loop.execute(task);
    }

    /**
     * Runs {@code poller} every loop turn until it answers false; adding one already in the list does
     * nothing. Worker thread only.
     */
    public void addPoller(Poller poller) {
        handler.add(poller);
    }

    /**
     * Runs {@code poller} once on the first loop turn at or after {@code wakeNanos}
     * ({@link System#nanoTime()}); it stays in the poll list if it answers true. Until then the worker
     * may sleep: a queue waiting for something with a bound on the wait costs no spinning. Asking again
     * before that time moves it. Worker thread only.
     */
    public void addPollerAt(Poller poller, long wakeNanos) {
        handler.addTimed(poller, wakeNanos);
    }

    /**
     * When the current loop turn started, in {@link System#nanoTime()} units: pollers use it instead of
     * reading the clock each. Worker thread only.
     */
    public long turnNanos() {
        return handler.turnNanos();
    }

    /** Pollers waiting for their time ({@link #addPollerAt}). Worker thread only. */
    public int timedCount() {
        return handler.timedCount();
    }

    /** Pollers in the list now. Worker thread only. */
    public int pollerCount() {
        return handler.pollerCount();
    }

    /** Registers an I/O handle (an fd) with this worker's epoll. Any thread. */
    public Future<IoRegistration> register(IoHandle handle) {
        return loop.register(handle);
    }

    /**
     * Runs {@code task} on the worker thread and waits for its result, as long as the worker takes: a fixed
     * timeout would fail (and disconnect) a port only because some queue kept this worker busy. A wait
     * longer than {@link #SLOW_CALL_SECONDS} is logged, once per such period, naming the worker. Never call
     * from the worker thread of another worker that might call back (deadlock); from this worker it runs
     * inline.
     */
    public <T> T call(Callable<T> task) {
        if (loop.inEventLoop()) {
            try {
                return task.call();
            } catch (Exception e) {
                throw new IllegalStateException(name + ": " + e.getMessage(), e);
            }
        }
        Future<T> result = loop.submit(task);
        long waited = 0;
        while (true) {
            try {
                return result.get(SLOW_CALL_SECONDS, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException(name + ": interrupted", e);
            } catch (ExecutionException e) {
                throw new IllegalStateException(name + ": " + e.getCause().getMessage(), e.getCause());
            } catch (TimeoutException e) {
                waited += SLOW_CALL_SECONDS;
                LOG.log(System.Logger.Level.WARNING, name + " has not run a control task for " + waited
                        + " s; " + Thread.currentThread().getName() + " waits on");
            }
        }
    }

    /** Worker thread: a wakeup starts; returns the start time for {@link #workEnded(long)}. */
    public long workStarted() {
        WAKEUPS.setRelease(this, (long) WAKEUPS.get(this) + 1);
        return System.nanoTime();
    }

    /** Worker thread: the work begun at {@code startNanos} is done; returns its duration, for whom it was done. */
    public long workEnded(long startNanos) {
        long elapsed = System.nanoTime() - startNanos;
        BUSY_NANOS.setRelease(this, (long) BUSY_NANOS.get(this) + elapsed);
        return elapsed;
    }

    /** Total busy time so far. Any thread. */
    public long busyNanos() {
        return (long) BUSY_NANOS.getAcquire(this);
    }

    /** Wakeups (handler invocations) so far. Any thread. */
    public long wakeups() {
        return (long) WAKEUPS.getAcquire(this);
    }

    /** The thread's native id, once started (for /proc lookups); -1 before. */
    public long threadId() {
        Thread t = thread;
        return t == null ? -1 : t.threadId();
    }

    @Override
    public void close() {
        group.shutdownGracefully(0, 2, TimeUnit.SECONDS).syncUninterruptibly();
    }

    @Override
    public String toString() {
        return name;
    }
}

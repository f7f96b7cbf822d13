package io.jvhost.affinity.pool;

import io.netty.channel.IoHandle;
import io.netty.channel.IoHandler;
import io.netty.channel.IoHandlerContext;
import io.netty.channel.IoRegistration;
import io.netty.util.concurrent.Ticker;

import java.util.Arrays;

/**
 * Netty's epoll {@link IoHandler} plus a list of {@link Worker.Poller}s run once per loop turn.
 *
 * <p>A queue that has more work than one turn's budget, or has just gone quiet and wants to busy-poll
 * for a while before it re-enables its kicks, joins the list. While the list is not empty the loop does
 * not sleep: each turn is Netty's task queue, then every poller once, in turn, so one busy queue cannot
 * starve the others, and every {@link #EPOLL_INTERVAL_NANOS} an {@code epoll_wait(0)} for other queues'
 * kicks and sockets. Netty's own task queue
 * would not do for this: it runs tasks until it is empty or for up to a second (its task quantum), so
 * a task that re-queues itself would hold back every kick of the worker that long.
 *
 * <p>A poller may also ask to run once at a given time ({@link #addTimed}): a queue that waits for
 * another guest to post buffers, with a bound on the wait. While no poller is listed the loop then
 * sleeps in {@code epoll_wait} until the earliest such time at most, so a waiting queue costs nothing.
 *
 * <p>Threads: everything on the worker thread (the {@link IoHandler} contract).
 */
final class PollingIoHandler implements IoHandler {

    /** The loop's context, with what a subclass changes. */
    private abstract static class Delegating implements IoHandlerContext {
        IoHandlerContext loop;

        @Override
        public void reportActiveIoTime(long activeNanos) {
            loop.reportActiveIoTime(activeNanos);
        }

        @Override
        public boolean shouldReportActiveIoTime() {
            return loop.shouldReportActiveIoTime();
        }
    }

    /** The loop's context with "may block" turned off: pollers are waiting. */
    private static final class NonBlocking extends Delegating {
        @Override
        public boolean canBlock() {
            return false;
        }

        @Override
        public long delayNanos(long currentTimeNanos) {
            return 0;
        }

        @Override
        public long deadlineNanos() {
            return loop.deadlineNanos();
        }
    }

    /**
     * While pollers run, {@code epoll_wait(0)} (other queues' kicks, sockets) at most this often rather
     * than every turn: a turn over many mostly idle queues costs about a microsecond, as much as the
     * system call itself, and a kick waiting 20 us more is still cheaper than the exit that sent it.
     */
    static final long EPOLL_INTERVAL_NANOS = 20_000;

    /**
     * The loop's context with the sleep cut short at the earliest timed poller. Netty's epoll handler
     * sleeps for {@link #delayNanos} and uses {@link #deadlineNanos} (its scheduler's time base) to see
     * whether its timer must be re-armed.
     */
    private static final class Bounded extends Delegating {
        /** Netty's scheduler counts from here ({@link Ticker#systemTicker()}). */
        private static final long NETTY_ORIGIN = Ticker.systemTicker().initialNanoTime();
        long wakeNanos;

        @Override
        public boolean canBlock() {
            return loop.canBlock();
        }

        @Override
        public long delayNanos(long currentTimeNanos) {
            return Math.min(loop.delayNanos(currentTimeNanos), Math.max(0, wakeNanos - currentTimeNanos));
        }

        @Override
        public long deadlineNanos() {
            long own = wakeNanos - NETTY_ORIGIN;
            long scheduled = loop.deadlineNanos();
            return scheduled == -1 ? own : Math.min(scheduled, own);
        }
    }

    private final IoHandler epoll;
    private final NonBlocking nonBlocking = new NonBlocking();
    private final Bounded bounded = new Bounded();
    private Worker.Poller[] timed = new Worker.Poller[4];
    private long[] wakeTimes = new long[4];
    private int timedCount;
    private Worker.Poller[] pollers = new Worker.Poller[8];
    private int pollerCount;
    private Worker.Poller running;
    private long turnNanos;
    private long lastEpollNanos;

    private PollingIoHandler(IoHandler epoll) {
        this.epoll = epoll;
    }

    /** Wraps the loop's epoll handler. */
    static PollingIoHandler wrap(IoHandler epoll) {
        return new PollingIoHandler(epoll);
    }

    /**
     * Adds {@code poller} unless it is already in the list (or is the one running now: its own answer
     * decides whether it stays). Worker thread.
     */
    void add(Worker.Poller poller) {
        if (poller == running) {
            return;
        }
        for (int i = 0; i < pollerCount; i++) {
            if (pollers[i] == poller) {
                return;
            }
        }
        if (pollerCount == pollers.length) {
            pollers = Arrays.copyOf(pollers, pollers.length * 2); // once per new high-water mark of busy queues
        }
        pollers[pollerCount++] = poller;
    }

    int pollerCount() {
        return pollerCount;
    }

    /**
     * Runs {@code poller} once on the first loop turn at or after {@code wakeNanos}
     * ({@link System#nanoTime()}), and keeps it in the poll list if it answers true. A poller already
     * waiting gets the new time. Worker thread.
     */
    void addTimed(Worker.Poller poller, long wakeNanos) {
        for (int i = 0; i < timedCount; i++) {
            if (timed[i] == poller) {
                wakeTimes[i] = wakeNanos;
                return;
            }
        }
        if (timedCount == timed.length) { // once per new high-water mark of waiting queues
            timed = Arrays.copyOf(timed, timedCount * 2);
            wakeTimes = Arrays.copyOf(wakeTimes, timedCount * 2);
        }
        timed[timedCount] = poller;
        wakeTimes[timedCount++] = wakeNanos;
    }

    int timedCount() {
        return timedCount;
    }

    @Override
    public int run(IoHandlerContext context) {
        if (pollerCount == 0) {
            int handled = runEpoll(timedCount == 0 ? context : bounded(context));
            turnNanos = System.nanoTime();
            lastEpollNanos = turnNanos;
            return handled + runDue(turnNanos);
        }
        final long now = System.nanoTime();
        turnNanos = now;
        int handled = 0;
        if (now - lastEpollNanos >= EPOLL_INTERVAL_NANOS) {
            nonBlocking.loop = context;
            handled = runEpoll(nonBlocking);
            lastEpollNanos = now;
        }
        return handled + runDue(now) + runPollers();
    }

    private IoHandlerContext bounded(IoHandlerContext context) {
        long earliest = wakeTimes[0];
        for (int i = 1; i < timedCount; i++) {
            if (wakeTimes[i] - earliest < 0) {
                earliest = wakeTimes[i];
            }
        }
        bounded.loop = context;
        bounded.wakeNanos = earliest;
        return bounded;
    }

    /** Runs the timed pollers whose time has come, each once; those that answer true join the poll list. */
    private int runDue(long now) {
        int ran = 0;
        for (int i = 0; i < timedCount; ) {
            if (now - wakeTimes[i] < 0) {
                i++;
                continue;
            }
            Worker.Poller poller = timed[i];
            int last = --timedCount; // removed before it runs: it may ask for a new time
            timed[i] = timed[last];
            wakeTimes[i] = wakeTimes[last];
            timed[last] = null;
            ran++;
            if (runOne(poller)) {
                add(poller);
            }
        }
        return ran;
    }

    /**
     * Netty's epoll turn. Its loop lets an Error end the worker thread, and with it every queue the
     * worker serves; an InternalError is how the JVM reports a SIGBUS on mapped memory (guest memory
     * whose file a front-end shrank), raised asynchronously, so it can surface here after the handler
     * that caused it returned. It is reported and the worker goes on; the handlers stop what faulted.
     */
    private int runEpoll(IoHandlerContext context) {
        try {
            return epoll.run(context);
        } catch (InternalError e) {
            report(e);
            return 0;
        }
    }

    private static void report(Throwable e) {
        Thread t = Thread.currentThread();
        t.getUncaughtExceptionHandler().uncaughtException(t, e);
    }

    /** When the current loop turn started ({@link System#nanoTime()}): one clock read per turn for all pollers. */
    long turnNanos() {
        return turnNanos;
    }

    /**
     * Runs each poller once and drops those that are done, keeping the order of the rest. Slots are
     * cleared as their poller runs, so a poller added meanwhile (by work another one did) is appended
     * once and never mistaken for one already dropped.
     */
    private int runPollers() {
        final int n = pollerCount;
        int kept = 0;
        for (int i = 0; i < n; i++) {
            Worker.Poller poller = pollers[i];
            pollers[i] = null;
            if (runOne(poller)) {
                pollers[kept++] = poller;
            }
        }
        for (int i = n; i < pollerCount; i++) {
            pollers[kept++] = pollers[i];
        }
        Arrays.fill(pollers, kept, pollerCount, null);
        pollerCount = kept;
        return n;
    }

    private boolean runOne(Worker.Poller poller) {
        running = poller;
        try {
            return poller.poll();
        } catch (RuntimeException | InternalError e) {
            report(e); // a poller that throws is a bug (or a late SIGBUS); it must not take the worker down
            return false;
        } finally {
            running = null;
        }
    }

    @Override
    public void initialize() {
        epoll.initialize();
    }

    @Override
    public void prepareToDestroy() {
        epoll.prepareToDestroy();
    }

    @Override
    public void destroy() {
        pollerCount = 0;
        Arrays.fill(pollers, null);
        timedCount = 0;
        Arrays.fill(timed, null);
        epoll.destroy();
    }

    @Override
    public IoRegistration register(IoHandle handle) throws Exception {
        return epoll.register(handle);
    }

    @Override
    public void wakeup() {
        epoll.wakeup();
    }

    @Override
    public boolean isCompatible(Class<? extends IoHandle> handleType) {
        return epoll.isCompatible(handleType);
    }
}

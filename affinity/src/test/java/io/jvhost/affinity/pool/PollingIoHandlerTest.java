package io.jvhost.affinity.pool;

import io.netty.channel.IoHandle;
import io.netty.channel.IoHandler;
import io.netty.channel.IoHandlerContext;
import io.netty.channel.IoRegistration;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The worker's duty cycle, one {@link PollingIoHandler#run} at a time on the test thread, with no
 * thread and no epoll: a recording stand-in for Netty's epoll handler says how each turn would have
 * waited. What a turn does: epoll (sleeping only when nothing polls, and no longer than the earliest
 * timed poller), the timed pollers that are due, every listed poller once; it returns how much it did.
 */
class PollingIoHandlerTest {

    /** What the epoll turn was allowed: block or not, and for how long. */
    private record EpollCall(boolean canBlock, long delayNanos) {
    }

    private static final class RecordingEpoll implements IoHandler {
        final List<EpollCall> calls = new ArrayList<>();
        int events;

        @Override
        public int run(IoHandlerContext context) {
            calls.add(new EpollCall(context.canBlock(), context.delayNanos(System.nanoTime())));
            return events;
        }

        @Override
        public IoRegistration register(IoHandle handle) {
            throw new UnsupportedOperationException();
        }

        @Override
        public void wakeup() {
        }

        @Override
        public boolean isCompatible(Class<? extends IoHandle> handleType) {
            return true;
        }
    }

    /** The event loop's context: may block, for up to a second (no scheduled task sooner). */
    private static final IoHandlerContext LOOP = new IoHandlerContext() {
        @Override
        public boolean canBlock() {
            return true;
        }

        @Override
        public long delayNanos(long currentTimeNanos) {
            return 1_000_000_000L;
        }

        @Override
        public long deadlineNanos() {
            return -1;
        }
    };

    private final RecordingEpoll epoll = new RecordingEpoll();
    private final PollingIoHandler handler = PollingIoHandler.wrap(epoll);

    @Test
    void shouldSleepInEpollWhenNothingPolls() {
        epoll.events = 2;
        assertEquals(2, handler.run(LOOP), "the work of an idle turn is the events epoll handled");
        assertEquals(List.of(new EpollCall(true, 1_000_000_000L)), epoll.calls);
    }

    @Test
    void shouldRunEveryPollerOnceATurnWithoutSleepingAndDropThoseThatAreDone() {
        int[] runs = new int[2];
        handler.add(() -> ++runs[0] < 3); // done on its third turn
        handler.add(() -> {
            runs[1]++;
            return true;
        });
        assertEquals(2, handler.run(LOOP));
        assertFalse(epoll.calls.getFirst().canBlock(), "pollers listed: epoll must not sleep");
        assertEquals(0, epoll.calls.getFirst().delayNanos());
        handler.run(LOOP);
        handler.run(LOOP);
        assertEquals(1, handler.pollerCount(), "the first poller left after answering false");
        handler.run(LOOP);
        assertEquals(3, runs[0]);
        assertEquals(4, runs[1]);
    }

    @Test
    void shouldLookAtEpollAtMostEveryIntervalWhilePolling() {
        handler.add(() -> true);
        // Checked turn by turn against each turn's own start time, however fast the turns come.
        long lastEpoll = Long.MIN_VALUE;
        int looked = 0;
        int skipped = 0;
        for (int turn = 0; turn < 2_000 && (looked < 3 || skipped < 3); turn++) {
            int before = epoll.calls.size();
            handler.run(LOOP);
            long started = handler.turnNanos();
            boolean due = lastEpoll == Long.MIN_VALUE || started - lastEpoll >= PollingIoHandler.EPOLL_INTERVAL_NANOS;
            assertEquals(due ? before + 1 : before, epoll.calls.size(), "turn " + turn + ": epoll "
                    + (due ? "due" : "not due") + " (" + (started - lastEpoll) + " ns since the last look)");
            if (due) {
                lastEpoll = started;
                looked++;
            } else {
                skipped++;
            }
            for (long until = System.nanoTime() + 3_000; System.nanoTime() - until < 0; ) {
                Thread.onSpinWait(); // about seven turns an interval
            }
        }
        assertTrue(looked >= 3 && skipped >= 3, "both kinds of turn seen: " + looked + " looked, " + skipped + " not");
    }

    @Test
    void shouldSleepNoLongerThanTheEarliestTimedPollerAndRunItWhenDue() {
        int[] runs = new int[1];
        long wake = System.nanoTime() + 50_000_000L;
        handler.addTimed(() -> {
            runs[0]++;
            return false;
        }, wake);
        handler.addTimed(() -> false, wake + 1_000_000_000L);
        assertEquals(0, handler.run(LOOP), "nothing due yet");
        EpollCall first = epoll.calls.getFirst();
        assertTrue(first.canBlock(), "a timed poller lets the worker sleep");
        assertTrue(first.delayNanos() <= 50_000_000L && first.delayNanos() > 0,
                "sleeps until the earliest timed poller at most: " + first.delayNanos());
        while (System.nanoTime() - wake < 0) {
            Thread.onSpinWait();
        }
        assertEquals(1, handler.run(LOOP), "the due poller ran");
        assertEquals(1, runs[0]);
        assertEquals(1, handler.timedCount(), "the later one still waits");
        assertEquals(0, handler.pollerCount(), "a timed poller answering false joins no list");
    }

    @Test
    void shouldKeepATimedPollerThatAnswersTrueInThePollList() {
        handler.addTimed(() -> true, System.nanoTime() - 1);
        assertEquals(1, handler.run(LOOP));
        assertEquals(1, handler.pollerCount());
        assertEquals(0, handler.timedCount());
    }

    @Test
    void shouldKeepTurningWhenAPollerThrows() {
        int[] runs = new int[1];
        Thread.UncaughtExceptionHandler previous = Thread.currentThread().getUncaughtExceptionHandler();
        List<Throwable> reported = new ArrayList<>();
        Thread.currentThread().setUncaughtExceptionHandler((t, e) -> reported.add(e));
        try {
            handler.add(() -> {
                throw new IllegalStateException("a bug in one queue");
            });
            handler.add(() -> {
                runs[0]++;
                return true;
            });
            handler.run(LOOP);
            handler.run(LOOP);
        } finally {
            Thread.currentThread().setUncaughtExceptionHandler(previous);
        }
        assertEquals(1, reported.size(), "reported once, then dropped from the list");
        assertEquals(2, runs[0], "the other poller ran on both turns");
        assertEquals(1, handler.pollerCount());
    }
}

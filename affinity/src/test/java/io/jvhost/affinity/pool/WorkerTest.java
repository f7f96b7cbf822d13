package io.jvhost.affinity.pool;

import io.jvhost.affinity.topology.CpuTopology;
import io.netty.channel.IoEvent;
import io.netty.channel.IoRegistration;
import io.netty.channel.epoll.EpollIoHandle;
import io.netty.channel.epoll.EpollIoOps;
import io.netty.channel.epoll.Native;
import io.netty.channel.unix.FileDescriptor;
import net.openhft.affinity.Affinity;
import org.junit.jupiter.api.Test;

import java.util.BitSet;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class WorkerTest {

    @Test
    void shouldPinItsThreadToTheGivenCpu() {
        try (Worker worker = new Worker("jvhost-worker-cpu0", 0)) {
            assertTrue(worker.pinned());
            assertEquals("0", worker.call(() -> Affinity.getAffinity().toString().replaceAll("[{} ]", "")));
            assertEquals("jvhost-worker-cpu0", worker.call(() -> Thread.currentThread().getName()));
        }
    }

    @Test
    void shouldPinAgainOnRequestAfterTheAffinityWasWidened() {
        try (Worker worker = new Worker("jvhost-worker-cpu1", 1)) {
            // What the kernel does to a thread bound to a CPU that goes offline.
            BitSet all = new BitSet();
            for (int cpu : CpuTopology.onlineCpus()) {
                all.set(cpu);
            }
            worker.call(() -> {
                Affinity.setAffinity(all);
                return null;
            });

            assertTrue(worker.repin());
            assertEquals("1", worker.call(() -> Affinity.getAffinity().toString().replaceAll("[{} ]", "")));
        }
    }

    @Test
    void shouldCallHandleOnItsThreadWhenEventfdIsWritten() throws Exception {
        FileDescriptor eventFd = Native.newEventFd();
        try (Worker worker = new Worker("jvhost-worker-cpu1", 1)) {
            CountDownLatch kicked = new CountDownLatch(1);
            AtomicReference<String> thread = new AtomicReference<>();
            IoRegistration registration = registerKick(worker, eventFd, () -> {
                thread.set(Thread.currentThread().getName());
                kicked.countDown();
            });
            Native.eventFdWrite(eventFd.intValue(), 1);
            assertTrue(kicked.await(5, TimeUnit.SECONDS));
            assertEquals("jvhost-worker-cpu1", thread.get());
            worker.call(registration::cancel);
        } finally {
            eventFd.close();
        }
    }

    @Test
    void shouldRunAPollerOncePerTurnUntilItAnswersFalse() throws Exception {
        try (Worker worker = new Worker("jvhost-worker-cpu0", 0)) {
            AtomicInteger turns = new AtomicInteger();
            CountDownLatch done = new CountDownLatch(1);
            Worker.Poller poller = () -> {
                if (turns.incrementAndGet() < 1000) {
                    return true;
                }
                done.countDown();
                return false;
            };
            worker.call(() -> {
                worker.addPoller(poller);
                worker.addPoller(poller); // already listed: still one run per turn
                return null;
            });
            assertTrue(done.await(10, TimeUnit.SECONDS));
            assertEquals(0, worker.call(worker::pollerCount));
            assertEquals(1000, turns.get());
        }
    }

    @Test
    void shouldWakeFromItsSleepToRunATimedPollerOnceNoEarlierThanAsked() throws Exception {
        try (Worker worker = new Worker("jvhost-worker-cpu0", 0)) {
            AtomicInteger runs = new AtomicInteger();
            AtomicReference<Long> ranAt = new AtomicReference<>();
            CountDownLatch ran = new CountDownLatch(1);
            long wake = worker.call(() -> {
                long at = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(30);
                worker.addPollerAt(() -> {
                    runs.incrementAndGet();
                    ranAt.set(System.nanoTime());
                    ran.countDown();
                    return false;
                }, at);
                return at;
            });
            // Nothing else happens on this worker: only the bounded sleep can run the poller.
            assertTrue(ran.await(5, TimeUnit.SECONDS), "the sleeping worker must wake for the timed poller");
            assertTrue(ranAt.get() - wake >= 0, "ran " + (wake - ranAt.get()) + " ns early");
            Thread.sleep(50);
            assertEquals(1, runs.get());
            assertEquals(0, worker.call(worker::timedCount));
        }
    }

    @Test
    void shouldMoveATimedPollerAskedAgainAndKeepItPollingWhileItAnswersTrue() throws Exception {
        try (Worker worker = new Worker("jvhost-worker-cpu1", 1)) {
            AtomicInteger runs = new AtomicInteger();
            CountDownLatch done = new CountDownLatch(1);
            Worker.Poller poller = () -> {
                if (runs.incrementAndGet() < 5) {
                    return true;
                }
                done.countDown();
                return false;
            };
            long asked = worker.call(() -> {
                long far = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
                worker.addPollerAt(poller, far);
                long near = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(10);
                worker.addPollerAt(poller, near); // replaces the far time: one entry
                return near;
            });
            assertTrue(done.await(5, TimeUnit.SECONDS), "the earlier time must win");
            assertTrue(System.nanoTime() - asked >= 0);
            assertEquals(5, runs.get(), "once at its time, then in the poll list until false");
            assertEquals(0, worker.call(worker::timedCount));
            assertEquals(0, worker.call(worker::pollerCount));
        }
    }

    @Test
    void shouldServeKicksAndTasksWhileAPollerSpins() throws Exception {
        FileDescriptor eventFd = Native.newEventFd();
        try (Worker worker = new Worker("jvhost-worker-cpu1", 1)) {
            AtomicBoolean spinning = new AtomicBoolean(true);
            AtomicInteger turns = new AtomicInteger();
            worker.call(() -> {
                worker.addPoller(() -> {
                    turns.incrementAndGet();
                    return spinning.get();
                });
                return null;
            });
            CountDownLatch kicked = new CountDownLatch(1);
            IoRegistration registration = registerKick(worker, eventFd, kicked::countDown);
            Native.eventFdWrite(eventFd.intValue(), 1);
            assertTrue(kicked.await(5, TimeUnit.SECONDS), "a kick must not wait for the poller");
            assertEquals("task", worker.call(() -> "task"));
            assertTrue(turns.get() > 0);
            spinning.set(false);
            worker.call(registration::cancel);
        } finally {
            eventFd.close();
        }
    }

    @Test
    void shouldDropAPollerThatThrowsAndKeepWorking() throws Exception {
        try (Worker worker = new Worker("jvhost-worker-cpu0", 0)) {
            AtomicInteger calls = new AtomicInteger();
            Thread.UncaughtExceptionHandler quiet = (t, e) -> { };
            worker.call(() -> {
                Thread.currentThread().setUncaughtExceptionHandler(quiet);
                worker.addPoller(() -> {
                    calls.incrementAndGet();
                    throw new IllegalStateException("poller bug");
                });
                return null;
            });
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (worker.call(worker::pollerCount) != 0) {
                assertTrue(System.nanoTime() < deadline, "the throwing poller should have been dropped");
            }
            assertEquals(1, calls.get());
            assertEquals("alive", worker.call(() -> "alive"));
        }
    }

    /** Registers {@code eventFd} with {@code worker}; each readiness drains it and runs {@code onKick}. */
    private static IoRegistration registerKick(Worker worker, FileDescriptor eventFd, Runnable onKick) throws Exception {
        EpollIoHandle handle = new EpollIoHandle() {
            @Override
            public FileDescriptor fd() {
                return eventFd;
            }

            @Override
            public void handle(IoRegistration registration, IoEvent event) {
                Native.eventFdRead(eventFd.intValue());
                onKick.run();
            }

            @Override
            public void close() {
            }
        };
        IoRegistration registration = worker.register(handle).sync().getNow();
        registration.submit(EpollIoOps.EPOLLIN);
        return registration;
    }
}

package io.jvhost.backend.device;

import io.jvhost.backend.testing.Resources;
import io.jvhost.affinity.pool.Worker;
import io.jvhost.backend.switching.L2Switch;
import io.jvhost.backend.datapath.DataWorker;
import io.jvhost.backend.scheduling.LeastQueuesScheduler;
import io.netty.channel.epoll.Native;
import io.netty.channel.unix.FileDescriptor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicReference;

import static io.jvhost.backend.device.TestGuest.await;
import static io.jvhost.backend.device.TestGuest.frame;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A worker blocked on purpose, longer than any timeout a control path once had (10 s), stalls no other
 * worker and disconnects no port: the queues of the other workers forward every frame, frames into the
 * blocked worker's guest still arrive (senders copy into it), moves elsewhere complete, a move away from
 * the blocked worker waits for it without holding anyone up, and a control request for a queue on it
 * waits (it fails nothing) and completes once the worker runs again.
 */
class BlockedWorkerTest {

    private static final byte[] MAC_A = NumberedFrames.MAC_A;
    private static final byte[] MAC_B = NumberedFrames.MAC_B;
    private static final byte[] MAC_C = {0x52, 0x54, 0, 0, 0, 0x0c};
    private static final long BLOCKED_NANOS = 11_000_000_000L;

    @RegisterExtension
    final Resources resources = new Resources();

    private <T extends AutoCloseable> T track(T resource) {
        return resources.track(resource);
    }

    @Test
    @Timeout(90)
    void shouldKeepEveryOtherWorkerAndPortGoingWhileOneWorkerIsBlocked() throws Exception {
        DataWorker[] workers = new DataWorker[3];
        for (int i = 0; i < workers.length; i++) {
            workers[i] = new DataWorker(track(new Worker("jvhost-worker-cpu" + i, i)), 50_000, 5_000_000);
        }
        LeastQueuesScheduler scheduler = new LeastQueuesScheduler(workers);
        L2Switch network = new L2Switch("default");
        TestGuest a = track(new TestGuest("a", network, scheduler, 0x7f00_0000_0000L, 0));
        TestGuest b = track(new TestGuest("b", network, scheduler, 0x7e00_0000_0000L, 0));
        TestGuest c = track(new TestGuest("c", network, scheduler, 0x7d00_0000_0000L, 0));
        DataWorker free = workers[0];
        DataWorker blocked = workers[1];
        DataWorker spare = workers[2];
        for (TestGuest g : List.of(a, b)) {
            placeOn(g.port.queue(0), free);
            placeOn(g.port.queue(1), free);
        }
        placeOn(c.port.queue(0), blocked);
        placeOn(c.port.queue(1), blocked);
        a.refill(128);
        b.refill(128);
        c.refill(128);
        announce(a, MAC_A);
        announce(b, MAC_B);
        announce(c, MAC_C);
        int[] floods = new int[3]; // each announcement floods to the two others
        await(() -> (floods[0] += a.refill(128)) == 2 & (floods[1] += b.refill(128)) == 2
                & (floods[2] += c.refill(128)) == 2, "the announcements arrive");
        exchange(a, b, c, -1);
        CountDownLatch unblock = new CountDownLatch(1);
        CountDownLatch entered = new CountDownLatch(1);
        blocked.worker().execute(() -> { // the test hook: the worker's thread stops in a task
            entered.countDown();
            try {
                unblock.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
        entered.await();
        long blockedAt = System.nanoTime();
        AtomicReference<Throwable> controlFailure = new AtomicReference<>();
        FileDescriptor newCall = Native.newEventFd();
        track(newCall::close);
        Thread control = Thread.ofPlatform().name("test-control-c").start(() -> {
            try {
                c.port.setCallFd(1, newCall.intValue()); // c's TX is on the blocked worker
            } catch (Throwable t) {
                controlFailure.set(t);
            }
        });
        try {
            NetQueue cTx = c.port.queue(1);
            long asked = System.nanoTime();
            cTx.moveTo(spare);
            assertTrue(System.nanoTime() - asked < 1_000_000_000L, "a move off the blocked worker waited for it");
            assertSame(spare, cTx.owner(), "assigned at once");

            int rounds = 0;
            while (System.nanoTime() - blockedAt < BLOCKED_NANOS) {
                // Moves among the other workers complete while one is blocked.
                NetQueue aTx = a.port.queue(1);
                DataWorker to = (rounds & 1) == 0 ? spare : free;
                placeOn(aTx, to);
                a.port.setMemory(a.ram.guestMemory()); // a control request for queues the others serve
                exchange(a, b, c, rounds++);
            }
            assertTrue(control.isAlive(), "the control request for the blocked worker's queue waits on");
            assertNull(controlFailure.get(), "and fails nothing");
            assertTrue(cTx.binding.moving(), "c's TX cannot leave the blocked worker before it runs");
        } finally {
            unblock.countDown();
        }
        control.join(10_000);
        assertTrue(!control.isAlive(), "the control request completes once the worker runs again");
        assertNull(controlFailure.get(), () -> "the control request failed: " + controlFailure.get());
        NetQueue cTx = c.port.queue(1);
        await(() -> !cTx.binding.moving() && cTx.serving() == spare, "c's TX arrives on the spare worker");
        c.tx.addTx(frame(MAC_A, MAC_C, 80));
        c.sendAdded();
        int[] atA = {0};
        await(() -> (atA[0] += a.refill(128)) == 1, "c forwards again");
        for (TestGuest g : List.of(a, b, c)) {
            assertEquals(0, g.port.errors(), g.port.name() + " counted errors");
            for (VirtioNetPort.QueueSnapshot q : g.port.queueSnapshots()) {
                assertNull(q.error(), "no queue stopped: " + q);
            }
        }
    }

    /** a and b swap 50 frames each way and a sends 10 to c: all arrive. */
    private static void exchange(TestGuest a, TestGuest b, TestGuest c, int round) {
        for (int i = 0; i < 50; i++) {
            a.tx.addTx(frame(MAC_B, MAC_A, 60 + i));
            b.tx.addTx(frame(MAC_A, MAC_B, 60 + i));
        }
        for (int i = 0; i < 10; i++) {
            a.tx.addTx(frame(MAC_C, MAC_A, 100 + i));
        }
        a.sendAdded();
        b.sendAdded();
        int[] got = new int[3];
        long deadline = System.nanoTime() + 10_000_000_000L;
        while (got[0] != 50 || got[1] != 50 || got[2] != 10 || !a.txDone() || !b.txDone()) {
            assertTrue(System.nanoTime() < deadline, "round " + round + ": a, b and c got " + got[0] + ", " + got[1]
                    + " and " + got[2] + " frames of 50, 50 and 10");
            got[0] += a.refill(128);
            got[1] += b.refill(128);
            got[2] += c.refill(128);
        }
    }

    private static void announce(TestGuest g, byte[] mac) {
        g.tx.addTx(frame(new byte[] {-1, -1, -1, -1, -1, -1}, mac, 60));
        g.sendAdded();
        await(g::txDone, g.port.name() + " made itself known");
    }

    private static void placeOn(NetQueue q, DataWorker worker) {
        q.moveTo(worker);
        await(() -> q.serving() == worker && !q.binding.moving(), q.port() + "/" + q.index() + " serves on " + worker);
    }
}

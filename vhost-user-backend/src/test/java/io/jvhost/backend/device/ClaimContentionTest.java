package io.jvhost.backend.device;

import io.jvhost.backend.testing.Resources;
import io.jvhost.affinity.pool.Worker;
import io.jvhost.backend.switching.L2Switch;
import io.jvhost.backend.datapath.DataWorker;
import io.jvhost.backend.scheduling.LeastQueuesScheduler;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.List;

import static io.jvhost.backend.device.TestGuest.await;
import static io.jvhost.backend.device.TestGuest.frame;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A worker stuck while it holds a receiver's claim (preempted for a time slice, or worse) stalls no
 * other worker: a sender gives up on the claim after a bounded spin, keeps its frame and retries within
 * its bound, then drops for that receiver only, at once from then on, and forwards to everyone else.
 * The stuck holder is played by the test thread, which takes the claim as a worker would.
 */
class ClaimContentionTest {

    private static final byte[] MAC_A = NumberedFrames.MAC_A;
    private static final byte[] MAC_B = NumberedFrames.MAC_B;
    private static final byte[] MAC_C = {0x52, 0x54, 0, 0, 0, 0x0c};
    private static final VarHandle CLAIM;

    static {
        try {
            CLAIM = MethodHandles.privateLookupIn(RxQueue.class, MethodHandles.lookup())
                    .findVarHandle(RxQueue.class, "claim", int.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    @RegisterExtension
    final Resources resources = new Resources();

    private <T extends AutoCloseable> T track(T resource) {
        return resources.track(resource);
    }

    @Test
    @Timeout(60)
    void shouldForwardToEveryoneElseWhileAStuckWorkerHoldsOneReceiversClaim() throws Exception {
        Worker w0 = track(new Worker("jvhost-worker-cpu0", 0));
        Worker w1 = track(new Worker("jvhost-worker-cpu1", 1));
        long boundNanos = 50_000_000; // 50 ms
        LeastQueuesScheduler scheduler = new LeastQueuesScheduler(new DataWorker[] {
                new DataWorker(w0, 50_000, boundNanos), new DataWorker(w1, 50_000, boundNanos)});
        L2Switch network = new L2Switch("default");
        TestGuest a = track(new TestGuest("a", network, scheduler, 0x7f00_0000_0000L, 0));
        TestGuest b = track(new TestGuest("b", network, scheduler, 0x7e00_0000_0000L, 0));
        TestGuest c = track(new TestGuest("c", network, scheduler, 0x7d00_0000_0000L, 0));
        a.refill(64);
        b.refill(64);
        c.refill(64);
        b.tx.addTx(frame(MAC_A, MAC_B, 60));
        b.sendAdded();
        c.tx.addTx(frame(MAC_A, MAC_C, 60));
        c.sendAdded();
        await(() -> b.txDone() && c.txDone(), "b and c made themselves known");
        assertEquals(1, b.refill(64), "c's first frame, flooded to b"); // completed TX: delivered
        RxQueue bRx = (RxQueue) b.port.queue(0);

        assertTrue(CLAIM.compareAndSet(bRx, 0, 1), "the stuck 'worker' takes b's claim");
        try {
            whileStuck(a, b, c);
        } finally {
            CLAIM.setRelease(bRx, 0); // the holder lets go: b gets frames again
        }
        a.tx.addTx(frame(MAC_B, MAC_A, 100));
        a.sendAdded();
        int[] atB = {0};
        await(() -> (atB[0] += b.refill(64)) == 1, "b gets the next frame");
        assertEquals(20, b.port.queueSnapshots().get(0).drops());
        assertEquals(0, a.port.errors() + b.port.errors() + c.port.errors());
    }

    /** a sends 20 frames to b, whose claim is stuck, and 20 to c, interleaved. */
    private static void whileStuck(TestGuest a, TestGuest b, TestGuest c) {
        long started = System.nanoTime();
        for (int i = 0; i < 20; i++) {
            a.tx.addTx(frame(MAC_B, MAC_A, 60 + i));
            a.tx.addTx(frame(MAC_C, MAC_A, 60 + i));
        }
        a.sendAdded();
        int atC = 0;
        while (atC < 20) {
            int got = c.refill(64);
            atC += got;
            if (got == 0) {
                assertTrue(System.nanoTime() - started < 5_000_000_000L, "c got " + atC + " of 20 frames");
                Thread.onSpinWait();
            }
        }
        long tookMillis = (System.nanoTime() - started) / 1_000_000;
        await(a::txDone, "every chain of a completed");
        VirtioNetPort.QueueSnapshot bStats = b.port.queueSnapshots().get(0);
        VirtioNetPort.QueueSnapshot aStats = a.port.queueSnapshots().get(1);
        assertEquals(20, bStats.drops(), "b, whose claim is stuck, misses its 20 frames: " + bStats);
        assertEquals(1, aStats.waits(), "one bounded wait, then drops at once: " + aStats);
        assertTrue(tookMillis < 2_000, "c's frames waited " + tookMillis + " ms behind the stuck claim");
        assertEquals(0, b.refill(64), "nothing reached b");
    }
}

package io.jvhost.backend.device;

import io.jvhost.affinity.pool.Worker;
import io.jvhost.backend.protocol.VringConfig;
import io.jvhost.backend.switching.L2Switch;
import io.jvhost.backend.datapath.DataWorker;
import io.jvhost.backend.scheduling.LeastQueuesScheduler;
import io.jvhost.virtio.driver.DriverVirtqueue;
import io.jvhost.virtio.driver.GuestRam;
import io.netty.channel.epoll.Native;
import io.netty.channel.unix.FileDescriptor;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The TX queue's busy-poll window: after a burst the queue keeps polling its ring with kicks off for
 * {@code busy-poll-us}, so frames the driver adds meanwhile go out without a kick; after the window
 * kicks are back on and the worker leaves its poll list (an idle worker sleeps).
 */
class TxQueueBusyPollTest {


    private Worker worker;
    private FileDescriptor kickA;
    private FileDescriptor callA;
    private FileDescriptor kickB;
    private FileDescriptor callB;
    private VirtioNetPort a;
    private VirtioNetPort b;
    private DriverVirtqueue tx;
    private DriverVirtqueue rx;
    private boolean eventIdx;
    private int received;

    private void start(long busyPollNanos) {
        worker = new Worker("jvhost-worker-cpu0", 0);
        DataWorker dataWorker = new DataWorker(worker, busyPollNanos);
        kickA = Native.newEventFd();
        callA = Native.newEventFd();
        kickB = Native.newEventFd();
        callB = Native.newEventFd();
        L2Switch network = new L2Switch("default");
        LeastQueuesScheduler scheduler = new LeastQueuesScheduler(new DataWorker[]{dataWorker});
        a = new VirtioNetPort("a", network, scheduler, 1);
        b = new VirtioNetPort("b", network, scheduler, 1);
        network.attach(a);
        network.attach(b);
        GuestRam ramA = GuestRam.allocate(4 << 20, 0, 0x7f00_0000_0000L);
        GuestRam ramB = GuestRam.allocate(4 << 20, 0, 0x7e00_0000_0000L);
        long features = a.offeredFeatures();
        eventIdx = (features & (1L << 29)) != 0;
        a.setFeatures(features);
        b.setFeatures(features);
        a.setMemory(ramA.guestMemory());
        b.setMemory(ramB.guestMemory());
        tx = new DriverVirtqueue(ramA, 256);
        rx = new DriverVirtqueue(ramB, 256);
        for (int i = 0; i < 256; i++) {
            rx.addRx(2048);
        }
        rx.publishAvail();
        b.startQueue(new VringConfig(0, 256, 0, rx.descFrontendVa(), rx.availFrontendVa(), rx.usedFrontendVa(),
                kickB.intValue(), callB.intValue(), -1));
        a.startQueue(new VringConfig(1, 256, 0, tx.descFrontendVa(), tx.availFrontendVa(), tx.usedFrontendVa(),
                kickA.intValue(), callA.intValue(), -1));
    }

    @AfterEach
    void stop() {
        if (a != null) {
            a.stopQueue(1);
            b.stopQueue(0);
        }
        if (worker != null) {
            worker.close();
        }
        for (FileDescriptor fd : new FileDescriptor[]{kickA, callA, kickB, callB}) {
            if (fd != null) {
                try {
                    fd.close();
                } catch (Exception ignored) {
                    // best effort in clean-up
                }
            }
        }
    }

    @Test
    @Timeout(60)
    void shouldForwardFramesAddedWithoutKickWhileInsideTheWindow() {
        start(TimeUnit.SECONDS.toNanos(30)); // far longer than the test: the window cannot close under it

        sendBurst(0, 8, true);
        awaitReceived(8);
        // Still polling: the device keeps kicks off, so the driver must not (and does not) kick.
        for (int i = 8; i < 16; i++) {
            tx.addTx(NumberedFrames.fromAToB(i));
        }
        tx.publishAvail();
        assertFalse(tx.needsKick(eventIdx), "kicks should stay off inside the busy-poll window");
        awaitReceived(16);
        assertEquals(1, worker.call(worker::pollerCount));
    }

    @Test
    @Timeout(60)
    void shouldTurnKicksBackOnAndSleepAfterTheWindow() {
        start(TimeUnit.MILLISECONDS.toNanos(2));

        sendBurst(0, 8, true);
        awaitReceived(8);
        awaitTrue(() -> worker.call(worker::pollerCount) == 0, "the worker should leave polling after the window");
        for (int i = 8; i < 16; i++) {
            tx.addTx(NumberedFrames.fromAToB(i));
        }
        tx.publishAvail();
        assertTrue(tx.needsKick(eventIdx), "after the window the device should ask for kicks again");
        Native.eventFdWrite(kickA.intValue(), 1);
        awaitReceived(16);
    }

    @Test
    @Timeout(60)
    void shouldAskForKicksAtOnceWithoutAWindow() {
        start(0);

        sendBurst(0, 8, true);
        awaitReceived(8);
        awaitTrue(() -> worker.call(worker::pollerCount) == 0, "no window: nothing to poll");
        for (int i = 8; i < 16; i++) {
            tx.addTx(NumberedFrames.fromAToB(i));
        }
        tx.publishAvail();
        assertTrue(tx.needsKick(eventIdx));
        Native.eventFdWrite(kickA.intValue(), 1);
        awaitReceived(16);
        assertEquals(16, a.queueSnapshots().get(1).packets());
    }

    @Test
    @Timeout(60)
    void shouldStopPollingForASenderWhoseFramesComeLaterThanTheWindowAndStartAgainWhenTheyComeSooner()
            throws InterruptedException {
        long max = TimeUnit.MILLISECONDS.toNanos(20);
        start(max);
        TxQueue queue = (TxQueue) a.queue(1);
        int seq = 0;
        sendBurst(seq, 4, true);
        awaitReceived(seq += 4);
        assertEquals(max, window(queue));
        // Each gap is five windows long: polling would only burn CPU. Every gap halves the window.
        long expected = max;
        for (int gap = 0; gap < 16; gap++) {
            awaitTrue(() -> worker.call(worker::pollerCount) == 0, "the window closes");
            Thread.sleep(100);
            sendBurst(seq, 4, true);
            awaitReceived(seq += 4);
            expected = expected / 2 < TxQueue.MIN_WINDOW_NANOS ? 0 : expected / 2;
            assertEquals(expected, window(queue), "after gap " + gap);
        }
        assertEquals(0, expected, "down to no polling at all");
        // A frame right behind the last one: polling would have caught it, so the window opens fully.
        sendBurst(seq, 4, true);
        awaitReceived(seq += 4);
        assertEquals(max, window(queue));
    }

    private long window(TxQueue queue) {
        return worker.call(queue::pollWindowNanos);
    }

    private void sendBurst(int firstSeq, int count, boolean kick) {
        for (int i = 0; i < count; i++) {
            tx.addTx(NumberedFrames.fromAToB(firstSeq + i));
        }
        tx.publishAvail();
        if (kick && tx.needsKick(eventIdx)) {
            Native.eventFdWrite(kickA.intValue(), 1);
        }
    }

    /** Waits for the frames in order; the deadline only bounds a broken run, it measures nothing. */
    private void awaitReceived(int total) {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (received < total) {
            for (DriverVirtqueue.Used u : rx.pollUsed()) {
                int seq = NumberedFrames.seq(rx.written(u));
                assertEquals(received, seq, "frames in order, each once");
                received++;
            }
            assertTrue(System.nanoTime() < deadline, "only " + received + " of " + total + " frames arrived");
            Thread.onSpinWait();
        }
    }

    private static void awaitTrue(BooleanSupplier condition, String message) {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (!condition.getAsBoolean()) {
            assertTrue(System.nanoTime() < deadline, message);
            Thread.onSpinWait();
        }
    }
}

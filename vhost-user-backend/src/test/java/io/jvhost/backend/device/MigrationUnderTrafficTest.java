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
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Moves a busy TX queue back and forth between two workers as fast as it can while a sender streams
 * numbered frames through it: no frame may be delivered twice or out of order, no kick may be lost
 * (the stream must finish), and no chain may complete twice (the driver fixture asserts that). Once
 * with kicks back on as soon as the ring is dry, once with a busy-poll window (the queue then sits in
 * the old worker's poll list when it moves).
 *
 * <p>With {@code churn}, the port also gets a new memory table and a new call eventfd all the time, as
 * SET_MEM_TABLE and SET_VRING_CALL would bring them, and the old ones are taken away once the port
 * returned (the old table's arena closed as the session unmaps it, the old eventfd closed): a queue
 * that kept either while it moved would fault, or signal a closed fd, and stop.
 */
class MigrationUnderTrafficTest {

    private static final int FRAMES = 50_000;
    /** With churn, the stream goes on until at least this many tables and call fds came while it ran. */
    private static final int MIN_TABLES = 50;
    /** The stream goes on until the queue moved at least this often. */
    private static final int MIN_MOVES = 100;

    @ParameterizedTest(name = "busy poll {0} ns")
    @ValueSource(longs = {0, 50_000})
    @Timeout(120)
    void shouldDeliverEveryFrameOnceAndInOrderWhileTheQueueMoves(long busyPollNanos) throws Exception {
        streamWhileMoving(busyPollNanos, false);
    }

    @ParameterizedTest(name = "busy poll {0} ns")
    @ValueSource(longs = {0, 50_000})
    @Timeout(120)
    void shouldDeliverEveryFrameOnceAndInOrderWhileTheQueueMovesAndItsPortGetsNewMemoryAndCallFds(long busyPollNanos)
            throws Exception {
        streamWhileMoving(busyPollNanos, true);
    }

    private static void streamWhileMoving(long busyPollNanos, boolean churn) throws Exception {
        Worker w0 = new Worker("jvhost-worker-cpu0", 0);
        Worker w1 = new Worker("jvhost-worker-cpu1", 1);
        DataWorker[] workers = {new DataWorker(w0, busyPollNanos), new DataWorker(w1, busyPollNanos)};
        FileDescriptor kickA = Native.newEventFd();
        FileDescriptor callA = Native.newEventFd();
        FileDescriptor kickB = Native.newEventFd();
        FileDescriptor callB = Native.newEventFd();
        try {
            L2Switch network = new L2Switch("default");
            LeastQueuesScheduler scheduler = new LeastQueuesScheduler(workers);
            VirtioNetPort a = new VirtioNetPort("a", network, scheduler, 1);
            VirtioNetPort b = new VirtioNetPort("b", network, scheduler, 1);
            network.attach(a);
            network.attach(b);
            GuestRam ramA = GuestRam.allocate(8 << 20, 0, 0x7f00_0000_0000L);
            MemorySegment ramOfA = ramA.regions().getFirst().segment();
            GuestRam ramB = GuestRam.allocate(8 << 20, 0, 0x7e00_0000_0000L);
            long features = a.offeredFeatures();
            boolean eventIdx = (features & (1L << 29)) != 0;
            a.setFeatures(features);
            b.setFeatures(features);
            a.setMemory(ramA.guestMemory());
            b.setMemory(ramB.guestMemory());
            DriverVirtqueue tx = new DriverVirtqueue(ramA, 256);
            DriverVirtqueue rx = new DriverVirtqueue(ramB, 256);
            for (int i = 0; i < 256; i++) {
                rx.addRx(2048);
            }
            rx.publishAvail();
            b.startQueue(new VringConfig(0, 256, 0, rx.descFrontendVa(), rx.availFrontendVa(), rx.usedFrontendVa(),
                    kickB.intValue(), callB.intValue(), -1));
            a.startQueue(new VringConfig(1, 256, 0, tx.descFrontendVa(), tx.availFrontendVa(), tx.usedFrontendVa(),
                    kickA.intValue(), callA.intValue(), -1));
            NetQueue txQueue = a.queue(1);

            AtomicBoolean sending = new AtomicBoolean(true);
            AtomicReference<Throwable> failure = new AtomicReference<>();
            AtomicInteger tables = new AtomicInteger();
            AtomicInteger sent = new AtomicInteger();
            Thread sender = NumberedFrames.startSender(tx, eventIdx, kickA.intValue(), a,
                    seq -> seq < FRAMES || txQueue.migrations() < MIN_MOVES || (churn && tables.get() < MIN_TABLES),
                    sent, sending, failure);
            AtomicReference<Arena> mapped = new AtomicReference<>();
            AtomicReference<FileDescriptor> call = new AtomicReference<>();
            Thread churner = Thread.ofPlatform().name("test-churner").start(() -> {
                if (!churn) {
                    return;
                }
                try {
                    while (sending.get()) {
                        // A new table over the same RAM, as a front-end's SET_MEM_TABLE maps it anew.
                        Arena next = Arena.ofShared();
                        a.setMemory(GuestRam.of(ramOfA.reinterpret(ramOfA.byteSize(), next, null), 0,
                                0x7f00_0000_0000L).guestMemory());
                        Arena old = mapped.getAndSet(next);
                        if (old != null) {
                            old.close(); // the session unmaps the old table once setMemory returned
                        }
                        FileDescriptor nextCall = Native.newEventFd();
                        a.setCallFd(1, nextCall.intValue());
                        FileDescriptor oldCall = call.getAndSet(nextCall);
                        if (oldCall != null) {
                            oldCall.close();
                        }
                        tables.incrementAndGet();
                    }
                } catch (Throwable t) {
                    failure.set(t);
                }
            });
            Thread mover = Thread.ofPlatform().name("test-mover").start(() -> {
                try {
                    int moves = 0;
                    while (sending.get()) {
                        txQueue.moveTo(workers[++moves & 1]);
                    }
                } catch (Throwable t) {
                    failure.set(t);
                }
            });

            int received = 0;
            int lastSeq = -1;
            long deadline = System.nanoTime() + 60_000_000_000L;
            while (System.nanoTime() < deadline) {
                List<DriverVirtqueue.Used> done = rx.pollUsed();
                for (DriverVirtqueue.Used u : done) {
                    byte[] bytes = rx.written(u);
                    int seq = NumberedFrames.seq(bytes);
                    assertTrue(seq > lastSeq, "frame " + seq + " after " + lastSeq + ": duplicated or reordered");
                    lastSeq = seq;
                    received++;
                    rx.addRx(2048);
                }
                if (!done.isEmpty()) {
                    rx.publishAvail();
                }
                long drops = b.queueSnapshots().get(0).drops();
                if (!sending.get() && received + drops == sent.get()) {
                    break;
                }
                if (a.errors() + b.errors() > 0) {
                    break; // a queue stopped: nothing more will come
                }
                if (done.isEmpty()) {
                    Thread.onSpinWait();
                }
            }
            sender.join();
            mover.join();
            churner.join();
            assertNull(failure.get(), () -> "sender or mover failed: " + failure.get());
            VirtioNetPort.QueueSnapshot txStats = a.queueSnapshots().get(1);
            VirtioNetPort.QueueSnapshot rxStats = b.queueSnapshots().get(0);
            assertEquals(0, a.errors() + b.errors(), "a queue stopped: " + txStats.error() + " / " + rxStats.error());
            assertTrue(sent.get() >= FRAMES, "sent " + sent.get());
            assertEquals(sent.get(), txStats.packets(), "every frame left A's TX queue once: " + txStats);
            assertEquals(sent.get(), received + rxStats.drops(), "delivered + dropped at B: " + rxStats);
            assertTrue(txStats.migrations() >= MIN_MOVES, "the queue should have moved many times: " + txStats);
            if (churn) {
                assertTrue(tables.get() >= MIN_TABLES, "new tables and call fds while it moved: " + tables.get());
            }
            a.stopQueue(1);
            b.stopQueue(0);
            if (mapped.get() != null) {
                mapped.get().close();
                call.get().close();
            }
        } finally {
            w0.close();
            w1.close();
            kickA.close();
            callA.close();
            kickB.close();
            callB.close();
        }
    }
}

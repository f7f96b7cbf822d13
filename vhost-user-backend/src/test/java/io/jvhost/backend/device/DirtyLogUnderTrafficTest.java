package io.jvhost.backend.device;

import io.jvhost.affinity.pool.Worker;
import io.jvhost.backend.protocol.VringConfig;
import io.jvhost.backend.switching.L2Switch;
import io.jvhost.backend.datapath.DataWorker;
import io.jvhost.backend.scheduling.LeastQueuesScheduler;
import io.jvhost.virtio.driver.DriverVirtqueue;
import io.jvhost.virtio.driver.GuestRam;
import io.jvhost.virtio.memory.DirtyLog;
import io.netty.channel.epoll.Native;
import io.netty.channel.unix.FileDescriptor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.VarHandle;
import java.nio.ByteOrder;
import java.util.BitSet;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Replaces the dirty log of two ports all the time while one streams numbered frames to the other, as
 * SET_LOG_BASE does when guest memory grows during a migration, and plays QEMU's part: every old log is
 * synced (its bits read) once the ports returned and is then unmapped (its arena closed: a worker still
 * writing into it would fault and stop its queue).
 *
 * <p>The receiver checks what migration needs: when it sees a frame in its used ring, both pages of
 * that frame's RX buffer (each buffer starts 32 bytes before a page end, so a frame spans two pages)
 * are dirty in the current log or in one synced since the buffer was posted. It then clears those bits
 * and posts the buffer again, so a page is only ever dirty for its latest frame: a bit set late, into
 * a log nobody syncs, or not at all fails the check.
 */
class DirtyLogUnderTrafficTest {

    private static final int FRAMES = 30_000;
    private static final int MIN_SWAPS = 200;
    private static final int BUFFERS = 128;
    private static final long PAGE = DirtyLog.PAGE_SIZE;
    private static final long RAM = 8 << 20;
    private static final long LOG_BYTES = RAM / PAGE / 8;
    private static final VarHandle WORD = ValueLayout.JAVA_LONG.withOrder(ByteOrder.LITTLE_ENDIAN).varHandle();

    /** The current log as the test's "front-end" sees it, and the pages of logs synced and unmapped. */
    private final Object frontend = new Object();
    private MemorySegment currentBits;
    private Arena currentArena;
    private final BitSet synced = new BitSet();

    @Test
    @Timeout(120)
    void shouldLogEveryReceivedFrameBeforeItsUsedEntryWhileTheLogIsReplaced() throws Exception {
        Worker w0 = new Worker("jvhost-worker-cpu0", 0);
        Worker w1 = new Worker("jvhost-worker-cpu1", 1);
        DataWorker[] workers = {new DataWorker(w0), new DataWorker(w1)};
        FileDescriptor kickA = Native.newEventFd();
        FileDescriptor callA = Native.newEventFd();
        FileDescriptor kickB = Native.newEventFd();
        FileDescriptor callB = Native.newEventFd();
        AtomicBoolean sending = new AtomicBoolean(true);
        Thread sender = null;
        Thread replacer = null;
        try {
            L2Switch network = new L2Switch("default");
            LeastQueuesScheduler scheduler = new LeastQueuesScheduler(workers);
            VirtioNetPort a = new VirtioNetPort("a", network, scheduler, 1);
            VirtioNetPort b = new VirtioNetPort("b", network, scheduler, 1);
            network.attach(a);
            network.attach(b);
            GuestRam ramA = GuestRam.allocate(RAM, 0, 0x7f00_0000_0000L);
            GuestRam ramB = GuestRam.allocate(RAM, 0, 0x7e00_0000_0000L);
            long features = a.offeredFeatures();
            assertTrue((features & (1L << VirtioNetPort.VHOST_F_LOG_ALL)) != 0, "LOG_ALL offered");
            boolean eventIdx = (features & (1L << 29)) != 0;
            a.setFeatures(features); // LOG_ALL acked: writes are logged once there is a log
            b.setFeatures(features);
            a.setMemory(ramA.guestMemory());
            b.setMemory(ramB.guestMemory());
            installLog(a, b);
            DriverVirtqueue tx = new DriverVirtqueue(ramA, 256);
            DriverVirtqueue rx = new DriverVirtqueue(ramB, 256, 0);
            long buffers = ramB.allocate(BUFFERS * 2 * PAGE, PAGE);
            for (int i = 0; i < BUFFERS; i++) {
                rx.chain().writableAt(buffers + i * 2 * PAGE + PAGE - 32, (int) PAGE).add();
            }
            rx.publishAvail();
            b.startQueue(new VringConfig(0, 256, 0, rx.descFrontendVa(), rx.availFrontendVa(), rx.usedFrontendVa(),
                    kickB.intValue(), callB.intValue(), -1, rx.usedGpa()));
            a.startQueue(new VringConfig(1, 256, 0, tx.descFrontendVa(), tx.availFrontendVa(), tx.usedFrontendVa(),
                    kickA.intValue(), callA.intValue(), -1, tx.usedGpa()));

            AtomicReference<Throwable> failure = new AtomicReference<>();
            AtomicInteger sent = new AtomicInteger();
            AtomicInteger swaps = new AtomicInteger();
            sender = NumberedFrames.startSender(tx, eventIdx, kickA.intValue(), a,
                    seq -> sending.get() && (seq < FRAMES || swaps.get() < MIN_SWAPS), sent, sending, failure);
            replacer = Thread.ofPlatform().name("test-set-log-base").start(() -> {
                try {
                    while (sending.get()) {
                        installLog(a, b);
                        swaps.incrementAndGet();
                        Thread.sleep(0, 100_000);
                    }
                } catch (Throwable t) {
                    failure.set(t);
                }
            });

            int received = 0;
            int lastSeq = -1;
            long deadline = System.nanoTime() + 90_000_000_000L;
            while (System.nanoTime() < deadline) {
                int done;
                synchronized (frontend) {
                    List<DriverVirtqueue.Used> used = rx.pollUsed();
                    done = used.size();
                    for (DriverVirtqueue.Used u : used) {
                        int seq = NumberedFrames.seq(rx.written(u));
                        assertTrue(seq > lastSeq, "frame " + seq + " after " + lastSeq);
                        lastSeq = seq;
                        received++;
                        long gpa = rx.buffers(u.id()).getFirst().gpa();
                        long page = gpa / PAGE;
                        assertTrue(takeDirty(page) & takeDirty(page + 1), "frame " + seq + " into gpa 0x"
                                + Long.toHexString(gpa) + " (" + u.len() + " bytes): pages 0x" + Long.toHexString(page)
                                + " and 0x" + Long.toHexString(page + 1) + " must be logged before its used entry");
                        rx.chain().writableAt(gpa, (int) PAGE).add();
                    }
                    if (done > 0) {
                        rx.publishAvail();
                    }
                }
                if (done > 0) {
                    Native.eventFdWrite(kickB.intValue(), 1); // a sender may wait for these buffers
                }
                long drops = b.queueSnapshots().get(0).drops();
                if (!sending.get() && received + drops == sent.get()) {
                    break;
                }
                if (a.errors() + b.errors() > 0) {
                    break;
                }
                if (done == 0) {
                    Thread.onSpinWait();
                }
            }
            sending.set(false);
            sender.join();
            replacer.join();
            assertNull(failure.get(), () -> "sender or log replacer failed: " + failure.get());
            VirtioNetPort.QueueSnapshot txStats = a.queueSnapshots().get(1);
            VirtioNetPort.QueueSnapshot rxStats = b.queueSnapshots().get(0);
            assertEquals(0, a.errors() + b.errors(), "a queue stopped: " + txStats.error() + " / " + rxStats.error());
            assertTrue(sent.get() >= FRAMES, "sent " + sent.get());
            assertEquals(sent.get(), received + rxStats.drops(), "delivered + dropped at B: " + rxStats);
            // Drops are frames that waited past the back-pressure bound while the "front-end" held B's ring.
            assertTrue(received >= FRAMES / 4, "frames checked: " + received);
            assertTrue(swaps.get() >= MIN_SWAPS, "log replacements while it ran: " + swaps.get());
            synchronized (frontend) {
                assertTrue(isDirty(rx.usedGpa() / PAGE) || synced.get((int) (rx.usedGpa() / PAGE)),
                        "B's used ring is logged at its log_guest_addr");
            }
            a.stopQueue(1);
            b.stopQueue(0);
        } finally {
            sending.set(false);
            if (sender != null) {
                sender.join();
            }
            if (replacer != null) {
                replacer.join();
            }
            w0.close();
            w1.close();
            kickA.close();
            callA.close();
            kickB.close();
            callB.close();
        }
    }

    /** SET_LOG_BASE on both ports, then QEMU's part: sync the old log, unmap it. */
    private void installLog(VirtioNetPort a, VirtioNetPort b) {
        synchronized (frontend) {
            Arena arena = Arena.ofShared();
            MemorySegment bits = arena.allocate(LOG_BYTES, 8);
            DirtyLog log = DirtyLog.over(bits);
            a.setLog(log);
            b.setLog(log);
            if (currentBits != null) {
                for (long w = 0; w < LOG_BYTES / 8; w++) {
                    long word = (long) WORD.getVolatile(currentBits, w * 8);
                    while (word != 0) {
                        int bit = Long.numberOfTrailingZeros(word);
                        synced.set((int) (w * 64 + bit));
                        word &= word - 1;
                    }
                }
                currentArena.close(); // unmapped: a late write would fault
            }
            currentBits = bits;
            currentArena = arena;
        }
    }

    private boolean isDirty(long page) {
        long word = (long) WORD.getVolatile(currentBits, (page >>> 6) * 8);
        return (word & (1L << (page & 63))) != 0;
    }

    /** Whether {@code page} was logged (current or synced log), clearing it in both as QEMU's sync does. */
    private boolean takeDirty(long page) {
        boolean dirty = synced.get((int) page);
        synced.clear((int) page);
        long old = (long) WORD.getAndBitwiseAnd(currentBits, (page >>> 6) * 8, ~(1L << (page & 63)));
        return dirty | (old & (1L << (page & 63))) != 0;
    }
}

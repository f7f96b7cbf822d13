package io.jvhost.backend.device;

import com.sun.management.ThreadMXBean;
import io.jvhost.affinity.pool.Worker;
import io.jvhost.backend.offload.TestPackets;
import io.jvhost.backend.switching.L2Switch;
import io.jvhost.backend.datapath.DataWorker;
import io.jvhost.backend.scheduling.LeastQueuesScheduler;
import io.jvhost.virtio.net.NetHeader;
import io.jvhost.virtio.net.VirtioNetFeatures;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.lang.management.ManagementFactory;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;

import static io.jvhost.backend.device.TestGuest.await;
import static io.jvhost.backend.device.TestGuest.frame;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The whole worker path allocates nothing per frame once warm: the kick, the TX batch, the switch
 * (learning, lookup, flooding), one-copy delivery with mergeable RX buffers, offloads passed through
 * and done in software (TSO segmentation and checksums for a receiver without them), frames to
 * interleaved destinations, and back-pressure (a frame waiting for a full receiver, the receiver's
 * kick, the resend). Measured on the worker thread itself with the JVM's per-thread allocation counter
 * across whole rounds, so whatever the event loop does for a round counts too.
 *
 * <p>As in the virtio module's {@code HotPathAllocationTest}, the JDK allocates a little now and then
 * while it warms up (linkage, compiled-code transitions); the test asks for a streak of {@value #STREAK}
 * consecutive rounds with exactly zero bytes, which any allocation per frame or per round would break.
 */
class DatapathAllocationTest {

    private static final int STREAK = 200;
    private static final int MAX_ROUNDS = 4000;
    private static final ThreadMXBean THREADS = (ThreadMXBean) ManagementFactory.getThreadMXBean();
    private static final byte[] MAC_A = NumberedFrames.MAC_A;
    private static final byte[] MAC_B = NumberedFrames.MAC_B;
    private static final byte[] MAC_C = {0x52, 0x54, 0, 0, 0, 0x0c};
    private static final byte[] BROADCAST = {-1, -1, -1, -1, -1, -1};
    private static final long GUEST_OFFLOADS = VirtioNetFeatures.mask(VirtioNetFeatures.GUEST_CSUM)
            | VirtioNetFeatures.mask(VirtioNetFeatures.GUEST_TSO4) | VirtioNetFeatures.mask(VirtioNetFeatures.GUEST_TSO6)
            | VirtioNetFeatures.mask(VirtioNetFeatures.GUEST_ECN) | VirtioNetFeatures.mask(VirtioNetFeatures.GUEST_UFO)
            | VirtioNetFeatures.mask(VirtioNetFeatures.GUEST_USO4) | VirtioNetFeatures.mask(VirtioNetFeatures.GUEST_USO6);

    private final List<TestGuest> guests = new ArrayList<>();
    private Worker worker;

    @AfterEach
    void stop() throws Exception {
        for (TestGuest g : guests) {
            g.close();
        }
        if (worker != null) {
            worker.close();
        }
    }

    @Test
    @Timeout(120)
    void shouldNotAllocateOnTheWorkerForAnyKindOfFrame() throws Exception {
        worker = new Worker("jvhost-worker-cpu0", 0);
        DataWorker dataWorker = new DataWorker(worker, 50_000, 1_000_000_000L); // waits end by kicks only
        LeastQueuesScheduler scheduler = new LeastQueuesScheduler(new DataWorker[] {dataWorker});
        L2Switch network = new L2Switch("default");
        TestGuest a = track(new TestGuest("a", network, scheduler, 0x7f00_0000_0000L, 0));
        TestGuest b = track(new TestGuest("b", network, scheduler, 0x7e00_0000_0000L, 0));
        TestGuest c = track(new TestGuest("c", network, scheduler, 0x7d00_0000_0000L, GUEST_OFFLOADS));
        long workerThread = worker.call(() -> Thread.currentThread().threadId());
        b.refill(16);
        c.refill(256);
        // b and c make themselves known to the switch.
        b.tx.addTx(frame(MAC_A, MAC_B, 64));
        b.sendAdded();
        c.tx.addTx(frame(MAC_A, MAC_C, 64));
        c.sendAdded();
        await(() -> b.txDone() && c.txDone(), "b and c sent");

        byte[] tso = tso(MAC_B, MAC_A, 8000); // to b: passed through; the same to c: segmented
        byte[] tsoToC = tso(MAC_C, MAC_A, 8000);
        int streak = 0;
        int round = 0;
        long lastBytes = 0;
        for (; round < MAX_ROUNDS && streak < STREAK; round++) {
            // A round brings b 9 buffers' worth; b keeps 16 posted, so every other round, with only
            // what the previous one left (7), b runs out and a's TSO frame for it must wait.
            boolean backPressure = round % 2 == 1;
            b.refill(backPressure ? 0 : 16);
            c.refill(256);
            long wasWaiting = a.port.queueSnapshots().get(1).waits();
            long before = THREADS.getThreadAllocatedBytes(workerThread);

            // Interleaved destinations, a broadcast, offloads passed through and done in software.
            for (int i = 0; i < 8; i++) {
                a.tx.addTx(frame(i % 2 == 0 ? MAC_B : MAC_C, MAC_A, 60 + i * 180));
            }
            a.tx.addTx(frame(BROADCAST, MAC_A, 60));
            a.tx.addTx(tso);
            a.tx.addTx(tsoToC);
            a.sendAdded();
            if (backPressure) {
                await(() -> a.port.queueSnapshots().get(1).waits() > wasWaiting, "a waiting for b");
                b.refill(16);
                b.kickRx();
            }
            await(a::txDone, "a's chains completed");

            long allocated = THREADS.getThreadAllocatedBytes(workerThread) - before;
            lastBytes = allocated;
            streak = allocated == 0 ? streak + 1 : 0;
        }
        assertTrue(streak >= STREAK, "no streak of " + STREAK + " rounds without allocation on the worker in "
                + round + " rounds; last round allocated " + lastBytes + " bytes");
        // (a posts no RX buffer: b's and c's first frames, flooded, are dropped there.)
        assertEquals(0, b.port.queueSnapshots().get(0).drops() + c.port.queueSnapshots().get(0).drops(),
                "nothing dropped: every round's frames fitted or waited: b " + b.port.queueSnapshots().get(0)
                        + ", c " + c.port.queueSnapshots().get(0));
        assertTrue(a.port.queueSnapshots().get(1).waits() >= STREAK / 2, "a waited for b in every other round");
        assertTrue(c.port.queueSnapshots().get(0).offloads().segmented() > 0, "c got segments cut in software");
        assertTrue(b.port.queueSnapshots().get(0).offloads().passedThrough() > 0, "b got TSO frames as they were");
    }

    private TestGuest track(TestGuest g) {
        guests.add(g);
        return g;
    }

    /** A TCPv4 frame with {@code payload} bytes and a partial checksum, marked for TSO at an MSS of 1448. */
    private static byte[] tso(byte[] destination, byte[] source, int payload) {
        TestPackets.Spec spec = TestPackets.Spec.tcp4(payload);
        byte[] packet = TestPackets.partial(spec);
        System.arraycopy(destination, 0, packet, 0, 6);
        System.arraycopy(source, 0, packet, 6, 6);
        int headers = TestPackets.ETH + 20 + 20;
        ByteBuffer f = ByteBuffer.allocate(NetHeader.LENGTH + packet.length).order(ByteOrder.LITTLE_ENDIAN);
        f.put((byte) NetHeader.F_NEEDS_CSUM).put((byte) NetHeader.GSO_TCPV4).putShort((short) headers)
                .putShort((short) 1448).putShort((short) (TestPackets.ETH + 20)).putShort((short) 16).putShort((short) 0);
        f.put(packet);
        return f.array();
    }
}

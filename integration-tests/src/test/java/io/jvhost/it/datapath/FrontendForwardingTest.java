package io.jvhost.it.datapath;

import io.jvhost.backend.testing.Resources;
import io.jvhost.backend.config.WorkersConfig;
import io.jvhost.backend.management.PortStatus;
import io.jvhost.backend.management.QueueStatus;
import io.jvhost.it.datapath.InProcessJvhost.Port;
import io.jvhost.it.frontend.VhostUserFrontend;
import io.jvhost.it.frontend.VhostUserFrontend.ReceivedFrame;
import io.jvhost.virtio.net.VirtioNetFeatures;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import static io.jvhost.it.datapath.Frames.BROADCAST;
import static io.jvhost.it.datapath.Frames.TIMEOUT;
import static io.jvhost.it.datapath.Frames.assertFrames;
import static io.jvhost.it.datapath.Frames.frame;
import static io.jvhost.it.datapath.Frames.mac;
import static io.jvhost.it.datapath.InProcessJvhost.awaitEquals;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Forwarding between real vhost-user front-ends (memfd guest RAM, eventfds, AF_UNIX) through jvhost's
 * L2 learning switch.
 *
 * <p>Negative checks ("C did not get it") use a marker: a later frame from the same TX queue, which
 * the switch handles after the frame in question, so the marker being the next frame at C proves the
 * earlier one never reached C, without sleeping.
 */
class FrontendForwardingTest {

    /** What this front-end acks of the offer: no offloads (it does not ask for them). */
    private static final long EXPECTED_FEATURES = VirtioNetFeatures.mask(VirtioNetFeatures.VERSION_1)
            | VirtioNetFeatures.mask(VirtioNetFeatures.MRG_RXBUF)
            | VirtioNetFeatures.mask(VirtioNetFeatures.RING_INDIRECT_DESC)
            | VirtioNetFeatures.mask(VirtioNetFeatures.RING_EVENT_IDX)
            | VirtioNetFeatures.mask(VirtioNetFeatures.VHOST_USER_F_PROTOCOL_FEATURES);
    /** The offer: the acked features plus MTU reporting, every offload and live migration (LOG_ALL, GUEST_ANNOUNCE). */
    private static final long EXPECTED_OFFER = EXPECTED_FEATURES | VirtioNetFeatures.mask(VirtioNetFeatures.MTU)
            | VhostUserFrontend.OFFLOAD_FEATURES | (1L << 26) | VirtioNetFeatures.mask(VirtioNetFeatures.GUEST_ANNOUNCE);

    @TempDir
    Path dir;

    private final Resources resources = new Resources();

    @AfterEach
    void closeAll() throws Exception {
        resources.close();
    }

    private <T extends AutoCloseable> T track(T resource) {
        return resources.track(resource);
    }

    private InProcessJvhost start(Port... ports) throws Exception {
        return track(InProcessJvhost.start(dir, ports));
    }

    private VhostUserFrontend connect(InProcessJvhost jvhost, String port) throws Exception {
        return track(VhostUserFrontend.connect(jvhost.socket(port)));
    }

    @Test
    void shouldNegotiateLikeQemuAndReportThePortConnected() throws Exception {
        InProcessJvhost jvhost = start(new Port("a", "lan"));
        VhostUserFrontend a = connect(jvhost, "a");

        assertEquals(EXPECTED_OFFER, a.offeredFeatures(), "offered features (1 queue pair: no MQ, no CTRL_VQ)");
        assertEquals(EXPECTED_FEATURES, a.ackedFeatures());
        assertEquals(VhostUserFrontend.DRIVER_PROTOCOL_FEATURES | 0b110, a.offeredProtocolFeatures(),
                "MQ, LOG_SHMFD, RARP, REPLY_ACK, NET_MTU, CONFIGURE_MEM_SLOTS");
        assertEquals(1, a.queueNum(), "GET_QUEUE_NUM");
        PortStatus status = jvhost.awaitPort("a", PortStatus::connected, "connected");
        assertEquals(EXPECTED_FEATURES, status.features(), "acked features as the port reports them");
        QueueStatus rx = jvhost.queue("a", VhostUserFrontend.RX_QUEUE);
        QueueStatus tx = jvhost.queue("a", VhostUserFrontend.TX_QUEUE);
        assertEquals("rx", rx.direction());
        assertEquals("tx", tx.direction());
        assertTrue(InProcessJvhost.WORKER_CPUS.contains(rx.workerCpu()), "RX queue on a pool worker: " + rx);
        assertTrue(InProcessJvhost.WORKER_CPUS.contains(tx.workerCpu()), "TX queue on a pool worker: " + tx);
    }

    @Test
    void shouldFloodBroadcastThenSendLearnedUnicastOnlyToItsPort() throws Exception {
        InProcessJvhost jvhost = start(new Port("a", "lan"), new Port("b", "lan"), new Port("c", "lan"));
        VhostUserFrontend a = connect(jvhost, "a");
        VhostUserFrontend b = connect(jvhost, "b");
        VhostUserFrontend c = connect(jvhost, "c");
        byte[] macA = mac(0xa);
        byte[] macB = mac(0xb);

        byte[] hello = frame(BROADCAST, macA, 1, 98);
        a.send(hello);
        assertArrayEquals(hello, b.receiveOne(TIMEOUT), "broadcast from A at B");
        assertArrayEquals(hello, c.receiveOne(TIMEOUT), "broadcast from A at C");

        byte[] answer = frame(macA, macB, 2, 74);
        b.send(answer);
        assertArrayEquals(answer, a.receiveOne(TIMEOUT), "B's unicast answer at A");
        byte[] markerFromB = frame(BROADCAST, macB, 3);
        b.send(markerFromB);
        assertFrames(List.of(markerFromB), c.receive(TIMEOUT), "C after B's unicast to A and B's marker");
        assertArrayEquals(markerFromB, a.receiveOne(TIMEOUT), "B's marker at A");

        byte[] unicast = frame(macB, macA, 4, 1514);
        a.send(unicast);
        assertArrayEquals(unicast, b.receiveOne(TIMEOUT), "learned unicast A to B");
        byte[] markerFromA = frame(BROADCAST, macA, 5);
        a.send(markerFromA);
        assertFrames(List.of(markerFromA), c.receive(TIMEOUT), "C after A's unicast to B and A's marker");
        assertFrames(List.of(markerFromA), b.receive(TIMEOUT), "B after the unicast");
        byte[] lastFromB = frame(BROADCAST, macB, 6);
        b.send(lastFromB);
        assertFrames(List.of(lastFromB), a.receive(TIMEOUT), "A: none of its own frames came back");
        assertFrames(List.of(lastFromB), c.receive(TIMEOUT), "C: B's last broadcast");

        awaitEquals(4L, () -> jvhost.view().extraCounters().get("flooded"), "flooded: the four broadcasts");
        assertEquals(2L, jvhost.view().extraCounters().get("learned"), "learned: A's and B's MACs");
        assertEquals(0L, jvhost.view().extraCounters().get("hairpin_drops"));
        long aSent = hello.length + unicast.length + markerFromA.length;
        long bSent = answer.length + markerFromB.length + lastFromB.length;
        awaitPortCounters(jvhost, "a", 3, aSent, 3, bSent);
        awaitPortCounters(jvhost, "b", 3, bSent, 3, aSent);
        awaitPortCounters(jvhost, "c", 0, 0, 4,
                hello.length + markerFromB.length + markerFromA.length + lastFromB.length);
    }

    @Test
    void shouldForwardTenThousandMixedSizeFramesInOrder() throws Exception {
        InProcessJvhost jvhost = start(new Port("a", "lan"), new Port("b", "lan"));
        VhostUserFrontend a = connect(jvhost, "a");
        VhostUserFrontend b = connect(jvhost, "b");
        byte[] macA = mac(0xa);
        byte[] macB = mac(0xb);
        byte[] hello = frame(BROADCAST, macB, 0);
        b.send(hello);
        assertArrayEquals(hello, a.receiveOne(TIMEOUT), "B's hello at A (the switch learns B)");

        final int total = 10_000;
        final int batch = 64; // B keeps 256 buffers posted: a batch never waits for buffers
        Random random = new Random(0x5eed);
        long bytes = 0;
        int seq = 1;
        while (seq <= total) {
            List<byte[]> sent = new ArrayList<>();
            for (int i = 0; i < batch && seq <= total; i++, seq++) {
                int length = switch (seq) {
                    case 1 -> Frames.MIN_LENGTH;
                    case 2 -> Frames.MAX_LENGTH;
                    default -> Frames.MIN_LENGTH + random.nextInt(Frames.MAX_LENGTH - Frames.MIN_LENGTH + 1);
                };
                sent.add(frame(macB, macA, seq, length));
                bytes += length;
            }
            a.sendBatch(sent);
            List<byte[]> got = new ArrayList<>();
            for (ReceivedFrame f : b.receiveFrames(sent.size(), TIMEOUT)) {
                got.add(f.bytes());
            }
            assertFrames(sent, got, "B, batch ending at frame " + (seq - 1));
        }
        byte[] end = frame(macB, macA, seq, 64);
        a.send(end);
        assertFrames(List.of(end), b.receive(TIMEOUT), "B after the last batch: nothing duplicated");
        bytes += end.length;
        final int frames = total + 1;

        awaitQueueCounters(jvhost, "a", VhostUserFrontend.TX_QUEUE, frames, bytes);
        awaitQueueCounters(jvhost, "b", VhostUserFrontend.RX_QUEUE, frames, bytes);
        awaitQueueCounters(jvhost, "b", VhostUserFrontend.TX_QUEUE, 1, hello.length);
        awaitQueueCounters(jvhost, "a", VhostUserFrontend.RX_QUEUE, 1, hello.length);
        awaitPortCounters(jvhost, "a", frames, bytes, 1, hello.length);
        awaitPortCounters(jvhost, "b", 1, hello.length, frames, bytes);
        assertEquals(0L, jvhost.port("a").errors());
        assertEquals(0L, jvhost.port("b").errors());
    }

    @Test
    void shouldDeliverJumboFrameAcrossMergeableRxBuffers() throws Exception {
        InProcessJvhost jvhost = start(new Port("a", "lan").withMtu(9000), new Port("b", "lan").withMtu(9000));
        VhostUserFrontend a = connect(jvhost, "a");
        VhostUserFrontend b = track(VhostUserFrontend.connect(jvhost.socket("b"),
                VhostUserFrontend.Options.defaults().withRxBuffers(64, 2048)));

        byte[] jumbo = frame(BROADCAST, mac(0xa), 1, 9000);
        a.send(jumbo);
        List<ReceivedFrame> got = b.receiveFrames(1, TIMEOUT);
        assertEquals(1, got.size(), "jumbo frame at B");
        assertArrayEquals(jumbo, got.getFirst().bytes(), "jumbo frame bytes");
        // 12-byte header + 9000 bytes in 2048-byte buffers: 4 full ones and 820 bytes in a fifth.
        assertEquals(5, got.getFirst().numBuffers(), "num_buffers");
        assertEquals(5, b.rxRing().usedIdx(), "RX chains used");

        byte[] small = frame(BROADCAST, mac(0xa), 2);
        a.send(small);
        List<ReceivedFrame> next = b.receiveFrames(1, TIMEOUT);
        assertArrayEquals(small, next.getFirst().bytes(), "a small frame after the jumbo one");
        assertEquals(1, next.getFirst().numBuffers());
        awaitQueueCounters(jvhost, "b", VhostUserFrontend.RX_QUEUE, 2, jumbo.length + small.length);
    }

    @Test
    void shouldDropJumboFrameForAReceiverWithoutMergeableBuffers() throws Exception {
        InProcessJvhost jvhost = start(new Port("a", "lan"), new Port("b", "lan"));
        VhostUserFrontend a = connect(jvhost, "a");
        long noMergeable = VhostUserFrontend.DRIVER_FEATURES & ~VirtioNetFeatures.mask(VirtioNetFeatures.MRG_RXBUF);
        VhostUserFrontend b = track(VhostUserFrontend.connect(jvhost.socket("b"),
                VhostUserFrontend.Options.defaults().withFeatures(noMergeable)));
        PortStatus status = jvhost.awaitPort("b", PortStatus::connected, "connected");
        assertEquals(EXPECTED_FEATURES & noMergeable, status.features(), "MRG_RXBUF not acked");

        byte[] jumbo = frame(BROADCAST, mac(0xa), 1, 9000);
        a.send(jumbo);
        byte[] full = frame(BROADCAST, mac(0xa), 2, Frames.MAX_LENGTH);
        a.send(full);
        // Both left A's TX queue in order: the jumbo frame, had it been delivered, would come first.
        List<ReceivedFrame> got = b.receiveFrames(1, TIMEOUT);
        assertArrayEquals(full, got.getFirst().bytes(), "the next frame at B is the one that fits a 2 KiB buffer");
        assertEquals(1, got.getFirst().numBuffers(), "num_buffers is 1 without MRG_RXBUF (VERSION_1 header)");
        assertEquals(1, b.rxRing().usedIdx(), "the jumbo frame consumed no RX buffer");
        awaitEquals("1 packets, " + full.length + " bytes, 1 drops", () -> {
            QueueStatus q = jvhost.queue("b", VhostUserFrontend.RX_QUEUE);
            return q.packets() + " packets, " + q.bytes() + " bytes, " + q.drops() + " drops";
        }, "b RX queue: the jumbo frame dropped");
    }

    @Test
    void shouldCountDropsWhenTheReceiverRunsOutOfBuffers() throws Exception {
        InProcessJvhost jvhost = start(new Port("a", "lan"), new Port("b", "lan"));
        VhostUserFrontend a = connect(jvhost, "a");
        VhostUserFrontend b = connect(jvhost, "b");
        int posted = b.options().rxBuffers();
        int total = posted + 344;
        List<byte[]> sent = new ArrayList<>();
        for (int seq = 0; seq < total; seq++) {
            sent.add(frame(BROADCAST, mac(0xa), seq, 100));
        }
        // More than A's 256-entry ring: sendBatch waits for TX completions (the TX call eventfd).
        a.sendBatch(sent);
        awaitQueueCounters(jvhost, "a", VhostUserFrontend.TX_QUEUE, total, 100L * total);

        assertFrames(sent.subList(0, posted), receive(b, posted), "B: the frames that found a buffer, in order");
        awaitEquals(posted + " packets, " + 100L * posted + " bytes, " + (total - posted) + " drops", () -> {
            QueueStatus q = jvhost.queue("b", VhostUserFrontend.RX_QUEUE);
            return q.packets() + " packets, " + q.bytes() + " bytes, " + q.drops() + " drops";
        }, "b RX queue");
        assertEquals(total - posted, jvhost.port("b").drops(), "b port drops");
        assertEquals(0L, jvhost.port("b").errors(), "running out of buffers is not an error");

        byte[] after = frame(BROADCAST, mac(0xa), total, 100);
        a.send(after);
        // Anything of the burst delivered late would come before this frame.
        assertFrames(List.of(after), b.receive(TIMEOUT), "B after re-posting its buffers");
    }

    @Test
    void shouldForwardFramesFromMultiDescriptorAndIndirectTxChains() throws Exception {
        InProcessJvhost jvhost = start(new Port("a", "lan"), new Port("b", "lan"));
        VhostUserFrontend a = connect(jvhost, "a");
        VhostUserFrontend b = connect(jvhost, "b");
        byte[] header = new byte[VhostUserFrontend.NET_HEADER_LENGTH];

        byte[] split = frame(BROADCAST, mac(0xa), 1, 300);
        a.txRing().chain().readable(header).readable(Arrays.copyOf(split, 7))
                .readable(Arrays.copyOfRange(split, 7, split.length)).add();
        byte[] indirect = frame(BROADCAST, mac(0xa), 2, 400);
        a.txRing().chain().readable(header).readable(indirect).indirect().add();
        a.flushTx();

        assertFrames(List.of(split, indirect), receive(b, 2), "B");
        awaitQueueCounters(jvhost, "a", VhostUserFrontend.TX_QUEUE, 2, split.length + indirect.length);
        assertEquals(2, a.txRing().usedIdx(), "both TX chains completed");
    }

    /**
     * Per CPU, the current placement puts both TX queues on one worker; per device, A's and C's TX queues
     * run on two threads that write B's RX ring concurrently (its claim is contended).
     */
    @ParameterizedTest(name = "workers {0}")
    @EnumSource(WorkersConfig.Model.class)
    void shouldKeepEachSendersOrderWhenTwoSendersShareAReceiver(WorkersConfig.Model model) throws Exception {
        InProcessJvhost jvhost = track(InProcessJvhost.start(dir, model, new Port("a", "lan"), new Port("b", "lan"),
                new Port("c", "lan")));
        VhostUserFrontend a = connect(jvhost, "a");
        VhostUserFrontend b = connect(jvhost, "b");
        VhostUserFrontend c = connect(jvhost, "c");
        byte[] macB = mac(0xb);
        byte[] hello = frame(BROADCAST, macB, 0);
        b.send(hello);
        assertArrayEquals(hello, a.receiveOne(TIMEOUT));
        assertArrayEquals(hello, c.receiveOne(TIMEOUT));

        // A and C transmit at full speed from their own threads (each front-end stays confined to one
        // thread); B drains as fast as it can. B may run out of buffers: those frames are dropped and
        // counted, but whatever arrives must be intact and in each sender's order.
        final int perSender = 5_000;
        ExecutorService senders = Executors.newFixedThreadPool(2);
        List<Future<?>> sending;
        try {
            sending = List.of(senders.submit(() -> sendStream(a, macB, mac(0xa), perSender)),
                    senders.submit(() -> sendStream(c, macB, mac(0xc), perSender)));
        } finally {
            senders.shutdown();
        }
        List<byte[]> got = new ArrayList<>();
        while (!senders.isTerminated()) {
            got.addAll(b.receive(Duration.ofMillis(10)));
        }
        for (Future<?> f : sending) {
            f.get(); // a sender's failure fails the test
        }
        awaitQueueCounters(jvhost, "a", VhostUserFrontend.TX_QUEUE, perSender, streamBytes(perSender));
        awaitQueueCounters(jvhost, "c", VhostUserFrontend.TX_QUEUE, perSender, streamBytes(perSender));
        // Both TX counters are final, so every delivery into B's ring is published: drain it.
        got.addAll(b.receive(Duration.ofMillis(1)));

        int[] lastSeq = {0, 0};
        long bytes = 0;
        for (byte[] f : got) {
            int sender = f[11] == 0xa ? 0 : 1;
            int seq = ByteBuffer.wrap(f, 14, 4).getInt();
            assertTrue(seq > lastSeq[sender], "sender " + sender + ": frame " + seq + " after " + lastSeq[sender]);
            lastSeq[sender] = seq;
            assertArrayEquals(frame(macB, mac(sender == 0 ? 0xa : 0xc), seq, streamLength(seq)), f, "frame " + seq);
            bytes += f.length;
        }
        QueueStatus rx = jvhost.queue("b", VhostUserFrontend.RX_QUEUE);
        assertEquals(got.size(), rx.packets(), "B RX packets: every delivered frame was received");
        assertEquals(bytes, rx.bytes(), "B RX bytes");
        assertEquals(2L * perSender, rx.packets() + rx.drops(), "B RX delivered + dropped: " + rx);
        assertEquals(0L, jvhost.port("b").errors());
    }

    private static Void sendStream(VhostUserFrontend from, byte[] destination, byte[] source, int count)
            throws Exception {
        List<byte[]> batch = new ArrayList<>();
        for (int seq = 1; seq <= count; seq++) {
            batch.add(frame(destination, source, seq, streamLength(seq)));
            if (batch.size() == 32 || seq == count) {
                from.sendBatch(batch);
                batch.clear();
            }
        }
        return null;
    }

    private static int streamLength(int seq) {
        return Frames.MIN_LENGTH + (seq * 37) % (Frames.MAX_LENGTH - Frames.MIN_LENGTH + 1);
    }

    private static long streamBytes(int count) {
        long sum = 0;
        for (int seq = 1; seq <= count; seq++) {
            sum += streamLength(seq);
        }
        return sum;
    }

    private static List<byte[]> receive(VhostUserFrontend frontend, int count) throws Exception {
        List<byte[]> got = new ArrayList<>();
        for (ReceivedFrame f : frontend.receiveFrames(count, TIMEOUT)) {
            got.add(f.bytes());
        }
        return got;
    }

    @Test
    void shouldKeepNetworksIsolatedEvenWithTheSameMacs() throws Exception {
        InProcessJvhost jvhost = start(new Port("a", "red"), new Port("b", "red"), new Port("c", "blue"),
                new Port("d", "blue"));
        VhostUserFrontend a = connect(jvhost, "a");
        VhostUserFrontend b = connect(jvhost, "b");
        VhostUserFrontend c = connect(jvhost, "c");
        VhostUserFrontend d = connect(jvhost, "d");
        // The same two MACs in both networks: one shared MAC table would send red frames to blue ports.
        byte[] mac1 = mac(1);
        byte[] mac2 = mac(2);

        byte[] redHello = frame(BROADCAST, mac1, 1);
        a.send(redHello);
        assertArrayEquals(redHello, b.receiveOne(TIMEOUT), "red broadcast at B");
        byte[] blueHello = frame(BROADCAST, mac1, 2);
        c.send(blueHello);
        assertArrayEquals(blueHello, d.receiveOne(TIMEOUT), "blue broadcast at D");

        byte[] redUnicast = frame(mac1, mac2, 3);
        b.send(redUnicast);
        assertArrayEquals(redUnicast, a.receiveOne(TIMEOUT), "red unicast to mac1 at A, not at C");
        byte[] blueUnicast = frame(mac1, mac2, 4);
        d.send(blueUnicast);
        // Everything red was delivered before now, so anything leaked would come before this frame.
        assertFrames(List.of(blueUnicast), c.receive(TIMEOUT), "C: only blue traffic");

        byte[] redMarker = frame(BROADCAST, mac2, 5);
        b.send(redMarker);
        assertFrames(List.of(redMarker), a.receive(TIMEOUT), "A: only red traffic");
        byte[] redMarker2 = frame(BROADCAST, mac1, 6);
        a.send(redMarker2);
        assertFrames(List.of(redMarker2), b.receive(TIMEOUT), "B: only red traffic");
        byte[] blueMarker = frame(BROADCAST, mac1, 7);
        c.send(blueMarker);
        assertFrames(List.of(blueMarker), d.receive(TIMEOUT), "D: only blue traffic");

        awaitPortCounters(jvhost, "a", 2, 120, 2, 120);
        awaitPortCounters(jvhost, "b", 2, 120, 2, 120);
        awaitPortCounters(jvhost, "c", 2, 120, 1, 60);
        awaitPortCounters(jvhost, "d", 1, 60, 2, 120);
    }

    // ---------------------------------------------------------------------------------------------

    /** Port counters, from the switch's side: rx what the guest sent, tx what it was given; no drops. */
    static void awaitPortCounters(InProcessJvhost jvhost, String port, long rxPackets, long rxBytes, long txPackets,
                                  long txBytes) {
        String expected = "rx " + rxPackets + "/" + rxBytes + " tx " + txPackets + "/" + txBytes + " drops 0";
        awaitEquals(expected, () -> {
            PortStatus p = jvhost.port(port);
            return "rx " + p.rxPackets() + "/" + p.rxBytes() + " tx " + p.txPackets() + "/" + p.txBytes() + " drops "
                    + p.drops();
        }, "port " + port + " counters");
    }

    static void awaitQueueCounters(InProcessJvhost jvhost, String port, int queue, long packets, long bytes) {
        String expected = packets + " packets, " + bytes + " bytes, 0 drops";
        awaitEquals(expected, () -> {
            QueueStatus q = jvhost.queue(port, queue);
            return q.packets() + " packets, " + q.bytes() + " bytes, " + q.drops() + " drops";
        }, "queue " + port + "/" + queue + " counters");
    }
}

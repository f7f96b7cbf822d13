package io.jvhost.it.datapath;

import io.jvhost.backend.testing.Resources;
import io.jvhost.backend.management.PortStatus;
import io.jvhost.backend.management.QueueStatus;
import io.jvhost.backend.offload.TestPackets;
import io.jvhost.backend.offload.TestPackets.Spec;
import io.jvhost.it.datapath.InProcessJvhost.Port;
import io.jvhost.it.frontend.VhostUserFrontend;
import io.jvhost.it.frontend.VhostUserFrontend.Options;
import io.jvhost.it.frontend.VhostUserFrontend.ReceivedFrame;
import io.jvhost.virtio.net.NetHeader;
import io.jvhost.virtio.net.VirtioNetFeatures;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.nio.file.Path;
import java.util.List;

import static io.jvhost.it.datapath.Frames.QUIET;
import static io.jvhost.it.datapath.Frames.TIMEOUT;
import static io.jvhost.it.datapath.Frames.assertFrames;
import static io.jvhost.it.datapath.Frames.frame;
import static io.jvhost.it.datapath.Frames.mac;
import static io.jvhost.it.datapath.InProcessJvhost.awaitEquals;
import static io.jvhost.it.frontend.VhostUserFrontend.DRIVER_FEATURES;
import static io.jvhost.it.frontend.VhostUserFrontend.OFFLOAD_FEATURES;
import static io.jvhost.it.frontend.VhostUserFrontend.RX_QUEUE;
import static io.jvhost.it.frontend.VhostUserFrontend.TX_QUEUE;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Offloads through the whole daemon, between in-process front-ends on real memfd memory: a TSO frame
 * goes as it is to a driver that acked GUEST_TSO4, is segmented (and checksummed, or left with partial
 * checksums) for one that did not; bad offload headers are dropped and counted while the port and the
 * other ports keep forwarding; frames above a port's MTU are dropped; NET_SET_MTU above the port's MTU
 * is refused without dropping the connection.
 */
class FrontendOffloadTest {

    private static final byte[] MAC_A = mac(1);
    private static final byte[] MAC_B = mac(2);
    private static final byte[] MAC_BLUE1 = mac(3);
    private static final byte[] MAC_BLUE2 = mac(4);
    private static final Options OFFLOADS = Options.defaults().withFeatures(DRIVER_FEATURES | OFFLOAD_FEATURES);
    private static final Options CSUM_ONLY = Options.defaults().withFeatures(DRIVER_FEATURES
            | VirtioNetFeatures.mask(VirtioNetFeatures.CSUM) | VirtioNetFeatures.mask(VirtioNetFeatures.GUEST_CSUM)
            | VirtioNetFeatures.mask(VirtioNetFeatures.HOST_TSO4));

    @TempDir
    Path dir;

    private final Resources resources = new Resources();
    private InProcessJvhost jvhost;
    private int seq;

    @AfterEach
    void closeAll() throws Exception {
        resources.close();
    }

    private void start(Port... ports) throws Exception {
        jvhost = resources.track(InProcessJvhost.start(dir, ports));
    }

    private VhostUserFrontend connect(String port, Options options) throws Exception {
        return resources.track(VhostUserFrontend.connect(jvhost.socket(port), options));
    }

    /** Each side sends one plain frame to the other, so the switch knows both MACs. */
    private void learn(VhostUserFrontend x, byte[] macX, VhostUserFrontend y, byte[] macY) throws Exception {
        byte[] toY = frame(macY, macX, seq++);
        byte[] toX = frame(macX, macY, seq++);
        x.send(toY);
        assertFrames(List.of(toY), y.receive(TIMEOUT), "learning frame to " + Frames.describe(macY));
        y.send(toX);
        assertFrames(List.of(toX), x.receive(TIMEOUT), "learning frame back");
    }

    private static byte[] header(int flags, int gsoType, int hdrLen, int gsoSize, int csumStart, int csumOffset) {
        return new byte[]{(byte) flags, (byte) gsoType, (byte) hdrLen, (byte) (hdrLen >> 8), (byte) gsoSize,
                (byte) (gsoSize >> 8), (byte) csumStart, (byte) (csumStart >> 8), (byte) csumOffset,
                (byte) (csumOffset >> 8), 0, 0};
    }

    private static byte[] tso(Spec s, int gsoSize) {
        return header(NetHeader.F_NEEDS_CSUM, s.ipv6() ? NetHeader.GSO_TCPV6 : NetHeader.GSO_TCPV4, s.headers(),
                gsoSize, s.l4(), 16);
    }

    /** The frame addressed from {@code source} to {@code destination} (the checksums do not cover MACs). */
    private static byte[] addressed(byte[] frame, byte[] destination, byte[] source) {
        byte[] f = frame.clone();
        System.arraycopy(destination, 0, f, 0, 6);
        System.arraycopy(source, 0, f, 6, 6);
        return f;
    }

    private QueueStatus.OffloadCounts offloads(String port, int queue) {
        return jvhost.queue(port, queue).offloads();
    }

    @Test
    void shouldHandATsoFrameAsItIsToADriverThatAckedGuestTso() throws Exception {
        start(new Port("a", "red"), new Port("b", "red"));
        VhostUserFrontend a = connect("a", OFFLOADS);
        VhostUserFrontend b = connect("b", OFFLOADS);
        learn(a, MAC_A, b, MAC_B);
        Spec s = Spec.tcp4(60000).tcpOptions(12);
        byte[] frame = addressed(TestPackets.partial(s), MAC_B, MAC_A);

        a.sendWithHeader(tso(s, 1448), frame);

        ReceivedFrame r = b.receiveFrames(1, TIMEOUT).getFirst();
        assertArrayEquals(frame, r.bytes(), "one copy of the whole 60 KB frame");
        assertEquals(NetHeader.F_NEEDS_CSUM, r.flags());
        assertEquals(NetHeader.GSO_TCPV4, r.gsoType());
        assertEquals(s.headers(), r.field(NetHeader.HDR_LEN_OFFSET));
        assertEquals(1448, r.field(NetHeader.GSO_SIZE_OFFSET));
        assertEquals(s.l4(), r.field(NetHeader.CSUM_START_OFFSET));
        assertEquals(16, r.field(NetHeader.CSUM_OFFSET_OFFSET));
        awaitEquals(1L, () -> offloads("b", RX_QUEUE).passedThrough(), "offload frames passed through");
        assertEquals(0L, offloads("b", RX_QUEUE).segmented());
        PortStatus status = jvhost.port("a");
        for (int bit : new int[]{VirtioNetFeatures.CSUM, VirtioNetFeatures.GUEST_CSUM, VirtioNetFeatures.HOST_TSO4,
                VirtioNetFeatures.HOST_TSO6, VirtioNetFeatures.GUEST_TSO4, VirtioNetFeatures.GUEST_TSO6}) {
            assertTrue(VirtioNetFeatures.has(status.features(), bit), "acked " + bit + " in " + status);
        }
        assertEquals(List.of("CSUM", "TSO4", "TSO6", "ECN", "UFO", "USO4", "USO6"), status.offloads());
    }

    @Test
    void shouldSegmentAndChecksumForADriverWithoutOffloads() throws Exception {
        start(new Port("a", "red"), new Port("b", "red"));
        VhostUserFrontend a = connect("a", OFFLOADS);
        VhostUserFrontend b = connect("b", Options.defaults());
        learn(a, MAC_A, b, MAC_B);
        Spec s = Spec.tcp4(10000).ipOptions(8).tcpOptions(12);
        byte[] frame = addressed(TestPackets.partial(s), MAC_B, MAC_A);

        a.sendWithHeader(tso(s, 1448), frame);

        int mss = 1500 - (s.headers() - s.l3());
        int count = (10000 + mss - 1) / mss;
        List<ReceivedFrame> segments = b.receiveFrames(count, TIMEOUT);
        assertEquals(count, segments.size());
        ByteArrayOutputStream payload = new ByteArrayOutputStream();
        for (ReceivedFrame r : segments) {
            byte[] f = r.bytes();
            assertTrue(f.length - s.l3() <= 1500, "segment within the receiver's MTU");
            assertTrue(TestPackets.ipv4ChecksumValid(f, s.l3()), "IPv4 header checksum");
            assertTrue(TestPackets.l4ChecksumValid(f, false, s.l3(), s.l4(), TestPackets.TCP), "TCP checksum");
            payload.write(f, s.headers(), f.length - s.headers());
        }
        assertArrayEquals(TestPackets.range(frame, s.headers(), frame.length), payload.toByteArray());
        awaitEquals(new QueueStatus.OffloadCounts(1, count, 0, 0), () -> offloads("b", RX_QUEUE),
                "receiver's offload counters");
        assertTrue(b.receive(QUIET).isEmpty(), "nothing more");

        // A partial checksum without GSO is completed: the frame arrives as if checksummed by the sender.
        Spec small = Spec.tcp4(300);
        a.sendWithHeader(header(NetHeader.F_NEEDS_CSUM, 0, 0, 0, small.l4(), 16),
                addressed(TestPackets.partial(small), MAC_B, MAC_A));
        assertArrayEquals(addressed(TestPackets.complete(small), MAC_B, MAC_A), b.receiveOne(TIMEOUT));
        awaitEquals(new QueueStatus.OffloadCounts(1, count + 1, 0, 0), () -> offloads("b", RX_QUEUE),
                "checksum completed");
    }

    @Test
    void shouldLeavePartialChecksumsToADriverWithGuestCsumButNotGuestTso() throws Exception {
        start(new Port("a", "red"), new Port("b", "red"));
        VhostUserFrontend a = connect("a", OFFLOADS);
        VhostUserFrontend b = connect("b", CSUM_ONLY);
        learn(a, MAC_A, b, MAC_B);
        Spec s = Spec.tcp6(5000);
        byte[] frame = addressed(TestPackets.partial(s), MAC_B, MAC_A);

        a.sendWithHeader(tso(s, 1428), frame);

        List<ReceivedFrame> segments = b.receiveFrames(4, TIMEOUT);
        assertEquals(4, segments.size());
        for (ReceivedFrame r : segments) {
            assertEquals(NetHeader.F_NEEDS_CSUM, r.flags());
            assertEquals(NetHeader.GSO_NONE, r.gsoType());
            assertEquals(s.l4(), r.field(NetHeader.CSUM_START_OFFSET));
            byte[] f = r.bytes();
            assertEquals(TestPackets.foldedPseudo(f, true, s.l3(), TestPackets.TCP, f.length - s.l4()),
                    TestPackets.u16(f, s.l4() + 16), "the pseudo-header sum for the guest to complete");
        }
        awaitEquals(new QueueStatus.OffloadCounts(1, 0, 0, 0), () -> offloads("b", RX_QUEUE), "no software checksum");
    }

    /** Acceptance (e): each bad header drops its frame, counted on the sender's TX queue; nothing else stops. */
    @Test
    void shouldDropBadOffloadHeadersCountThemAndKeepEveryPortForwarding() throws Exception {
        start(new Port("a", "red"), new Port("b", "red"), new Port("blue1", "blue"), new Port("blue2", "blue"));
        VhostUserFrontend a = connect("a", OFFLOADS);
        VhostUserFrontend b = connect("b", OFFLOADS);
        VhostUserFrontend blue1 = connect("blue1", Options.defaults());
        VhostUserFrontend blue2 = connect("blue2", Options.defaults());
        learn(a, MAC_A, b, MAC_B);
        learn(blue1, MAC_BLUE1, blue2, MAC_BLUE2);
        Spec s = Spec.tcp4(4000);
        byte[] frame = addressed(TestPackets.partial(s), MAC_B, MAC_A);
        int tsoType = NetHeader.GSO_TCPV4;
        List<byte[]> bad = List.of(
                header(NetHeader.F_NEEDS_CSUM, tsoType, s.headers(), 0, s.l4(), 16),              // gso_size 0
                header(NetHeader.F_NEEDS_CSUM, tsoType, frame.length + 1, 1448, s.l4(), 16),     // hdr_len beyond
                header(NetHeader.F_NEEDS_CSUM, 0, 0, 0, frame.length + 10, 16),                  // csum_start beyond
                header(NetHeader.F_NEEDS_CSUM, 2, s.headers(), 1448, s.l4(), 16),                // unknown gso_type
                header(NetHeader.F_NEEDS_CSUM, 0, 0, 0, s.l4(), frame.length - s.l4()));         // csum_offset past

        for (byte[] h : bad) {
            a.sendWithHeader(h, frame);
        }
        byte[] good = frame(MAC_B, MAC_A, seq++);
        a.send(good);

        assertFrames(List.of(good), b.receive(TIMEOUT), "only the good frame reaches b");
        awaitEquals(5L, () -> offloads("a", TX_QUEUE).badHeaders(), "bad offload headers counted");
        assertEquals(5L, jvhost.queue("a", TX_QUEUE).drops());
        assertEquals(null, jvhost.queue("a", TX_QUEUE).error(), "the queue keeps running");
        assertEquals(0L, offloads("b", RX_QUEUE).passedThrough());
        // The same port forwards a good TSO frame right after, and the blue pair never stopped.
        a.sendWithHeader(tso(s, 1448), frame);
        assertArrayEquals(frame, b.receiveOne(TIMEOUT));
        learn(blue1, MAC_BLUE1, blue2, MAC_BLUE2);
    }

    @Test
    void shouldDropATsoFrameFromADriverThatDidNotAckHostTso() throws Exception {
        start(new Port("a", "red"), new Port("b", "red"));
        VhostUserFrontend a = connect("a", Options.defaults());
        VhostUserFrontend b = connect("b", OFFLOADS);
        learn(a, MAC_A, b, MAC_B);
        Spec s = Spec.tcp4(3000);

        a.sendWithHeader(tso(s, 1448), addressed(TestPackets.partial(s), MAC_B, MAC_A));

        awaitEquals(1L, () -> offloads("a", TX_QUEUE).badHeaders(), "an offload it did not negotiate");
        assertTrue(b.receive(QUIET).isEmpty());
    }

    @Test
    void shouldDropFramesAboveTheReceiversMtuAndTakeOnlyASmallerMtuFromTheFrontEnd() throws Exception {
        start(new Port("a", "red"), new Port("b", "red"));
        VhostUserFrontend a = connect("a", Options.defaults());
        VhostUserFrontend b = connect("b", Options.defaults());
        learn(a, MAC_A, b, MAC_B);
        byte[] largest = frame(MAC_B, MAC_A, seq++, 1500 + 18);
        byte[] tooLarge = frame(MAC_B, MAC_A, seq++, 1500 + 19);

        a.sendBatch(List.of(tooLarge, largest));

        assertFrames(List.of(largest), b.receive(TIMEOUT), "frames up to MTU + Ethernet header + VLAN tag");
        awaitEquals(1L, () -> jvhost.queue("b", RX_QUEUE).drops(), "the oversized frame dropped at the receiver");

        assertTrue(b.setMtu(9000) != 0, "an MTU above the port's mtu is refused");
        b.getFeatures(); // the connection stays
        assertEquals(0L, b.setMtu(1400));
        assertEquals(1400, jvhost.port("b").mtu());
        a.sendBatch(List.of(frame(MAC_B, MAC_A, seq++, 1400 + 19), largest));
        assertTrue(b.receive(QUIET).isEmpty(), "above the front-end's MTU now");
        awaitEquals(3L, () -> jvhost.queue("b", RX_QUEUE).drops(), "both dropped");
    }

    @Test
    void shouldCarryJumboFramesBetweenPortsWithMtu9000() throws Exception {
        start(new Port("a", "red").withMtu(9000), new Port("b", "red").withMtu(9000));
        VhostUserFrontend a = connect("a", Options.defaults());
        VhostUserFrontend b = connect("b", Options.defaults());
        learn(a, MAC_A, b, MAC_B);
        byte[] jumbo = frame(MAC_B, MAC_A, seq++, 9000 + 14);

        a.send(jumbo);

        List<ReceivedFrame> received = b.receiveFrames(1, TIMEOUT);
        assertArrayEquals(jumbo, received.getFirst().bytes());
        assertEquals(5, received.getFirst().numBuffers(), "9026 bytes with the header in 2 KiB buffers");
        assertEquals(0L, b.setMtu(9000));
    }

    @Test
    void shouldOfferNoOffloadsOnAPortWithOffloadsOff() throws Exception {
        start(new Port("a", "red").withoutOffloads());
        VhostUserFrontend a = connect("a", OFFLOADS);
        assertEquals(0L, a.offeredFeatures() & OFFLOAD_FEATURES);
        assertTrue(VirtioNetFeatures.has(a.offeredFeatures(), VirtioNetFeatures.MTU));
    }
}

package io.jvhost.backend.offload;

import io.jvhost.backend.offload.TestPackets.Spec;
import io.jvhost.virtio.driver.DriverVirtqueue;
import io.jvhost.virtio.driver.GuestRam;
import io.jvhost.virtio.net.FrameSource;
import io.jvhost.virtio.net.NetHeader;
import io.jvhost.virtio.net.RxFrameWriter;
import io.jvhost.virtio.net.VirtioNetFeatures;
import io.jvhost.virtio.ring.RingStatus;
import io.jvhost.virtio.ring.SplitVirtqueue;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.ByteArrayOutputStream;
import java.lang.foreign.MemorySegment;
import java.util.List;

import static io.jvhost.backend.offload.TestPackets.TCP_ACK;
import static io.jvhost.backend.offload.TestPackets.TCP_CWR;
import static io.jvhost.backend.offload.TestPackets.TCP_FIN;
import static io.jvhost.backend.offload.TestPackets.TCP_PSH;
import static io.jvhost.backend.offload.TestPackets.u16;
import static io.jvhost.backend.offload.TestPackets.u32;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Software segmentation, fragmentation and checksum completion against frames built the way a Linux
 * guest builds them, written into a real RX ring and read back as the receiving guest sees them.
 */
class SoftwareOffloadTest {

    private static final long MERGEABLE = VirtioNetFeatures.mask(VirtioNetFeatures.VERSION_1)
            | VirtioNetFeatures.mask(VirtioNetFeatures.MRG_RXBUF);

    private final GuestRam ram = GuestRam.allocate(4 << 20, 0, 0x7f00_0000_0000L);
    private final DriverVirtqueue driver = new DriverVirtqueue(ram, 256, 4096);
    private final SplitVirtqueue rx = new SplitVirtqueue(0);
    private final RxFrameWriter writer = new RxFrameWriter();
    private final SoftwareOffload software = new SoftwareOffload();
    private final FrameOffload offload = new FrameOffload();
    private final FrameSource source = new FrameSource();

    SoftwareOffloadTest() {
        driver.configure(rx, MERGEABLE);
        for (int i = 0; i < 200; i++) {
            driver.addRx(2048);
        }
        driver.publishAvail();
    }

    private int parse(byte[] frame, int gsoType, int gsoSize, Spec s) {
        int csumOffset = s.protocol() == TestPackets.TCP ? 16 : 6;
        long header = NetHeader.pack(NetHeader.F_NEEDS_CSUM, gsoType, s.headers(), gsoSize, s.l4());
        return offload.parse(header, csumOffset, Offloads.ALL, NetHeader.F_NEEDS_CSUM,
                source.wrapSegment(MemorySegment.ofArray(frame), 0, frame.length));
    }

    /** Every frame the ring holds now (mergeable: chains joined by num_buffers). */
    private List<ReceivedFrame> received() {
        return ReceivedFrame.drain(rx, driver);
    }

    private static byte[] payloadOf(List<ReceivedFrame> segments, int headers) {
        ByteArrayOutputStream all = new ByteArrayOutputStream();
        for (ReceivedFrame r : segments) {
            all.write(r.frame(), headers, r.frame().length - headers);
        }
        return all.toByteArray();
    }

    private void assertTcpSegments(Spec s, byte[] original, int mss, List<ReceivedFrame> segments, boolean partial) {
        int expected = (s.payload() + mss - 1) / mss;
        assertEquals(expected, segments.size());
        int l3 = s.l3();
        int l4 = s.l4();
        for (int i = 0; i < segments.size(); i++) {
            byte[] f = segments.get(i).frame();
            int segmentPayload = i == expected - 1 ? s.payload() - mss * (expected - 1) : mss;
            assertEquals(s.headers() + segmentPayload, f.length, "segment " + i + " length");
            assertArrayEquals(TestPackets.range(original, 0, l3), TestPackets.range(f, 0, l3), "Ethernet header");
            if (s.ipv6()) {
                assertEquals(f.length - l3 - 40, u16(f, l3 + 4), "IPv6 payload length");
                assertArrayEquals(TestPackets.range(original, l3 + 6, l4), TestPackets.range(f, l3 + 6, l4),
                        "IPv6 addresses and extension headers");
            } else {
                assertEquals(f.length - l3, u16(f, l3 + 2), "IPv4 total length");
                assertEquals((s.ipId() + i) & 0xFFFF, u16(f, l3 + 4), "IPv4 ID");
                assertEquals(u16(original, l3 + 6), u16(f, l3 + 6), "IPv4 flags (DF kept)");
                assertTrue(TestPackets.ipv4ChecksumValid(f, l3), "IPv4 header checksum of segment " + i);
                assertArrayEquals(TestPackets.range(original, l3 + 12, l4), TestPackets.range(f, l3 + 12, l4),
                        "IPv4 addresses and options");
            }
            assertEquals(s.seq() + i * mss, u32(f, l4 + 4), "TCP sequence number");
            assertEquals(u32(original, l4 + 8), u32(f, l4 + 8), "TCP ack");
            int flags = s.tcpFlags();
            if (i != expected - 1) {
                flags &= ~(TCP_FIN | TCP_PSH);
            }
            if (i != 0) {
                flags &= ~TCP_CWR;
            }
            assertEquals(flags, f[l4 + 13] & 0xFF, "TCP flags of segment " + i);
            assertArrayEquals(TestPackets.range(original, l4 + 20, s.headers()),
                    TestPackets.range(f, l4 + 20, s.headers()), "TCP options");
            ReceivedFrame r = segments.get(i);
            if (partial) {
                assertEquals(NetHeader.F_NEEDS_CSUM, r.flags());
                assertEquals(l4, r.csumStart());
                assertEquals(16, r.csumOffset());
                assertEquals(TestPackets.foldedPseudo(f, s.ipv6(), l3, TestPackets.TCP, f.length - l4), u16(f, l4 + 16),
                        "pseudo-header sum left for the receiver");
            } else {
                assertEquals(0, r.flags());
                assertTrue(TestPackets.l4ChecksumValid(f, s.ipv6(), l3, l4, TestPackets.TCP), "TCP checksum of segment " + i);
            }
        }
        assertArrayEquals(TestPackets.range(original, s.headers(), original.length), payloadOf(segments, s.headers()));
    }

    /** The sender's MSS, or less where the receiver's MTU does not hold it with these headers. */
    private static int mssFor(Spec s, int gsoSize, int mtu) {
        return Math.min(gsoSize, mtu - (s.headers() - s.l3()));
    }

    static List<Spec> tcpFrames() {
        return List.of(
                Spec.tcp4(1448 * 3 + 100),
                Spec.tcp4(60000).ipOptions(12).tcpOptions(20),
                Spec.tcp4(4000).flags(TCP_ACK | TCP_PSH | TCP_FIN | TCP_CWR).seq(0xFFFF_F000),
                Spec.tcp4(3000).vlan(2),
                Spec.tcp6(1448 * 2 + 1),
                Spec.tcp6(20000).extensionHeader(16).tcpOptions(12).flags(TCP_ACK | TCP_FIN | TCP_CWR));
    }

    @ParameterizedTest
    @ValueSource(ints = {0, 1, 2, 3, 4, 5})
    void shouldSegmentTcpWithFullChecksumsForAReceiverWithoutGuestCsum(int which) {
        Spec s = tcpFrames().get(which);
        byte[] frame = TestPackets.partial(s);
        int type = s.ipv6() ? NetHeader.GSO_TCPV6 : NetHeader.GSO_TCPV4;
        assertEquals(FrameOffload.OK, parse(frame, type, 1448, s));

        assertEquals(RingStatus.OK, software.segment(rx, writer, offload, source, 0, 1500));

        List<ReceivedFrame> segments = received();
        assertTcpSegments(s, frame, mssFor(s, 1448, 1500), segments, false);
        assertEquals(segments.size(), software.segments());
        assertEquals(segments.size(), software.checksums());
    }

    @ParameterizedTest
    @ValueSource(ints = {0, 1, 4, 5})
    void shouldLeavePartialChecksumsToAReceiverWithGuestCsum(int which) {
        Spec s = tcpFrames().get(which);
        byte[] frame = TestPackets.partial(s);
        assertEquals(FrameOffload.OK, parse(frame, s.ipv6() ? NetHeader.GSO_TCPV6 : NetHeader.GSO_TCPV4, 1448, s));

        assertEquals(RingStatus.OK, software.segment(rx, writer, offload, source, Offloads.CSUM, 1500));

        assertTcpSegments(s, frame, mssFor(s, 1448, 1500), received(), true);
        assertEquals(0, software.checksums());
    }

    @Test
    void shouldCutTcpSegmentsSmallerWhenTheReceiversMtuIsBelowTheSendersMss() {
        Spec s = Spec.tcp4(8948 * 2);
        byte[] frame = TestPackets.partial(s);
        assertEquals(FrameOffload.OK, parse(frame, NetHeader.GSO_TCPV4, 8948, s));

        assertEquals(RingStatus.OK, software.segment(rx, writer, offload, source, 0, 1500));

        // 1500 - 20 (IPv4) - 32 (TCP with 12 bytes of options) = 1448 per segment.
        assertTcpSegments(s, frame, 1448, received(), false);
    }

    @Test
    void shouldSplitUsoIntoDatagramsEachWithItsOwnUdpHeader() {
        Spec s = Spec.udp4(1200 * 3 + 7);
        byte[] frame = TestPackets.partial(s);
        assertEquals(FrameOffload.OK, parse(frame, NetHeader.GSO_UDP_L4, 1200, s));
        assertEquals(Offloads.CSUM | Offloads.USO4, offload.needs());

        assertEquals(RingStatus.OK, software.segment(rx, writer, offload, source, 0, 1500));

        List<ReceivedFrame> datagrams = received();
        assertEquals(4, datagrams.size());
        for (int i = 0; i < 4; i++) {
            byte[] f = datagrams.get(i).frame();
            int length = i == 3 ? 7 : 1200;
            assertEquals(s.headers() + length, f.length);
            assertEquals(f.length - s.l3(), u16(f, s.l3() + 2), "IPv4 total length");
            assertEquals((s.ipId() + i) & 0xFFFF, u16(f, s.l3() + 4), "IPv4 ID");
            assertTrue(TestPackets.ipv4ChecksumValid(f, s.l3()));
            assertEquals(8 + length, u16(f, s.l4() + 4), "UDP length");
            assertTrue(TestPackets.l4ChecksumValid(f, false, s.l3(), s.l4(), TestPackets.UDP), "UDP checksum " + i);
        }
        assertArrayEquals(TestPackets.range(frame, s.headers(), frame.length), payloadOf(datagrams, s.headers()));
    }

    @Test
    void shouldSplitUsoOverIpv6() {
        Spec s = Spec.udp6(1000 * 2 + 500);
        byte[] frame = TestPackets.partial(s);
        assertEquals(FrameOffload.OK, parse(frame, NetHeader.GSO_UDP_L4, 1000, s));
        assertEquals(Offloads.CSUM | Offloads.USO6, offload.needs());

        assertEquals(RingStatus.OK, software.segment(rx, writer, offload, source, 0, 1500));

        List<ReceivedFrame> datagrams = received();
        assertEquals(3, datagrams.size());
        for (ReceivedFrame r : datagrams) {
            byte[] f = r.frame();
            assertEquals(f.length - s.l3() - 40, u16(f, s.l3() + 4), "IPv6 payload length");
            assertTrue(TestPackets.l4ChecksumValid(f, true, s.l3(), s.l4(), TestPackets.UDP));
        }
    }

    @Test
    void shouldDropUsoWhoseDatagramsDoNotFitTheReceiversMtu() {
        Spec s = Spec.udp4(3000 * 2);
        byte[] frame = TestPackets.partial(s);
        assertEquals(FrameOffload.OK, parse(frame, NetHeader.GSO_UDP_L4, 3000, s));

        assertEquals(RingStatus.FRAME_TOO_LARGE, software.segment(rx, writer, offload, source, 0, 1500));
        assertEquals(0, received().size());
    }

    @Test
    void shouldFragmentUfoOverIpv4WithTheDatagramChecksummedOnce() {
        Spec s = Spec.udp4(4000);
        byte[] frame = TestPackets.partial(s);
        assertEquals(FrameOffload.OK, parse(frame, NetHeader.GSO_UDP, 1480, s));

        assertEquals(RingStatus.OK, software.segment(rx, writer, offload, source, Offloads.CSUM, 1500));

        List<ReceivedFrame> fragments = received();
        byte[] datagram = TestPackets.complete(s); // what reassembly must give back
        ByteArrayOutputStream reassembled = new ByteArrayOutputStream();
        int expectedOffset = 0;
        for (int i = 0; i < fragments.size(); i++) {
            byte[] f = fragments.get(i).frame();
            int l3 = s.l3();
            assertEquals(0, fragments.get(i).flags(), "fragments carry no partial checksum");
            assertTrue(TestPackets.ipv4ChecksumValid(f, l3));
            assertEquals(f.length - l3, u16(f, l3 + 2));
            assertEquals(s.ipId(), u16(f, l3 + 4), "one ID for every fragment");
            int fragment = u16(f, l3 + 6);
            assertEquals(i == fragments.size() - 1 ? 0 : 0x2000, fragment & 0x2000, "more fragments");
            assertEquals(expectedOffset, (fragment & 0x1FFF) * 8);
            assertTrue(f.length - l3 <= 1500, "fits the MTU");
            reassembled.write(f, s.l4(), f.length - s.l4());
            expectedOffset += f.length - s.l4();
        }
        assertEquals(3, fragments.size());
        assertArrayEquals(TestPackets.range(datagram, s.l4(), datagram.length), reassembled.toByteArray());
        assertEquals(1, software.checksums());
    }

    @Test
    void shouldFragmentUfoOverIpv6BehindAFragmentHeader() {
        Spec s = Spec.udp6(3000);
        byte[] frame = TestPackets.partial(s);
        assertEquals(FrameOffload.OK, parse(frame, NetHeader.GSO_UDP, 1448, s));

        assertEquals(RingStatus.OK, software.segment(rx, writer, offload, source, 0, 1500));

        List<ReceivedFrame> fragments = received();
        byte[] datagram = TestPackets.complete(s);
        ByteArrayOutputStream reassembled = new ByteArrayOutputStream();
        int l3 = s.l3();
        int l4 = s.l4();
        long id = -1;
        for (int i = 0; i < fragments.size(); i++) {
            byte[] f = fragments.get(i).frame();
            assertEquals(44, f[l3 + 6] & 0xFF, "next header: fragment");
            assertEquals(f.length - l3 - 40, u16(f, l3 + 4));
            assertEquals(TestPackets.UDP, f[l4] & 0xFF);
            int field = u16(f, l4 + 2);
            assertEquals(reassembled.size(), field & ~7, "fragment offset");
            assertEquals(i == fragments.size() - 1 ? 0 : 1, field & 1, "more fragments");
            if (id == -1) {
                id = u32(f, l4 + 4);
            }
            assertEquals(id, u32(f, l4 + 4), "one identification for every fragment");
            reassembled.write(f, l4 + 8, f.length - l4 - 8);
        }
        assertEquals(3, fragments.size());
        assertArrayEquals(TestPackets.range(datagram, l4, datagram.length), reassembled.toByteArray());
    }

    @Test
    void shouldCompleteAPartialChecksumForAReceiverWithoutGuestCsum() {
        Spec s = Spec.tcp4(700).ipOptions(8);
        byte[] frame = TestPackets.partial(s);
        long header = NetHeader.pack(NetHeader.F_NEEDS_CSUM, NetHeader.GSO_NONE, 0, 0, s.l4());
        assertEquals(FrameOffload.OK, offload.parse(header, 16, Offloads.CSUM, NetHeader.F_NEEDS_CSUM,
                source.wrapSegment(MemorySegment.ofArray(frame), 0, frame.length)));

        assertEquals(RingStatus.OK, software.completeChecksum(rx, writer, offload, source));

        List<ReceivedFrame> out = received();
        assertEquals(1, out.size());
        assertEquals(0, out.getFirst().flags());
        assertArrayEquals(TestPackets.complete(s), out.getFirst().frame());
    }

    @Test
    void shouldStopAtTheFirstSegmentWithoutBuffersKeepingThoseWritten() {
        DriverVirtqueue small = new DriverVirtqueue(GuestRam.allocate(1 << 20, 0, 0x7e00_0000_0000L), 8);
        SplitVirtqueue ring = new SplitVirtqueue(0);
        small.configure(ring, MERGEABLE);
        small.addRx(2048);
        small.addRx(2048);
        small.publishAvail();
        Spec s = Spec.tcp4(1448 * 4);
        byte[] frame = TestPackets.partial(s);
        assertEquals(FrameOffload.OK, parse(frame, NetHeader.GSO_TCPV4, 1448, s));

        assertEquals(RingStatus.NO_BUFFERS, software.segment(ring, writer, offload, source, 0, 1500));

        assertEquals(2, software.segments());
        ring.publishUsed();
        assertEquals(2, small.pollUsed().size());
    }
}

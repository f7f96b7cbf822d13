package io.jvhost.backend.offload;

import com.code_intelligence.jazzer.junit.FuzzTest;
import io.jvhost.backend.offload.TestPackets.Spec;
import io.jvhost.virtio.driver.DriverVirtqueue;
import io.jvhost.virtio.driver.GuestRam;
import io.jvhost.virtio.fuzz.FuzzInput;
import io.jvhost.virtio.fuzz.FuzzStats;
import io.jvhost.virtio.memory.MemoryRegion;
import io.jvhost.virtio.net.FrameSource;
import io.jvhost.virtio.net.NetHeader;
import io.jvhost.virtio.net.RxFrameWriter;
import io.jvhost.virtio.net.VirtioNetFeatures;
import io.jvhost.virtio.ring.RingStatus;
import io.jvhost.virtio.ring.SplitVirtqueue;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.io.ByteArrayOutputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Fuzzes the offload path a frame takes between two guests: {@link FrameOffload#parse} of the
 * sender's virtio-net header against the frame, then {@link SoftwareOffload} for a receiver that
 * lacks what the frame needs, into a real RX ring. Frames are TCP or UDP over IPv4 or IPv6 (IP
 * options, extension headers, VLAN tags, TCP options, payload length and a few overwritten bytes as
 * the input says) or raw bytes; the header mostly matches the frame and sometimes not.
 *
 * <p>Asserted for every input:
 * <ul>
 * <li>nothing throws; parse answers OK or one of its reason codes;</li>
 * <li>after OK: the frame needs nothing the sender was not allowed; a partial checksum's field lies
 * inside the frame and the first {@value FrameOffload#MAX_CSUM_END} bytes; a GSO frame's layout is
 * ordered inside the first {@value FrameOffload#MAX_HEADERS} bytes and its header copy is the frame's;</li>
 * <li>checksum completion gives back one frame, the sender's bytes except the checksum field, and
 * that checksum verifies (for an even csum_offset);</li>
 * <li>segmentation answers OK, FRAME_TOO_LARGE or NO_BUFFERS and never breaks the ring; every TCP or
 * UDP segment written fits the receiver's MTU, has a valid IPv4 header checksum and a valid L4
 * checksum (or, for a receiver that takes partial checksums, the pseudo-header sum with NEEDS_CSUM at
 * the L4 header), and the segments' payloads put together are a prefix of the frame's payload (all of
 * it on OK).</li>
 * </ul>
 */
class OffloadFuzzTest {

    @RegisterExtension
    static final FuzzStats STATS = new FuzzStats("OffloadFuzzTest");
    private static final long RAM = 1 << 20;
    private static final long MERGEABLE = VirtioNetFeatures.mask(VirtioNetFeatures.VERSION_1)
            | VirtioNetFeatures.mask(VirtioNetFeatures.MRG_RXBUF);
    private static final int[] GSO_TYPES = {NetHeader.GSO_NONE, NetHeader.GSO_TCPV4, NetHeader.GSO_UDP,
        NetHeader.GSO_TCPV6, NetHeader.GSO_UDP_L4};

    private final MemorySegment backing = Arena.ofAuto().allocate(RAM, 4096);
    private final FrameOffload offload = new FrameOffload();
    private final SoftwareOffload software = new SoftwareOffload();
    private final RxFrameWriter writer = new RxFrameWriter();
    private final FrameSource source = new FrameSource();

    @FuzzTest(maxDuration = FuzzStats.MAX_DURATION)
    void shouldParseAnyHeaderAndSegmentIntoValidFrames(byte[] data) {
        FuzzInput in = STATS.start(data);
        boolean raw = in.below(8) == 0;
        Spec spec = raw ? null : spec(in);
        byte[] frame = raw ? in.bytes(3000) : TestPackets.partial(spec);
        for (int i = in.below(4); i > 0 && frame.length > 0; i--) {
            frame[in.below(Math.min(frame.length, 256))] = (byte) in.u8();
        }
        long header = header(in, spec);
        int csumOffset = in.below(8) == 0 ? in.u16() : spec == null || spec.protocol() == TestPackets.TCP ? 16 : 6;
        int allowed = in.u8() & Offloads.ALL;
        source.wrapSegment(MemorySegment.ofArray(frame), 0, frame.length);

        int status = offload.parse(header, csumOffset, allowed, NetHeader.F_NEEDS_CSUM | NetHeader.F_DATA_VALID, source);
        if (status != FrameOffload.OK) {
            assertTrue(status < 0 && !FrameOffload.describe(status).startsWith("reason "), "parse answered " + status);
            return;
        }
        checkParsed(frame, allowed);
        int receivable = in.u8() & Offloads.ALL;
        if ((offload.needs() & ~receivable) == 0) {
            return; // the receiver takes the frame as it is
        }
        int mtu = in.below(4) == 0 ? 68 + in.below(9000) : 1500;
        SplitVirtqueue rx = new SplitVirtqueue(0);
        DriverVirtqueue driver = rxRing(rx, 1 + in.below(128));
        if (offload.gsoType() == NetHeader.GSO_NONE) {
            int written = software.completeChecksum(rx, writer, offload, source);
            assertTrue(written == RingStatus.OK || written == RingStatus.NO_BUFFERS, RingStatus.name(written));
            checkCompleted(frame, written, ReceivedFrame.drain(rx, driver));
        } else {
            int written = software.segment(rx, writer, offload, source, receivable, mtu);
            assertTrue(written == RingStatus.OK || written == RingStatus.NO_BUFFERS
                    || written == RingStatus.FRAME_TOO_LARGE, RingStatus.name(written));
            assertTrue(!rx.isBroken(), rx.brokenReason());
            List<ReceivedFrame> segments = ReceivedFrame.drain(rx, driver);
            assertEquals(software.segments(), segments.size(), "segments reported and received");
            int type = offload.gsoType();
            if (type == NetHeader.GSO_TCPV4 || type == NetHeader.GSO_TCPV6 || type == NetHeader.GSO_UDP_L4) {
                checkSegments(frame, segments, (receivable & Offloads.CSUM) != 0, mtu, written == RingStatus.OK);
            }
        }
    }

    private static Spec spec(FuzzInput in) {
        boolean ipv6 = in.bool();
        Spec s = in.bool() ? (ipv6 ? Spec.tcp6(0) : Spec.tcp4(0)) : (ipv6 ? Spec.udp6(0) : Spec.udp4(0));
        s = new Spec(s.ipv6(), s.protocol(), ipv6 ? 0 : 4 * in.below(11), ipv6 ? 8 * in.below(4) : 0,
                s.protocol() == TestPackets.TCP ? 4 * in.below(11) : 0, in.below(3000), (int) in.u32(), in.u8(),
                in.u16(), in.bool(), in.below(3));
        return s;
    }

    /** Mostly the header a Linux guest would write for the frame; sometimes fields of any value. */
    private static long header(FuzzInput in, Spec spec) {
        int flags = in.below(8) == 0 ? in.u8() : NetHeader.F_NEEDS_CSUM;
        int gsoType;
        if (in.below(8) == 0 || spec == null) {
            gsoType = in.below(8) == 0 ? in.u8() : GSO_TYPES[in.below(GSO_TYPES.length)];
        } else if (in.below(4) == 0) {
            gsoType = NetHeader.GSO_NONE;
        } else if (spec.protocol() == TestPackets.TCP) {
            gsoType = (spec.ipv6() ? NetHeader.GSO_TCPV6 : NetHeader.GSO_TCPV4) | (in.below(8) == 0 ? NetHeader.GSO_ECN : 0);
        } else {
            gsoType = in.bool() ? NetHeader.GSO_UDP_L4 : NetHeader.GSO_UDP;
        }
        int hdrLen = in.below(8) == 0 || spec == null ? in.u16() : spec.headers();
        int gsoSize = in.below(8) == 0 ? in.u16() : 8 + in.below(1500);
        int csumStart = in.below(8) == 0 || spec == null ? in.u16() : spec.l4();
        return NetHeader.pack(flags, gsoType, hdrLen, gsoSize, csumStart);
    }

    private DriverVirtqueue rxRing(SplitVirtqueue rx, int buffers) {
        GuestRam ram = new GuestRam(new MemoryRegion(0, RAM, 0x7F00_0000_0000L, backing));
        DriverVirtqueue driver = new DriverVirtqueue(ram, 128, 2048);
        driver.configure(rx, MERGEABLE);
        for (int i = 0; i < buffers; i++) {
            driver.addRx(2048);
        }
        driver.publishAvail();
        return driver;
    }

    private void checkParsed(byte[] frame, int allowed) {
        assertEquals(0, offload.needs() & ~allowed, "the frame needs what the sender may not hand over");
        if (offload.needsCsum()) {
            int end = offload.csumStart() + offload.csumOffset() + 2;
            assertTrue(offload.csumStart() >= 14 && end <= frame.length && end <= FrameOffload.MAX_CSUM_END,
                    "checksum field at " + offload.csumStart() + "+" + offload.csumOffset());
        }
        if (offload.gsoType() != NetHeader.GSO_NONE) {
            assertTrue(offload.needsCsum(), "GSO without NEEDS_CSUM");
            int payload = offload.payloadOffset();
            assertTrue(14 <= offload.l3Offset() && offload.l3Offset() < offload.l4Offset()
                    && offload.l4Offset() < payload && payload <= Math.min(frame.length, FrameOffload.MAX_HEADERS),
                    "layout " + offload.l3Offset() + "/" + offload.l4Offset() + "/" + payload);
            assertEquals(offload.l4Offset(), offload.csumStart());
            assertTrue(offload.gsoSize() >= FrameOffload.MIN_GSO_SIZE);
            assertArrayEquals(TestPackets.range(frame, 0, payload),
                    offload.headers().asSlice(0, payload).toArray(ValueLayout.JAVA_BYTE), "header copy");
        }
    }

    private void checkCompleted(byte[] frame, int status, List<ReceivedFrame> received) {
        if (status != RingStatus.OK) {
            assertEquals(0, received.size());
            return;
        }
        assertEquals(1, received.size());
        byte[] out = received.get(0).frame();
        assertEquals(0, received.get(0).flags() & NetHeader.F_NEEDS_CSUM, "the checksum is complete");
        int field = offload.csumStart() + offload.csumOffset();
        assertArrayEquals(TestPackets.range(frame, 0, field), TestPackets.range(out, 0, field));
        assertArrayEquals(TestPackets.range(frame, field + 2, frame.length), TestPackets.range(out, field + 2, out.length));
        if ((offload.csumOffset() & 1) == 0) {
            // The sender left its pseudo-header sum in the field; with it, the sum over the range is all ones.
            long sum = TestPackets.sum(out, offload.csumStart(), out.length - offload.csumStart())
                    + TestPackets.u16(frame, field);
            assertEquals(0xFFFF, TestPackets.fold(sum), "completed checksum does not verify");
        }
    }

    private void checkSegments(byte[] frame, List<ReceivedFrame> segments, boolean partial, int mtu, boolean all) {
        int l3 = offload.l3Offset();
        int l4 = offload.l4Offset();
        int headers = offload.payloadOffset();
        boolean ipv6 = offload.ipv6();
        boolean tcp = offload.gsoType() != NetHeader.GSO_UDP_L4;
        int protocol = tcp ? TestPackets.TCP : TestPackets.UDP;
        int csumField = l4 + (tcp ? FrameOffload.TCP_CSUM_OFFSET : FrameOffload.UDP_CSUM_OFFSET);
        ByteArrayOutputStream payload = new ByteArrayOutputStream();
        for (int i = 0; i < segments.size(); i++) {
            ReceivedFrame r = segments.get(i);
            byte[] s = r.frame();
            String which = "segment " + i + " of " + segments.size();
            assertTrue(s.length >= headers, which + " shorter than its headers");
            assertTrue(s.length - l3 <= mtu, which + ": " + (s.length - l3) + " bytes of IP above the MTU " + mtu);
            if (ipv6) {
                assertEquals(s.length - l3 - 40, TestPackets.u16(s, l3 + 4), which + ": IPv6 payload length");
            } else {
                assertEquals(s.length - l3, TestPackets.u16(s, l3 + 2), which + ": IPv4 total length");
                assertTrue(TestPackets.ipv4ChecksumValid(s, l3), which + ": IPv4 header checksum");
            }
            if (!tcp) {
                assertEquals(s.length - l4, TestPackets.u16(s, l4 + 4), which + ": UDP length");
            }
            if (partial) {
                assertEquals(NetHeader.F_NEEDS_CSUM, r.flags() & NetHeader.F_NEEDS_CSUM, which + ": NEEDS_CSUM");
                assertEquals(l4, r.csumStart(), which + ": csum_start");
                assertEquals(csumField - l4, r.csumOffset(), which + ": csum_offset");
                assertEquals(TestPackets.foldedPseudo(s, ipv6, l3, protocol, s.length - l4), TestPackets.u16(s, csumField),
                        which + ": pseudo-header sum");
            } else {
                assertTrue(TestPackets.l4ChecksumValid(s, ipv6, l3, l4, protocol), which + ": L4 checksum");
            }
            payload.write(s, headers, s.length - headers);
        }
        byte[] joined = payload.toByteArray();
        byte[] original = TestPackets.range(frame, headers, frame.length);
        if (all) {
            assertArrayEquals(original, joined, "the segments' payloads are the frame's");
        } else if (joined.length > original.length) {
            fail("segments carry " + joined.length + " payload bytes of " + original.length);
        } else {
            assertArrayEquals(TestPackets.range(original, 0, joined.length), joined, "the segments' payloads");
        }
    }
}

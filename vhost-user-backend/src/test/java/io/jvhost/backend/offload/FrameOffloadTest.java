package io.jvhost.backend.offload;

import io.jvhost.backend.offload.TestPackets.Spec;
import io.jvhost.virtio.net.FrameSource;
import io.jvhost.virtio.net.NetHeader;
import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** Validation of a sender's virtio-net header: every rule, and what a good header records. */
class FrameOffloadTest {

    private final FrameOffload offload = new FrameOffload();
    private final Spec tcp4 = Spec.tcp4(10000);
    private final byte[] frame = TestPackets.partial(tcp4);

    private int parse(int flags, int gsoType, int hdrLen, int gsoSize, int csumStart, int csumOffset, int allowed) {
        return parse(frame, flags, gsoType, hdrLen, gsoSize, csumStart, csumOffset, allowed);
    }

    private int parse(byte[] f, int flags, int gsoType, int hdrLen, int gsoSize, int csumStart, int csumOffset,
                      int allowed) {
        return offload.parse(NetHeader.pack(flags, gsoType, hdrLen, gsoSize, csumStart), csumOffset, allowed,
                NetHeader.F_NEEDS_CSUM, new FrameSource().wrapSegment(MemorySegment.ofArray(f), 0, f.length));
    }

    private int tso4(int gsoSize) {
        return parse(NetHeader.F_NEEDS_CSUM, NetHeader.GSO_TCPV4, tcp4.headers(), gsoSize, tcp4.l4(), 16, Offloads.ALL);
    }

    @Test
    void shouldRecordAGoodTsoFrameWithItsLayout() {
        assertEquals(FrameOffload.OK, tso4(1448));
        assertEquals(Offloads.CSUM | Offloads.TSO4, offload.needs());
        assertEquals(NetHeader.GSO_TCPV4, offload.gsoType());
        assertEquals(14, offload.l3Offset());
        assertEquals(34, offload.l4Offset());
        assertEquals(tcp4.headers(), offload.payloadOffset());
        assertEquals(tcp4.headers(), NetHeader.hdrLen(offload.header()));
    }

    @Test
    void shouldTakeHdrLenOnlyAsAHint() {
        assertEquals(FrameOffload.OK, parse(NetHeader.F_NEEDS_CSUM, NetHeader.GSO_TCPV4, 14, 1448, tcp4.l4(), 16,
                Offloads.ALL));
        assertEquals(tcp4.headers(), NetHeader.hdrLen(offload.header()), "the real header length is handed on");
    }

    @Test
    void shouldRejectGsoSizeZeroAndAbsurdlySmallOrManySegments() {
        assertEquals(FrameOffload.BAD_GSO_SIZE, tso4(0));
        assertEquals(FrameOffload.BAD_GSO_SIZE, tso4(FrameOffload.MIN_GSO_SIZE - 1));
        assertEquals(FrameOffload.BAD_GSO_SIZE, tso4(9)); // 10000 bytes in 9-byte segments: over 1024
        assertEquals(FrameOffload.OK, tso4(10)); // exactly 1000 segments
    }

    @Test
    void shouldRejectHdrLenOrCsumStartBeyondTheFrame() {
        assertEquals(FrameOffload.HDR_LEN_OUTSIDE_FRAME, parse(NetHeader.F_NEEDS_CSUM, NetHeader.GSO_TCPV4,
                frame.length + 1, 1448, tcp4.l4(), 16, Offloads.ALL));
        assertEquals(FrameOffload.CSUM_OUTSIDE_FRAME, parse(NetHeader.F_NEEDS_CSUM, NetHeader.GSO_NONE, 0, 0,
                frame.length, 16, Offloads.ALL));
        assertEquals(FrameOffload.CSUM_OUTSIDE_FRAME, parse(NetHeader.F_NEEDS_CSUM, NetHeader.GSO_NONE, 0, 0,
                0xFFFF, 16, Offloads.ALL));
    }

    @Test
    void shouldRejectACsumOffsetPointingPastTheFrame() {
        byte[] small = TestPackets.partial(Spec.tcp4(100));
        int l4 = tcp4.l4();
        assertEquals(FrameOffload.CSUM_OUTSIDE_FRAME, parse(small, NetHeader.F_NEEDS_CSUM, NetHeader.GSO_NONE, 0, 0,
                l4, small.length - l4 - 1, Offloads.ALL));
        assertEquals(FrameOffload.OK, parse(small, NetHeader.F_NEEDS_CSUM, NetHeader.GSO_NONE, 0, 0,
                l4, small.length - l4 - 2, Offloads.ALL), "the last two bytes are still inside");
        assertEquals(FrameOffload.CSUM_OUTSIDE_FRAME, parse(NetHeader.F_NEEDS_CSUM, NetHeader.GSO_NONE, 0, 0,
                l4, FrameOffload.MAX_CSUM_END - l4 - 1, Offloads.ALL), "deeper than any real header");
        assertEquals(FrameOffload.CSUM_OUTSIDE_FRAME, parse(NetHeader.F_NEEDS_CSUM, NetHeader.GSO_NONE, 0, 0,
                4, 16, Offloads.ALL), "inside the Ethernet header");
    }

    @Test
    void shouldRejectUnknownGsoTypes() {
        for (int type : new int[]{2, 6, 0x7F, NetHeader.GSO_ECN, NetHeader.GSO_UDP | NetHeader.GSO_ECN}) {
            assertEquals(FrameOffload.UNKNOWN_GSO_TYPE, parse(NetHeader.F_NEEDS_CSUM, type, 0, 1448, tcp4.l4(), 16,
                    Offloads.ALL), "gso_type " + type);
        }
    }

    @Test
    void shouldRejectGsoWithoutNeedsCsum() {
        assertEquals(FrameOffload.GSO_WITHOUT_CSUM, parse(0, NetHeader.GSO_TCPV4, 0, 1448, tcp4.l4(), 16, Offloads.ALL));
    }

    @Test
    void shouldRejectWhatTheSenderDidNotNegotiate() {
        assertEquals(FrameOffload.NOT_NEGOTIATED, parse(NetHeader.F_NEEDS_CSUM, NetHeader.GSO_TCPV4, 0, 1448,
                tcp4.l4(), 16, Offloads.CSUM));
        assertEquals(FrameOffload.NOT_NEGOTIATED, parse(NetHeader.F_NEEDS_CSUM, NetHeader.GSO_NONE, 0, 0,
                tcp4.l4(), 16, 0));
        assertEquals(FrameOffload.NOT_NEGOTIATED, parse(NetHeader.F_NEEDS_CSUM,
                NetHeader.GSO_TCPV4 | NetHeader.GSO_ECN, 0, 1448, tcp4.l4(), 16, Offloads.CSUM | Offloads.TSO4));
    }

    @Test
    void shouldRejectHeadersThatDoNotMatchTheGsoType() {
        assertEquals(FrameOffload.BAD_LAYOUT, parse(NetHeader.F_NEEDS_CSUM, NetHeader.GSO_TCPV6, 0, 1448,
                tcp4.l4(), 16, Offloads.ALL), "IPv4 frame as TCPV6");
        assertEquals(FrameOffload.BAD_LAYOUT, parse(NetHeader.F_NEEDS_CSUM, NetHeader.GSO_UDP_L4, 0, 1448,
                tcp4.l4(), 6, Offloads.ALL), "TCP frame as USO");
        assertEquals(FrameOffload.BAD_LAYOUT, parse(NetHeader.F_NEEDS_CSUM, NetHeader.GSO_TCPV4, 0, 1448,
                tcp4.l4() + 2, 14, Offloads.ALL), "csum_start not at the TCP header");
        assertEquals(FrameOffload.BAD_LAYOUT, parse(NetHeader.F_NEEDS_CSUM, NetHeader.GSO_TCPV4, 0, 1448,
                tcp4.l4(), 6, Offloads.ALL), "csum_offset not the TCP checksum");
        byte[] fragment = frame.clone();
        fragment[14 + 6] = 0x20; // more fragments
        assertEquals(FrameOffload.BAD_LAYOUT, parse(fragment, NetHeader.F_NEEDS_CSUM, NetHeader.GSO_TCPV4, 0, 1448,
                tcp4.l4(), 16, Offloads.ALL), "an IPv4 fragment");
        byte[] badOffset = frame.clone();
        badOffset[tcp4.l4() + 12] = 0x40; // data offset 4 words
        assertEquals(FrameOffload.BAD_LAYOUT, parse(badOffset, NetHeader.F_NEEDS_CSUM, NetHeader.GSO_TCPV4, 0, 1448,
                tcp4.l4(), 16, Offloads.ALL), "TCP data offset below 5");
    }

    @Test
    void shouldRejectFramesLongerThanAnIpDatagramCanBe() {
        byte[] huge = new byte[(int) FrameOffload.MAX_FRAME + 1];
        assertEquals(FrameOffload.TOO_LONG, parse(huge, 0, 0, 0, 0, 0, 0, Offloads.ALL));
    }

    @Test
    void shouldKeepOnlyTheFlagsTheSenderMaySet() {
        assertEquals(FrameOffload.OK, parse(NetHeader.F_DATA_VALID | NetHeader.F_RSC_INFO, NetHeader.GSO_NONE, 0, 0,
                0, 0, Offloads.ALL));
        assertEquals(0L, offload.header());
        assertEquals(0, offload.needs());
    }

    @Test
    void shouldFindTheTcpHeaderBehindVlanTagsAndIpv6ExtensionHeaders() {
        Spec s = Spec.tcp6(5000).extensionHeader(24).vlan(2);
        byte[] f = TestPackets.partial(s);
        assertEquals(FrameOffload.OK, parse(f, NetHeader.F_NEEDS_CSUM, NetHeader.GSO_TCPV6, 0, 1400, s.l4(), 16,
                Offloads.ALL));
        assertEquals(22, offload.l3Offset());
        assertEquals(s.l4(), offload.l4Offset());
        assertEquals(22 + 40, offload.nextHeaderOffset(), "the destination options header names TCP");
        assertEquals(Offloads.CSUM | Offloads.TSO6, offload.needs());
    }
}

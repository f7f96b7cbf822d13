package io.jvhost.backend.offload;

import io.jvhost.virtio.LittleEndian;
import io.jvhost.virtio.net.FrameSource;
import io.jvhost.virtio.net.NetHeader;
import io.jvhost.virtio.net.RxFrameWriter;
import io.jvhost.virtio.ring.RingStatus;
import io.jvhost.virtio.ring.SplitVirtqueue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.concurrent.ThreadLocalRandom;

import static io.jvhost.backend.offload.FrameOffload.BE16;
import static io.jvhost.backend.offload.FrameOffload.BE32;
import static io.jvhost.backend.offload.FrameOffload.PROTO_TCP;
import static io.jvhost.backend.offload.FrameOffload.PROTO_UDP;
import static io.jvhost.backend.offload.FrameOffload.UDP_HEADER;

/**
 * What a receiver did not negotiate, done in software on the way into its RX ring: completing a
 * partial checksum, segmenting a TCP (TSO) or UDP (USO) frame, fragmenting a UFO datagram.
 *
 * <p>Each segment is written straight into the receiver's buffers by {@link RxFrameWriter}: its
 * headers, rebuilt in a small scratch buffer from the {@link FrameOffload#headers()} copy, then its
 * slice of the sender's payload, which is copied once, from the sender's buffers. A checksum needs
 * one read of the payload before the copy (it then comes from the cache). Segmentation follows
 * Linux's {@code tcp_gso_segment}: IPv4 total length, header checksum and an ID that grows by one
 * per segment, IPv6 payload length, TCP sequence numbers advancing by the MSS, FIN and PSH only on the
 * last segment, CWR only on the first. A receiver with GUEST_CSUM gets partial checksums
 * (NEEDS_CSUM, the pseudo-header sum in the field), one without gets them computed.
 *
 * <p>Segments are sized for the receiver: TCP segments at most {@code mtu} bytes of IP, re-cut at a
 * smaller MSS when the sender's gso_size does not fit (TCP allows it); UDP datagrams cannot be re-cut,
 * so a USO frame whose datagrams do not fit is dropped; UFO fragments are cut to the MTU.
 *
 * <p>Results of the last call: {@link #segments()}, {@link #checksums()}, {@link #bytes()}. A status
 * other than {@link RingStatus#OK} after some segments were written means the rest of the frame was
 * dropped (the ring ran out, or it broke).
 *
 * <p>One instance per worker; the caller holds the RX queue. No allocation.
 */
public final class SoftwareOffload {

    private static final ValueLayout.OfShort LE16 = LittleEndian.U16;
    private static final int TCP_FIN = 0x01;
    private static final int TCP_PSH = 0x08;
    private static final int TCP_CWR = 0x80;
    private static final int IPV4_MORE_FRAGMENTS = 0x2000;
    private static final int IPV6_FRAGMENT_HEADER = 8;
    private static final long PARTIAL_CSUM_HEADER_FLAGS = NetHeader.F_NEEDS_CSUM;

    /**
     * Rebuilt headers of one segment; room for a completed checksum's prefix and an inserted IPv6
     * fragment header. Native like guest memory: checksum loops that see one kind of segment only
     * stay compiled for it (heap and native segments at one call site cost about 4x).
     */
    private final MemorySegment scratch = Arena.ofAuto().allocate(FrameOffload.MAX_CSUM_END + 16, 8);
    private int fragmentId = ThreadLocalRandom.current().nextInt();
    private int segments;
    private int checksums;
    private long bytes;

    /** Segments written by the last call. */
    public int segments() {
        return segments;
    }

    /** Checksums computed in software by the last call. */
    public int checksums() {
        return checksums;
    }

    /** Frame bytes written by the last call (without virtio-net headers). */
    public long bytes() {
        return bytes;
    }

    /**
     * Writes a frame whose partial checksum (NEEDS_CSUM, no GSO) the receiver cannot complete: the
     * ones' complement sum from csum_start to the end, the field included (the sender left the
     * pseudo-header sum there), stored in the field (skb_checksum_help).
     */
    public int completeChecksum(SplitVirtqueue rx, RxFrameWriter writer, FrameOffload offload, FrameSource frame) {
        reset();
        final MemorySegment p = scratch;
        final int start = offload.csumStart();
        final int field = start + offload.csumOffset();
        final int end = field + 2; // parse checked: inside the frame, at most MAX_CSUM_END
        final long length = frame.length();
        frame.copyTo(0, p, 0, end);
        long sum = InternetChecksum.sum(p, start, end - start)
                + InternetChecksum.at(InternetChecksum.sum(frame, end, length - end), end - start);
        p.set(LE16, field, (short) InternetChecksum.finishNonZero(sum));
        checksums = 1;
        return write(rx, writer, 0L, 0, end, frame, end, length - end);
    }

    /**
     * Writes a GSO frame to a receiver that cannot take its gso type, as the segments (or fragments)
     * it stands for.
     *
     * @param receivable what the receiver takes ({@link Offloads}); only CSUM matters here
     * @param mtu        the receiver's MTU: most bytes of IP per segment
     */
    public int segment(SplitVirtqueue rx, RxFrameWriter writer, FrameOffload offload, FrameSource frame,
                       int receivable, int mtu) {
        reset();
        boolean partial = (receivable & Offloads.CSUM) != 0;
        return switch (offload.gsoType()) {
            case NetHeader.GSO_TCPV4, NetHeader.GSO_TCPV6 -> segmentTcp(rx, writer, offload, frame, partial, mtu);
            case NetHeader.GSO_UDP_L4 -> segmentUdp(rx, writer, offload, frame, partial, mtu);
            case NetHeader.GSO_UDP -> offload.ipv6()
                    ? fragmentIpv6(rx, writer, offload, frame, mtu)
                    : fragmentIpv4(rx, writer, offload, frame, mtu);
            default -> throw new IllegalArgumentException("not a GSO frame: gso_type " + offload.gsoType());
        };
    }

    private int segmentTcp(SplitVirtqueue rx, RxFrameWriter writer, FrameOffload o, FrameSource frame,
                           boolean partial, int mtu) {
        final MemorySegment p = scratch;
        final int l3 = o.l3Offset();
        final int l4 = o.l4Offset();
        final int headers = o.payloadOffset();
        final boolean ipv6 = o.ipv6();
        final long length = frame.length();
        MemorySegment.copy(o.headers(), 0, p, 0, headers);
        int mss = Math.min(o.gsoSize(), mtu - (headers - l3));
        if (mss <= 0) {
            return RingStatus.FRAME_TOO_LARGE; // the receiver's MTU does not even hold the headers
        }
        final long payload = length - headers;
        final int count = payload == 0 ? 1 : (int) ((payload + mss - 1) / mss);
        final int seq = p.get(BE32, l4 + 4);
        final int tcpFlags = FrameOffload.u8(p, l4 + 13);
        final int id = ipv6 ? 0 : FrameOffload.u16(p, l3 + 4);
        final long addresses = addressSum(p, l3, ipv6);
        for (int i = 0; i < count; i++) {
            long from = headers + (long) i * mss;
            int segmentLength = (int) Math.min(mss, length - from);
            int l4Length = headers - l4 + segmentLength;
            setIpLength(p, l3, l4, ipv6, l4Length, id + i);
            p.set(BE32, l4 + 4, seq + i * mss);
            int f = tcpFlags;
            if (i != count - 1) {
                f &= ~(TCP_FIN | TCP_PSH);
            }
            if (i != 0) {
                f &= ~TCP_CWR;
            }
            p.set(ValueLayout.JAVA_BYTE, l4 + 13, (byte) f);
            int status = writeL4(rx, writer, p, frame, partial, addresses, PROTO_TCP, l4, headers, from,
                    segmentLength, FrameOffload.TCP_CSUM_OFFSET);
            if (status != RingStatus.OK) {
                return status;
            }
        }
        return RingStatus.OK;
    }

    private int segmentUdp(SplitVirtqueue rx, RxFrameWriter writer, FrameOffload o, FrameSource frame,
                           boolean partial, int mtu) {
        final MemorySegment p = scratch;
        final int l3 = o.l3Offset();
        final int l4 = o.l4Offset();
        final int headers = o.payloadOffset();
        final boolean ipv6 = o.ipv6();
        final long length = frame.length();
        final int size = o.gsoSize();
        if (headers - l3 + Math.min(size, length - headers) > mtu) {
            return RingStatus.FRAME_TOO_LARGE; // each gso_size chunk is a datagram: it cannot be cut smaller
        }
        MemorySegment.copy(o.headers(), 0, p, 0, headers);
        final long payload = length - headers;
        final int count = payload == 0 ? 1 : (int) ((payload + size - 1) / size);
        final int id = ipv6 ? 0 : FrameOffload.u16(p, l3 + 4);
        final long addresses = addressSum(p, l3, ipv6);
        for (int i = 0; i < count; i++) {
            long from = headers + (long) i * size;
            int segmentLength = (int) Math.min(size, length - from);
            int l4Length = UDP_HEADER + segmentLength;
            setIpLength(p, l3, l4, ipv6, l4Length, id + i);
            p.set(BE16, l4 + 4, (short) l4Length);
            int status = writeL4(rx, writer, p, frame, partial, addresses, PROTO_UDP, l4, headers, from,
                    segmentLength, FrameOffload.UDP_CSUM_OFFSET);
            if (status != RingStatus.OK) {
                return status;
            }
        }
        return RingStatus.OK;
    }

    /**
     * Writes one TCP or UDP segment whose headers are {@code p[0, headers)}: its L4 checksum partial
     * (the pseudo-header sum, NEEDS_CSUM) or computed over header and payload.
     */
    private int writeL4(SplitVirtqueue rx, RxFrameWriter writer, MemorySegment p, FrameSource frame,
                        boolean partial, long addresses, int protocol, int l4, int headers, long from,
                        int segmentLength, int csumOffset) {
        int l4Length = headers - l4 + segmentLength;
        long pseudo = InternetChecksum.addNumber(InternetChecksum.addNumber(addresses, protocol), l4Length);
        if (partial) {
            p.set(LE16, l4 + csumOffset, (short) InternetChecksum.fold(pseudo));
            long header = NetHeader.pack((int) PARTIAL_CSUM_HEADER_FLAGS, NetHeader.GSO_NONE, 0, 0, l4);
            return write(rx, writer, header, csumOffset, headers, frame, from, segmentLength);
        }
        p.set(LE16, l4 + csumOffset, (short) 0);
        // The L4 header length is a multiple of 4 (TCP) or 8 (UDP): the payload starts at an even position.
        long sum = pseudo + InternetChecksum.sum(p, l4, headers - l4) + InternetChecksum.sum(frame, from, segmentLength);
        int checksum = protocol == PROTO_UDP ? InternetChecksum.finishNonZero(sum) : InternetChecksum.finish(sum);
        p.set(LE16, l4 + csumOffset, (short) checksum);
        checksums++;
        return write(rx, writer, 0L, 0, headers, frame, from, segmentLength);
    }

    /** UFO over IPv4: the UDP datagram with its checksum computed, cut into IP fragments. */
    private int fragmentIpv4(SplitVirtqueue rx, RxFrameWriter writer, FrameOffload o, FrameSource frame, int mtu) {
        final MemorySegment p = scratch;
        final int l3 = o.l3Offset();
        final int l4 = o.l4Offset();
        final int ipHeader = l4 - l3;
        final long length = frame.length();
        int fragment = Math.min(o.gsoSize(), mtu - ipHeader) & ~7;
        if (fragment < UDP_HEADER) {
            return RingStatus.FRAME_TOO_LARGE;
        }
        MemorySegment.copy(o.headers(), 0, p, 0, l4 + UDP_HEADER);
        completeUdpChecksum(p, frame, l3, l4, false);
        final long ipPayload = length - l4;
        final int count = (int) ((ipPayload + fragment - 1) / fragment);
        for (int k = 0; k < count; k++) {
            long offset = (long) k * fragment;
            int n = (int) Math.min(fragment, ipPayload - offset);
            p.set(BE16, l3 + 2, (short) (ipHeader + n));
            p.set(BE16, l3 + 6, (short) ((k == count - 1 ? 0 : IPV4_MORE_FRAGMENTS) | (int) (offset >>> 3)));
            p.set(BE16, l3 + 10, (short) 0);
            p.set(LE16, l3 + 10, (short) InternetChecksum.of(p, l3, ipHeader));
            int status = k == 0
                    ? write(rx, writer, 0L, 0, l4 + UDP_HEADER, frame, l4 + UDP_HEADER, n - UDP_HEADER)
                    : write(rx, writer, 0L, 0, l4, frame, l4 + offset, n);
            if (status != RingStatus.OK) {
                return status;
            }
        }
        return RingStatus.OK;
    }

    /**
     * UFO over IPv6: a fragment header (RFC 8200 §4.5) goes in front of the UDP header, after the
     * extension headers the frame has; the datagram with its checksum computed is cut into fragments.
     */
    private int fragmentIpv6(SplitVirtqueue rx, RxFrameWriter writer, FrameOffload o, FrameSource frame, int mtu) {
        final MemorySegment p = scratch;
        final int l3 = o.l3Offset();
        final int l4 = o.l4Offset();
        final long length = frame.length();
        int fragment = Math.min(o.gsoSize(), mtu - (l4 - l3) - IPV6_FRAGMENT_HEADER) & ~7;
        if (fragment < UDP_HEADER) {
            return RingStatus.FRAME_TOO_LARGE;
        }
        MemorySegment.copy(o.headers(), 0, p, 0, l4);
        MemorySegment.copy(o.headers(), l4, p, l4 + IPV6_FRAGMENT_HEADER, UDP_HEADER);
        final int udp = l4 + IPV6_FRAGMENT_HEADER;
        // The checksum covers the datagram as the sender built it; the UDP header now sits 8 bytes later.
        completeUdpChecksum(p, frame, l3, udp, true);
        p.set(ValueLayout.JAVA_BYTE, o.nextHeaderOffset(), (byte) FrameOffload.PROTO_IPV6_FRAGMENT);
        p.set(ValueLayout.JAVA_BYTE, l4, (byte) PROTO_UDP);
        p.set(ValueLayout.JAVA_BYTE, l4 + 1, (byte) 0);
        p.set(BE32, l4 + 4, fragmentId++);
        final long datagram = length - l4;
        final int count = (int) ((datagram + fragment - 1) / fragment);
        for (int k = 0; k < count; k++) {
            long offset = (long) k * fragment;
            int n = (int) Math.min(fragment, datagram - offset);
            p.set(BE16, l3 + 4, (short) (l4 - l3 - 40 + IPV6_FRAGMENT_HEADER + n));
            p.set(BE16, l4 + 2, (short) ((int) offset | (k == count - 1 ? 0 : 1)));
            int status = k == 0
                    ? write(rx, writer, 0L, 0, udp + UDP_HEADER, frame, l4 + UDP_HEADER, n - UDP_HEADER)
                    : write(rx, writer, 0L, 0, udp, frame, l4 + offset, n);
            if (status != RingStatus.OK) {
                return status;
            }
        }
        return RingStatus.OK;
    }

    /**
     * Sets the length of the UDP header at {@code p[udp]} to the whole datagram (frame bytes from the
     * frame's L4 offset) and its checksum computed over it, pseudo-header included.
     */
    private void completeUdpChecksum(MemorySegment p, FrameSource frame, int l3, int udp, boolean ipv6) {
        int l4Length = (int) (frame.length() - (udp - (ipv6 ? IPV6_FRAGMENT_HEADER : 0)));
        long dataStart = frame.length() - l4Length + UDP_HEADER;
        p.set(BE16, udp + 4, (short) l4Length);
        p.set(LE16, udp + 6, (short) 0);
        long sum = InternetChecksum.addNumber(InternetChecksum.addNumber(addressSum(p, l3, ipv6), PROTO_UDP), l4Length)
                + InternetChecksum.sum(p, udp, UDP_HEADER)
                + InternetChecksum.sum(frame, dataStart, l4Length - UDP_HEADER);
        p.set(LE16, udp + 6, (short) InternetChecksum.finishNonZero(sum));
        checksums++;
    }

    /** IPv4: total length, ID and header checksum; IPv6: payload length (extension headers included). */
    private static void setIpLength(MemorySegment p, int l3, int l4, boolean ipv6, int l4Length, int id) {
        if (ipv6) {
            p.set(BE16, l3 + 4, (short) (l4 - l3 - 40 + l4Length));
            return;
        }
        p.set(BE16, l3 + 2, (short) (l4 - l3 + l4Length));
        p.set(BE16, l3 + 4, (short) id);
        p.set(BE16, l3 + 10, (short) 0);
        p.set(LE16, l3 + 10, (short) InternetChecksum.of(p, l3, l4 - l3));
    }

    /** The sum of the source and destination addresses (the address part of the pseudo-header). */
    private static long addressSum(MemorySegment p, int l3, boolean ipv6) {
        return ipv6 ? InternetChecksum.sum(p, l3 + 8, 32) : InternetChecksum.sum(p, l3 + 12, 8);
    }

    private int write(SplitVirtqueue rx, RxFrameWriter writer, long header, int csumOffset, int prefixLength,
                      FrameSource frame, long from, long length) {
        int status = writer.write(rx, header, csumOffset, scratch, prefixLength, frame, from, length);
        if (status == RingStatus.OK) {
            segments++;
            bytes += prefixLength + length;
        }
        return status;
    }

    private void reset() {
        segments = 0;
        checksums = 0;
        bytes = 0;
    }
}

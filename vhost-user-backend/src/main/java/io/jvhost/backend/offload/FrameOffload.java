package io.jvhost.backend.offload;

import io.jvhost.virtio.net.FrameSource;
import io.jvhost.virtio.net.NetHeader;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * The offload information of the frame being forwarded, validated once where it enters the switch
 * (a guest's TX queue, a TAP read): the sender's virtio-net header (virtio 1.2 §5.1.6.2), what the
 * frame needs from a receiver ({@link Offloads} bits), and for a GSO frame the layout of its headers
 * and a copy of them.
 *
 * <p>{@link #parse} checks, in this order, and answers a reason code instead of changing anything
 * when a rule is broken (the caller drops the frame and counts it; the queue keeps running):
 * <ol>
 * <li>the frame length is at most {@link #MAX_FRAME};</li>
 * <li>the gso type is known, and GSO frames carry NEEDS_CSUM (§5.1.6.2.1: "the driver MUST also set
 * the VIRTIO_NET_HDR_F_NEEDS_CSUM bit");</li>
 * <li>the sender negotiated what the frame asks for (CSUM, HOST_TSO4 ..., HOST_ECN);</li>
 * <li>NEEDS_CSUM: the checksum field lies inside the frame, at most {@link #MAX_CSUM_END} bytes in;</li>
 * <li>GSO: hdr_len is inside the frame; gso_size is at least {@link #MIN_GSO_SIZE} and the frame makes
 * at most {@link #MAX_SEGMENTS} segments; the headers parse as the gso type says (Ethernet with up to
 * two VLAN tags, IPv4 that is not a fragment or IPv6 with its extension headers, TCP or UDP) within
 * {@link #MAX_HEADERS} bytes, and csum_start/csum_offset point at that TCP or UDP checksum.</li>
 * </ol>
 * A frame without offload information (header bytes all zero) costs one comparison.
 *
 * <p>The header copy makes the frame's headers immune to a guest rewriting them while the frame is
 * forwarded: software segmentation builds every segment's headers from this copy.
 *
 * <p>One instance per worker, re-filled for every frame; not thread-safe.
 */
public final class FrameOffload {

    /** Longest frame accepted: a 65535-byte IP datagram behind Ethernet and two VLAN tags. */
    public static final long MAX_FRAME = 65535 + 14 + 8;
    /** Most bytes of L2-L4 headers of a GSO frame (Ethernet + 2 VLANs + 60 + 60 is 142 for IPv4). */
    public static final int MAX_HEADERS = 256;
    /** Most bytes up to the end of a partial checksum's field (csum_start + csum_offset + 2). */
    public static final int MAX_CSUM_END = 512;
    /** Smallest gso_size taken: below it a frame is not a sensible GSO frame but a way to cost a receiver. */
    public static final int MIN_GSO_SIZE = 8;
    /** Most segments one GSO frame may make (64 KiB in 64-byte segments). */
    public static final int MAX_SEGMENTS = 1024;

    public static final int OK = 0;
    public static final int TOO_LONG = -1;
    public static final int UNKNOWN_GSO_TYPE = -2;
    public static final int GSO_WITHOUT_CSUM = -3;
    public static final int NOT_NEGOTIATED = -4;
    public static final int CSUM_OUTSIDE_FRAME = -5;
    public static final int HDR_LEN_OUTSIDE_FRAME = -6;
    public static final int BAD_GSO_SIZE = -7;
    public static final int BAD_LAYOUT = -8;

    static final int ETH_HEADER = 14;
    static final int ETHERTYPE_IPV4 = 0x0800;
    static final int ETHERTYPE_IPV6 = 0x86DD;
    static final int ETHERTYPE_VLAN = 0x8100;
    static final int ETHERTYPE_QINQ = 0x88A8;
    static final int PROTO_TCP = 6;
    static final int PROTO_UDP = 17;
    static final int PROTO_IPV6_FRAGMENT = 44;
    static final int TCP_CSUM_OFFSET = 16;
    static final int UDP_CSUM_OFFSET = 6;
    static final int UDP_HEADER = 8;
    private static final int MAX_EXTENSION_HEADERS = 8;

    static final ValueLayout.OfShort BE16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);
    static final ValueLayout.OfInt BE32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);

    /** Native, as guest memory is (see {@link SoftwareOffload}'s scratch). */
    private final MemorySegment headers = Arena.ofAuto().allocate(MAX_HEADERS, 8);
    private long header;
    private int csumOffset;
    private int needs;
    private int gso;
    private int l3Offset;
    private int l4Offset;
    private int payloadOffset;
    private boolean ipv6;
    private int nextHeaderOffset;

    /** A frame without offload information. */
    public void clear() {
        header = 0;
        csumOffset = 0;
        needs = 0;
        gso = NetHeader.GSO_NONE;
    }

    /**
     * Validates the sender's header for {@code frame} and records it.
     *
     * @param header       bytes 0-7 of the sender's virtio-net header ({@link NetHeader#pack})
     * @param csumOffset   its csum_offset
     * @param allowed      what the sender may hand over ({@link Offloads#sendable}; a TAP: {@link Offloads#ALL})
     * @param allowedFlags flag bits kept (a guest: NEEDS_CSUM; the host kernel also sets DATA_VALID);
     *                     others are cleared
     * @return {@link #OK} or a negative reason code ({@link #describe}); on a reason the frame must be
     * dropped and this object is cleared
     */
    public int parse(long header, int csumOffset, int allowed, int allowedFlags, FrameSource frame) {
        final long length = frame.length();
        if (length > MAX_FRAME) {
            clear();
            return TOO_LONG;
        }
        header = NetHeader.withFlags(header, NetHeader.flags(header) & allowedFlags);
        if (header == 0) {
            clear();
            return OK;
        }
        int flags = NetHeader.flags(header);
        int gsoType = NetHeader.gsoType(header);
        int type = gsoType & ~NetHeader.GSO_ECN;
        boolean needsCsum = (flags & NetHeader.F_NEEDS_CSUM) != 0;
        int need = needsCsum ? Offloads.CSUM : 0;
        if (type != NetHeader.GSO_NONE || gsoType != NetHeader.GSO_NONE) {
            switch (type) {
                case NetHeader.GSO_TCPV4 -> need |= Offloads.TSO4;
                case NetHeader.GSO_TCPV6 -> need |= Offloads.TSO6;
                case NetHeader.GSO_UDP -> need |= Offloads.UFO;
                case NetHeader.GSO_UDP_L4 -> need |= Offloads.USO4; // USO6 once the IP version is known
                default -> {
                    clear();
                    return UNKNOWN_GSO_TYPE;
                }
            }
            if ((gsoType & NetHeader.GSO_ECN) != 0) {
                if (type != NetHeader.GSO_TCPV4 && type != NetHeader.GSO_TCPV6) {
                    clear();
                    return UNKNOWN_GSO_TYPE;
                }
                need |= Offloads.ECN;
            }
            if (!needsCsum) {
                clear();
                return GSO_WITHOUT_CSUM;
            }
        }
        int csumStart = NetHeader.csumStart(header);
        if (needsCsum) {
            long end = (long) csumStart + csumOffset + 2;
            if (csumStart < ETH_HEADER || end > length || end > MAX_CSUM_END) {
                clear();
                return CSUM_OUTSIDE_FRAME;
            }
        }
        if (type != NetHeader.GSO_NONE) {
            int status = parseLayout(header, csumOffset, type, frame);
            if (status != OK) {
                clear();
                return status;
            }
            if (type == NetHeader.GSO_UDP_L4 && ipv6) {
                need = (need & ~Offloads.USO4) | Offloads.USO6;
            }
            // hdr_len is only a hint (Linux since 4.x); hand on the length we found.
            header = (header & ~(0xFFFFL << 16)) | ((long) payloadOffset << 16);
        }
        if ((need & ~allowed) != 0) {
            clear();
            return NOT_NEGOTIATED;
        }
        this.header = header;
        this.csumOffset = needsCsum ? csumOffset : 0;
        this.needs = need;
        this.gso = type;
        return OK;
    }

    private int parseLayout(long header, int csumOffset, int type, FrameSource frame) {
        final long length = frame.length();
        if (NetHeader.hdrLen(header) > length) {
            return HDR_LEN_OUTSIDE_FRAME;
        }
        int gsoSize = NetHeader.gsoSize(header);
        if (gsoSize < MIN_GSO_SIZE) {
            return BAD_GSO_SIZE;
        }
        int n = (int) Math.min(length, MAX_HEADERS);
        frame.copyTo(0, headers, 0, n);
        final MemorySegment h = headers;
        if (n < ETH_HEADER) {
            return BAD_LAYOUT;
        }
        int at = ETH_HEADER;
        int etherType = u16(h, 12);
        for (int tags = 0; (etherType == ETHERTYPE_VLAN || etherType == ETHERTYPE_QINQ) && tags < 2; tags++) {
            if (at + 4 > n) {
                return BAD_LAYOUT;
            }
            etherType = u16(h, at + 2);
            at += 4;
        }
        l3Offset = at;
        boolean wantV6 = type == NetHeader.GSO_TCPV6
                || ((type == NetHeader.GSO_UDP || type == NetHeader.GSO_UDP_L4) && etherType == ETHERTYPE_IPV6);
        int proto;
        if (!wantV6) {
            if (etherType != ETHERTYPE_IPV4 || at + 20 > n) {
                return BAD_LAYOUT;
            }
            int versionIhl = u8(h, at);
            int ihl = (versionIhl & 0xF) * 4;
            if (versionIhl >> 4 != 4 || ihl < 20 || at + ihl > n || (u16(h, at + 6) & 0x3FFF) != 0) {
                return BAD_LAYOUT; // not IPv4, or a fragment
            }
            proto = u8(h, at + 9);
            nextHeaderOffset = at + 9;
            at += ihl;
            ipv6 = false;
        } else {
            if (etherType != ETHERTYPE_IPV6 || at + 40 > n || u8(h, at) >> 4 != 6) {
                return BAD_LAYOUT;
            }
            proto = u8(h, at + 6);
            nextHeaderOffset = at + 6;
            at += 40;
            for (int i = 0; isExtensionHeader(proto); i++) {
                if (i == MAX_EXTENSION_HEADERS || at + 8 > n) {
                    return BAD_LAYOUT;
                }
                nextHeaderOffset = at;
                proto = u8(h, at);
                at += (u8(h, at + 1) + 1) * 8;
            }
            ipv6 = true;
        }
        l4Offset = at;
        if (NetHeader.csumStart(header) != at) {
            return BAD_LAYOUT;
        }
        if (type == NetHeader.GSO_TCPV4 || type == NetHeader.GSO_TCPV6) {
            if (proto != PROTO_TCP || csumOffset != TCP_CSUM_OFFSET || at + 20 > n) {
                return BAD_LAYOUT;
            }
            int dataOffset = (u8(h, at + 12) >> 4) * 4;
            if (dataOffset < 20 || at + dataOffset > n) {
                return BAD_LAYOUT;
            }
            payloadOffset = at + dataOffset;
        } else {
            if (proto != PROTO_UDP || csumOffset != UDP_CSUM_OFFSET || at + UDP_HEADER > n) {
                return BAD_LAYOUT;
            }
            payloadOffset = at + UDP_HEADER;
        }
        // UFO cuts the IP payload (UDP header included) into fragments; the others the L4 payload.
        long cut = length - (type == NetHeader.GSO_UDP ? l4Offset : payloadOffset);
        if ((cut + gsoSize - 1) / gsoSize > MAX_SEGMENTS) {
            return BAD_GSO_SIZE;
        }
        return OK;
    }

    private static boolean isExtensionHeader(int proto) {
        return proto == 0 || proto == 43 || proto == 60; // hop-by-hop, routing, destination options
    }

    static int u8(MemorySegment s, long at) {
        return Byte.toUnsignedInt(s.get(ValueLayout.JAVA_BYTE, at));
    }

    static int u16(MemorySegment s, long at) {
        return Short.toUnsignedInt(s.get(BE16, at));
    }

    /** A reason code in words, for logs and tests. */
    public static String describe(int code) {
        return switch (code) {
            case OK -> "ok";
            case TOO_LONG -> "frame longer than " + MAX_FRAME + " bytes";
            case UNKNOWN_GSO_TYPE -> "unknown gso_type";
            case GSO_WITHOUT_CSUM -> "GSO frame without NEEDS_CSUM";
            case NOT_NEGOTIATED -> "offload the sender did not negotiate";
            case CSUM_OUTSIDE_FRAME -> "csum_start/csum_offset outside the frame";
            case HDR_LEN_OUTSIDE_FRAME -> "hdr_len beyond the frame";
            case BAD_GSO_SIZE -> "gso_size out of range";
            case BAD_LAYOUT -> "headers do not match gso_type, csum_start or csum_offset";
            default -> "reason " + code;
        };
    }

    /** Bytes 0-7 of the header to hand on (flags sanitised, hdr_len of a GSO frame its real header length). */
    public long header() {
        return header;
    }

    public int csumOffset() {
        return csumOffset;
    }

    /** The {@link Offloads} bits a receiver must have to take the frame as it is; 0 for a plain frame. */
    public int needs() {
        return needs;
    }

    /** The gso type without the ECN bit ({@link NetHeader#GSO_NONE} ...). */
    public int gsoType() {
        return gso;
    }

    public int gsoSize() {
        return NetHeader.gsoSize(header);
    }

    public int csumStart() {
        return NetHeader.csumStart(header);
    }

    public boolean needsCsum() {
        return (NetHeader.flags(header) & NetHeader.F_NEEDS_CSUM) != 0;
    }

    /** GSO frames: where the IP header starts. */
    public int l3Offset() {
        return l3Offset;
    }

    /** GSO frames: where the TCP or UDP header starts. */
    public int l4Offset() {
        return l4Offset;
    }

    /** GSO frames: where the TCP or UDP payload starts (the length of all headers). */
    public int payloadOffset() {
        return payloadOffset;
    }

    public boolean ipv6() {
        return ipv6;
    }

    /** GSO frames: the byte holding the protocol number of the L4 header (IPv4 protocol, IPv6 next header). */
    public int nextHeaderOffset() {
        return nextHeaderOffset;
    }

    /** GSO frames: a copy of the frame's first {@link #payloadOffset()} bytes, taken at {@link #parse}. */
    public MemorySegment headers() {
        return headers;
    }
}

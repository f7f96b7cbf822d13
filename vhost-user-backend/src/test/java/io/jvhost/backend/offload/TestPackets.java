package io.jvhost.backend.offload;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;

/**
 * Builds Ethernet/IPv4/IPv6/TCP/UDP frames as a Linux guest hands them to its NIC with offloads
 * (partial checksum: the pseudo-header sum in the L4 checksum field), and checks frames with a
 * plain byte-at-a-time Internet checksum written independently of {@link InternetChecksum}.
 */
public final class TestPackets {

    public static final int ETH = 14;
    public static final int TCP = 6;
    public static final int UDP = 17;
    public static final int TCP_FIN = 0x01;
    public static final int TCP_SYN = 0x02;
    public static final int TCP_PSH = 0x08;
    public static final int TCP_ACK = 0x10;
    public static final int TCP_CWR = 0x80;
    static final byte[] SRC4 = {(byte) 192, 0, 2, 1};
    static final byte[] DST4 = {(byte) 192, 0, 2, 2};
    static final byte[] SRC6 = bytes(0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1);
    static final byte[] DST6 = bytes(0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2);

    private TestPackets() {
    }

    /** What a frame looks like, to build it. */
    public record Spec(boolean ipv6, int protocol, int ipOptions, int ipv6ExtensionBytes, int l4Options, int payload,
                int seq, int tcpFlags, int ipId, boolean dontFragment, int vlanTags) {

        public static Spec tcp4(int payload) {
            return new Spec(false, TCP, 0, 0, 12, payload, 1000, TCP_ACK | TCP_PSH, 0x1234, true, 0);
        }

        public static Spec tcp6(int payload) {
            return new Spec(true, TCP, 0, 0, 12, payload, 1000, TCP_ACK | TCP_PSH, 0, false, 0);
        }

        public static Spec udp4(int payload) {
            return new Spec(false, UDP, 0, 0, 0, payload, 0, 0, 0x4321, false, 0);
        }

        public static Spec udp6(int payload) {
            return new Spec(true, UDP, 0, 0, 0, payload, 0, 0, 0, false, 0);
        }

        public Spec ipOptions(int bytes) {
            return new Spec(ipv6, protocol, bytes, ipv6ExtensionBytes, l4Options, payload, seq, tcpFlags, ipId,
                    dontFragment, vlanTags);
        }

        public Spec extensionHeader(int bytes) {
            return new Spec(ipv6, protocol, ipOptions, bytes, l4Options, payload, seq, tcpFlags, ipId, dontFragment,
                    vlanTags);
        }

        public Spec tcpOptions(int bytes) {
            return new Spec(ipv6, protocol, ipOptions, ipv6ExtensionBytes, bytes, payload, seq, tcpFlags, ipId,
                    dontFragment, vlanTags);
        }

        public Spec flags(int flags) {
            return new Spec(ipv6, protocol, ipOptions, ipv6ExtensionBytes, l4Options, payload, seq, flags, ipId,
                    dontFragment, vlanTags);
        }

        public Spec seq(int s) {
            return new Spec(ipv6, protocol, ipOptions, ipv6ExtensionBytes, l4Options, payload, s, tcpFlags, ipId,
                    dontFragment, vlanTags);
        }

        public Spec vlan(int tags) {
            return new Spec(ipv6, protocol, ipOptions, ipv6ExtensionBytes, l4Options, payload, seq, tcpFlags, ipId,
                    dontFragment, tags);
        }

        public int l3() {
            return ETH + 4 * vlanTags;
        }

        public int l3Length() {
            return ipv6 ? 40 + ipv6ExtensionBytes : 20 + ipOptions;
        }

        public int l4() {
            return l3() + l3Length();
        }

        public int l4Header() {
            return protocol == TCP ? 20 + l4Options : 8;
        }

        public int headers() {
            return l4() + l4Header();
        }

        public int length() {
            return headers() + payload;
        }
    }

    /**
     * The frame with a valid IPv4 header checksum and the L4 checksum field holding the folded
     * pseudo-header sum (not complemented), as for VIRTIO_NET_HDR_F_NEEDS_CSUM.
     */
    public static byte[] partial(Spec s) {
        byte[] f = new byte[s.length()];
        ByteBuffer b = ByteBuffer.wrap(f).order(ByteOrder.BIG_ENDIAN);
        for (int i = 0; i < 6; i++) {
            f[i] = (byte) (0x52 + (i == 5 ? 1 : 0));
            f[6 + i] = (byte) (0x52 + (i == 5 ? 2 : 0));
        }
        int at = 12;
        for (int t = 0; t < s.vlanTags(); t++) {
            b.putShort(at, (short) (t == 0 && s.vlanTags() == 2 ? 0x88A8 : 0x8100));
            b.putShort(at + 2, (short) (100 + t));
            at += 4;
        }
        b.putShort(at, (short) (s.ipv6() ? 0x86DD : 0x0800));
        int l3 = s.l3();
        int l4 = s.l4();
        if (!s.ipv6()) {
            f[l3] = (byte) (0x40 | (s.l3Length() / 4));
            b.putShort(l3 + 2, (short) (s.length() - l3));
            b.putShort(l3 + 4, (short) s.ipId());
            b.putShort(l3 + 6, (short) (s.dontFragment() ? 0x4000 : 0));
            f[l3 + 8] = 64;
            f[l3 + 9] = (byte) s.protocol();
            System.arraycopy(SRC4, 0, f, l3 + 12, 4);
            System.arraycopy(DST4, 0, f, l3 + 16, 4);
            for (int i = 20; i < s.l3Length(); i++) {
                f[l3 + i] = 1; // NOP options
            }
            b.putShort(l3 + 10, (short) ~sum(f, l3, s.l3Length()));
        } else {
            f[l3] = 0x60;
            b.putShort(l3 + 4, (short) (s.length() - l3 - 40));
            f[l3 + 6] = (byte) (s.ipv6ExtensionBytes() > 0 ? 60 : s.protocol()); // destination options
            f[l3 + 7] = 64;
            System.arraycopy(SRC6, 0, f, l3 + 8, 16);
            System.arraycopy(DST6, 0, f, l3 + 24, 16);
            if (s.ipv6ExtensionBytes() > 0) {
                f[l3 + 40] = (byte) s.protocol();
                f[l3 + 41] = (byte) (s.ipv6ExtensionBytes() / 8 - 1);
                f[l3 + 42] = 1; // PadN
                f[l3 + 43] = (byte) (s.ipv6ExtensionBytes() - 4);
            }
        }
        b.putShort(l4, (short) 40000);
        b.putShort(l4 + 2, (short) 5201);
        if (s.protocol() == TCP) {
            b.putInt(l4 + 4, s.seq());
            b.putInt(l4 + 8, 777);
            f[l4 + 12] = (byte) ((s.l4Header() / 4) << 4);
            f[l4 + 13] = (byte) s.tcpFlags();
            b.putShort(l4 + 14, (short) 501);
            for (int i = 20; i < s.l4Header(); i++) {
                f[l4 + i] = 1; // NOP options
            }
        } else {
            b.putShort(l4 + 4, (short) (s.length() - l4));
        }
        for (int i = s.headers(); i < f.length; i++) {
            f[i] = (byte) (i * 31 + 7);
        }
        int check = s.protocol() == TCP ? l4 + 16 : l4 + 6;
        b.putShort(check, (short) fold(pseudo(f, s.ipv6(), l3, s.protocol(), f.length - l4)));
        return f;
    }

    /** The frame with its L4 checksum computed (no partial checksum left). */
    public static byte[] complete(Spec s) {
        byte[] f = partial(s);
        int check = s.protocol() == TCP ? s.l4() + 16 : s.l4() + 6;
        f[check] = 0;
        f[check + 1] = 0;
        int c = ~fold(pseudo(f, s.ipv6(), s.l3(), s.protocol(), f.length - s.l4()) + sum(f, s.l4(), f.length - s.l4()))
                & 0xFFFF;
        if (c == 0 && s.protocol() == UDP) {
            c = 0xFFFF;
        }
        ByteBuffer.wrap(f).putShort(check, (short) c);
        return f;
    }

    /** Whether the frame's L4 checksum verifies, pseudo-header included (reference arithmetic). */
    public static boolean l4ChecksumValid(byte[] f, boolean ipv6, int l3, int l4, int protocol) {
        return fold(pseudo(f, ipv6, l3, protocol, f.length - l4) + sum(f, l4, f.length - l4)) == 0xFFFF;
    }

    /** Whether an IPv4 header verifies. */
    public static boolean ipv4ChecksumValid(byte[] f, int l3) {
        return fold(sum(f, l3, (f[l3] & 0xF) * 4)) == 0xFFFF;
    }

    /** The folded pseudo-header sum for {@code l4Length} bytes of L4. */
    public static int foldedPseudo(byte[] f, boolean ipv6, int l3, int protocol, int l4Length) {
        return fold(pseudo(f, ipv6, l3, protocol, l4Length));
    }

    private static long pseudo(byte[] f, boolean ipv6, int l3, int protocol, int l4Length) {
        long s = ipv6 ? sum(f, l3 + 8, 32) : sum(f, l3 + 12, 8);
        return s + protocol + l4Length;
    }

    /** Big-endian 16-bit word sum, one byte at a time (RFC 1071 §4.1), unfolded. */
    public static long sum(byte[] data, int offset, int length) {
        long s = 0;
        for (int i = 0; i < length; i++) {
            int v = data[offset + i] & 0xFF;
            s += (i & 1) == 0 ? v << 8 : v;
        }
        return s;
    }

    public static int fold(long s) {
        while ((s >>> 16) != 0) {
            s = (s & 0xFFFF) + (s >>> 16);
        }
        return (int) s;
    }

    public static int u16(byte[] f, int at) {
        return ((f[at] & 0xFF) << 8) | (f[at + 1] & 0xFF);
    }

    public static int u32(byte[] f, int at) {
        return ByteBuffer.wrap(f).getInt(at);
    }

    public static byte[] range(byte[] f, int from, int to) {
        return Arrays.copyOfRange(f, from, to);
    }

    public static byte[] bytes(int... values) {
        byte[] b = new byte[values.length];
        for (int i = 0; i < values.length; i++) {
            b[i] = (byte) values[i];
        }
        return b;
    }
}

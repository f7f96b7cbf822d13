package io.jvhost.backend.switching;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * MAC addresses as 48-bit values in a {@code long}: the first octet on the wire is bits 40-47, so the
 * group (multicast/broadcast) bit, the least significant bit of the first octet, is bit 40.
 */
public final class MacAddress {

    public static final long BROADCAST = 0xFFFF_FFFF_FFFFL;
    private static final long GROUP_BIT = 1L << 40;

    private static final ValueLayout.OfInt INT_BE = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);
    private static final ValueLayout.OfShort SHORT_BE = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);

    private MacAddress() {
    }

    /** The 6 bytes at {@code offset} (wire order) as a MAC value. Per frame: two loads, no allocation. */
    public static long read(MemorySegment segment, long offset) {
        return ((segment.get(INT_BE, offset) & 0xFFFF_FFFFL) << 16) | (segment.get(SHORT_BE, offset + 4) & 0xFFFFL);
    }

    public static boolean isGroup(long mac) {
        return (mac & GROUP_BIT) != 0;
    }

    public static long parse(String text) {
        String[] parts = text.split(":");
        if (parts.length != 6) {
            throw new IllegalArgumentException("not a MAC address: " + text);
        }
        long mac = 0;
        for (String p : parts) {
            mac = (mac << 8) | Integer.parseInt(p, 16);
        }
        return mac;
    }

    public static String format(long mac) {
        StringBuilder sb = new StringBuilder(17);
        for (int shift = 40; shift >= 0; shift -= 8) {
            int octet = (int) (mac >>> shift) & 0xFF;
            sb.append(Character.forDigit(octet >>> 4, 16)).append(Character.forDigit(octet & 0xF, 16));
            if (shift > 0) {
                sb.append(':');
            }
        }
        return sb.toString();
    }
}

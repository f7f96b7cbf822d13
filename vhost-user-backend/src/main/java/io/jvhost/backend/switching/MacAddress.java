package io.jvhost.backend.switching;

/**
 * MAC addresses as 48-bit values in a {@code long}: the first octet on the wire is bits 40-47, so the
 * group (multicast/broadcast) bit, the least significant bit of the first octet, is bit 40.
 */
public final class MacAddress {

    public static final long BROADCAST = 0xFFFF_FFFF_FFFFL;
    private static final long GROUP_BIT = 1L << 40;

    private MacAddress() {
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

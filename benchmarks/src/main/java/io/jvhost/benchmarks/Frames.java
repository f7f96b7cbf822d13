package io.jvhost.benchmarks;

/** Ethernet frames for the benchmarks. */
final class Frames {

    /** Two locally administered unicast MACs, as 48-bit values (first octet in bits 40-47). */
    static final long MAC_A = 0x02_00_00_00_00_0AL;
    static final long MAC_B = 0x02_00_00_00_00_0BL;

    private Frames() {
    }

    /** A frame of {@code length} bytes (at least 14) from {@code source} to {@code destination}, IPv4 ethertype. */
    static byte[] ethernet(int length, long destination, long source) {
        byte[] f = new byte[length];
        for (int i = 0; i < 6; i++) {
            f[i] = (byte) (destination >>> (40 - 8 * i));
            f[6 + i] = (byte) (source >>> (40 - 8 * i));
        }
        f[12] = 0x08;
        f[13] = 0x00;
        for (int i = 14; i < length; i++) {
            f[i] = (byte) i;
        }
        return f;
    }
}

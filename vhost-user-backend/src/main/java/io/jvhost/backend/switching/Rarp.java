package io.jvhost.backend.switching;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * The RARP announcement a migrated guest's device sends for it (RFC 903, a "reverse request" from the
 * MAC for itself, as QEMU's {@code announce_self_create}): broadcast, so every learning switch and
 * bridge on the way moves the MAC to the port it now arrives on.
 *
 * <pre>
 *   0          6          12     14     16     18   19   20    22         28     32         38     42..60
 *   | ff x 6   | mac      | 8035 | 0001 | 0800 | 06 | 04 | 0003 | mac      | 0    | mac      | 0    | zero pad
 *   | dst      | src      | type | htype| ptype| hlen plen| op  | sha      | spa  | tha      | tpa  |
 * </pre>
 *
 * All fields big-endian (network order). 60 bytes: the shortest Ethernet frame without its FCS.
 */
public final class Rarp {

    public static final int LENGTH = 60;
    public static final int ETHERTYPE = 0x8035;
    public static final int OP_REVERSE_REQUEST = 3;

    static final int DESTINATION = 0;
    static final int SOURCE = 6;
    static final int TYPE = 12;
    static final int HARDWARE_TYPE = 14;
    static final int PROTOCOL_TYPE = 16;
    static final int HARDWARE_LENGTH = 18;
    static final int PROTOCOL_LENGTH = 19;
    static final int OPERATION = 20;
    static final int SENDER_MAC = 22;
    static final int TARGET_MAC = 32;

    private static final ValueLayout.OfShort U16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);

    private Rarp() {
    }

    /** Writes the announcement of {@code mac} into the first {@link #LENGTH} bytes of {@code frame}. */
    public static void write(MemorySegment frame, long mac) {
        frame.asSlice(0, LENGTH).fill((byte) 0);
        putMac(frame, DESTINATION, MacAddress.BROADCAST);
        putMac(frame, SOURCE, mac);
        frame.set(U16, TYPE, (short) ETHERTYPE);
        frame.set(U16, HARDWARE_TYPE, (short) 1); // Ethernet
        frame.set(U16, PROTOCOL_TYPE, (short) 0x0800); // IPv4
        frame.set(ValueLayout.JAVA_BYTE, HARDWARE_LENGTH, (byte) 6);
        frame.set(ValueLayout.JAVA_BYTE, PROTOCOL_LENGTH, (byte) 4);
        frame.set(U16, OPERATION, (short) OP_REVERSE_REQUEST);
        putMac(frame, SENDER_MAC, mac);
        putMac(frame, TARGET_MAC, mac);
    }

    private static void putMac(MemorySegment frame, long offset, long mac) {
        for (int i = 0; i < 6; i++) {
            frame.set(ValueLayout.JAVA_BYTE, offset + i, (byte) (mac >>> (40 - 8 * i)));
        }
    }
}

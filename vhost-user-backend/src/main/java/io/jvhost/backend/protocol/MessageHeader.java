package io.jvhost.backend.protocol;

import java.lang.foreign.MemorySegment;

/**
 * The 12-byte header in front of every vhost-user message (vhost-user.rst, "Header").
 *
 * <pre>
 *   0        4        8        12
 *   +--------+--------+--------+---------------
 *   | request| flags  | size   | payload (size bytes)
 *   +--------+--------+--------+---------------
 *   flags: bits 0-1 version (1), bit 2 REPLY, bit 3 NEED_REPLY; the rest must be 0
 * </pre>
 * All fields u32, little-endian.
 */
public final class MessageHeader {

    public static final int REQUEST = 0;
    public static final int FLAGS = 4;
    public static final int SIZE = 8;
    public static final int LENGTH = 12;

    public static final int VERSION_MASK = 0x3;
    public static final int VERSION = 0x1;
    public static final int FLAG_REPLY = 0x4;
    public static final int FLAG_NEED_REPLY = 0x8;
    /** Every flag bit this protocol revision defines. */
    public static final int KNOWN_FLAGS = VERSION_MASK | FLAG_REPLY | FLAG_NEED_REPLY;

    /** Largest payload accepted; the biggest request handled (SET_MEM_TABLE) is 264 bytes. */
    public static final int MAX_PAYLOAD_SIZE = 4096;

    private MessageHeader() {
    }

    public static int request(MemorySegment header) {
        return Wire.u32(header, REQUEST);
    }

    public static int flags(MemorySegment header) {
        return Wire.u32(header, FLAGS);
    }

    /** Payload size, unsigned. */
    public static long size(MemorySegment header) {
        return Wire.u32Unsigned(header, SIZE);
    }

    public static void write(MemorySegment header, int request, int flags, int size) {
        Wire.putU32(header, REQUEST, request);
        Wire.putU32(header, FLAGS, flags);
        Wire.putU32(header, SIZE, size);
    }
}

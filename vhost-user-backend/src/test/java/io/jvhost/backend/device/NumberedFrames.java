package io.jvhost.backend.device;

import java.nio.ByteBuffer;

/** Test frames that carry a sequence number, as a TX chain holds them (virtio-net header first). */
final class NumberedFrames {

    static final byte[] MAC_A = {0x52, 0x54, 0, 0, 0, 0x0a};
    static final byte[] MAC_B = {0x52, 0x54, 0, 0, 0, 0x0b};
    /** The 12-byte header, then destination and source MAC and the EtherType: the number follows. */
    private static final int SEQ_OFFSET = 12 + 14;

    private NumberedFrames() {
    }

    /** A 64-byte frame from A to B (after a zero 12-byte virtio-net header) numbered {@code seq}. */
    static byte[] fromAToB(int seq) {
        ByteBuffer f = ByteBuffer.allocate(12 + 64);
        f.position(12);
        f.put(MAC_B).put(MAC_A).putShort((short) 0x88B5).putInt(seq);
        return f.array();
    }

    /** The number in {@code written}, the bytes of an RX chain (header included). */
    static int seq(byte[] written) {
        return ByteBuffer.wrap(written, SEQ_OFFSET, 4).getInt();
    }
}

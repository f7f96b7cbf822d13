package io.jvhost.it.datapath;

import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.HexFormat;
import java.util.List;

import static org.junit.jupiter.api.Assertions.fail;

/**
 * Test Ethernet frames: destination, source, EtherType 0x88B5 (IEEE local experimental), a 32-bit
 * sequence number and a pattern derived from it, so a frame that was cut, shifted or mixed up with
 * another shows in a byte comparison.
 */
final class Frames {

    /** Waiting for a frame that must arrive. */
    static final Duration TIMEOUT = Duration.ofSeconds(5);
    /** Waiting for a frame that must not arrive, where no marker frame can prove it sooner. */
    static final Duration QUIET = Duration.ofMillis(250);

    static final int ETHERTYPE = 0x88B5;
    static final int MIN_LENGTH = 60;
    static final int MAX_LENGTH = 1514;
    static final byte[] BROADCAST = {-1, -1, -1, -1, -1, -1};

    private Frames() {
    }

    /** A locally administered unicast MAC, 02:00:00:00:00:nn. */
    static byte[] mac(int n) {
        return new byte[] {2, 0, 0, 0, 0, (byte) n};
    }

    static byte[] frame(byte[] destination, byte[] source, int seq, int length) {
        if (length < 18) {
            throw new IllegalArgumentException("frame too short for its header: " + length);
        }
        ByteBuffer b = ByteBuffer.allocate(length);
        b.put(destination).put(source).putShort((short) ETHERTYPE).putInt(seq);
        for (int i = b.position(); i < length; i++) {
            b.put((byte) (seq * 7 + i));
        }
        return b.array();
    }

    /** A minimum-size frame. */
    static byte[] frame(byte[] destination, byte[] source, int seq) {
        return frame(destination, source, seq, MIN_LENGTH);
    }

    /** Exactly {@code expected}, in order, byte for byte. */
    static void assertFrames(List<byte[]> expected, List<byte[]> actual, String where) {
        int n = Math.min(expected.size(), actual.size());
        for (int i = 0; i < n; i++) {
            if (!java.util.Arrays.equals(expected.get(i), actual.get(i))) {
                fail(where + ": frame " + i + " differs: expected " + describe(expected.get(i)) + ", got "
                        + describe(actual.get(i)));
            }
        }
        if (expected.size() != actual.size()) {
            fail(where + ": expected " + expected.size() + " frames, got " + actual.size()
                    + (actual.size() > n ? ", first extra " + describe(actual.get(n)) : ""));
        }
    }

    static String describe(byte[] frame) {
        if (frame == null) {
            return "nothing";
        }
        HexFormat hex = HexFormat.of();
        return frame.length + " bytes [" + hex.formatHex(frame, 0, Math.min(frame.length, 18))
                + (frame.length > 18 ? "..." : "") + "]";
    }
}

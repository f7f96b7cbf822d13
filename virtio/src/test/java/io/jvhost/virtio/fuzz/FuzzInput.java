package io.jvhost.virtio.fuzz;

/**
 * Test fixture: a fuzzer's bytes read front to back as small decisions (a queue size, a length, a
 * flag), little-endian. Past the end every read answers 0, so any input, however short, is a
 * complete test case and seed files can be written by hand (or by a script) field by field.
 *
 * <p>Not thread-safe: one fuzz execution.
 */
public final class FuzzInput {

    private final byte[] data;
    private int position;

    public FuzzInput(byte[] data) {
        this.data = data;
    }

    public boolean hasMore() {
        return position < data.length;
    }

    public int remaining() {
        return data.length - position;
    }

    public int u8() {
        return position < data.length ? data[position++] & 0xFF : 0;
    }

    public int u16() {
        return u8() | u8() << 8;
    }

    public long u32() {
        return u16() | (long) u16() << 16;
    }

    public long u64() {
        return u32() | u32() << 32;
    }

    public boolean bool() {
        return (u8() & 1) != 0;
    }

    /** A value in {@code [0, bound)}: one byte for bounds up to 256, two above. */
    public int below(int bound) {
        if (bound <= 0) {
            throw new IllegalArgumentException("bound must be positive: " + bound);
        }
        return (bound <= 256 ? u8() : u16()) % bound;
    }

    /** Up to {@code max} bytes: a length byte or two, then that many bytes (fewer at the end of the input). */
    public byte[] bytes(int max) {
        int length = Math.min(below(max + 1), remaining());
        byte[] out = new byte[length];
        System.arraycopy(data, position, out, 0, length);
        position += length;
        return out;
    }

    /** Everything not read yet. */
    public byte[] rest() {
        byte[] out = new byte[remaining()];
        System.arraycopy(data, position, out, 0, out.length);
        position = data.length;
        return out;
    }
}

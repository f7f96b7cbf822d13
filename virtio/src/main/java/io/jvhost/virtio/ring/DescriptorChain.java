package io.jvhost.virtio.ring;

import io.jvhost.virtio.memory.GuestMemory;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * One popped descriptor chain, already translated: the head id and, in chain order, its buffers as
 * (region index in the {@link GuestMemory}, offset inside that region's segment, length). The
 * device-readable buffers come first ({@link SplitVirtqueue} rejects a readable buffer after a
 * writable one), so buffers {@code 0 .. readableCount()-1} are readable and the rest writable.
 *
 * <p>A descriptor whose bytes span two memory regions becomes two buffers; zero-length descriptors
 * add no buffer. Lengths are unsigned 32-bit values widened to {@code long}.
 *
 * <p>Reusable: arrays are sized at construction and {@link SplitVirtqueue#pop} overwrites the
 * contents, so a chain with more buffers than {@link #capacity()} is an error
 * ({@link RingStatus#ERR_LOOP_OR_TOO_LONG}). Not thread-safe: the queue's owner thread fills it and
 * reads it; the contents stay valid until the next pop into the same object, and the guest memory
 * they point at is the driver's until the head is pushed to the used ring.
 */
public final class DescriptorChain {

    /** Default maximum buffers per chain. */
    public static final int DEFAULT_CAPACITY = 1024;

    private final int[] regions;
    private final long[] offsets;
    private final long[] lengths;

    private GuestMemory memory = GuestMemory.empty();
    private int head = -1;
    private int count;
    private int readableCount;
    private long readableLength;
    private long writableLength;
    private int descriptorCount;

    public DescriptorChain() {
        this(DEFAULT_CAPACITY);
    }

    public DescriptorChain(int capacity) {
        if (capacity <= 0) {
            throw new IllegalArgumentException("capacity must be positive: " + capacity);
        }
        regions = new int[capacity];
        offsets = new long[capacity];
        lengths = new long[capacity];
    }

    /** Starts a new chain (called by the walker). */
    void reset(GuestMemory guestMemory, int headId) {
        memory = guestMemory;
        head = headId;
        count = 0;
        readableCount = 0;
        readableLength = 0;
        writableLength = 0;
        descriptorCount = 0;
    }

    /** Set by the walker once the chain is complete. */
    void setDescriptorCount(int walked) {
        descriptorCount = walked;
    }

    /**
     * Appends a buffer. The walker guarantees readable buffers are added before writable ones.
     *
     * @return false when the chain is full
     */
    boolean add(int region, long offset, long length, boolean writable) {
        int i = count;
        if (i == regions.length) {
            return false;
        }
        regions[i] = region;
        offsets[i] = offset;
        lengths[i] = length;
        count = i + 1;
        if (writable) {
            writableLength += length;
        } else {
            readableCount++;
            readableLength += length;
        }
        return true;
    }

    public int capacity() {
        return regions.length;
    }

    /** The head descriptor id, to give back with {@link SplitVirtqueue#pushUsed(int, int)}. */
    public int head() {
        return head;
    }

    /** The memory the buffers were translated with. */
    public GuestMemory memory() {
        return memory;
    }

    /**
     * Descriptors the walk read for this chain: ring and indirect-table entries, the INDIRECT one and
     * zero-length ones included. What the chain cost to pop, for budgets: {@link #bufferCount()} leaves
     * out zero-length descriptors, of which an indirect table may hold 65536.
     */
    public int descriptorCount() {
        return descriptorCount;
    }

    public int bufferCount() {
        return count;
    }

    public int readableCount() {
        return readableCount;
    }

    public int writableCount() {
        return count - readableCount;
    }

    /** Sum of the device-readable buffer lengths. */
    public long readableLength() {
        return readableLength;
    }

    /** Sum of the device-writable buffer lengths. */
    public long writableLength() {
        return writableLength;
    }

    /** Index of buffer {@code i}'s region in {@link #memory()}. */
    public int region(int i) {
        checkIndex(i);
        return regions[i];
    }

    /** Offset of buffer {@code i} inside {@link #segmentOf(int)}. */
    public long offset(int i) {
        checkIndex(i);
        return offsets[i];
    }

    public long length(int i) {
        checkIndex(i);
        return lengths[i];
    }

    public boolean isWritable(int i) {
        checkIndex(i);
        return i >= readableCount;
    }

    /** The region segment holding buffer {@code i}: its bytes are {@code [offset(i), offset(i)+length(i))}. */
    public MemorySegment segmentOf(int i) {
        checkIndex(i);
        return memory.segment(regions[i]);
    }

    /**
     * Copies up to {@code length} bytes of the readable part, starting {@code offsetInReadable} bytes
     * into it, to {@code dst}; crosses buffer boundaries.
     *
     * @return bytes copied: {@code min(length, readableLength() - offsetInReadable)}, 0 past the end
     */
    public int readBytes(long offsetInReadable, MemorySegment dst, long dstOffset, int length) {
        if (offsetInReadable < 0 || length < 0) {
            throw new IllegalArgumentException("negative offset or length");
        }
        long available = readableLength - offsetInReadable;
        if (available <= 0) {
            return 0;
        }
        int total = (int) Math.min(length, available);
        copy(0, readableCount, offsetInReadable, dst, dstOffset, total, false);
        return total;
    }

    /** The byte at {@code offsetInReadable} of the readable part. */
    public byte readByte(long offsetInReadable) {
        if (offsetInReadable < 0 || offsetInReadable >= readableLength) {
            throw new IndexOutOfBoundsException("offset " + offsetInReadable + " outside readable length " + readableLength);
        }
        long skip = offsetInReadable;
        int i = 0;
        while (skip >= lengths[i]) {
            skip -= lengths[i];
            i++;
        }
        return memory.segment(regions[i]).get(ValueLayout.JAVA_BYTE, offsets[i] + skip);
    }

    /**
     * Copies {@code length} bytes from {@code src} into the writable part, starting
     * {@code offsetInWritable} bytes into it; crosses buffer boundaries.
     *
     * @return bytes copied: {@code min(length, writableLength() - offsetInWritable)}, 0 past the end
     */
    public int writeBytes(long offsetInWritable, MemorySegment src, long srcOffset, int length) {
        if (offsetInWritable < 0 || length < 0) {
            throw new IllegalArgumentException("negative offset or length");
        }
        long available = writableLength - offsetInWritable;
        if (available <= 0) {
            return 0;
        }
        int total = (int) Math.min(length, available);
        copy(readableCount, count, offsetInWritable, src, srcOffset, total, true);
        return total;
    }

    /** Copies {@code total} bytes between buffers {@code [from, to)} (starting {@code skip} into them) and {@code other}. */
    private void copy(int from, int to, long skip, MemorySegment other, long otherOffset, int total, boolean intoChain) {
        int i = from;
        while (skip >= lengths[i]) {
            skip -= lengths[i];
            i++;
        }
        long done = 0;
        while (done < total && i < to) {
            long n = Math.min(lengths[i] - skip, total - done);
            MemorySegment segment = memory.segment(regions[i]);
            if (intoChain) {
                MemorySegment.copy(other, otherOffset + done, segment, offsets[i] + skip, n);
            } else {
                MemorySegment.copy(segment, offsets[i] + skip, other, otherOffset + done, n);
            }
            done += n;
            skip = 0;
            i++;
        }
    }

    private void checkIndex(int i) {
        if (i < 0 || i >= count) {
            throw new IndexOutOfBoundsException("buffer " + i + " of " + count);
        }
    }

    @Override
    public String toString() {
        StringBuilder sb = new StringBuilder("DescriptorChain[head=").append(head);
        for (int i = 0; i < count; i++) {
            sb.append(i < readableCount ? " r" : " w").append("(region ").append(regions[i])
                    .append(" +0x").append(Long.toHexString(offsets[i])).append(' ').append(lengths[i]).append(')');
        }
        return sb.append(']').toString();
    }
}

package io.jvhost.backend.linux;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * A native array of {@code struct iovec} for {@link Fds#readv}/{@link Fds#writev}, filled with raw
 * native addresses (typically slices of guest memory, so packets move without a copy). Allocated
 * once and refilled, never re-allocated.
 *
 * <pre>
 *   entry i at i * 16:  0 iov_base (u64 address) | 8 iov_len (u64)
 * </pre>
 *
 * <p>Not thread-safe: one owner (a worker thread) fills and uses it.
 */
public final class IoVecArray implements AutoCloseable {

    private final Arena arena = Arena.ofShared();
    private final MemorySegment entries;
    private final int capacity;

    public IoVecArray(int capacity) {
        if (capacity <= 0 || capacity > 1024) { // IOV_MAX is 1024
            throw new IllegalArgumentException("iovec capacity must be 1..1024: " + capacity);
        }
        this.capacity = capacity;
        this.entries = arena.allocate((long) capacity * NativeLayouts.IOVEC_SIZE, 8);
    }

    public int capacity() {
        return capacity;
    }

    /** Entry {@code index} points at {@code length} bytes at native {@code address}. */
    public void set(int index, long address, long length) {
        long base = (long) index * NativeLayouts.IOVEC_SIZE; // bounds: the segment access checks index < capacity
        entries.set(ValueLayout.JAVA_LONG, base + NativeLayouts.IOV_BASE, address);
        entries.set(ValueLayout.JAVA_LONG, base + NativeLayouts.IOV_LEN, length);
    }

    /** Entry {@code index} covers all of native segment {@code buffer}. */
    public void set(int index, MemorySegment buffer) {
        if (!buffer.isNative()) {
            throw new IllegalArgumentException("iovec needs native memory");
        }
        set(index, buffer.address(), buffer.byteSize());
    }

    long address() {
        return entries.address();
    }

    void checkCount(int count) {
        if (count <= 0 || count > capacity) {
            throw new IllegalArgumentException("iovec count " + count + " outside 1.." + capacity);
        }
    }

    @Override
    public void close() {
        if (arena.scope().isAlive()) {
            arena.close();
        }
    }
}

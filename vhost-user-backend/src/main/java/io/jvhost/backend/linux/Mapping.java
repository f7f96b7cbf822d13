package io.jvhost.backend.linux;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Objects;

/**
 * A shared read/write mapping of a file (mmap with MAP_SHARED), unmapped by {@link #close()}.
 *
 * <p>The segment belongs to a shared {@link Arena}: closing it munmaps the range and invalidates the
 * segment and all its slices, so a late access throws {@link IllegalStateException} instead of
 * touching unmapped memory. The close waits until no thread is inside an access to the segment, but
 * the owner must still make sure no thread uses it any more (the device contract's
 * {@code setMemory} returning), since native code handed a raw address is not covered.
 *
 * <p>Thread-safe: the segment may be used from any thread; {@link #close()} is idempotent.
 */
public final class Mapping implements AutoCloseable {

    private final Arena arena;
    private final MemorySegment segment;
    private final long offset;

    private Mapping(Arena arena, MemorySegment segment, long offset) {
        this.arena = arena;
        this.segment = segment;
        this.offset = offset;
    }

    /** Maps {@code length} bytes of {@code fd} from file offset {@code offset} (page-aligned). */
    public static Mapping map(int fd, long length, long offset) throws LinuxException {
        if (length <= 0 || offset < 0) {
            throw new IllegalArgumentException("bad mapping length " + length + " or offset " + offset);
        }
        long address = Libc.mmap(0, length, Libc.PROT_READ | Libc.PROT_WRITE, Libc.MAP_SHARED, fd, offset);
        if (address == Libc.MAP_FAILED) {
            throw Errors.newException("mmap", Errors.errno());
        }
        Arena arena = Arena.ofShared();
        // The cleanup runs when the arena closes: the only munmap of this range.
        MemorySegment segment = MemorySegment.ofAddress(address)
                .reinterpret(length, arena, ignored -> Libc.munmap(address, length));
        return new Mapping(arena, segment, offset);
    }

    /**
     * Whether the byte at {@code offset} of {@code segment} (mapped memory) can be read, asked of the
     * kernel rather than by touching it: write(2) of that byte into a pipe copies it in kernel mode,
     * where a page beyond the end of a shrunk file answers EFAULT instead of raising SIGBUS. Tells
     * whose guest memory faulted after the JVM reported a SIGBUS (an InternalError, raised
     * asynchronously, so where it surfaces says little). Any thread; error path only.
     */
    public static boolean readable(MemorySegment segment, long offset) throws LinuxException {
        Objects.checkIndex(offset, segment.byteSize());
        int[] pipe = Fds.pipe();
        try {
            long n = Libc.write(pipe[1], segment.address() + offset, 1);
            if (n == 1) {
                return true;
            }
            int errno = Errors.errno();
            if (errno == LinuxException.EFAULT) {
                return false;
            }
            throw Errors.newException("write", errno);
        } finally {
            Fds.closeQuietly(pipe[0]);
            Fds.closeQuietly(pipe[1]);
        }
    }

    /** The mapped bytes; invalid once the mapping is closed. */
    public MemorySegment segment() {
        return segment;
    }

    public long length() {
        return segment.byteSize();
    }

    public long fileOffset() {
        return offset;
    }

    public boolean isMapped() {
        return arena.scope().isAlive();
    }

    /** munmap. Idempotent. */
    @Override
    public synchronized void close() {
        if (arena.scope().isAlive()) {
            arena.close();
        }
    }
}

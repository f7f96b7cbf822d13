package io.jvhost.backend.linux;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

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

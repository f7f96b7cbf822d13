package io.jvhost.virtio.memory;

import java.lang.foreign.MemorySegment;

/**
 * One contiguous range of guest memory as the front-end described it (vhost-user
 * {@code VhostUserMemoryRegion}), with the local mapping that backs it.
 *
 * <p>{@code segment} covers exactly {@code size} bytes starting at guest-physical address {@code gpa}
 * and at front-end virtual address {@code frontendVa}; it is already offset by the region's mmap
 * offset, so byte {@code gpa + n} lives at {@code segment[n]}.
 *
 * @param gpa        guest-physical address of the first byte
 * @param size       length in bytes (&gt; 0)
 * @param frontendVa the front-end's (QEMU's) virtual address of the first byte
 * @param segment    local view of the region, {@code segment.byteSize() == size}
 */
public record MemoryRegion(long gpa, long size, long frontendVa, MemorySegment segment) {

    public MemoryRegion {
        if (size <= 0) {
            throw new IllegalArgumentException("region size must be positive: " + size);
        }
        if (segment.byteSize() != size) {
            throw new IllegalArgumentException(
                    "segment size " + segment.byteSize() + " differs from region size " + size);
        }
        // Unsigned 64-bit addresses: an end past 2^64 is nonsense from the front-end.
        if (Long.compareUnsigned(gpa + size, gpa) < 0 || Long.compareUnsigned(frontendVa + size, frontendVa) < 0) {
            throw new IllegalArgumentException("region wraps the 64-bit address space");
        }
    }

    /** Unsigned end (exclusive) in guest-physical space. */
    public long gpaEnd() {
        return gpa + size;
    }

    /** Unsigned end (exclusive) in front-end virtual space. */
    public long frontendVaEnd() {
        return frontendVa + size;
    }
}

package io.jvhost.virtio.driver;

import io.jvhost.virtio.memory.GuestMemory;
import io.jvhost.virtio.memory.MemoryRegion;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.List;

/**
 * Guest RAM as the guest's driver sees it (tests and the benchmark's traffic generator). One or more regions addressed by
 * guest-physical address (gpa), a bump allocator for rings and buffers, and byte access that crosses
 * region boundaries. {@link #guestMemory()} gives the backend's view of the same bytes.
 *
 * <p>Each region also has a front-end virtual address (what QEMU would pass in
 * VHOST_USER_SET_VRING_ADDR); tests usually choose {@code frontendVa = gpa + constant}.
 *
 * <p>Works on any segments: heap ({@code MemorySegment.ofArray}), {@link Arena} memory, or real
 * memfd mappings in integration tests. Not thread-safe: the "guest" thread uses it.
 */
public final class GuestRam {

    private MemoryRegion[] regions;
    private long next;

    /** RAM made of {@code regions} (any order, non-overlapping); allocation starts at the lowest gpa. */
    public GuestRam(MemoryRegion... regions) {
        if (regions.length == 0) {
            throw new IllegalArgumentException("no regions");
        }
        this.regions = regions.clone();
        Arrays.sort(this.regions, (a, b) -> Long.compareUnsigned(a.gpa(), b.gpa()));
        GuestMemory.of(this.regions); // validates overlaps
        this.next = this.regions[0].gpa();
    }

    /** {@code size} bytes of fresh zeroed native memory at {@code gpaBase} / {@code frontendVaBase}. */
    public static GuestRam allocate(long size, long gpaBase, long frontendVaBase) {
        return of(Arena.ofAuto().allocate(size, 4096), gpaBase, frontendVaBase);
    }

    /** One region backed by {@code segment}. */
    public static GuestRam of(MemorySegment segment, long gpaBase, long frontendVaBase) {
        return new GuestRam(new MemoryRegion(gpaBase, segment.byteSize(), frontendVaBase, segment));
    }

    /** The backend's view of this RAM (a new immutable table each call). */
    public GuestMemory guestMemory() {
        return GuestMemory.of(regions);
    }

    public List<MemoryRegion> regions() {
        return List.of(regions);
    }

    /**
     * Plugs in one more region (a hot-added DIMM); the bump allocator does not hand it out, callers
     * place buffers there by gpa.
     */
    public void addRegion(MemoryRegion region) {
        MemoryRegion[] grown = Arrays.copyOf(regions, regions.length + 1);
        grown[regions.length] = region;
        Arrays.sort(grown, (a, b) -> Long.compareUnsigned(a.gpa(), b.gpa()));
        GuestMemory.of(grown); // validates overlaps
        regions = grown;
    }

    /** Unplugs the region that starts at {@code gpa}. */
    public void removeRegion(long gpa) {
        int r = checkedRegion(gpa);
        if (regions[r].gpa() != gpa || regions.length == 1) {
            throw new IllegalArgumentException("no removable region starts at gpa 0x" + Long.toHexString(gpa));
        }
        MemoryRegion[] shrunk = new MemoryRegion[regions.length - 1];
        System.arraycopy(regions, 0, shrunk, 0, r);
        System.arraycopy(regions, r + 1, shrunk, r, regions.length - r - 1);
        regions = shrunk;
    }

    /**
     * Allocates {@code length} bytes aligned to {@code alignment} (a power of two); the bytes may
     * span regions that are contiguous in gpa.
     *
     * @return the gpa of the first byte
     * @throws IllegalStateException when the RAM is exhausted or the range hits a gap
     */
    public long allocate(long length, long alignment) {
        long gpa = align(next, alignment);
        if (!isMapped(gpa, length)) {
            throw new IllegalStateException("guest RAM exhausted: " + length + " bytes at gpa 0x" + Long.toHexString(gpa));
        }
        next = gpa + length;
        return gpa;
    }

    /** As {@link #allocate}, but the bytes are in one region (ring areas must be, for the backend). */
    public long allocateInOneRegion(long length, long alignment) {
        long gpa = align(next, alignment);
        int r = regionIndex(gpa);
        if (r < 0 || Long.compareUnsigned(length, regions[r].gpaEnd() - gpa) > 0) {
            // Not here: start at the next region above gpa.
            for (int i = 0; i < regions.length; i++) {
                if (Long.compareUnsigned(regions[i].gpa(), gpa) > 0) {
                    gpa = align(regions[i].gpa(), alignment);
                    r = regionIndex(gpa);
                    break;
                }
            }
        }
        if (r < 0 || Long.compareUnsigned(length, regions[r].gpaEnd() - gpa) > 0) {
            throw new IllegalStateException("guest RAM exhausted: " + length + " bytes in one region from gpa 0x"
                    + Long.toHexString(gpa));
        }
        next = gpa + length;
        return gpa;
    }

    /** Moves the bump allocator to {@code gpa} (e.g. just before a region boundary). */
    public void skipTo(long gpa) {
        next = gpa;
    }

    /** Next gpa the bump allocator would hand out (before alignment). */
    public long nextFree() {
        return next;
    }

    /** Front-end virtual address of {@code gpa}. */
    public long frontendVa(long gpa) {
        MemoryRegion r = regions[checkedRegion(gpa)];
        return r.frontendVa() + (gpa - r.gpa());
    }

    /** The {@code length} bytes at {@code gpa}, which must lie in one region. */
    public MemorySegment slice(long gpa, long length) {
        MemoryRegion r = regions[checkedRegion(gpa)];
        return r.segment().asSlice(gpa - r.gpa(), length);
    }

    /** Whether every byte of {@code [gpa, gpa + length)} is in a region. */
    public boolean isMapped(long gpa, long length) {
        long cursor = gpa;
        long remaining = length;
        while (remaining > 0) {
            int r = regionIndex(cursor);
            if (r < 0) {
                return false;
            }
            long piece = Math.min(remaining, regions[r].gpaEnd() - cursor);
            cursor += piece;
            remaining -= piece;
        }
        return true;
    }

    public void write(long gpa, byte[] bytes) {
        write(gpa, MemorySegment.ofArray(bytes), 0, bytes.length);
    }

    /** Copies {@code length} bytes of {@code src} to {@code gpa}, across regions if needed. */
    public void write(long gpa, MemorySegment src, long srcOffset, long length) {
        long done = 0;
        while (done < length) {
            MemoryRegion r = regions[checkedRegion(gpa + done)];
            long offset = gpa + done - r.gpa();
            long piece = Math.min(length - done, r.size() - offset);
            MemorySegment.copy(src, srcOffset + done, r.segment(), offset, piece);
            done += piece;
        }
    }

    public byte[] read(long gpa, int length) {
        byte[] out = new byte[length];
        long done = 0;
        while (done < length) {
            MemoryRegion r = regions[checkedRegion(gpa + done)];
            long offset = gpa + done - r.gpa();
            long piece = Math.min(length - done, r.size() - offset);
            MemorySegment.copy(r.segment(), offset, MemorySegment.ofArray(out), done, piece);
            done += piece;
        }
        return out;
    }

    public void fill(long gpa, long length, byte value) {
        long done = 0;
        while (done < length) {
            MemoryRegion r = regions[checkedRegion(gpa + done)];
            long offset = gpa + done - r.gpa();
            long piece = Math.min(length - done, r.size() - offset);
            r.segment().asSlice(offset, piece).fill(value);
            done += piece;
        }
    }

    public byte readByte(long gpa) {
        MemoryRegion r = regions[checkedRegion(gpa)];
        return r.segment().get(ValueLayout.JAVA_BYTE, gpa - r.gpa());
    }

    private int checkedRegion(long gpa) {
        int r = regionIndex(gpa);
        if (r < 0) {
            throw new IllegalArgumentException("gpa 0x" + Long.toHexString(gpa) + " is not in guest RAM");
        }
        return r;
    }

    private int regionIndex(long gpa) {
        for (int i = 0; i < regions.length; i++) {
            if (Long.compareUnsigned(gpa, regions[i].gpa()) >= 0 && Long.compareUnsigned(gpa, regions[i].gpaEnd()) < 0) {
                return i;
            }
        }
        return -1;
    }

    private static long align(long value, long alignment) {
        if (alignment <= 0 || Long.bitCount(alignment) != 1) {
            throw new IllegalArgumentException("alignment must be a power of two: " + alignment);
        }
        return (value + alignment - 1) & -alignment;
    }
}

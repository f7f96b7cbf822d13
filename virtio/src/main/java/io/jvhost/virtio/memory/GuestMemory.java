package io.jvhost.virtio.memory;

import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.List;

/**
 * The guest's memory as an immutable set of non-overlapping regions.
 *
 * <p>A new memory table from the front-end builds a new {@code GuestMemory}; readers hold the old one
 * until they pick up the new reference (read-copy-update, as rust-vmm's {@code GuestMemoryAtomic}).
 * Lookups are binary searches over arrays sorted by address, so they allocate nothing.
 *
 * <p>Translation answers a region index; the caller reads {@link #segment(int)} and the region's
 * bounds to learn how many bytes are contiguous from that address (a buffer may span two regions,
 * so callers loop, as DPDK's {@code vhost_iova_to_vva} callers do). All addresses are unsigned 64-bit.
 *
 * <p>Thread-safe: immutable.
 */
public final class GuestMemory {

    /** Returned by lookups when no region holds the address. */
    public static final int NOT_MAPPED = -1;

    private static final GuestMemory EMPTY = new GuestMemory(new MemoryRegion[0]);

    private final MemoryRegion[] byGpa;
    private final long[] gpaStarts;
    private final long[] gpaEnds;
    private final MemorySegment[] segments;
    private final MemoryRegion[] byFrontendVa;
    private final long[] vaStarts;
    private final long[] vaEnds;
    private final int[] vaToGpaIndex;

    private GuestMemory(MemoryRegion[] regions) {
        byGpa = regions.clone();
        Arrays.sort(byGpa, (a, b) -> Long.compareUnsigned(a.gpa(), b.gpa()));
        int n = byGpa.length;
        gpaStarts = new long[n];
        gpaEnds = new long[n];
        segments = new MemorySegment[n];
        for (int i = 0; i < n; i++) {
            gpaStarts[i] = byGpa[i].gpa();
            gpaEnds[i] = byGpa[i].gpaEnd();
            segments[i] = byGpa[i].segment();
            if (i > 0 && Long.compareUnsigned(gpaStarts[i], gpaEnds[i - 1]) < 0) {
                throw new IllegalArgumentException("memory regions overlap in guest-physical space at gpa 0x"
                        + Long.toHexString(gpaStarts[i]));
            }
        }
        byFrontendVa = byGpa.clone();
        Arrays.sort(byFrontendVa, (a, b) -> Long.compareUnsigned(a.frontendVa(), b.frontendVa()));
        vaStarts = new long[n];
        vaEnds = new long[n];
        vaToGpaIndex = new int[n];
        for (int i = 0; i < n; i++) {
            vaStarts[i] = byFrontendVa[i].frontendVa();
            vaEnds[i] = byFrontendVa[i].frontendVaEnd();
            vaToGpaIndex[i] = indexOf(byGpa, byFrontendVa[i]);
            if (i > 0 && Long.compareUnsigned(vaStarts[i], vaEnds[i - 1]) < 0) {
                throw new IllegalArgumentException("memory regions overlap in front-end address space at 0x"
                        + Long.toHexString(vaStarts[i]));
            }
        }
    }

    private static int indexOf(MemoryRegion[] regions, MemoryRegion region) {
        for (int i = 0; i < regions.length; i++) {
            if (regions[i] == region) {
                return i;
            }
        }
        throw new IllegalStateException();
    }

    public static GuestMemory empty() {
        return EMPTY;
    }

    public static GuestMemory of(List<MemoryRegion> regions) {
        return new GuestMemory(regions.toArray(new MemoryRegion[0]));
    }

    public static GuestMemory of(MemoryRegion... regions) {
        return new GuestMemory(regions);
    }

    public int regionCount() {
        return byGpa.length;
    }

    /** Region {@code index} in guest-physical order. */
    public MemoryRegion region(int index) {
        return byGpa[index];
    }

    /** Local view of region {@code index} (guest-physical order); byte 0 is the region's first gpa. */
    public MemorySegment segment(int index) {
        return segments[index];
    }

    /** First guest-physical address of region {@code index}. */
    public long regionGpa(int index) {
        return gpaStarts[index];
    }

    /** First guest-physical address after region {@code index} (unsigned, exclusive). */
    public long regionGpaEnd(int index) {
        return gpaEnds[index];
    }

    /** Index of the region holding {@code gpa}, or {@link #NOT_MAPPED}. */
    public int regionOfGpa(long gpa) {
        return find(gpaStarts, gpaEnds, gpa);
    }

    /**
     * Index (guest-physical order, as for {@link #segment(int)}) of the region holding front-end
     * virtual address {@code frontendVa}, or {@link #NOT_MAPPED}.
     */
    public int regionOfFrontendVa(long frontendVa) {
        int i = find(vaStarts, vaEnds, frontendVa);
        return i < 0 ? NOT_MAPPED : vaToGpaIndex[i];
    }

    /**
     * The {@code length} bytes at {@code gpa} as one slice, or {@code null} when they are not all in
     * one region (or not mapped, or the range wraps). For small fixed structures (ring areas,
     * headers); buffers use {@link #regionOfGpa(long)} and loop.
     */
    public MemorySegment sliceAtGpa(long gpa, long length) {
        int i = regionOfGpa(gpa);
        if (i < 0 || length < 0) {
            return null;
        }
        long offset = gpa - gpaStarts[i];
        if (Long.compareUnsigned(length, gpaEnds[i] - gpa) > 0) {
            return null;
        }
        return segments[i].asSlice(offset, length);
    }

    /** As {@link #sliceAtGpa(long, long)}, for a front-end virtual address. */
    public MemorySegment sliceAtFrontendVa(long frontendVa, long length) {
        int i = regionOfFrontendVa(frontendVa);
        if (i < 0 || length < 0) {
            return null;
        }
        MemoryRegion r = byGpa[i];
        long offset = frontendVa - r.frontendVa();
        if (Long.compareUnsigned(length, r.size() - offset) > 0) {
            return null;
        }
        return segments[i].asSlice(offset, length);
    }

    /** Guest-physical address of a front-end virtual address, or -1 when not mapped. */
    public long frontendVaToGpa(long frontendVa) {
        int i = regionOfFrontendVa(frontendVa);
        if (i < 0) {
            return -1;
        }
        return gpaStarts[i] + (frontendVa - byGpa[i].frontendVa());
    }

    private static int find(long[] starts, long[] ends, long address) {
        int lo = 0;
        int hi = starts.length - 1;
        while (lo <= hi) {
            int mid = (lo + hi) >>> 1;
            if (Long.compareUnsigned(address, starts[mid]) < 0) {
                hi = mid - 1;
            } else if (Long.compareUnsigned(address, ends[mid]) >= 0) {
                lo = mid + 1;
            } else {
                return mid;
            }
        }
        return NOT_MAPPED;
    }

    @Override
    public String toString() {
        StringBuilder sb = new StringBuilder("GuestMemory[");
        for (MemoryRegion r : byGpa) {
            sb.append(" gpa=0x").append(Long.toHexString(r.gpa())).append(" size=0x").append(Long.toHexString(r.size()));
        }
        return sb.append(" ]").toString();
    }

}

package io.jvhost.backend.protocol;

import java.lang.foreign.MemorySegment;

/**
 * {@code VhostUserMemory} (vhost-user.rst, "Memory regions description"), for SET_MEM_TABLE. One fd
 * per region travels in the ancillary data, in region order.
 *
 * <pre>
 *   0          4         8
 *   | nregions | padding | region[0] ... region[nregions-1]      (region: 32 bytes)
 *
 *   region:  0 gpa (u64) | 8 size (u64) | 16 frontendVa (u64) | 24 mmap_offset (u64)
 * </pre>
 * QEMU sends only the regions in use: {@code size == 8 + nregions * 32}.
 */
public final class MemoryTablePayload {

    public static final int NREGIONS = 0;
    public static final int PADDING = 4;
    public static final int REGIONS = 8;

    public static final int REGION_GPA = 0;
    public static final int REGION_SIZE = 8;
    public static final int REGION_FRONTEND_VA = 16;
    public static final int REGION_MMAP_OFFSET = 24;
    public static final int REGION_LENGTH = 32;

    /** VHOST_MEMORY_BASELINE_NREGIONS. */
    public static final int MAX_REGIONS = 8;
    public static final int MIN_SIZE = REGIONS;
    public static final int MAX_SIZE = REGIONS + MAX_REGIONS * REGION_LENGTH;

    private MemoryTablePayload() {
    }

    /** Region count, unsigned. */
    public static long regionCount(MemorySegment payload) {
        return Wire.u32Unsigned(payload, NREGIONS);
    }

    /** Payload size for {@code regions} regions. */
    public static int sizeFor(int regions) {
        return REGIONS + regions * REGION_LENGTH;
    }

    private static long regionOffset(int region) {
        return REGIONS + (long) region * REGION_LENGTH;
    }

    /** Decodes the {@link #REGION_LENGTH}-byte region description at {@code base}. */
    static VhostUserRequest.RegionDescriptor readRegion(MemorySegment payload, long base) {
        return new VhostUserRequest.RegionDescriptor(Wire.u64(payload, base + REGION_GPA),
                Wire.u64(payload, base + REGION_SIZE), Wire.u64(payload, base + REGION_FRONTEND_VA),
                Wire.u64(payload, base + REGION_MMAP_OFFSET));
    }

    /** Encodes {@code region} at {@code base}. */
    static void writeRegion(MemorySegment payload, long base, VhostUserRequest.RegionDescriptor region) {
        Wire.putU64(payload, base + REGION_GPA, region.gpa());
        Wire.putU64(payload, base + REGION_SIZE, region.size());
        Wire.putU64(payload, base + REGION_FRONTEND_VA, region.frontendVa());
        Wire.putU64(payload, base + REGION_MMAP_OFFSET, region.mmapOffset());
    }

    /** Region {@code region} of a table. */
    static VhostUserRequest.RegionDescriptor region(MemorySegment payload, int region) {
        return readRegion(payload, regionOffset(region));
    }

    /** Encodes {@code regions} (as a front-end would). */
    public static MemorySegment of(VhostUserRequest.RegionDescriptor... regions) {
        MemorySegment payload = MemorySegment.ofArray(new byte[sizeFor(regions.length)]);
        Wire.putU32(payload, NREGIONS, regions.length);
        for (int i = 0; i < regions.length; i++) {
            writeRegion(payload, regionOffset(i), regions[i]);
        }
        return payload;
    }
}

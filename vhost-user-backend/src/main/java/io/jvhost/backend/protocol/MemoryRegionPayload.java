package io.jvhost.backend.protocol;

import io.jvhost.backend.protocol.VhostUserRequest.RegionDescriptor;

import java.lang.foreign.MemorySegment;

/**
 * {@code VhostUserMemRegMsg} (vhost-user.rst, "Single memory region description"), for ADD_MEM_REG
 * and REM_MEM_REG: one region as in {@link MemoryTablePayload}, after 8 bytes of padding. ADD_MEM_REG
 * carries the region's fd in the ancillary data.
 *
 * <pre>
 *   0         8
 *   | padding | gpa (u64) | size (u64) | frontendVa (u64) | mmap_offset (u64) |      40 bytes
 * </pre>
 */
public final class MemoryRegionPayload {

    public static final int PADDING = 0;
    public static final int REGION = 8;
    public static final int SIZE = REGION + MemoryTablePayload.REGION_LENGTH;

    private MemoryRegionPayload() {
    }

    public static RegionDescriptor region(MemorySegment payload) {
        return MemoryTablePayload.readRegion(payload, REGION);
    }

    /** Encodes {@code region} (as a front-end would). */
    public static MemorySegment of(RegionDescriptor region) {
        MemorySegment payload = MemorySegment.ofArray(new byte[SIZE]);
        MemoryTablePayload.writeRegion(payload, REGION, region);
        return payload;
    }
}

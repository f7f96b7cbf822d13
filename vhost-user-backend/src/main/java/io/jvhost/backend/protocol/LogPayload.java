package io.jvhost.backend.protocol;

import java.lang.foreign.MemorySegment;

/**
 * {@code VhostUserLog} (vhost-user.rst, "Dirty bitmap log description"), for SET_LOG_BASE with
 * VHOST_USER_PROTOCOL_F_LOG_SHMFD: the log is {@code mmap_size} bytes of the attached fd, starting
 * at {@code mmap_offset}.
 *
 * <pre>
 *   0                 8                   16
 *   | mmap_size (u64) | mmap_offset (u64) |
 * </pre>
 */
public final class LogPayload {

    public static final int MMAP_SIZE = 0;
    public static final int MMAP_OFFSET = 8;
    public static final int SIZE = 16;

    private LogPayload() {
    }

    public static long mmapSize(MemorySegment payload) {
        return Wire.u64(payload, MMAP_SIZE);
    }

    public static long mmapOffset(MemorySegment payload) {
        return Wire.u64(payload, MMAP_OFFSET);
    }

    public static MemorySegment of(long mmapSize, long mmapOffset) {
        MemorySegment payload = MemorySegment.ofArray(new byte[SIZE]);
        Wire.putU64(payload, MMAP_SIZE, mmapSize);
        Wire.putU64(payload, MMAP_OFFSET, mmapOffset);
        return payload;
    }
}

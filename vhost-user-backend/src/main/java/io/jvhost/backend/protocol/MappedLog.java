package io.jvhost.backend.protocol;

import io.jvhost.backend.linux.Fds;
import io.jvhost.backend.linux.LinuxException;
import io.jvhost.backend.linux.Mapping;
import io.jvhost.virtio.memory.DirtyLog;

/**
 * The dirty-page log from SET_LOG_BASE, mapped into this process (shared: the front-end reads and
 * clears the bits), and the {@link DirtyLog} over it, unmapped by {@link #close()}.
 *
 * <p>As for memory regions ({@link MappedMemoryTable}) the fd is mapped from offset 0 and sliced at
 * {@code mmap_offset}, which need not be page-aligned.
 *
 * <p>Confined to the control thread.
 */
final class MappedLog implements AutoCloseable {

    /**
     * Largest log accepted: 512 MiB, one bit per 4 KiB page of 16 TiB of guest memory, the largest
     * memory table accepted ({@link MappedMemoryTable#MAX_TABLE_BYTES}).
     */
    static final long MAX_LOG_BYTES = MappedMemoryTable.MAX_TABLE_BYTES >>> (12 + 3);

    private final Mapping mapping;
    private final DirtyLog log;

    private MappedLog(Mapping mapping, DirtyLog log) {
        this.mapping = mapping;
        this.log = log;
    }

    /**
     * Maps {@code size} bytes of {@code fd} at {@code offset} (the fd is not closed here).
     *
     * @throws VhostUserException when the size or offset is unusable or the file too small; nothing
     *                            stays mapped then
     */
    static MappedLog map(int fd, long size, long offset) throws VhostUserException {
        RequestType type = RequestType.SET_LOG_BASE;
        if (size <= 0 || size > MAX_LOG_BYTES || (size & 7) != 0) {
            throw VhostUserException.protocol(type, "log size 0x" + Long.toHexString(size)
                    + " is not a positive multiple of 8 up to 0x" + Long.toHexString(MAX_LOG_BYTES));
        }
        if (offset < 0 || (offset & 7) != 0 || offset > Long.MAX_VALUE - size) {
            throw VhostUserException.protocol(type, "log offset 0x" + Long.toHexString(offset)
                    + " is not 8-byte aligned or overflows");
        }
        long end = offset + size;
        try {
            Fds.FileStat stat = Fds.fstat(fd);
            if (end > stat.size()) {
                throw VhostUserException.protocol(type, "mmap_offset 0x" + Long.toHexString(offset) + " + size 0x"
                        + Long.toHexString(size) + " exceeds the file size 0x" + Long.toHexString(stat.size()));
            }
            Mapping mapping = Mapping.map(fd, (end + 4095) & -4096L, 0);
            try {
                return new MappedLog(mapping, DirtyLog.over(mapping.segment().asSlice(offset, size)));
            } catch (RuntimeException e) {
                mapping.close();
                throw VhostUserException.protocol(type, e.getMessage());
            }
        } catch (LinuxException e) {
            throw VhostUserException.protocol(type, "cannot map the log: " + e.getMessage());
        }
    }

    DirtyLog log() {
        return log;
    }

    /** Unmaps the log; the device must no longer write into {@link #log()}. */
    @Override
    public void close() {
        mapping.close();
    }
}

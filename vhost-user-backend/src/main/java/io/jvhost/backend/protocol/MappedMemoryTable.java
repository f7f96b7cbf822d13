package io.jvhost.backend.protocol;

import io.jvhost.backend.linux.Fds;
import io.jvhost.backend.linux.LinuxException;
import io.jvhost.backend.linux.Mapping;
import io.jvhost.backend.protocol.VhostUserRequest.RegionDescriptor;
import io.jvhost.virtio.memory.GuestMemory;
import io.jvhost.virtio.memory.MemoryRegion;

import java.util.ArrayList;
import java.util.List;

/**
 * A memory table from SET_MEM_TABLE, mapped into this process: the {@link GuestMemory} the device
 * uses and the mappings behind it, unmapped together by {@link #close()}.
 *
 * <p>Each region's fd is mapped from offset 0 for {@code mmap_offset + size} bytes (rounded up to the
 * file's block size, which is the huge page size on hugetlbfs) and sliced at {@code mmap_offset}, as
 * DPDK does: mmap's own offset would have to be page-aligned, {@code mmap_offset} need not be.
 *
 * <p>Confined to the control thread.
 */
final class MappedMemoryTable implements AutoCloseable {

    private static final System.Logger LOG = System.getLogger(MappedMemoryTable.class.getName());

    private static final long MIN_ALIGNMENT = 4096;
    /**
     * Largest memory table accepted, all regions together: 16 TiB. Every region is mapped whole into
     * this process, whose user address space (47 bits on x86_64 with 4-level page tables: 128 TiB) all
     * ports share; a sparse memfd costs its front-end nothing (ftruncate to 64 TiB takes no memory), so
     * without a bound one front-end could take the address space and make every other port's next
     * SET_MEM_TABLE fail. 16 TiB is above the RAM of the largest guests today's hosts run, and eight
     * such tables still fit.
     */
    static final long MAX_TABLE_BYTES = 1L << 44;

    private final GuestMemory memory;
    private final List<Mapping> mappings;

    private MappedMemoryTable(GuestMemory memory, List<Mapping> mappings) {
        this.memory = memory;
        this.mappings = mappings;
    }

    /**
     * Maps every region; region {@code i} is backed by {@code fds[i]} (not closed here).
     *
     * @throws VhostUserException when a region is malformed, does not fit in its file, overlaps
     *                            another, or cannot be mapped; nothing stays mapped then
     */
    static MappedMemoryTable map(List<RegionDescriptor> regions, int[] fds) throws VhostUserException {
        long total = 0;
        for (RegionDescriptor region : regions) {
            total += Math.max(region.size(), 0);
            // total was at most 2^44 before adding a size below 2^63: an overflow shows as a negative sum.
            if (total < 0 || total > MAX_TABLE_BYTES) {
                throw VhostUserException.protocol(RequestType.SET_MEM_TABLE, "the regions add up to more than "
                        + (MAX_TABLE_BYTES >> 40) + " TiB (0x" + Long.toHexString(MAX_TABLE_BYTES) + " bytes), the limit");
            }
        }
        List<Mapping> mappings = new ArrayList<>(regions.size());
        try {
            List<MemoryRegion> mapped = new ArrayList<>(regions.size());
            for (int i = 0; i < regions.size(); i++) {
                RegionDescriptor region = regions.get(i);
                Mapping mapping = mapRegion(i, region, fds[i]);
                mappings.add(mapping);
                mapped.add(new MemoryRegion(region.gpa(), region.size(), region.frontendVa(),
                        mapping.segment().asSlice(region.mmapOffset(), region.size())));
            }
            return new MappedMemoryTable(GuestMemory.of(mapped), List.copyOf(mappings));
        } catch (VhostUserException e) {
            mappings.forEach(Mapping::close);
            throw e;
        } catch (IllegalArgumentException e) { // MemoryRegion or GuestMemory: wrap-around, overlap
            mappings.forEach(Mapping::close);
            throw VhostUserException.protocol(RequestType.SET_MEM_TABLE, "invalid memory table: " + e.getMessage());
        }
    }

    private static Mapping mapRegion(int i, RegionDescriptor region, int fd) throws VhostUserException {
        long size = region.size();
        long offset = region.mmapOffset();
        long end = size + offset;
        if (size <= 0 || offset < 0 || end < 0) { // sizes past 2^63 cannot be mapped anyway
            throw regionError(i, "size 0x" + Long.toHexString(size) + " with mmap_offset 0x" + Long.toHexString(offset)
                    + " is empty or overflows");
        }
        Fds.FileStat stat;
        try {
            stat = Fds.fstat(fd);
        } catch (LinuxException e) {
            throw regionError(i, e.getMessage());
        }
        if (end > stat.size()) {
            throw regionError(i, "mmap_offset 0x" + Long.toHexString(offset) + " + size 0x" + Long.toHexString(size)
                    + " exceeds the file size 0x" + Long.toHexString(stat.size()));
        }
        warnUnlessSealed(i, fd);
        long alignment = Math.max(MIN_ALIGNMENT, Long.highestOneBit(Math.max(stat.blockSize(), 1)));
        long length = (end + alignment - 1) & -alignment;
        try {
            return Mapping.map(fd, length, 0);
        } catch (LinuxException e) {
            throw regionError(i, e.getMessage());
        }
    }

    /**
     * A memfd that its front-end can still shrink turns our next access past the new end into a SIGBUS
     * (the JVM's InternalError): the queues on it then stop (see NetQueue). QEMU seals its memfds
     * (F_SEAL_SHRINK) so this cannot happen; say so when the seal is missing. Files that take no seals
     * (hugetlbfs or tmpfs paths) are not reported: that is how they are.
     */
    private static void warnUnlessSealed(int i, int fd) {
        int seals;
        try {
            seals = Fds.seals(fd);
        } catch (LinuxException e) {
            LOG.log(System.Logger.Level.WARNING, "SET_MEM_TABLE: region " + i + ": cannot read its seals: "
                    + e.getMessage());
            return;
        }
        if (seals != Fds.SEALS_UNSUPPORTED && (seals & Fds.SEAL_SHRINK) == 0) {
            LOG.log(System.Logger.Level.WARNING, "SET_MEM_TABLE: region " + i + ": the memfd is not sealed against "
                    + "shrinking (F_SEAL_SHRINK): if the front-end truncates it, the queues that touch the lost pages stop");
        }
    }

    private static VhostUserException regionError(int i, String reason) {
        return VhostUserException.protocol(RequestType.SET_MEM_TABLE, "region " + i + ": " + reason);
    }

    GuestMemory memory() {
        return memory;
    }

    /** Unmaps every region; the device must no longer use {@link #memory()}. */
    @Override
    public void close() {
        mappings.forEach(Mapping::close);
    }
}

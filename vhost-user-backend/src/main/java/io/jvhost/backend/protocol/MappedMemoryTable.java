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
 * A memory table mapped into this process: the {@link GuestMemory} the device uses and the mappings
 * behind it. SET_MEM_TABLE maps a whole table ({@link #map}); with CONFIGURE_MEM_SLOTS, ADD_MEM_REG
 * and REM_MEM_REG derive a new table with one region more ({@link #withRegion}) or less
 * ({@link #withoutRegion}) that shares the other regions' mappings, as rust-vmm's
 * {@code GuestMemoryMmap::insert_region}/{@code remove_region} do: the old table stays valid, so
 * workers keep using it until the device switched them over.
 *
 * <p>Each region's fd is mapped from offset 0 for {@code mmap_offset + size} bytes (rounded up to the
 * file's block size, which is the huge page size on hugetlbfs) and sliced at {@code mmap_offset}, as
 * DPDK does: mmap's own offset would have to be page-aligned, {@code mmap_offset} need not be.
 *
 * <p>Immutable; created and closed on the control thread.
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

    /**
     * One mapped region: what the front-end said, the mapping, the view the device reads, and how
     * many times ADD_MEM_REG brought exactly this region ({@link #withRepeatedAdd}).
     */
    private record Slot(RegionDescriptor descriptor, Mapping mapping, MemoryRegion region, int adds) {

        Slot withAdds(int n) {
            return new Slot(descriptor, mapping, region, n);
        }
    }

    private static final MappedMemoryTable EMPTY = new MappedMemoryTable(List.of());

    private final List<Slot> slots;
    private final GuestMemory memory;

    /** @throws IllegalArgumentException when regions overlap (GuestMemory's check) */
    private MappedMemoryTable(List<Slot> slots) {
        this(slots, guestMemory(slots));
    }

    private MappedMemoryTable(List<Slot> slots, GuestMemory memory) {
        this.slots = List.copyOf(slots);
        this.memory = memory;
    }

    private static GuestMemory guestMemory(List<Slot> slots) {
        List<MemoryRegion> regions = new ArrayList<>(slots.size());
        for (Slot slot : slots) {
            regions.add(slot.region());
        }
        return GuestMemory.of(regions);
    }

    /** No regions: where ADD_MEM_REG starts from before any table. */
    static MappedMemoryTable empty() {
        return EMPTY;
    }

    /**
     * Maps every region; region {@code i} is backed by {@code fds[i]} (not closed here).
     *
     * @throws VhostUserException when a region is malformed, does not fit in its file, overlaps
     *                            another, or cannot be mapped; nothing stays mapped then
     */
    static MappedMemoryTable map(List<RegionDescriptor> regions, int[] fds) throws VhostUserException {
        RequestType type = RequestType.SET_MEM_TABLE;
        long total = 0;
        for (RegionDescriptor region : regions) {
            total = checkedTotal(type, total, region);
        }
        List<Slot> slots = new ArrayList<>(regions.size());
        try {
            for (int i = 0; i < regions.size(); i++) {
                slots.add(mapSlot(type, "region " + i, regions.get(i), fds[i]));
            }
            return new MappedMemoryTable(slots);
        } catch (VhostUserException e) {
            slots.forEach(slot -> slot.mapping().close());
            throw e;
        } catch (IllegalArgumentException e) { // MemoryRegion or GuestMemory: wrap-around, overlap
            slots.forEach(slot -> slot.mapping().close());
            throw VhostUserException.protocol(type, "invalid memory table: " + e.getMessage());
        }
    }

    /**
     * ADD_MEM_REG: this table plus {@code region}, backed by {@code fd} (not closed here). This table
     * stays as it is and keeps its mappings, now shared with the new one.
     *
     * @param maxSlots the most regions a table may have (GET_MAX_MEM_SLOTS)
     * @throws VhostUserException the slots are all taken, or the region is malformed, does not fit in
     *                            its file, overlaps a mapped region or cannot be mapped; nothing new
     *                            stays mapped then
     */
    MappedMemoryTable withRegion(RegionDescriptor region, int fd, int maxSlots) throws VhostUserException {
        RequestType type = RequestType.ADD_MEM_REG;
        if (slots.size() >= maxSlots) {
            throw VhostUserException.protocol(type, "all " + maxSlots + " memory slots are in use (GET_MAX_MEM_SLOTS)");
        }
        if (region.size() <= 0) { // past 2^63 cannot be mapped anyway
            throw VhostUserException.protocol(type, describe(region) + " is empty or too large");
        }
        if (Long.compareUnsigned(region.gpa() + region.size(), region.gpa()) < 0
                || Long.compareUnsigned(region.frontendVa() + region.size(), region.frontendVa()) < 0) {
            throw VhostUserException.protocol(type, describe(region) + " wraps the 64-bit address space");
        }
        long total = 0;
        for (Slot slot : slots) {
            total += slot.descriptor().size();
        }
        checkedTotal(type, total, region);
        for (Slot slot : slots) { // said before mapping anything, and with both regions named
            if (overlaps(slot.descriptor(), region)) {
                throw VhostUserException.protocol(type, describe(region) + " overlaps the mapped " + describe(slot.descriptor()));
            }
        }
        Slot added = mapSlot(type, describe(region), region, fd);
        List<Slot> next = new ArrayList<>(slots);
        next.add(added);
        try {
            return new MappedMemoryTable(next);
        } catch (IllegalArgumentException e) { // not expected after the check above; never leak the mapping
            added.mapping().close();
            throw VhostUserException.protocol(type, "invalid region: " + e.getMessage());
        }
    }

    /**
     * ADD_MEM_REG of a region this table already has, exactly (mmap_offset too): QEMU sends every
     * ADD_MEM_REG and REM_MEM_REG once per queue pair (each of its vhost devices keeps its own copy of
     * the table, and only SET_MEM_TABLE is sent once per connection), so a region comes once per
     * pair. The same table, the region counted once more.
     *
     * @return the table with the count raised, or null when no region is exactly {@code region}
     */
    MappedMemoryTable withRepeatedAdd(RegionDescriptor region) {
        for (int i = 0; i < slots.size(); i++) {
            Slot slot = slots.get(i);
            if (slot.descriptor().equals(region)) {
                List<Slot> next = new ArrayList<>(slots);
                next.set(i, slot.withAdds(slot.adds() + 1));
                return new MappedMemoryTable(next, memory); // the device's table as it is
            }
        }
        return null;
    }

    /** How many times region {@code index} was added (1, or once per QEMU queue pair; 1 for SET_MEM_TABLE's). */
    int adds(int index) {
        return slots.get(index).adds();
    }

    /** Index of the region REM_MEM_REG names: same gpa, size and front-end address; or -1. */
    int indexOf(RegionDescriptor region) {
        for (int i = 0; i < slots.size(); i++) {
            RegionDescriptor mapped = slots.get(i).descriptor();
            if (mapped.gpa() == region.gpa() && mapped.size() == region.size()
                    && mapped.frontendVa() == region.frontendVa()) {
                return i;
            }
        }
        return -1;
    }

    /**
     * REM_MEM_REG: this table without region {@code index} ({@link #indexOf}). Nothing is unmapped
     * here: once no worker uses this table any more, {@link #closeRegion} unmaps the removed one.
     */
    MappedMemoryTable withoutRegion(int index) {
        List<Slot> next = new ArrayList<>(slots);
        next.remove(index);
        return new MappedMemoryTable(next); // a subset of non-overlapping regions cannot overlap
    }

    /** Unmaps region {@code index} alone; the device must no longer use any table that holds it. */
    void closeRegion(int index) {
        slots.get(index).mapping().close();
    }

    int regionCount() {
        return slots.size();
    }

    /** Region {@code index} as the front-end described it (in the order added). */
    RegionDescriptor descriptor(int index) {
        return slots.get(index).descriptor();
    }

    private static boolean overlaps(RegionDescriptor a, RegionDescriptor b) {
        return rangesOverlap(a.gpa(), b.gpa(), a.size(), b.size())
                || rangesOverlap(a.frontendVa(), b.frontendVa(), a.size(), b.size());
    }

    /** Whether [a, a + aSize) and [b, b + bSize) meet; unsigned, sizes positive and ends not wrapping. */
    private static boolean rangesOverlap(long a, long b, long aSize, long bSize) {
        return Long.compareUnsigned(a, b + bSize) < 0 && Long.compareUnsigned(b, a + aSize) < 0;
    }

    static String describe(RegionDescriptor region) {
        return "region gpa 0x" + Long.toHexString(region.gpa()) + " size 0x" + Long.toHexString(region.size())
                + " frontendVa 0x" + Long.toHexString(region.frontendVa());
    }

    private static long checkedTotal(RequestType type, long total, RegionDescriptor region) throws VhostUserException {
        long sum = total + Math.max(region.size(), 0);
        // total was at most 2^44 before adding a size below 2^63: an overflow shows as a negative sum.
        if (sum < 0 || sum > MAX_TABLE_BYTES) {
            throw VhostUserException.protocol(type, "the regions add up to more than "
                    + (MAX_TABLE_BYTES >> 40) + " TiB (0x" + Long.toHexString(MAX_TABLE_BYTES) + " bytes), the limit");
        }
        return sum;
    }

    /**
     * Maps one region, checked first (size, offset, file size).
     *
     * @throws IllegalArgumentException the region wraps the 64-bit address space (MemoryRegion's check)
     */
    private static Slot mapSlot(RequestType type, String name, RegionDescriptor region, int fd) throws VhostUserException {
        Mapping mapping = mapRegion(type, name, region, fd);
        try {
            return new Slot(region, mapping, new MemoryRegion(region.gpa(), region.size(), region.frontendVa(),
                    mapping.segment().asSlice(region.mmapOffset(), region.size())), 1);
        } catch (RuntimeException e) {
            mapping.close();
            throw e;
        }
    }

    private static Mapping mapRegion(RequestType type, String name, RegionDescriptor region, int fd)
            throws VhostUserException {
        long size = region.size();
        long offset = region.mmapOffset();
        long end = size + offset;
        if (size <= 0 || offset < 0 || end < 0) { // sizes past 2^63 cannot be mapped anyway
            throw regionError(type, name, "size 0x" + Long.toHexString(size) + " with mmap_offset 0x" + Long.toHexString(offset)
                    + " is empty or overflows");
        }
        Fds.FileStat stat;
        try {
            stat = Fds.fstat(fd);
        } catch (LinuxException e) {
            throw regionError(type, name, e.getMessage());
        }
        if (end > stat.size()) {
            throw regionError(type, name, "mmap_offset 0x" + Long.toHexString(offset) + " + size 0x" + Long.toHexString(size)
                    + " exceeds the file size 0x" + Long.toHexString(stat.size()));
        }
        warnUnlessSealed(type, name, fd);
        long alignment = Math.max(MIN_ALIGNMENT, Long.highestOneBit(Math.max(stat.blockSize(), 1)));
        long length = (end + alignment - 1) & -alignment;
        try {
            return Mapping.map(fd, length, 0);
        } catch (LinuxException e) {
            throw regionError(type, name, e.getMessage());
        }
    }

    /**
     * A memfd that its front-end can still shrink turns our next access past the new end into a SIGBUS
     * (the JVM's InternalError): the queues on it then stop (see NetQueue). QEMU seals its memfds
     * (F_SEAL_SHRINK) so this cannot happen; say so when the seal is missing. Files that take no seals
     * (hugetlbfs or tmpfs paths) are not reported: that is how they are.
     */
    private static void warnUnlessSealed(RequestType type, String name, int fd) {
        int seals;
        try {
            seals = Fds.seals(fd);
        } catch (LinuxException e) {
            LOG.log(System.Logger.Level.WARNING, type + ": " + name + ": cannot read its seals: "
                    + e.getMessage());
            return;
        }
        if (seals != Fds.SEALS_UNSUPPORTED && (seals & Fds.SEAL_SHRINK) == 0) {
            LOG.log(System.Logger.Level.WARNING, type + ": " + name + ": the memfd is not sealed against "
                    + "shrinking (F_SEAL_SHRINK): if the front-end truncates it, the queues that touch the lost pages stop");
        }
    }

    private static VhostUserException regionError(RequestType type, String name, String reason) {
        return VhostUserException.protocol(type, name + ": " + reason);
    }

    GuestMemory memory() {
        return memory;
    }

    /**
     * Unmaps every region; the device must no longer use {@link #memory()}, nor any table derived
     * from this one that shares a region with it.
     */
    @Override
    public void close() {
        slots.forEach(slot -> slot.mapping().close());
    }
}

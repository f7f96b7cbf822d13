package io.jvhost.virtio.driver;

import io.jvhost.virtio.ring.SplitVirtqueue;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.VarHandle;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;

/**
 * The guest driver's side of one split virtqueue, for tests and the benchmark's traffic generator (virtio 1.2 §2.7.13 "Supplying
 * Buffers to The Device", §2.7.14 "Receiving Used Buffers From The Device"), in {@link GuestRam}.
 *
 * <p>It lays out the descriptor table, avail ring and used ring for a queue size, posts chains
 * (TX frames, RX buffers, multi-descriptor and indirect chains), publishes the avail idx with release
 * semantics, and collects used entries. It is written from the spec independently of the main
 * code's layout classes (its own offsets), so a wrong constant on one side shows up in tests.
 *
 * <p>Buffers: each ring descriptor id owns a "slot" of {@code slotSize} bytes, reused whenever that
 * id is reused, so long-running tests do not exhaust RAM. A buffer larger than its slot, explicit
 * addresses aside, and all buffers of indirect chains (and the tables) come from the RAM's bump
 * allocator and are never freed. The bytes the device wrote into a completed chain can be read with
 * {@link #written(Used)} until the chain's descriptor ids are reused by a later add.
 *
 * <p>Malformed rings for negative tests: {@link #addLoop()}, {@link #addNextOutOfRange()},
 * {@link #pushAvailRaw(int)} (head out of range), {@link #addUnmapped(long, int)},
 * {@link #publishAvailJump(int)}, {@link #addIndirectInIndirect()}, {@link #addIndirect(long, int, int)}
 * (zero length, odd length, with NEXT), {@link #addWriteThenRead()}, plus raw
 * {@link #writeDescriptor} and {@link #setAvailIdxRaw(int)}.
 *
 * <p>Threading: one "guest" thread. The device may run concurrently in another thread: avail idx
 * stores are release, used idx loads are acquire, and {@link #needsKick(boolean)} fences.
 */
public final class DriverVirtqueue {

    /** Slot size per descriptor id by default: a 1514-byte frame plus a 12-byte header fits. */
    public static final int DEFAULT_SLOT_SIZE = 2048;

    static final int F_NEXT = 1;
    static final int F_WRITE = 2;
    static final int F_INDIRECT = 4;

    private static final ValueLayout.OfShort LE16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfInt LE32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong LE64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** A completed chain: head id and the length the device reported. */
    public record Used(int id, int len) {
    }

    /** A buffer of a posted chain. */
    public record Buffer(long gpa, int length, boolean writable) {
    }

    private record Posted(int head, int[] descriptorIds, List<Buffer> buffers) {
    }

    /** What {@link #addStreamed} leaves in {@code outstanding}: a chain nobody keeps the buffers of. */
    private static final Posted STREAMED = new Posted(-1, new int[0], List.of());

    private final GuestRam ram;
    private final int size;
    private final int slotSize;
    private final long descGpa;
    private final long availGpa;
    private final long usedGpa;
    private final long slotsGpa;
    private final MemorySegment desc;
    private final MemorySegment avail;
    private final MemorySegment used;
    /** Free descriptor ids, first in first out: {@code freeCount} of them from {@code freeHead} on. */
    private final int[] free;
    private int freeHead;
    private int freeCount;
    private final Posted[] outstanding;
    private final Posted[] completed;
    private int availShadow;
    private int lastUsedSeen;
    private int lastKickIdx;

    public DriverVirtqueue(GuestRam ram, int size) {
        this(ram, size, DEFAULT_SLOT_SIZE);
    }

    /**
     * Allocates the ring areas (and {@code size * slotSize} bytes of slots) from {@code ram} and
     * zeroes them.
     *
     * @param slotSize bytes reserved per descriptor id for its buffer, 0 for none
     */
    public DriverVirtqueue(GuestRam ram, int size, int slotSize) {
        if (size <= 0 || size > 32768 || Integer.bitCount(size) != 1) {
            throw new IllegalArgumentException("queue size must be a power of two up to 32768: " + size);
        }
        this.ram = ram;
        this.size = size;
        this.slotSize = slotSize;
        // §2.7 "Alignment": descriptor table 16, available ring 2, used ring 4.
        descGpa = ram.allocateInOneRegion(16L * size, 16);
        availGpa = ram.allocateInOneRegion(6L + 2L * size, 2);
        usedGpa = ram.allocateInOneRegion(6L + 8L * size, 4);
        desc = ram.slice(descGpa, 16L * size);
        avail = ram.slice(availGpa, 6L + 2L * size);
        used = ram.slice(usedGpa, 6L + 8L * size);
        desc.fill((byte) 0);
        avail.fill((byte) 0);
        used.fill((byte) 0);
        slotsGpa = slotSize > 0 ? ram.allocate((long) slotSize * size, 64) : 0;
        outstanding = new Posted[size];
        completed = new Posted[size];
        free = new int[size];
        for (int i = 0; i < size; i++) {
            release(i);
        }
    }

    // ---------------------------------------------------------------------------------------------
    // Geometry

    public GuestRam ram() {
        return ram;
    }

    public int size() {
        return size;
    }

    public long descGpa() {
        return descGpa;
    }

    public long availGpa() {
        return availGpa;
    }

    public long usedGpa() {
        return usedGpa;
    }

    public long descFrontendVa() {
        return ram.frontendVa(descGpa);
    }

    public long availFrontendVa() {
        return ram.frontendVa(availGpa);
    }

    public long usedFrontendVa() {
        return ram.frontendVa(usedGpa);
    }

    /** Gpa of the slot owned by descriptor id {@code id}. */
    public long slotGpa(int id) {
        if (slotSize == 0) {
            throw new IllegalStateException("this queue has no slots");
        }
        return slotsGpa + (long) slotSize * id;
    }

    /**
     * Configures {@code queue} on this ring (front-end VAs, the RAM's memory table, next avail = the
     * used idx currently in memory), as a vhost-user front-end would.
     */
    public void configure(SplitVirtqueue queue, long features) {
        queue.configure(ram.guestMemory(), size, descFrontendVa(), availFrontendVa(), usedFrontendVa(),
                Short.toUnsignedInt(used.get(LE16, 2)), features);
    }

    /**
     * Moves a fresh ring's indexes to {@code idx} (avail idx and used idx in memory, and this
     * driver's counters), to test 16-bit wrap-around. Call before anything is posted.
     */
    public void startAt(int idx) {
        if (freeCount != size) {
            throw new IllegalStateException("chains are outstanding");
        }
        availShadow = idx & 0xFFFF;
        lastUsedSeen = idx & 0xFFFF;
        lastKickIdx = idx & 0xFFFF;
        avail.set(LE16, 2, (short) idx);
        used.set(LE16, 2, (short) idx);
    }

    // ---------------------------------------------------------------------------------------------
    // Posting chains

    /** A builder for one chain; buffers are added in the order given. */
    public ChainBuilder chain() {
        return new ChainBuilder();
    }

    /** One device-readable descriptor holding {@code bytes} (virtio-net header + frame). Not published. */
    public int addTx(byte[] bytes) {
        return chain().readable(bytes).add();
    }

    /** One device-writable descriptor of {@code length} bytes. Not published. */
    public int addRx(int length) {
        return chain().writable(length).add();
    }

    /** Builds one chain. Descriptor ids are taken from the free list when {@link #add()} runs. */
    public final class ChainBuilder {

        private record Part(long gpa, boolean explicit, int length, boolean writable, byte[] data) {
        }

        private final List<Part> parts = new ArrayList<>();
        private boolean indirect;

        private ChainBuilder() {
        }

        /** A device-readable buffer holding {@code bytes}. */
        public ChainBuilder readable(byte[] bytes) {
            parts.add(new Part(0, false, bytes.length, false, bytes.clone()));
            return this;
        }

        /** A device-readable buffer at an explicit gpa (nothing is written there). */
        public ChainBuilder readableAt(long gpa, int length) {
            parts.add(new Part(gpa, true, length, false, null));
            return this;
        }

        /** A device-writable buffer of {@code length} bytes, filled with 0xEE so untouched bytes show. */
        public ChainBuilder writable(int length) {
            parts.add(new Part(0, false, length, true, null));
            return this;
        }

        /** A device-writable buffer at an explicit gpa (nothing is written there). */
        public ChainBuilder writableAt(long gpa, int length) {
            parts.add(new Part(gpa, true, length, true, null));
            return this;
        }

        /** Puts the buffers in an indirect table (one ring descriptor with VIRTQ_DESC_F_INDIRECT). */
        public ChainBuilder indirect() {
            indirect = true;
            return this;
        }

        /** Writes the descriptors and the avail ring entry (not published). */
        public int add() {
            if (parts.isEmpty()) {
                throw new IllegalStateException("empty chain");
            }
            List<Buffer> buffers = new ArrayList<>();
            if (indirect) {
                int head = takeDescriptors(1)[0];
                long table = ram.allocate(16L * parts.size(), 16);
                for (int i = 0; i < parts.size(); i++) {
                    Part p = parts.get(i);
                    long gpa = p.explicit() ? p.gpa() : ram.allocate(Math.max(1, p.length()), 8);
                    Buffer b = place(p, gpa);
                    buffers.add(b);
                    int flags = (b.writable() ? F_WRITE : 0) | (i + 1 < parts.size() ? F_NEXT : 0);
                    writeDescriptorAt(table + 16L * i, b.gpa(), b.length(), flags, i + 1 < parts.size() ? i + 1 : 0);
                }
                writeDescriptor(head, table, 16 * parts.size(), F_INDIRECT, 0);
                return post(head, new int[]{head}, buffers);
            }
            int[] ids = takeDescriptors(parts.size());
            for (int i = 0; i < parts.size(); i++) {
                Part p = parts.get(i);
                long gpa;
                if (p.explicit()) {
                    gpa = p.gpa();
                } else if (p.length() <= slotSize) {
                    gpa = slotGpa(ids[i]);
                } else {
                    gpa = ram.allocate(p.length(), 8);
                }
                Buffer b = place(p, gpa);
                buffers.add(b);
                boolean last = i + 1 == parts.size();
                writeDescriptor(ids[i], b.gpa(), b.length(), (b.writable() ? F_WRITE : 0) | (last ? 0 : F_NEXT),
                        last ? 0 : ids[i + 1]);
            }
            return post(ids[0], ids, buffers);
        }

        private Buffer place(Part p, long gpa) {
            if (!p.explicit()) {
                if (p.data() != null) {
                    ram.write(gpa, p.data());
                } else {
                    ram.fill(gpa, p.length(), (byte) 0xEE);
                }
            }
            return new Buffer(gpa, p.length(), p.writable());
        }
    }

    private int take() {
        int id = free[freeHead];
        freeHead = (freeHead + 1) & (size - 1);
        freeCount--;
        return id;
    }

    private void release(int id) {
        free[(freeHead + freeCount) & (size - 1)] = id;
        freeCount++;
    }

    // ---------------------------------------------------------------------------------------------
    // Streaming, for traffic generators: no per-chain bookkeeping, no allocation

    /**
     * Adds a one-descriptor chain over {@code length} bytes at {@code gpa}, which the caller filled (or
     * leaves for the device to fill when {@code writable}); nothing is written there and nothing kept
     * but the id. Not published. Complete it with {@link #reclaim()}, not {@link #pollUsed()}.
     *
     * @throws IllegalStateException when no descriptor is free
     */
    public int addStreamed(long gpa, int length, boolean writable) {
        return stream(takeStreamed(), gpa, length, writable);
    }

    /** {@link #addStreamed} over the slot of the descriptor id it takes ({@code length} at most the slot size). */
    public int addStreamedInSlot(int length, boolean writable) {
        if (length > slotSize) {
            throw new IllegalArgumentException(length + " bytes do not fit a slot of " + slotSize);
        }
        int id = takeStreamed();
        return stream(id, slotGpa(id), length, writable);
    }

    private int takeStreamed() {
        if (freeCount == 0) {
            throw new IllegalStateException("no free descriptor");
        }
        return take();
    }

    private int stream(int id, long gpa, int length, boolean writable) {
        writeDescriptor(id, gpa, length, writable ? F_WRITE : 0, 0);
        outstanding[id] = STREAMED;
        pushAvailRaw(id);
        return id;
    }

    /**
     * Takes the used entries of {@link #addStreamed} chains since the last call and returns how many;
     * their ids go back to the free list.
     *
     * @throws AssertionError when the device returns a head that is not an outstanding streamed chain
     */
    public int reclaim() {
        int usedIdx = Short.toUnsignedInt(used.get(LE16, 2));
        VarHandle.acquireFence();
        int n = 0;
        while (lastUsedSeen != usedIdx) {
            int id = used.get(LE32, 4L + 8L * (lastUsedSeen & (size - 1)));
            if (id < 0 || id >= size || outstanding[id] != STREAMED) {
                throw new AssertionError("device returned head " + id + " which is not an outstanding streamed chain");
            }
            outstanding[id] = null;
            release(id);
            lastUsedSeen = (lastUsedSeen + 1) & 0xFFFF;
            n++;
        }
        return n;
    }

    private int[] takeDescriptors(int n) {
        if (freeCount < n) {
            throw new IllegalStateException("need " + n + " free descriptors, have " + freeCount);
        }
        int[] ids = new int[n];
        for (int i = 0; i < n; i++) {
            ids[i] = take();
        }
        return ids;
    }

    private int post(int head, int[] ids, List<Buffer> buffers) {
        outstanding[head] = new Posted(head, ids, List.copyOf(buffers));
        pushAvailRaw(head);
        return head;
    }

    /**
     * Release-stores the avail idx (every entry and descriptor written before becomes visible to the
     * device first, §2.7.13.3).
     *
     * @return the published avail idx
     */
    public int publishAvail() {
        VarHandle.releaseFence();
        avail.set(LE16, 2, (short) availShadow);
        return availShadow;
    }

    /**
     * Whether the device asked to be kicked for what was published since the last call (§2.7.10):
     * with EVENT_IDX {@code vring_need_event(avail_event, new, old)}, else no NO_NOTIFY flag. Fences
     * first, as a driver must between publishing and reading the device's suppression state.
     */
    public boolean needsKick(boolean eventIdx) {
        VarHandle.fullFence();
        int old = lastKickIdx;
        int now = availShadow;
        lastKickIdx = now;
        if (eventIdx) {
            int event = Short.toUnsignedInt(used.get(LE16, 6L + 8L * size - 2));
            return ((now - event - 1) & 0xFFFF) < ((now - old) & 0xFFFF);
        }
        return (usedFlags() & 1) == 0;
    }

    // ---------------------------------------------------------------------------------------------
    // Completions

    /**
     * New used entries since the last poll (used idx read with acquire semantics); their descriptor
     * ids return to the free list.
     *
     * @throws AssertionError when the device returns a head that is not outstanding
     */
    public List<Used> pollUsed() {
        int usedIdx = Short.toUnsignedInt(used.get(LE16, 2));
        VarHandle.acquireFence();
        List<Used> out = new ArrayList<>();
        while (lastUsedSeen != usedIdx) {
            long element = 4L + 8L * (lastUsedSeen & (size - 1));
            int id = used.get(LE32, element);
            int len = used.get(LE32, element + 4);
            if (id < 0 || id >= size || outstanding[id] == null) {
                throw new AssertionError("device returned head " + id + " which is not outstanding");
            }
            Posted p = outstanding[id];
            outstanding[id] = null;
            completed[id] = p;
            for (int d : p.descriptorIds()) {
                release(d);
            }
            out.add(new Used(id, len));
            lastUsedSeen = (lastUsedSeen + 1) & 0xFFFF;
        }
        return out;
    }

    /**
     * The first {@code used.len()} bytes of the completed chain's device-writable buffers, in order.
     *
     * @throws AssertionError when the device claims more bytes than the chain could hold
     */
    public byte[] written(Used u) {
        Posted p = completed[u.id()];
        if (p == null) {
            throw new IllegalStateException("head " + u.id() + " has not completed");
        }
        long capacity = 0;
        for (Buffer b : p.buffers()) {
            if (b.writable()) {
                capacity += b.length();
            }
        }
        if (Integer.toUnsignedLong(u.len()) > capacity) {
            throw new AssertionError("device wrote " + Integer.toUnsignedLong(u.len()) + " bytes into head " + u.id()
                    + " which holds " + capacity);
        }
        byte[] out = new byte[u.len()];
        int done = 0;
        for (Buffer b : p.buffers()) {
            if (!b.writable() || done == out.length) {
                continue;
            }
            int n = Math.min(b.length(), out.length - done);
            System.arraycopy(ram.read(b.gpa(), n), 0, out, done, n);
            done += n;
        }
        return out;
    }

    /** The buffers of a chain that is outstanding or completed. */
    public List<Buffer> buffers(int head) {
        Posted p = outstanding[head] != null ? outstanding[head] : completed[head];
        if (p == null) {
            throw new IllegalStateException("unknown head " + head);
        }
        return p.buffers();
    }

    /** Chains posted and not yet returned. */
    public int outstandingCount() {
        int n = 0;
        for (Posted p : outstanding) {
            if (p != null) {
                n++;
            }
        }
        return n;
    }

    public int freeDescriptors() {
        return freeCount;
    }

    // ---------------------------------------------------------------------------------------------
    // Notification suppression, as the driver controls it

    /** Sets or clears VRING_AVAIL_F_NO_INTERRUPT in the avail flags. */
    public void setNoInterrupt(boolean noInterrupt) {
        avail.set(LE16, 0, (short) (noInterrupt ? 1 : 0));
    }

    /** Writes {@code used_event}: "interrupt me when used idx passes this value". */
    public void setUsedEvent(int idx) {
        avail.set(LE16, 4L + 2L * size, (short) idx);
    }

    /** The device's used flags (bit 0: VRING_USED_F_NO_NOTIFY). */
    public int usedFlags() {
        return Short.toUnsignedInt(used.get(LE16, 0));
    }

    /** The device's {@code avail_event}. */
    public int availEvent() {
        return Short.toUnsignedInt(used.get(LE16, 4L + 8L * size));
    }

    /** The device's used idx, acquire. */
    public int usedIdx() {
        int idx = Short.toUnsignedInt(used.get(LE16, 2));
        VarHandle.acquireFence();
        return idx;
    }

    /** Avail idx this driver will publish next (entries added so far). */
    public int availIdx() {
        return availShadow;
    }

    // ---------------------------------------------------------------------------------------------
    // Raw access and malformed rings

    /** Writes descriptor {@code id} of the ring's table. */
    public void writeDescriptor(int id, long gpa, int length, int flags, int next) {
        writeDescriptorAt(descGpa + 16L * id, gpa, length, flags, next);
    }

    /** Writes a descriptor at any gpa (an indirect table entry). */
    public void writeDescriptorAt(long gpa, long bufferGpa, int length, int flags, int next) {
        MemorySegment d = MemorySegment.ofArray(new byte[16]);
        d.set(LE64, 0, bufferGpa);
        d.set(LE32, 8, length);
        d.set(LE16, 12, (short) flags);
        d.set(LE16, 14, (short) next);
        ram.write(gpa, d, 0, 16);
    }

    /** Appends {@code head} to the avail ring without any check (not published). */
    public void pushAvailRaw(int head) {
        avail.set(LE16, 4L + 2L * (availShadow & (size - 1)), (short) head);
        availShadow = (availShadow + 1) & 0xFFFF;
    }

    /** Release-stores an arbitrary avail idx. */
    public void setAvailIdxRaw(int idx) {
        VarHandle.releaseFence();
        avail.set(LE16, 2, (short) idx);
    }

    /** Publishes an avail idx {@code extra} entries beyond the ones added: a jump when extra &gt; free room. */
    public int publishAvailJump(int extra) {
        int idx = (availShadow + extra) & 0xFFFF;
        setAvailIdxRaw(idx);
        return idx;
    }

    /** Takes one descriptor id off the free list, for hand-written chains. */
    public int takeDescriptor() {
        return takeDescriptors(1)[0];
    }

    /** Posts a hand-written chain that starts at {@code head} and uses descriptor ids {@code ids}. */
    public int postRaw(int head, int... ids) {
        return post(head, ids, List.of());
    }

    /** Two readable descriptors linking to each other: a → b → a. Returns the head (a). */
    public int addLoop() {
        int[] ids = takeDescriptors(2);
        writeDescriptor(ids[0], slotOrAllocate(ids[0]), 64, F_NEXT, ids[1]);
        writeDescriptor(ids[1], slotOrAllocate(ids[1]), 64, F_NEXT, ids[0]);
        return post(ids[0], ids, List.of());
    }

    /** One readable descriptor with NEXT pointing at index {@code size} (one past the table). */
    public int addNextOutOfRange() {
        int id = takeDescriptor();
        writeDescriptor(id, slotOrAllocate(id), 64, F_NEXT, size);
        return post(id, new int[]{id}, List.of());
    }

    /** One readable descriptor for {@code length} bytes at {@code gpa} (outside RAM, for instance). */
    public int addUnmapped(long gpa, int length) {
        int id = takeDescriptor();
        writeDescriptor(id, gpa, length, 0, 0);
        return post(id, new int[]{id}, List.of());
    }

    /**
     * A ring descriptor with INDIRECT and the given table {@code length} and extra {@code flags}
     * (e.g. NEXT) at {@code tableGpa}: zero or odd lengths, INDIRECT|NEXT.
     */
    public int addIndirect(long tableGpa, int length, int flags) {
        int id = takeDescriptor();
        writeDescriptor(id, tableGpa, length, F_INDIRECT | flags, 0);
        return post(id, new int[]{id}, List.of());
    }

    /**
     * Writes, at a new place in RAM, an indirect table of {@code entries} zero-length readable
     * descriptors each linked to the next (legal, and as costly to walk as a table can be); returns its
     * gpa, for {@link #addIndirect} with length {@code 16 * entries}.
     */
    public long writeZeroLengthTable(int entries) {
        long table = ram.allocate(16L * entries, 16);
        MemorySegment d = MemorySegment.ofArray(new byte[16 * entries]);
        for (int i = 0; i + 1 < entries; i++) {
            d.set(LE16, 16L * i + 12, (short) F_NEXT);
            d.set(LE16, 16L * i + 14, (short) (i + 1));
        }
        ram.write(table, d, 0, d.byteSize());
        return table;
    }

    /** A zero-length indirect table. */
    public int addZeroLengthIndirect() {
        return addIndirect(ram.allocate(16, 16), 0, 0);
    }

    /** An indirect table whose only entry is itself INDIRECT (nested tables are forbidden, §2.7.5.3.1). */
    public int addIndirectInIndirect() {
        long inner = ram.allocate(16, 16);
        long buffer = ram.allocate(64, 8);
        writeDescriptorAt(inner, buffer, 64, 0, 0);
        long outer = ram.allocate(16, 16);
        writeDescriptorAt(outer, inner, 16, F_INDIRECT, 0);
        return addIndirect(outer, 16, 0);
    }

    /** A device-writable descriptor followed by a device-readable one (forbidden by §2.7.5). */
    public int addWriteThenRead() {
        return chain().writable(64).readable(new byte[64]).add();
    }

    private long slotOrAllocate(int id) {
        return slotSize >= 64 ? slotGpa(id) : ram.allocate(64, 8);
    }
}

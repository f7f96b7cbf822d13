package io.jvhost.virtio.ring;

import io.jvhost.virtio.LittleEndian;
import io.jvhost.virtio.VirtioFeatures;
import io.jvhost.virtio.memory.DirtyLog;
import io.jvhost.virtio.memory.DirtyLogCache;
import io.jvhost.virtio.memory.GuestMemory;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.VarHandle;
import java.util.Objects;

/**
 * The device side of one split virtqueue (virtio 1.2 §2.7 "Split Virtqueues").
 *
 * <p>Data path, in a worker's loop:
 * <pre>{@code
 * do {
 *     q.disableNotifications();
 *     while ((status = q.pop(chain)) == RingStatus.OK) {
 *         ...use chain...
 *         q.pushUsed(chain.head(), bytesWritten);
 *     }
 *     if (RingStatus.isError(status)) { log(q.brokenReason()); stop the queue; }
 *     if (q.publishUsed()) { signal the call eventfd; }
 * } while (q.enableNotifications());
 * }</pre>
 *
 * <ul>
 * <li>{@link #pop} validates the whole chain while it walks it (bounds, loops, indirect rules,
 * readable-before-writable, mapping) and reports problems as {@link RingStatus} codes; it neither
 * throws nor allocates. The first error breaks the queue: every later pop answers the same status
 * and {@link #brokenReason()} explains it.</li>
 * <li>{@link #pushUsed} only records the completion in a shadow array; {@link #publishUsed} writes the
 * batch into the used ring, release-stores the used idx once and says whether the driver wants a
 * notification (event index or NO_INTERRUPT flag), as DPDK's shadow used ring does.</li>
 * </ul>
 *
 * <p>Threading: not thread-safe; one thread at a time, and the caller provides the happens-before
 * between successive holders. For a TX ring that is the worker serving it, and the control thread's
 * {@link #configure} and {@link #updateMemory} run on that worker (the backend's WorkerBinding). An RX
 * ring is held by whichever thread holds its claim: a sending worker copying a frame in, its serving
 * worker, or the control thread (the claim is a lock with release/acquire semantics). The guest is the
 * other party, synchronised through the avail and used indexes (acquire/release) and a full fence
 * around notification suppression.
 */
public final class SplitVirtqueue {

    /** Largest split-queue size (§2.7: "Queue Size ... maximum 32768"). */
    public static final int MAX_SIZE = 32768;

    /**
     * Largest indirect table accepted (as Linux vhost). It bounds the walk: zero-length descriptors add
     * no buffer, so the table's entry count is the only limit on a loop inside it.
     */
    public static final int MAX_INDIRECT_ENTRIES = 65536;

    private static final int[] NO_ENTRIES = new int[0];

    private final int queueIndex;
    private final String prefix;
    private final AvailRing avail = new AvailRing();
    private final UsedRing used = new UsedRing();
    /** Holds one indirect descriptor whose table straddles two memory regions (rare slow path). */
    private final MemorySegment descriptorScratch = MemorySegment.ofArray(new byte[Descriptor.SIZE]);

    private GuestMemory memory;
    private MemorySegment descTable;
    private int size;
    /** Where {@link #touchAvailable} leaves its sum, so the JIT keeps the loads. */
    @SuppressWarnings("unused")
    private int touchedSum;
    /** Avail index up to which {@link #touchAvailable} touched (free-running 16-bit). */
    private int touchedTo;
    private int mask;
    private long descFrontendVa;
    private long availFrontendVa;
    private long usedFrontendVa;
    private long features;
    private boolean eventIdx;
    private boolean indirectDesc;

    /** Next avail ring index to pop (free-running 16-bit). */
    private int nextAvail;
    /** Last avail idx read from the driver; entries up to it are known to be visible. */
    private int cachedAvailIdx;
    /** Used idx as last published (free-running 16-bit). */
    private int usedIdx;
    private int[] shadowIds = NO_ENTRIES;
    private int[] shadowLengths = NO_ENTRIES;
    private int shadowCount;
    private int poppedSincePublish;
    /** False until the first publish after configure: that one always notifies with EVENT_IDX. */
    private boolean notifyBaseValid;
    private boolean notificationsEnabled;

    private int brokenStatus = RingStatus.OK;
    private String brokenReason;

    /** Dirty bits of this queue's writes into guest memory, while a migration logs them. */
    private final DirtyLogCache logCache = new DirtyLogCache();
    /** Whether writes are logged: the one branch per chain and per publish that logging costs when off. */
    private boolean logging;
    /** Guest-physical address the used ring is logged at (VHOST_VRING_F_LOG's log_guest_addr), or -1: not logged. */
    private long usedLogGpa = -1;

    public SplitVirtqueue(int queueIndex) {
        this.queueIndex = queueIndex;
        this.prefix = "queue " + queueIndex + ": ";
    }

    /**
     * Starts (or restarts) the queue on the rings the front-end described, forgetting any previous
     * state, breakage included.
     *
     * <p>The three areas are front-end virtual addresses (VHOST_USER_SET_VRING_ADDR) and must each
     * lie within one memory region. The used idx currently in guest memory becomes the starting used
     * index. The queue starts with notifications enabled: without EVENT_IDX the used ring's NO_NOTIFY
     * flag is cleared; with it, {@code avail_event} is set to {@code nextAvail}.
     *
     * @param memory             the current memory table
     * @param size               number of descriptors, a power of two in 1..32768 (SET_VRING_NUM)
     * @param nextAvail          first avail index to process, 0..65535 (SET_VRING_BASE)
     * @param negotiatedFeatures the acked virtio features; RING_EVENT_IDX (29) and RING_INDIRECT_DESC
     *                           (28) change this class's behaviour
     * @throws VirtqueueException naming the queue and the bad value; the queue is then unchanged
     */
    public void configure(GuestMemory memory, int size, long descFrontendVa, long availFrontendVa,
                          long usedFrontendVa, int nextAvail, long negotiatedFeatures) {
        Objects.requireNonNull(memory, "memory");
        if (size <= 0 || size > MAX_SIZE || Integer.bitCount(size) != 1) {
            throw new VirtqueueException(prefix + "size " + size + " is not a power of two between 1 and " + MAX_SIZE);
        }
        if (nextAvail < 0 || nextAvail > 0xFFFF) {
            throw new VirtqueueException(prefix + "next avail index " + nextAvail + " is not a 16-bit value");
        }
        checkAligned("descriptor table", descFrontendVa, Descriptor.ALIGNMENT);
        checkAligned("avail ring", availFrontendVa, AvailRing.ALIGNMENT);
        checkAligned("used ring", usedFrontendVa, UsedRing.ALIGNMENT);
        MemorySegment desc = translate(memory, "descriptor table", descFrontendVa, (long) Descriptor.SIZE * size);
        MemorySegment availArea = translate(memory, "avail ring", availFrontendVa, AvailRing.byteSize(size));
        MemorySegment usedArea = translate(memory, "used ring", usedFrontendVa, UsedRing.byteSize(size));
        int startUsedIdx = LittleEndian.u16(usedArea, UsedRing.IDX_OFFSET);
        int inFlight = (nextAvail - startUsedIdx) & 0xFFFF;
        if (inFlight > size) {
            throw new VirtqueueException(prefix + "next avail index " + nextAvail + " is " + inFlight
                    + " entries ahead of the used index " + startUsedIdx + ", more than the queue size " + size);
        }

        this.memory = memory;
        this.descTable = desc;
        avail.wrap(availArea, size);
        used.wrap(usedArea, size);
        this.size = size;
        this.mask = size - 1;
        this.descFrontendVa = descFrontendVa;
        this.availFrontendVa = availFrontendVa;
        this.usedFrontendVa = usedFrontendVa;
        this.features = negotiatedFeatures;
        this.eventIdx = VirtioFeatures.has(negotiatedFeatures, VirtioFeatures.RING_EVENT_IDX);
        this.indirectDesc = VirtioFeatures.has(negotiatedFeatures, VirtioFeatures.RING_INDIRECT_DESC);
        this.nextAvail = nextAvail;
        this.touchedTo = nextAvail;
        this.cachedAvailIdx = nextAvail;
        this.usedIdx = startUsedIdx;
        if (shadowIds.length != size) {
            shadowIds = new int[size];
            shadowLengths = new int[size];
        }
        shadowCount = 0;
        poppedSincePublish = 0;
        notifyBaseValid = false;
        brokenStatus = RingStatus.OK;
        brokenReason = null;
        writeNotificationState(true);
    }

    /**
     * Re-translates the ring areas with a new memory table (same front-end addresses). Chains popped
     * before stay valid only while the old memory stays mapped. Does nothing on an unconfigured queue.
     *
     * @throws VirtqueueException when a ring area is not mapped by {@code newMemory}; the queue then
     *                            keeps the old memory
     */
    public void updateMemory(GuestMemory newMemory) {
        Objects.requireNonNull(newMemory, "memory");
        if (memory == null) {
            return;
        }
        MemorySegment desc = translate(newMemory, "descriptor table", descFrontendVa, (long) Descriptor.SIZE * size);
        MemorySegment availArea = translate(newMemory, "avail ring", availFrontendVa, AvailRing.byteSize(size));
        MemorySegment usedArea = translate(newMemory, "used ring", usedFrontendVa, UsedRing.byteSize(size));
        memory = newMemory;
        descTable = desc;
        avail.wrap(availArea, size);
        used.wrap(usedArea, size);
    }

    private void checkAligned(String area, long frontendVa, int alignment) {
        if ((frontendVa & (alignment - 1)) != 0) {
            throw new VirtqueueException(prefix + area + " at front-end VA 0x" + Long.toHexString(frontendVa)
                    + " is not " + alignment + "-byte aligned");
        }
    }

    private MemorySegment translate(GuestMemory m, String area, long frontendVa, long length) {
        MemorySegment slice = m.sliceAtFrontendVa(frontendVa, length);
        if (slice == null) {
            throw new VirtqueueException(prefix + area + " at front-end VA 0x" + Long.toHexString(frontendVa)
                    + " (" + length + " bytes) is not inside one mapped memory region");
        }
        return slice;
    }

    // ---------------------------------------------------------------------------------------------
    // Avail side

    /**
     * Number of chains the driver has made available and the device has not popped yet (reads the
     * avail idx with acquire semantics).
     *
     * @return 0..size, or a negative {@link RingStatus} when the queue is broken (the avail idx jumped
     * more than the queue size ahead: {@link RingStatus#ERR_AVAIL_JUMP})
     */
    public int pendingCount() {
        checkConfigured();
        if (brokenStatus != RingStatus.OK) {
            return brokenStatus;
        }
        int status = refreshAvailIdx();
        if (status != RingStatus.OK) {
            return status;
        }
        return (cachedAvailIdx - nextAvail) & 0xFFFF;
    }

    /**
     * Re-reads the driver's avail idx (acquire) and checks it did not jump: neither more than the queue
     * size ahead of next avail, nor of the used idx as last published. A driver reuses a head only
     * after it saw it in the used ring, so it never has more than {@code size} chains outstanding; one
     * that re-posts heads the device has popped but not yet published would otherwise get more chains
     * popped in one batch than the shadow used ring holds, whenever a batch re-reads the idx.
     */
    private int refreshAvailIdx() {
        int idx = avail.idxAcquire();
        int pending = (idx - nextAvail) & 0xFFFF;
        if (pending > size) {
            return fail(RingStatus.ERR_AVAIL_JUMP, prefix + "avail idx " + idx + " is " + pending
                    + " entries ahead of next avail " + nextAvail + ", more than the queue size " + size);
        }
        int outstanding = (idx - usedIdx) & 0xFFFF;
        if (outstanding > size) {
            return fail(RingStatus.ERR_AVAIL_JUMP, prefix + "avail idx " + idx + " is " + outstanding
                    + " entries ahead of the used idx " + usedIdx + ", more than the queue size " + size
                    + " (heads re-posted before they were used)");
        }
        cachedAvailIdx = idx;
        return RingStatus.OK;
    }

    /**
     * Reads one byte of the first buffer of each of the next {@code max} available chains, {@code skip}
     * bytes in, without popping or validating anything: a burst's first touches of guest memory (avail
     * entries, descriptors, frame headers, mostly lines the driver's CPU just wrote) then overlap their
     * cache misses instead of paying them one frame at a time. Java has no prefetch; loads whose sum is
     * returned do the same job. Entries that are out of range or unmapped are skipped: the real walk
     * judges them later.
     *
     * <p>Entries an earlier call touched are not touched again, and the avail idx is read only when the
     * entries already known do not fill the window. A receive queue fed by several senders is touched
     * once per sender's batch, which takes only a few of its buffers each time: touching its whole window
     * every time, and reading the idx (a line the driver keeps writing) every time, cost the mesh of
     * eight ports more than the frames' own misses.
     *
     * @return a sum of the bytes read, meaningless (it is also kept in a field, so callers may ignore it
     * and the loads still cannot be dropped)
     */
    public int touchAvailable(int max, long skip) {
        if (memory == null || brokenStatus != RingStatus.OK) {
            return 0;
        }
        if (((cachedAvailIdx - nextAvail) & 0xFFFF) < max && refreshAvailIdx() != RingStatus.OK) {
            return 0;
        }
        final int n = Math.min(max, (cachedAvailIdx - nextAvail) & 0xFFFF);
        int first = (touchedTo - nextAvail) & 0xFFFF;
        if (first > size) {
            first = 0; // behind next avail (or a rewind moved next avail back): nothing ahead is touched
        }
        if (first >= n) {
            return 0;
        }
        final GuestMemory mem = memory;
        final MemorySegment table = descTable;
        int sum = 0;
        for (int i = first; i < n; i++) {
            int head = avail.entry((nextAvail + i) & mask);
            if (head >= size) {
                continue;
            }
            // head < size and the table's size * 16 bytes were checked to lie in `table`.
            long offset = (long) head * Descriptor.SIZE;
            long gpa = Descriptor.gpa(table, offset);
            long length = Descriptor.length(table, offset);
            int region = mem.regionOfGpa(gpa);
            if (region == GuestMemory.NOT_MAPPED || length <= skip) {
                continue;
            }
            long at = gpa - mem.regionGpa(region) + skip;
            MemorySegment segment = mem.segment(region);
            if (at < segment.byteSize()) {
                sum += segment.get(ValueLayout.JAVA_BYTE, at);
            }
        }
        touchedTo = (nextAvail + n) & 0xFFFF;
        touchedSum += sum;
        return sum;
    }

    /**
     * Pops the next available chain into {@code chain}, validating it while walking it, and advances
     * the next avail index. No allocation, no exception (except for calling it unconfigured).
     *
     * @return {@link RingStatus#OK} ({@code chain} filled), {@link RingStatus#EMPTY}, or a negative
     * error status (the queue is now broken; next avail did not advance; {@code chain}'s contents
     * are then meaningless)
     */
    public int pop(DescriptorChain chain) {
        checkConfigured();
        if (brokenStatus != RingStatus.OK) {
            return brokenStatus;
        }
        if (nextAvail == cachedAvailIdx) {
            int status = refreshAvailIdx();
            if (status != RingStatus.OK) {
                return status;
            }
            if (nextAvail == cachedAvailIdx) {
                return RingStatus.EMPTY;
            }
        }
        // The slot is below size: mask = size - 1 and the avail area holds size entries.
        int head = avail.entry(nextAvail & mask);
        if (head >= size) {
            return fail(RingStatus.ERR_HEAD_OUT_OF_RANGE, prefix + "avail entry " + nextAvail + " names head "
                    + head + ", queue size is " + size);
        }
        int status = walk(chain, head);
        if (status != RingStatus.OK) {
            return status;
        }
        nextAvail = (nextAvail + 1) & 0xFFFF;
        poppedSincePublish++;
        return RingStatus.OK;
    }

    /**
     * Walks the chain from {@code head} (§2.7.5, §2.7.5.3). The budget is the size of the table being
     * walked, so a loop ends as ERR_LOOP_OR_TOO_LONG instead of spinning; in an indirect table it is
     * also what is left of the queue size, since a driver must not make a chain longer than that
     * (§2.7.5.3.1): one chain then costs at most a queue size of descriptors to walk, not 65536.
     */
    private int walk(DescriptorChain chain, int head) {
        final GuestMemory mem = memory;
        chain.reset(mem, head);
        MemorySegment table = descTable;
        long tableBase = 0;
        long tableGpa = 0;
        boolean tableAcrossRegions = false;
        int tableSize = size;
        int budget = size;
        int indirectFrom = -1;
        boolean seenWritable = false;
        int index = head;
        int walked = 0;
        boolean queueSizeBound = false;
        while (true) {
            if (budget == 0) {
                if (queueSizeBound) {
                    return fail(RingStatus.ERR_LOOP_OR_TOO_LONG, prefix + "chain head " + head
                            + " is longer than the queue size " + size + " (indirect table of descriptor "
                            + indirectFrom + ", §2.7.5.3.1)");
                }
                return fail(RingStatus.ERR_LOOP_OR_TOO_LONG, indirectFrom < 0
                        ? prefix + "chain head " + head + " has more than " + size + " descriptors (loop?)"
                        : prefix + "indirect table of descriptor " + indirectFrom + " (chain head " + head
                          + ") has more than its " + tableSize + " entries in the chain (loop?)");
            }
            budget--;
            walked++;
            MemorySegment source;
            long offset;
            if (tableAcrossRegions) {
                copyFromGuest(mem, tableGpa + (long) index * Descriptor.SIZE, descriptorScratch, Descriptor.SIZE);
                source = descriptorScratch;
                offset = 0;
            } else {
                // index < tableSize, and the table's tableSize * 16 bytes were checked to be in `table`.
                source = table;
                offset = tableBase + (long) index * Descriptor.SIZE;
            }
            long gpa = Descriptor.gpa(source, offset);
            long length = Descriptor.length(source, offset);
            int flags = Descriptor.flags(source, offset);
            int next = Descriptor.next(source, offset);

            if ((flags & Descriptor.F_INDIRECT) != 0) {
                String problem = indirectProblem(indirectFrom >= 0, flags, length);
                if (problem != null) {
                    return fail(RingStatus.ERR_INDIRECT, prefix + where(index, indirectFrom, head) + problem);
                }
                int region = mem.regionOfGpa(gpa);
                if (region != GuestMemory.NOT_MAPPED
                        && Long.compareUnsigned(length, mem.regionGpaEnd(region) - gpa) <= 0) {
                    table = mem.segment(region);
                    tableBase = gpa - mem.regionGpa(region);
                    tableAcrossRegions = false;
                } else if (isMapped(mem, gpa, length)) {
                    tableAcrossRegions = true;
                } else {
                    return fail(RingStatus.ERR_UNMAPPED, prefix + where(index, indirectFrom, head)
                            + " indirect table gpa 0x" + Long.toHexString(gpa) + " len " + length
                            + " outside guest memory");
                }
                tableGpa = gpa;
                tableSize = (int) (length / Descriptor.SIZE);
                int left = size - (walked - 1); // the descriptors before this one are in the chain too
                queueSizeBound = left < tableSize;
                budget = queueSizeBound ? left : tableSize;
                indirectFrom = index;
                index = 0;
                continue;
            }

            boolean writable = (flags & Descriptor.F_WRITE) != 0;
            if (writable) {
                seenWritable = true;
            } else if (seenWritable) {
                return fail(RingStatus.ERR_WRITE_BEFORE_READ, prefix + where(index, indirectFrom, head)
                        + " is device-readable after a device-writable one");
            }
            if (length != 0) {
                int status = addBuffer(mem, chain, gpa, length, writable, index, indirectFrom, head);
                if (status != RingStatus.OK) {
                    return status;
                }
            }
            if ((flags & Descriptor.F_NEXT) == 0) {
                chain.setDescriptorCount(walked);
                return RingStatus.OK;
            }
            if (next >= tableSize) {
                return fail(RingStatus.ERR_NEXT_OUT_OF_RANGE, prefix + where(index, indirectFrom, head)
                        + " links to next " + next + ", table size is " + tableSize);
            }
            index = next;
        }
    }

    /** Why an INDIRECT descriptor is unacceptable (§2.7.5.3.1), or null (constant strings: no allocation). */
    private String indirectProblem(boolean nested, int flags, long length) {
        if (!indirectDesc) {
            return " is INDIRECT but VIRTIO_F_RING_INDIRECT_DESC was not negotiated";
        }
        if (nested) {
            return " is INDIRECT inside an indirect table";
        }
        if ((flags & Descriptor.F_NEXT) != 0) {
            return " has both INDIRECT and NEXT";
        }
        if (length == 0 || (length % Descriptor.SIZE) != 0) {
            return " is an indirect table whose length is not a positive multiple of 16";
        }
        if (length > (long) Descriptor.SIZE * MAX_INDIRECT_ENTRIES) {
            return " is an indirect table of more than 65536 entries";
        }
        return null;
    }

    /** Translates one descriptor's bytes into chain buffers, one per memory region it touches. */
    private int addBuffer(GuestMemory mem, DescriptorChain chain, long gpa, long length, boolean writable,
                          int index, int indirectFrom, int head) {
        // length is an unsigned 32-bit value, so gpa + length overflows only by wrapping past 2^64.
        if (Long.compareUnsigned(gpa + length, gpa) < 0) {
            return unmapped(gpa, length, index, indirectFrom, head);
        }
        long cursor = gpa;
        long remaining = length;
        while (remaining > 0) {
            int region = mem.regionOfGpa(cursor);
            if (region == GuestMemory.NOT_MAPPED) {
                return unmapped(gpa, length, index, indirectFrom, head);
            }
            // Positive and exact: region sizes are positive longs and cursor lies inside the region.
            long piece = Math.min(remaining, mem.regionGpaEnd(region) - cursor);
            if (!chain.add(region, cursor - mem.regionGpa(region), piece, writable)) {
                return fail(RingStatus.ERR_LOOP_OR_TOO_LONG, prefix + "chain head " + head + " has more than "
                        + chain.capacity() + " buffers");
            }
            cursor += piece;
            remaining -= piece;
        }
        return RingStatus.OK;
    }

    private int unmapped(long gpa, long length, int index, int indirectFrom, int head) {
        return fail(RingStatus.ERR_UNMAPPED, prefix + where(index, indirectFrom, head) + " gpa 0x"
                + Long.toHexString(gpa) + " len " + length + " outside guest memory");
    }

    /** Whether every byte of {@code [gpa, gpa + length)} is in some region (no wrap past 2^64). */
    private static boolean isMapped(GuestMemory mem, long gpa, long length) {
        if (Long.compareUnsigned(gpa + length, gpa) < 0) {
            return false;
        }
        long cursor = gpa;
        long remaining = length;
        while (remaining > 0) {
            int region = mem.regionOfGpa(cursor);
            if (region == GuestMemory.NOT_MAPPED) {
                return false;
            }
            long piece = Math.min(remaining, mem.regionGpaEnd(region) - cursor);
            cursor += piece;
            remaining -= piece;
        }
        return true;
    }

    /** Copies {@code length} mapped bytes at {@code gpa} (possibly across regions) to {@code dst}. */
    private static void copyFromGuest(GuestMemory mem, long gpa, MemorySegment dst, int length) {
        long cursor = gpa;
        long done = 0;
        while (done < length) {
            int region = mem.regionOfGpa(cursor);
            long piece = Math.min(length - done, mem.regionGpaEnd(region) - cursor);
            MemorySegment.copy(mem.segment(region), cursor - mem.regionGpa(region), dst, done, piece);
            cursor += piece;
            done += piece;
        }
    }

    private static String where(int index, int indirectFrom, int head) {
        return indirectFrom < 0
                ? "descriptor " + index + " (chain head " + head + ")"
                : "indirect descriptor " + index + " of descriptor " + indirectFrom + " (chain head " + head + ")";
    }

    /**
     * Gives back the last {@code count} popped chains: they will be popped again. For a mergeable RX
     * frame that could not get all the buffers it needs. The heads must not have been pushed.
     *
     * @throws IllegalArgumentException when {@code count} exceeds the chains popped since the last
     *                                  {@link #publishUsed()}
     */
    public void rewind(int count) {
        if (count < 0 || count > poppedSincePublish) {
            throw new IllegalArgumentException(prefix + "cannot rewind " + count + " chains, "
                    + poppedSincePublish + " popped since the last publish");
        }
        nextAvail = (nextAvail - count) & 0xFFFF;
        poppedSincePublish -= count;
    }

    // ---------------------------------------------------------------------------------------------
    // Used side

    /**
     * Records that chain {@code head} is done and the device wrote {@code writtenLength} bytes into
     * it (0 for TX). Nothing reaches guest memory before {@link #publishUsed()}.
     *
     * @throws IllegalStateException when more than {@code size} entries are pending (a caller bug:
     *                               at most size chains can be outstanding)
     */
    public void pushUsed(int head, int writtenLength) {
        int n = shadowCount;
        if (n == shadowIds.length) {
            throw new IllegalStateException(prefix + "more than " + size + " used entries pushed without publishUsed");
        }
        if (head < 0 || head >= size) {
            throw new IllegalArgumentException(prefix + "head " + head + " outside queue size " + size);
        }
        shadowIds[n] = head;
        shadowLengths[n] = writtenLength;
        shadowCount = n + 1;
    }

    /**
     * Writes the pushed entries into the used ring, release-stores the new used idx once, and says
     * whether the driver must be notified (signal the call eventfd).
     *
     * <p>With EVENT_IDX: {@code vring_need_event(used_event, new, old)} (§2.7.7), except that the
     * first publish after {@link #configure} always answers true, since the backend cannot know
     * whether the driver already waits for an interrupt it has not got (Linux vhost and DPDK do the
     * same). Without EVENT_IDX: true unless the driver set VRING_AVAIL_F_NO_INTERRUPT.
     *
     * @return false when nothing was pushed, else whether to notify
     */
    public boolean publishUsed() {
        int n = shadowCount;
        if (n == 0) {
            if (logging) {
                logCache.flush(); // writes into chains given back (rewind): harmless, but not left behind
            }
            return false;
        }
        final int old = usedIdx;
        final int ringMask = mask;
        final int[] ids = shadowIds;
        final int[] lengths = shadowLengths;
        for (int i = 0; i < n; i++) {
            used.setElement((old + i) & ringMask, ids[i], lengths[i]);
        }
        int now = (old + n) & 0xFFFF;
        if (logging) {
            logUsedElements(old & ringMask, n);
            logCache.flush(); // the buffers' and elements' bits before the idx makes them the guest's
        }
        used.publishIdx(now);
        if (logging && usedLogGpa >= 0) {
            logCache.log().markRange(usedLogGpa + UsedRing.IDX_OFFSET, 2);
        }
        usedIdx = now;
        shadowCount = 0;
        poppedSincePublish = 0;
        // Store-load ordering: the idx store must be visible before we read the driver's suppression
        // state, or driver and device could both decide not to notify (the driver fences likewise).
        VarHandle.fullFence();
        if (eventIdx) {
            if (!notifyBaseValid) {
                notifyBaseValid = true;
                return true;
            }
            return needEvent(avail.usedEvent(), now, old);
        }
        return (avail.flags() & AvailRing.F_NO_INTERRUPT) == 0;
    }

    /**
     * {@code vring_need_event} (§2.7.7): whether moving an index from {@code oldIdx} to
     * {@code newIdx} passes {@code eventIdx}, i.e. {@code eventIdx} is in {@code [oldIdx, newIdx)}
     * modulo 2^16.
     */
    public static boolean needEvent(int eventIdx, int newIdx, int oldIdx) {
        return ((newIdx - eventIdx - 1) & 0xFFFF) < ((newIdx - oldIdx) & 0xFFFF);
    }

    // ---------------------------------------------------------------------------------------------
    // Available-buffer notification suppression (§2.7.10)

    /**
     * Asks the driver not to kick: sets NO_NOTIFY in the used flags, or with EVENT_IDX simply stops
     * moving {@code avail_event} (the driver kicks at most once more). Call before processing a burst.
     */
    public void disableNotifications() {
        checkConfigured();
        if (notificationsEnabled) {
            writeNotificationState(false);
        }
    }

    /**
     * Asks the driver to kick for the next available chain (clears NO_NOTIFY, or with EVENT_IDX sets
     * {@code avail_event = nextAvail}), fences, and re-reads the avail idx: a chain made available
     * between the last pop and this call would otherwise wait for a kick that never comes.
     *
     * @return true when chains are available (or the queue broke), so the caller must process again
     */
    public boolean enableNotifications() {
        checkConfigured();
        writeNotificationState(true);
        // Store-load ordering: our flag/avail_event store before our avail idx load (mirror of the
        // driver's barrier between writing avail idx and reading the flag/avail_event).
        VarHandle.fullFence();
        if (brokenStatus != RingStatus.OK || refreshAvailIdx() != RingStatus.OK) {
            return true;
        }
        return cachedAvailIdx != nextAvail;
    }

    private void writeNotificationState(boolean enable) {
        if (eventIdx) {
            if (enable) {
                used.setAvailEvent(nextAvail);
                logUsedField(UsedRing.availEventOffset(size));
            }
        } else {
            used.setFlags(enable ? 0 : UsedRing.F_NO_NOTIFY);
            logUsedField(UsedRing.FLAGS_OFFSET);
        }
        notificationsEnabled = enable;
    }

    // ---------------------------------------------------------------------------------------------
    // Dirty-page logging (vhost-user.rst, "Migration")

    /**
     * Logs this queue's writes into {@code log} from now on (null: stop logging), the used ring at
     * {@code usedLogGpa} (VHOST_VRING_F_LOG's {@code log_guest_addr}; -1: the used ring is not logged).
     * Bits gathered so far go to the previous log first. Kept across {@link #configure}.
     */
    public void setDirtyLog(DirtyLog log, long usedLogGpa) {
        logCache.setLog(log);
        this.logging = log != null;
        this.usedLogGpa = log == null ? -1 : usedLogGpa;
    }

    /** The log this queue writes into, or null. */
    public DirtyLog dirtyLog() {
        return logCache.log();
    }

    /** Whether this queue's writes are being logged. */
    public boolean isLogging() {
        return logging;
    }

    /**
     * The device wrote the first {@code length} bytes of {@code chain}'s writable part: gathers the
     * pages under them (by guest-physical address), flushed before the next used index is published.
     * Costs one branch when logging is off.
     */
    public void logWritten(DescriptorChain chain, long length) {
        if (!logging) {
            return;
        }
        final GuestMemory mem = chain.memory();
        final int end = chain.bufferCount();
        long remaining = length;
        for (int i = chain.readableCount(); i < end && remaining > 0; i++) {
            long n = Math.min(remaining, chain.length(i));
            // Buffers are split at region ends by the walk, so a buffer's GPA range is contiguous.
            logCache.mark(mem.regionGpa(chain.region(i)) + chain.offset(i), n);
            remaining -= n;
        }
    }

    /** ORs what this queue gathered into the log now (a stop, a hand-over). */
    public void flushLog() {
        logCache.flush();
    }

    /** Gathers the used-ring elements {@code [slot, slot + n)} (wrapping at the ring's end). */
    private void logUsedElements(int slot, int n) {
        if (usedLogGpa < 0) {
            return;
        }
        int first = Math.min(n, size - slot);
        logCache.mark(usedLogGpa + UsedRing.RING_OFFSET + (long) slot * UsedRing.ELEMENT_SIZE,
                (long) first * UsedRing.ELEMENT_SIZE);
        if (first < n) {
            logCache.mark(usedLogGpa + UsedRing.RING_OFFSET, (long) (n - first) * UsedRing.ELEMENT_SIZE);
        }
    }

    /** Logs a 16-bit used-ring field just written (flags or avail_event), at once. */
    private void logUsedField(long offset) {
        if (logging && usedLogGpa >= 0) {
            logCache.log().markRange(usedLogGpa + offset, 2);
        }
    }

    // ---------------------------------------------------------------------------------------------
    // State

    /**
     * Marks the queue broken by the device (e.g. a chain layout the device type cannot use). The first
     * breakage wins; later calls keep the first status and reason.
     *
     * @return the queue's broken status
     */
    public int markBroken(int status, String reason) {
        if (status >= 0) {
            throw new IllegalArgumentException("not an error status: " + status);
        }
        return fail(status, prefix + reason);
    }

    private int fail(int status, String reason) {
        if (brokenStatus == RingStatus.OK) {
            brokenStatus = status;
            brokenReason = reason;
        }
        return brokenStatus;
    }

    private void checkConfigured() {
        if (memory == null) {
            throw new IllegalStateException(prefix + "not configured");
        }
    }

    public int queueIndex() {
        return queueIndex;
    }

    public boolean isConfigured() {
        return memory != null;
    }

    public int size() {
        return size;
    }

    /** The memory table the rings were last translated with, or null before {@link #configure}. */
    public GuestMemory memory() {
        return memory;
    }

    /** The negotiated features given to {@link #configure}. */
    public long features() {
        return features;
    }

    public boolean hasEventIdx() {
        return eventIdx;
    }

    public boolean hasIndirectDescriptors() {
        return indirectDesc;
    }

    /** Next avail index to pop (free-running 16-bit): the answer to GET_VRING_BASE. */
    public int nextAvail() {
        return nextAvail;
    }

    /** Used idx as last published (free-running 16-bit). */
    public int usedIndex() {
        return usedIdx;
    }

    /** Entries pushed and not yet published. */
    public int pendingUsedCount() {
        return shadowCount;
    }

    public boolean notificationsEnabled() {
        return notificationsEnabled;
    }

    public boolean isBroken() {
        return brokenStatus != RingStatus.OK;
    }

    /** {@link RingStatus#OK}, or the negative status that broke the queue. */
    public int brokenStatus() {
        return brokenStatus;
    }

    /** Why the queue broke ("queue 1: descriptor 5 (chain head 3) gpa 0x... len ... outside guest memory"), or null. */
    public String brokenReason() {
        return brokenReason;
    }

    @Override
    public String toString() {
        return "SplitVirtqueue[" + queueIndex + " size=" + size + " nextAvail=" + nextAvail + " used=" + usedIdx
                + (brokenReason != null ? " BROKEN " + brokenReason : "") + "]";
    }
}

package io.jvhost.virtio.ring;

import com.code_intelligence.jazzer.junit.FuzzTest;
import io.jvhost.virtio.LittleEndian;
import io.jvhost.virtio.VirtioFeatures;
import io.jvhost.virtio.fuzz.FuzzInput;
import io.jvhost.virtio.fuzz.FuzzStats;
import io.jvhost.virtio.memory.GuestMemory;
import io.jvhost.virtio.memory.MemoryRegion;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Fuzzes the split-virtqueue chain walk ({@link SplitVirtqueue#pop}) over descriptor tables, avail
 * rings and indirect tables made of the fuzzer's bytes, in guest memory of one to three regions
 * (adjacent or with gaps, one of them possibly just below 2^64).
 *
 * <p>Each region is its own slice of one allocation, so any access outside a region, even into the
 * neighbouring one, throws instead of passing unnoticed. Asserted for every input:
 * <ul>
 * <li>{@code pop}, {@code touchAvailable}, {@code pendingCount}, {@code pushUsed}, {@code publishUsed}
 * and {@code enableNotifications} throw nothing; {@code configure} throws only
 * {@link VirtqueueException};</li>
 * <li>{@code pop} answers OK, EMPTY or one of the walker's error statuses, at most one OK per chain
 * the driver made available; after an error the queue is broken with that status and a reason that
 * names the queue, and keeps answering it;</li>
 * <li>every buffer of a popped chain lies inside its region, readable buffers come before writable
 * ones, the lengths add up, and the chain's copy methods move exactly what it says;</li>
 * <li>walking writes nothing to guest memory; publishing writes exactly the used entries pushed.</li>
 * </ul>
 */
class ChainWalkFuzzTest {

    @RegisterExtension
    static final FuzzStats STATS = new FuzzStats("ChainWalkFuzzTest");
    private static final long REGION_STRIDE = 0x4000;
    private static final long VA_OFFSET = 0x7F00_0000_0000L;
    private static final long DESC_OFFSET = 0;
    private static final long AVAIL_OFFSET = 0x1000;
    private static final long USED_OFFSET = 0x1800;
    private static final int[] CAPACITIES = {1, 3, 16, DescriptorChain.DEFAULT_CAPACITY};
    private static final int MAX_COPY = 1 << 16;

    private final MemorySegment backing = Arena.ofAuto().allocate(3 * REGION_STRIDE, 4096);
    private final MemorySegment copy = Arena.ofAuto().allocate(MAX_COPY, 8);
    private final MemorySegment pattern = Arena.ofAuto().allocate(MAX_COPY, 8);
    private final DescriptorChain[] chains = new DescriptorChain[CAPACITIES.length];

    ChainWalkFuzzTest() {
        for (int i = 0; i < chains.length; i++) {
            chains[i] = new DescriptorChain(CAPACITIES[i]);
        }
        for (int i = 0; i < MAX_COPY; i++) {
            pattern.set(ValueLayout.JAVA_BYTE, i, (byte) (i * 7 + 1));
        }
    }

    @FuzzTest(maxDuration = FuzzStats.MAX_DURATION)
    void shouldWalkAnyDescriptorTableWithinGuestMemory(byte[] data) {
        FuzzInput in = STATS.start(data);
        MemoryRegion[] regions = regions(in);
        GuestMemory memory = GuestMemory.of(regions);
        int size = 1 << in.below(9);
        long features = (in.bool() ? VirtioFeatures.mask(VirtioFeatures.RING_INDIRECT_DESC) : 0)
                | (in.bool() ? VirtioFeatures.mask(VirtioFeatures.RING_EVENT_IDX) : 0);
        DescriptorChain chain = chains[in.below(chains.length)];
        MemorySegment first = regions[0].segment();
        writeRings(in, first, size);
        // What is left of the input fills the rest of guest memory: buffers and indirect tables.
        byte[] rest = in.rest();
        long ringsEnd = USED_OFFSET + UsedRing.byteSize(size);
        for (int i = 0; i < rest.length; i++) {
            long at = ringsEnd + i;
            int region = (int) (at / REGION_STRIDE);
            if (region < regions.length && at % REGION_STRIDE < regions[region].size()) {
                regions[region].segment().set(ValueLayout.JAVA_BYTE, at % REGION_STRIDE, rest[i]);
            }
        }

        SplitVirtqueue queue = new SplitVirtqueue(3);
        int nextAvail = LittleEndian.u16(first, USED_OFFSET + UsedRing.IDX_OFFSET);
        try {
            long va = regions[0].frontendVa();
            queue.configure(memory, size, va + DESC_OFFSET, va + AVAIL_OFFSET, va + USED_OFFSET, nextAvail, features);
        } catch (VirtqueueException e) {
            assertTrue(e.getMessage().startsWith("queue 3: "), e.getMessage());
            return;
        }
        queue.touchAvailable(size, rest.length > 0 ? rest[0] & 0xFF : 0);
        byte[] before = snapshot(regions);
        int pending = queue.pendingCount();
        int popped = 0;
        int[] heads = new int[size];
        int[] lengths = new int[size];
        int status;
        while (true) {
            status = queue.pop(chain);
            if (status != RingStatus.OK) {
                break;
            }
            assertTrue(popped < pending, "more chains popped than the " + pending + " made available");
            checkChain(chain, memory, regions, size, popped < 4);
            heads[popped] = chain.head();
            lengths[popped] = (int) Math.min(chain.writableLength(), Integer.MAX_VALUE);
            popped++;
        }
        assertArrayEquals(before, snapshot(regions), "the walk wrote to guest memory");
        if (status == RingStatus.EMPTY) {
            assertTrue(pending >= 0 && popped == pending, popped + " chains popped, " + pending + " pending");
            assertEquals(0, queue.pendingCount());
        } else {
            checkBroken(queue, chain, status);
        }
        for (int i = 0; i < popped; i++) {
            queue.pushUsed(heads[i], lengths[i]);
        }
        int usedBefore = queue.usedIndex();
        queue.publishUsed();
        assertEquals((usedBefore + popped) & 0xFFFF, queue.usedIndex());
        assertEquals(queue.usedIndex(), LittleEndian.u16(first, USED_OFFSET + UsedRing.IDX_OFFSET));
        for (int i = 0; i < popped; i++) {
            long element = USED_OFFSET + 4 + 8L * ((usedBefore + i) & (size - 1));
            assertEquals(heads[i], first.get(LittleEndian.U32, element), "used id " + i);
            assertEquals(lengths[i], first.get(LittleEndian.U32, element + 4), "used len " + i);
        }
        queue.enableNotifications();
    }

    /** One to three zeroed regions of 4..16 KiB; region 0 (the rings) is always 16 KiB. */
    private MemoryRegion[] regions(FuzzInput in) {
        backing.fill((byte) 0);
        int count = 1 + in.below(3);
        MemoryRegion[] regions = new MemoryRegion[count];
        boolean nearTop = in.below(8) == 0;
        long gpa = nearTop ? 0xFFFF_FFFF_FFF0_0000L : 0x10_0000L * in.below(4);
        for (int i = 0; i < count; i++) {
            long size = i == 0 ? REGION_STRIDE : 0x1000L * (1 + in.below(4));
            MemorySegment segment = backing.asSlice(i * REGION_STRIDE, size);
            regions[i] = new MemoryRegion(gpa, size, gpa + VA_OFFSET, segment);
            gpa += size + 0x1000L * in.below(3); // 0: adjacent, so buffers may span two regions
        }
        return regions;
    }

    /**
     * Descriptors whose addresses mostly point into guest memory (a region and an offset, sometimes
     * past its end), with fuzzed lengths, flags and links; then the avail ring and the used idx.
     */
    private static void writeRings(FuzzInput in, MemorySegment first, int size) {
        int descriptors = Math.min(size, in.below(size + 1));
        for (int i = 0; i < descriptors; i++) {
            int kind = in.u8();
            long gpa = (kind & 0x80) != 0 ? in.u64()
                    : 0x10_0000L * ((kind >> 4) & 3) + (kind & 3) * REGION_STRIDE + in.u16();
            long length = (kind & 0x40) != 0 ? in.u32() : in.u16() & 0x3FFF;
            int flags = (kind & 0x08) != 0 ? in.u16() : in.u8() & 7;
            int next = (kind & 0x04) != 0 ? in.u16() : in.below(size + 1);
            Descriptor.write(first, DESC_OFFSET + (long) i * Descriptor.SIZE, gpa, (int) length, flags, next);
        }
        int start = in.u16();
        int published = in.below(8) == 0 ? in.u16() : in.below(size + 1);
        first.set(LittleEndian.U16, AVAIL_OFFSET + AvailRing.FLAGS_OFFSET, (short) in.u8());
        first.set(LittleEndian.U16, AVAIL_OFFSET + AvailRing.IDX_OFFSET, (short) (start + published));
        for (int i = 0; i < Math.min(published, size); i++) {
            int head = in.below(8) == 0 ? in.u16() : in.below(size);
            first.set(LittleEndian.U16, AVAIL_OFFSET + AvailRing.RING_OFFSET + 2L * ((start + i) & (size - 1)),
                    (short) head);
        }
        first.set(LittleEndian.U16, USED_OFFSET + UsedRing.IDX_OFFSET, (short) (in.below(8) == 0 ? in.u16() : start));
    }

    private void checkChain(DescriptorChain chain, GuestMemory memory, MemoryRegion[] regions, int size,
                            boolean checkWrites) {
        assertTrue(chain.head() >= 0 && chain.head() < size, "head " + chain.head());
        assertTrue(chain.bufferCount() <= chain.capacity());
        assertTrue(chain.readableCount() <= chain.bufferCount());
        long readable = 0;
        long writable = 0;
        for (int i = 0; i < chain.bufferCount(); i++) {
            int region = chain.region(i);
            assertTrue(region >= 0 && region < memory.regionCount(), "region " + region);
            long offset = chain.offset(i);
            long length = chain.length(i);
            long regionSize = memory.segment(region).byteSize();
            assertTrue(length > 0 && offset >= 0 && offset + length <= regionSize,
                    "buffer " + i + " [" + offset + ", +" + length + ") outside its region of " + regionSize + ": " + chain);
            assertEquals(i >= chain.readableCount(), chain.isWritable(i));
            if (chain.isWritable(i)) {
                writable += length;
            } else {
                readable += length;
            }
        }
        assertEquals(readable, chain.readableLength());
        assertEquals(writable, chain.writableLength());
        int readLength = (int) Math.min(readable, MAX_COPY);
        assertEquals(readLength, chain.readBytes(0, copy, 0, MAX_COPY));
        long at = 0;
        for (int i = 0; i < chain.readableCount() && at < readLength; i++) {
            int n = (int) Math.min(chain.length(i), readLength - at);
            assertEquals(-1L, MemorySegment.mismatch(chain.segmentOf(i), chain.offset(i), chain.offset(i) + n,
                    copy, at, at + n), "readBytes differs in buffer " + i);
            at += n;
        }
        if (readable > 0) {
            assertEquals(chain.readByte(readable - 1), directByte(chain, readable - 1));
        }
        if (checkWrites) {
            checkWriteBytes(chain, regions, writable);
        }
    }

    /**
     * writeBytes changes exactly the writable buffers' bytes, in chain order (buffers may overlap:
     * the later one wins); guest memory is restored afterwards, so the walk's "writes nothing" check
     * still holds.
     */
    private void checkWriteBytes(DescriptorChain chain, MemoryRegion[] regions, long writable) {
        int writeLength = (int) Math.min(writable, MAX_COPY);
        byte[] original = snapshot(regions);
        byte[] expected = original.clone();
        long[] base = new long[regions.length];
        for (int r = 1; r < regions.length; r++) {
            base[r] = base[r - 1] + regions[r - 1].size();
        }
        long done = 0;
        for (int i = chain.readableCount(); i < chain.bufferCount() && done < writeLength; i++) {
            int n = (int) Math.min(chain.length(i), writeLength - done);
            MemorySegment.copy(pattern, ValueLayout.JAVA_BYTE, done, expected,
                    (int) (base[chain.region(i)] + chain.offset(i)), n);
            done += n;
        }
        assertEquals(writeLength, chain.writeBytes(0, pattern, 0, MAX_COPY));
        assertArrayEquals(expected, snapshot(regions), "writeBytes changed other bytes than the writable buffers'");
        int at = 0;
        for (MemoryRegion r : regions) {
            MemorySegment.copy(original, at, r.segment(), ValueLayout.JAVA_BYTE, 0, (int) r.size());
            at += (int) r.size();
        }
    }

    /** The last readable byte read straight from its buffer (an independent path to readByte). */
    private static byte directByte(DescriptorChain chain, long offsetInReadable) {
        long skip = offsetInReadable;
        for (int i = 0; i < chain.readableCount(); i++) {
            if (skip < chain.length(i)) {
                return chain.segmentOf(i).get(ValueLayout.JAVA_BYTE, chain.offset(i) + skip);
            }
            skip -= chain.length(i);
        }
        return fail("offset " + offsetInReadable + " outside the readable part");
    }

    private static void checkBroken(SplitVirtqueue queue, DescriptorChain chain, int status) {
        assertTrue(status == RingStatus.ERR_HEAD_OUT_OF_RANGE || status == RingStatus.ERR_NEXT_OUT_OF_RANGE
                        || status == RingStatus.ERR_LOOP_OR_TOO_LONG || status == RingStatus.ERR_UNMAPPED
                        || status == RingStatus.ERR_INDIRECT || status == RingStatus.ERR_WRITE_BEFORE_READ
                        || status == RingStatus.ERR_AVAIL_JUMP,
                "pop answered " + RingStatus.name(status));
        assertTrue(queue.isBroken());
        assertEquals(status, queue.brokenStatus());
        String reason = queue.brokenReason();
        assertNotNull(reason);
        assertTrue(reason.startsWith("queue 3: "), reason);
        assertEquals(status, queue.pop(chain), "a broken queue keeps its status");
        assertEquals(status, queue.pendingCount());
    }

    private static byte[] snapshot(MemoryRegion[] regions) {
        int total = 0;
        for (MemoryRegion r : regions) {
            total += (int) r.size();
        }
        byte[] out = new byte[total];
        int at = 0;
        for (MemoryRegion r : regions) {
            MemorySegment.copy(r.segment(), ValueLayout.JAVA_BYTE, 0, out, at, (int) r.size());
            at += (int) r.size();
        }
        return out;
    }
}

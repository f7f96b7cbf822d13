package io.jvhost.virtio.ring;

import io.jvhost.virtio.VirtioFeatures;
import io.jvhost.virtio.driver.DriverVirtqueue;
import io.jvhost.virtio.driver.GuestRam;
import io.jvhost.virtio.memory.GuestMemory;
import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class SplitVirtqueuePopTest {

    static final long GPA_BASE = 0x10_0000;
    static final long RAM_SIZE = 0x10_0000;
    static final long VA_OFFSET = 0x7F00_0000_0000L;
    static final long INDIRECT = VirtioFeatures.mask(VirtioFeatures.RING_INDIRECT_DESC);

    private final GuestRam ram = GuestRam.allocate(RAM_SIZE, GPA_BASE, GPA_BASE + VA_OFFSET);
    private final DriverVirtqueue driver = new DriverVirtqueue(ram, 8);
    private final SplitVirtqueue queue = new SplitVirtqueue(1);
    private final DescriptorChain chain = new DescriptorChain();

    private static byte[] bytes(int length, int seed) {
        byte[] b = new byte[length];
        for (int i = 0; i < length; i++) {
            b[i] = (byte) (seed + i);
        }
        return b;
    }

    private void assertBroken(int status, String reason) {
        int popped = queue.pop(chain);
        assertEquals(RingStatus.name(status), RingStatus.name(popped));
        assertTrue(queue.isBroken());
        assertEquals(status, queue.brokenStatus());
        assertEquals(reason, queue.brokenReason());
        assertEquals(0, queue.nextAvail(), "next avail does not move past a bad chain");
        String first = queue.brokenReason();
        assertEquals(status, queue.pop(chain), "a broken queue keeps answering its error");
        assertEquals(status, queue.pendingCount());
        assertSame(first, queue.brokenReason(), "the reason is built once");
    }

    // ---------------------------------------------------------------------------------------------
    // Good chains

    @Test
    void shouldAnswerEmptyUntilTheDriverPublishes() {
        driver.configure(queue, 0);
        assertEquals(RingStatus.EMPTY, queue.pop(chain));
        driver.addTx(bytes(10, 0));
        assertEquals(RingStatus.EMPTY, queue.pop(chain), "added but not published");
        assertEquals(0, queue.pendingCount());
        driver.publishAvail();
        assertEquals(1, queue.pendingCount());
        assertEquals(RingStatus.OK, queue.pop(chain));
        assertEquals(RingStatus.EMPTY, queue.pop(chain));
        assertEquals(1, queue.nextAvail());
    }

    @Test
    void shouldPopReadableThenWritableBuffersWithTheirPlaceInMemory() {
        driver.configure(queue, 0);
        int head = driver.chain().readable(bytes(12, 1)).readable(bytes(100, 50)).writable(1500).add();
        driver.publishAvail();

        assertEquals(RingStatus.OK, queue.pop(chain));
        assertEquals(head, chain.head());
        assertEquals(3, chain.bufferCount());
        assertEquals(2, chain.readableCount());
        assertEquals(1, chain.writableCount());
        assertEquals(112, chain.readableLength());
        assertEquals(1500, chain.writableLength());
        var buffers = driver.buffers(head);
        for (int i = 0; i < 3; i++) {
            assertEquals(0, chain.region(i));
            assertEquals(buffers.get(i).gpa() - GPA_BASE, chain.offset(i));
            assertEquals(buffers.get(i).length(), chain.length(i));
            assertEquals(i == 2, chain.isWritable(i));
            assertSame(ram.regions().getFirst().segment(), chain.segmentOf(i));
        }
        byte[] out = new byte[112];
        assertEquals(112, chain.readBytes(0, MemorySegment.ofArray(out), 0, 200));
        byte[] expected = new byte[112];
        System.arraycopy(bytes(12, 1), 0, expected, 0, 12);
        System.arraycopy(bytes(100, 50), 0, expected, 12, 100);
        assertArrayEquals(expected, out);
    }

    @Test
    void shouldPopChainsInAvailOrderAndCountPending() {
        driver.configure(queue, 0);
        int a = driver.addTx(bytes(1, 0));
        int b = driver.addRx(64);
        int c = driver.addTx(bytes(2, 0));
        driver.publishAvail();
        assertEquals(3, queue.pendingCount());
        assertEquals(RingStatus.OK, queue.pop(chain));
        assertEquals(a, chain.head());
        assertEquals(RingStatus.OK, queue.pop(chain));
        assertEquals(b, chain.head());
        assertEquals(1, queue.pendingCount());
        assertEquals(RingStatus.OK, queue.pop(chain));
        assertEquals(c, chain.head());
        assertEquals(0, queue.pendingCount());
    }

    @Test
    void shouldSkipZeroLengthDescriptors() {
        driver.configure(queue, 0);
        driver.chain().readable(bytes(8, 0)).readable(new byte[0]).writable(0).writable(16).add();
        driver.publishAvail();
        assertEquals(RingStatus.OK, queue.pop(chain));
        assertEquals(2, chain.bufferCount());
        assertEquals(8, chain.readableLength());
        assertEquals(16, chain.writableLength());
    }

    @Test
    void shouldSplitBufferThatCrossesARegionBoundary() {
        // Two regions contiguous in gpa but separate local mappings (and far apart in VA).
        MemorySegment first = MemorySegment.ofArray(new byte[0x10000]);
        MemorySegment second = MemorySegment.ofArray(new byte[0x10000]);
        GuestRam twoRegions = new GuestRam(
                new io.jvhost.virtio.memory.MemoryRegion(0x20000, 0x10000, 0x7000_0000L, first),
                new io.jvhost.virtio.memory.MemoryRegion(0x30000, 0x10000, 0x5000_0000L, second));
        DriverVirtqueue d = new DriverVirtqueue(twoRegions, 8, 0);
        d.configure(queue, 0);
        twoRegions.write(0x2FFF0, bytes(32, 100));
        int head = d.chain().readableAt(0x2FFF0, 32).writableAt(0x2FFF8, 16).add();
        d.publishAvail();

        assertEquals(RingStatus.OK, queue.pop(chain));
        assertEquals(head, chain.head());
        assertEquals(4, chain.bufferCount());
        assertEquals(2, chain.readableCount());
        assertEquals(0, chain.region(0));
        assertEquals(0xFFF0, chain.offset(0));
        assertEquals(16, chain.length(0));
        assertEquals(1, chain.region(1));
        assertEquals(0, chain.offset(1));
        assertEquals(16, chain.length(1));
        assertEquals(0, chain.region(2));
        assertEquals(0xFFF8, chain.offset(2));
        assertEquals(8, chain.length(2));
        assertEquals(1, chain.region(3));
        assertEquals(0, chain.offset(3));
        assertEquals(8, chain.length(3));
        assertSame(second, chain.segmentOf(1));

        byte[] out = new byte[32];
        assertEquals(32, chain.readBytes(0, MemorySegment.ofArray(out), 0, 32));
        assertArrayEquals(bytes(32, 100), out);
        assertEquals((byte) 116, chain.readByte(16));
    }

    @Test
    void shouldPopIndirectChain() {
        driver.configure(queue, INDIRECT);
        int head = driver.chain().readable(bytes(12, 0)).readable(bytes(60, 9)).writable(30).indirect().add();
        driver.publishAvail();
        assertEquals(RingStatus.OK, queue.pop(chain));
        assertEquals(head, chain.head());
        assertEquals(3, chain.bufferCount());
        assertEquals(72, chain.readableLength());
        assertEquals(30, chain.writableLength());
        var buffers = driver.buffers(head);
        assertEquals(buffers.get(1).gpa() - GPA_BASE, chain.offset(1));
        assertEquals((byte) 9, chain.readByte(12));
        assertEquals(7, driver.freeDescriptors(), "an indirect chain takes one ring descriptor");
        assertEquals(4, chain.descriptorCount(), "the INDIRECT descriptor and the table's three");
    }

    @Test
    void shouldCountZeroLengthDescriptorsAsWalked() {
        driver.configure(queue, INDIRECT);
        driver.addIndirect(driver.writeZeroLengthTable(8), 16 * 8, 0); // the queue size
        driver.publishAvail();
        assertEquals(RingStatus.OK, queue.pop(chain));
        assertEquals(0, chain.bufferCount());
        assertEquals(9, chain.descriptorCount());
    }

    @Test
    void shouldFollowDirectDescriptorsIntoAnIndirectTableAtTheEnd() {
        driver.configure(queue, INDIRECT);
        long table = ram.allocate(32, 16);
        long readBuffer = ram.allocate(20, 8);
        long writeBuffer = ram.allocate(40, 8);
        driver.writeDescriptorAt(table, readBuffer, 20, 1, 1);
        driver.writeDescriptorAt(table + 16, writeBuffer, 40, 2, 0);
        int first = driver.takeDescriptor();
        int second = driver.takeDescriptor();
        driver.writeDescriptor(first, driver.slotGpa(first), 10, 1, second);
        driver.writeDescriptor(second, table, 32, 4, 0);
        driver.postRaw(first, first, second);
        driver.publishAvail();
        assertEquals(RingStatus.OK, queue.pop(chain));
        assertEquals(3, chain.bufferCount());
        assertEquals(30, chain.readableLength());
        assertEquals(40, chain.writableLength());
    }

    @Test
    void shouldReadIndirectTableThatStraddlesTwoRegions() {
        MemorySegment a = MemorySegment.ofArray(new byte[0x10000]);
        MemorySegment b = MemorySegment.ofArray(new byte[0x10000]);
        GuestRam twoRegions = new GuestRam(
                new io.jvhost.virtio.memory.MemoryRegion(0x20000, 0x10000, 0x7000_0000L, a),
                new io.jvhost.virtio.memory.MemoryRegion(0x30000, 0x10000, 0x6000_0000L, b));
        DriverVirtqueue d = new DriverVirtqueue(twoRegions, 8, 0);
        d.configure(queue, INDIRECT);
        // Three entries from 0x2FFE8: entry 1 has 8 bytes in each region.
        long table = 0x2FFE8;
        d.writeDescriptorAt(table, 0x21000, 10, 1, 1);
        d.writeDescriptorAt(table + 16, 0x21100, 20, 1, 2);
        d.writeDescriptorAt(table + 32, 0x31000, 30, 2, 0);
        d.addIndirect(table, 48, 0);
        d.publishAvail();
        assertEquals(RingStatus.OK, queue.pop(chain));
        assertEquals(3, chain.bufferCount());
        assertEquals(30, chain.readableLength());
        assertEquals(0x1100, chain.offset(1));
        assertEquals(1, chain.region(2));
        assertEquals(0x1000, chain.offset(2));
    }

    @Test
    void shouldGiveBackRewoundChains() {
        driver.configure(queue, 0);
        int a = driver.addTx(bytes(1, 0));
        int b = driver.addTx(bytes(1, 0));
        driver.publishAvail();
        assertEquals(RingStatus.OK, queue.pop(chain));
        assertEquals(RingStatus.OK, queue.pop(chain));
        queue.rewind(2);
        assertEquals(0, queue.nextAvail());
        assertEquals(2, queue.pendingCount());
        assertEquals(RingStatus.OK, queue.pop(chain));
        assertEquals(a, chain.head());
        assertEquals(RingStatus.OK, queue.pop(chain));
        assertEquals(b, chain.head());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> queue.rewind(3));
        assertEquals("queue 1: cannot rewind 3 chains, 2 popped since the last publish", e.getMessage());
    }

    @Test
    void shouldWrapNextAvailAt65535() {
        driver.startAt(65535);
        driver.configure(queue, 0);
        int a = driver.addTx(bytes(1, 0));
        int b = driver.addTx(bytes(1, 0));
        assertEquals(1, driver.publishAvail());
        assertEquals(2, queue.pendingCount());
        assertEquals(RingStatus.OK, queue.pop(chain));
        assertEquals(a, chain.head());
        assertEquals(0, queue.nextAvail());
        assertEquals(RingStatus.OK, queue.pop(chain));
        assertEquals(b, chain.head());
        assertEquals(1, queue.nextAvail());
        queue.rewind(2);
        assertEquals(65535, queue.nextAvail());
    }

    // ---------------------------------------------------------------------------------------------
    // Malformed chains: exact status and reason

    @Test
    void shouldTouchAvailableFramesWithoutPoppingThem() {
        driver.configure(queue, 0);
        driver.addTx(bytes(20, 3)); // byte 12 is 15
        driver.addTx(bytes(20, 7)); // byte 12 is 19
        driver.publishAvail();

        assertEquals(15, queue.touchAvailable(1, 12), "at most max chains");
        assertEquals(19, queue.touchAvailable(8, 12), "only what the last call did not touch");
        assertEquals(0, queue.touchAvailable(8, 12), "nothing twice");
        assertEquals(2, queue.pendingCount(), "touching pops nothing");
        assertEquals(RingStatus.OK, queue.pop(chain));
        assertFalse(queue.isBroken());

        driver.addTx(bytes(20, 5)); // byte 12 is 17
        driver.publishAvail();
        assertEquals(17, queue.touchAvailable(8, 12), "a new entry past the touched ones");
        queue.rewind(1);
        assertEquals(0, queue.touchAvailable(8, 12), "a chain given back was touched already");
    }

    @Test
    void shouldTouchNothingPastABuffersEnd() {
        configureWithOneFrame();

        assertEquals(0, queue.touchAvailable(8, 20));
    }

    @Test
    void shouldTouchAgainAfterAReconfigure() {
        configureWithOneFrame();
        assertEquals(15, queue.touchAvailable(8, 12));

        driver.configure(queue, 0); // the same ring again, from avail index 0
        assertEquals(15, queue.touchAvailable(8, 12), "a configure forgets what was touched");
    }

    /** The queue configured from avail index 0, with one 20-byte frame available (byte 12 is 15). */
    private void configureWithOneFrame() {
        driver.configure(queue, 0);
        driver.addTx(bytes(20, 3));
        driver.publishAvail();
    }

    @Test
    void shouldTouchPastBadEntriesWithoutBreakingOrThrowing() {
        driver.configure(queue, 0);
        driver.pushAvailRaw(8); // head out of range
        driver.addUnmapped(0x4000_0000L, 100);
        driver.addTx(bytes(20, 1)); // byte 0 is 1
        driver.publishAvail();

        assertEquals(1, queue.touchAvailable(8, 0));
        assertFalse(queue.isBroken(), "only the walk judges chains");
        assertEquals(RingStatus.ERR_HEAD_OUT_OF_RANGE, queue.pop(chain));
        assertEquals(0, queue.touchAvailable(8, 0), "a broken queue is not touched");
    }

    @Test
    void shouldBreakOnHeadOutOfRange() {
        driver.configure(queue, 0);
        driver.pushAvailRaw(8);
        driver.publishAvail();
        assertBroken(RingStatus.ERR_HEAD_OUT_OF_RANGE, "queue 1: avail entry 0 names head 8, queue size is 8");
    }

    @Test
    void shouldBreakOnNextOutOfRange() {
        driver.configure(queue, 0);
        driver.addNextOutOfRange();
        driver.publishAvail();
        assertBroken(RingStatus.ERR_NEXT_OUT_OF_RANGE,
                "queue 1: descriptor 0 (chain head 0) links to next 8, table size is 8");
    }

    @Test
    void shouldBreakOnDescriptorLoop() {
        driver.configure(queue, 0);
        driver.addLoop();
        driver.publishAvail();
        assertBroken(RingStatus.ERR_LOOP_OR_TOO_LONG, "queue 1: chain head 0 has more than 8 descriptors (loop?)");
    }

    @Test
    void shouldBreakOnLoopInsideIndirectTableWithTheTableAsBudget() {
        driver.configure(queue, INDIRECT);
        long table = ram.allocate(32, 16);
        driver.writeDescriptorAt(table, GPA_BASE, 4, 1, 1);
        driver.writeDescriptorAt(table + 16, GPA_BASE, 4, 1, 0);
        driver.addIndirect(table, 32, 0);
        driver.publishAvail();
        assertBroken(RingStatus.ERR_LOOP_OR_TOO_LONG,
                "queue 1: indirect table of descriptor 0 (chain head 0) has more than its 2 entries in the chain (loop?)");
    }

    @Test
    void shouldBreakOnIndirectNextOutOfRange() {
        driver.configure(queue, INDIRECT);
        long table = ram.allocate(32, 16);
        driver.writeDescriptorAt(table, GPA_BASE, 4, 1, 2);
        driver.addIndirect(table, 32, 0);
        driver.publishAvail();
        assertBroken(RingStatus.ERR_NEXT_OUT_OF_RANGE,
                "queue 1: indirect descriptor 0 of descriptor 0 (chain head 0) links to next 2, table size is 2");
    }

    @Test
    void shouldBreakWhenChainHasMoreBuffersThanTheChainObjectHolds() {
        driver.configure(queue, 0);
        driver.chain().readable(bytes(1, 0)).readable(bytes(1, 0)).readable(bytes(1, 0)).add();
        driver.publishAvail();
        DescriptorChain small = new DescriptorChain(2);
        assertEquals(RingStatus.ERR_LOOP_OR_TOO_LONG, queue.pop(small));
        assertEquals("queue 1: chain head 0 has more than 2 buffers", queue.brokenReason());
    }

    @Test
    void shouldBreakOnBufferOutsideGuestMemory() {
        driver.configure(queue, 0);
        driver.addUnmapped(0x4000_0000L, 100);
        driver.publishAvail();
        assertBroken(RingStatus.ERR_UNMAPPED, "queue 1: descriptor 0 (chain head 0) gpa 0x40000000 len 100 outside guest memory");
    }

    @Test
    void shouldBreakOnBufferRunningPastTheEndOfGuestMemory() {
        driver.configure(queue, 0);
        driver.chain().readable(bytes(4, 0)).readableAt(GPA_BASE + RAM_SIZE - 10, 11).add();
        driver.publishAvail();
        assertBroken(RingStatus.ERR_UNMAPPED, "queue 1: descriptor 1 (chain head 0) gpa 0x1ffff6 len 11 outside guest memory");
    }

    @Test
    void shouldBreakOnBufferWrappingTheAddressSpaceWithMaximumLength() {
        driver.configure(queue, 0);
        driver.addUnmapped(0xFFFF_FFFF_FFFF_FFF0L, -1);
        driver.publishAvail();
        assertBroken(RingStatus.ERR_UNMAPPED,
                "queue 1: descriptor 0 (chain head 0) gpa 0xfffffffffffffff0 len 4294967295 outside guest memory");
    }

    @Test
    void shouldBreakOnIndirectWhenNotNegotiated() {
        driver.configure(queue, 0);
        driver.chain().readable(bytes(4, 0)).indirect().add();
        driver.publishAvail();
        assertBroken(RingStatus.ERR_INDIRECT,
                "queue 1: descriptor 0 (chain head 0) is INDIRECT but VIRTIO_F_RING_INDIRECT_DESC was not negotiated");
    }

    @Test
    void shouldBreakOnIndirectInsideIndirect() {
        driver.configure(queue, INDIRECT);
        driver.addIndirectInIndirect();
        driver.publishAvail();
        assertBroken(RingStatus.ERR_INDIRECT,
                "queue 1: indirect descriptor 0 of descriptor 0 (chain head 0) is INDIRECT inside an indirect table");
    }

    @Test
    void shouldBreakOnZeroLengthIndirectTable() {
        driver.configure(queue, INDIRECT);
        driver.addZeroLengthIndirect();
        driver.publishAvail();
        assertBroken(RingStatus.ERR_INDIRECT,
                "queue 1: descriptor 0 (chain head 0) is an indirect table whose length is not a positive multiple of 16");
    }

    @Test
    void shouldBreakOnIndirectTableLengthNotAMultipleOf16() {
        driver.configure(queue, INDIRECT);
        driver.addIndirect(ram.allocate(32, 16), 20, 0);
        driver.publishAvail();
        assertBroken(RingStatus.ERR_INDIRECT,
                "queue 1: descriptor 0 (chain head 0) is an indirect table whose length is not a positive multiple of 16");
    }

    @Test
    void shouldBreakOnIndirectTableOfMoreThan65536Entries() {
        driver.configure(queue, INDIRECT);
        driver.addIndirect(GPA_BASE, 16 * 65537, 0);
        driver.publishAvail();
        assertBroken(RingStatus.ERR_INDIRECT,
                "queue 1: descriptor 0 (chain head 0) is an indirect table of more than 65536 entries");
    }

    @Test
    void shouldBreakOnAnIndirectChainLongerThanTheQueueSizeHoweverLargeItsTable() {
        driver.configure(queue, INDIRECT);
        long table = driver.writeZeroLengthTable(9); // queue size 8 (§2.7.5.3.1)
        driver.addIndirect(table, 16 * 9, 0);
        driver.publishAvail();
        assertBroken(RingStatus.ERR_LOOP_OR_TOO_LONG,
                "queue 1: chain head 0 is longer than the queue size 8 (indirect table of descriptor 0, §2.7.5.3.1)");
    }

    @Test
    void shouldBreakOnIndirectTogetherWithNext() {
        driver.configure(queue, INDIRECT);
        driver.addIndirect(ram.allocate(16, 16), 16, 1);
        driver.publishAvail();
        assertBroken(RingStatus.ERR_INDIRECT, "queue 1: descriptor 0 (chain head 0) has both INDIRECT and NEXT");
    }

    @Test
    void shouldBreakOnIndirectTableOutsideGuestMemory() {
        driver.configure(queue, INDIRECT);
        driver.addIndirect(0x4000_0000L, 32, 0);
        driver.publishAvail();
        assertBroken(RingStatus.ERR_UNMAPPED,
                "queue 1: descriptor 0 (chain head 0) indirect table gpa 0x40000000 len 32 outside guest memory");
    }

    @Test
    void shouldBreakOnReadableAfterWritable() {
        driver.configure(queue, 0);
        driver.addWriteThenRead();
        driver.publishAvail();
        assertBroken(RingStatus.ERR_WRITE_BEFORE_READ,
                "queue 1: descriptor 1 (chain head 0) is device-readable after a device-writable one");
    }

    @Test
    void shouldBreakOnReadableAfterWritableInsideIndirectTable() {
        driver.configure(queue, INDIRECT);
        driver.chain().readable(bytes(4, 0)).writable(8).readable(bytes(4, 0)).indirect().add();
        driver.publishAvail();
        assertBroken(RingStatus.ERR_WRITE_BEFORE_READ,
                "queue 1: indirect descriptor 2 of descriptor 0 (chain head 0) is device-readable after a device-writable one");
    }

    @Test
    void shouldBreakWhenAvailIdxJumpsBeyondTheQueueSize() {
        driver.configure(queue, 0);
        driver.addTx(bytes(4, 0));
        driver.publishAvailJump(8);
        assertEquals(RingStatus.ERR_AVAIL_JUMP, queue.pendingCount());
        assertBroken(RingStatus.ERR_AVAIL_JUMP,
                "queue 1: avail idx 9 is 9 entries ahead of next avail 0, more than the queue size 8");
    }

    /** Fills the 8-entry ring, pops every chain (and completes them when {@code complete}), then re-posts the same heads. */
    private int[] popAllAndRepost(boolean complete) {
        driver.configure(queue, 0);
        int[] heads = new int[8];
        for (int i = 0; i < heads.length; i++) {
            heads[i] = driver.addTx(bytes(4, i));
        }
        driver.publishAvail();
        for (int i = 0; i < heads.length; i++) {
            assertEquals(RingStatus.OK, queue.pop(chain));
            if (complete) {
                queue.pushUsed(chain.head(), 0);
            }
        }
        if (complete) {
            queue.publishUsed();
        }
        for (int head : heads) {
            driver.pushAvailRaw(head);
        }
        driver.publishAvailJump(0);
        return heads;
    }

    @Test
    void shouldBreakWhenHeadsAreRepostedBeforeTheyWereUsed() {
        int[] heads = popAllAndRepost(false); // the driver has not seen them used

        // Taking them would make 16 chains outstanding: more used entries than the shadow ring holds.
        assertEquals(RingStatus.ERR_AVAIL_JUMP, queue.pop(chain));
        assertEquals("queue 1: avail idx 16 is 16 entries ahead of the used idx 0, more than the queue size 8"
                + " (heads re-posted before they were used)", queue.brokenReason());
        assertEquals(8, queue.nextAvail());
        for (int head : heads) {
            queue.pushUsed(head, 0); // the chains popped before still complete
        }
        queue.publishUsed();
        assertEquals(8, queue.usedIndex());
    }

    @Test
    void shouldTakeRepostedHeadsOnceTheyWereUsed() {
        int[] heads = popAllAndRepost(true);
        for (int i = 0; i < heads.length; i++) {
            assertEquals(RingStatus.OK, queue.pop(chain), "chain " + i);
        }
        assertEquals(RingStatus.EMPTY, queue.pop(chain));
    }

    @Test
    void shouldForgetBreakageOnReconfigure() {
        driver.configure(queue, 0);
        driver.addLoop();
        driver.publishAvail();
        assertEquals(RingStatus.ERR_LOOP_OR_TOO_LONG, queue.pop(chain));
        driver.configure(queue, 0);
        assertFalse(queue.isBroken());
        assertNull(queue.brokenReason());
        assertEquals(RingStatus.OK, queue.brokenStatus());
    }

    @Test
    void shouldKeepTheFirstReasonWhenTheDeviceMarksABrokenQueue() {
        driver.configure(queue, 0);
        assertEquals(RingStatus.ERR_CHAIN_LAYOUT, queue.markBroken(RingStatus.ERR_CHAIN_LAYOUT, "RX chain head 2 is odd"));
        assertEquals(RingStatus.ERR_CHAIN_LAYOUT, queue.markBroken(RingStatus.ERR_UNMAPPED, "later"));
        assertEquals("queue 1: RX chain head 2 is odd", queue.brokenReason());
        assertEquals(RingStatus.ERR_CHAIN_LAYOUT, queue.pop(chain));
    }

    @Test
    void shouldNameEveryStatus() {
        assertEquals("ERR_WRITE_BEFORE_READ", RingStatus.name(RingStatus.ERR_WRITE_BEFORE_READ));
        assertEquals("NO_BUFFERS", RingStatus.name(RingStatus.NO_BUFFERS));
        assertEquals("status 42", RingStatus.name(42));
        assertTrue(RingStatus.isError(RingStatus.ERR_AVAIL_JUMP));
        assertFalse(RingStatus.isError(RingStatus.EMPTY));
    }

    @Test
    void shouldUseGuestMemoryGivenAtConfigureForChains() {
        GuestMemory m = ram.guestMemory();
        queue.configure(m, 8, driver.descFrontendVa(), driver.availFrontendVa(), driver.usedFrontendVa(), 0, 0);
        driver.addTx(bytes(3, 0));
        driver.publishAvail();
        assertEquals(RingStatus.OK, queue.pop(chain));
        assertSame(m, chain.memory());
    }
}

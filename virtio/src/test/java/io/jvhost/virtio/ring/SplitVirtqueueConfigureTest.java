package io.jvhost.virtio.ring;

import io.jvhost.virtio.VirtioFeatures;
import io.jvhost.virtio.driver.DriverVirtqueue;
import io.jvhost.virtio.driver.GuestRam;
import io.jvhost.virtio.memory.GuestMemory;
import io.jvhost.virtio.memory.MemoryRegion;
import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class SplitVirtqueueConfigureTest {

    static final long GPA_BASE = 0x10_0000;
    static final long VA_BASE = 0x7F12_0010_0000L;

    private final GuestRam ram = GuestRam.allocate(0x10_0000, GPA_BASE, VA_BASE);
    private final DriverVirtqueue driver = new DriverVirtqueue(ram, 8);
    private final GuestMemory memory = ram.guestMemory();
    private final SplitVirtqueue queue = new SplitVirtqueue(3);

    private VirtqueueException configureFails(int size, long desc, long avail, long used, int nextAvail) {
        return assertThrows(VirtqueueException.class, () -> queue.configure(memory, size, desc, avail, used, nextAvail, 0));
    }

    @Test
    void shouldRejectSizeThatIsNotAPowerOfTwoUpTo32768() {
        long d = driver.descFrontendVa();
        long a = driver.availFrontendVa();
        long u = driver.usedFrontendVa();
        assertEquals("queue 3: size 6 is not a power of two between 1 and 32768", configureFails(6, d, a, u, 0).getMessage());
        assertEquals("queue 3: size 0 is not a power of two between 1 and 32768", configureFails(0, d, a, u, 0).getMessage());
        assertEquals("queue 3: size 65536 is not a power of two between 1 and 32768", configureFails(65536, d, a, u, 0).getMessage());
        assertFalse(queue.isConfigured());
    }

    @Test
    void shouldRejectMisalignedRingAreas() {
        long d = driver.descFrontendVa();
        long a = driver.availFrontendVa();
        long u = driver.usedFrontendVa();
        assertEquals("queue 3: descriptor table at front-end VA 0x" + Long.toHexString(d + 8) + " is not 16-byte aligned",
                configureFails(8, d + 8, a, u, 0).getMessage());
        assertEquals("queue 3: avail ring at front-end VA 0x" + Long.toHexString(a + 1) + " is not 2-byte aligned",
                configureFails(8, d, a + 1, u, 0).getMessage());
        assertEquals("queue 3: used ring at front-end VA 0x" + Long.toHexString(u + 2) + " is not 4-byte aligned",
                configureFails(8, d, a, u + 2, 0).getMessage());
    }

    @Test
    void shouldRejectRingAreaOutsideTheMemoryTable() {
        long end = VA_BASE + 0x10_0000;
        assertEquals("queue 3: used ring at front-end VA 0x" + Long.toHexString(end - 64)
                        + " (70 bytes) is not inside one mapped memory region",
                configureFails(8, driver.descFrontendVa(), driver.availFrontendVa(), end - 64, 0).getMessage());
        assertEquals("queue 3: descriptor table at front-end VA 0x10000 (128 bytes) is not inside one mapped memory region",
                configureFails(8, 0x10000, driver.availFrontendVa(), driver.usedFrontendVa(), 0).getMessage());
    }

    @Test
    void shouldRejectNextAvailFurtherAheadOfUsedIdxThanTheQueueSize() {
        assertEquals("queue 3: next avail index 9 is 9 entries ahead of the used index 0, more than the queue size 8",
                configureFails(8, driver.descFrontendVa(), driver.availFrontendVa(), driver.usedFrontendVa(), 9).getMessage());
        assertEquals("queue 3: next avail index 65536 is not a 16-bit value",
                configureFails(8, driver.descFrontendVa(), driver.availFrontendVa(), driver.usedFrontendVa(), 65536).getMessage());
    }

    @Test
    void shouldStartFromUsedIdxInMemoryAndGivenNextAvail() {
        driver.startAt(65530);
        queue.configure(memory, 8, driver.descFrontendVa(), driver.availFrontendVa(), driver.usedFrontendVa(), 65533,
                VirtioFeatures.mask(VirtioFeatures.RING_INDIRECT_DESC));
        assertTrue(queue.isConfigured());
        assertEquals(8, queue.size());
        assertEquals(65530, queue.usedIndex());
        assertEquals(65533, queue.nextAvail());
        assertTrue(queue.hasIndirectDescriptors());
        assertFalse(queue.hasEventIdx());
        assertSame(memory, queue.memory());
    }

    @Test
    void shouldStartWithNotificationsEnabled() {
        ram.slice(driver.usedGpa(), 2).fill((byte) 1); // a previous back-end left NO_NOTIFY set
        queue.configure(memory, 8, driver.descFrontendVa(), driver.availFrontendVa(), driver.usedFrontendVa(), 0, 0);
        assertEquals(0, driver.usedFlags());
        assertTrue(queue.notificationsEnabled());

        driver.startAt(300);
        SplitVirtqueue withEventIdx = new SplitVirtqueue(4);
        withEventIdx.configure(memory, 8, driver.descFrontendVa(), driver.availFrontendVa(), driver.usedFrontendVa(), 302,
                VirtioFeatures.mask(VirtioFeatures.RING_EVENT_IDX));
        assertEquals(302, driver.availEvent());
    }

    @Test
    void shouldKeepWorkingAfterMemoryUpdateAndRejectUpdateWithoutTheRings() {
        driver.configure(queue, 0);
        // Same bytes, described again as two regions split after the rings.
        MemoryRegion whole = ram.regions().getFirst();
        MemorySegment s = whole.segment();
        GuestMemory split = GuestMemory.of(
                new MemoryRegion(GPA_BASE, 0x8_0000, VA_BASE, s.asSlice(0, 0x8_0000)),
                new MemoryRegion(GPA_BASE + 0x8_0000, 0x8_0000, VA_BASE + 0x8_0000, s.asSlice(0x8_0000, 0x8_0000)));
        queue.updateMemory(split);
        assertSame(split, queue.memory());
        int head = driver.addTx(new byte[]{1, 2, 3});
        driver.publishAvail();
        DescriptorChain chain = new DescriptorChain();
        assertEquals(RingStatus.OK, queue.pop(chain));
        assertEquals(head, chain.head());
        assertSame(split, chain.memory());

        GuestMemory elsewhere = GuestMemory.of(new MemoryRegion(0x4000_0000L, 0x1000, 0x1000, MemorySegment.ofArray(new byte[0x1000])));
        VirtqueueException e = assertThrows(VirtqueueException.class, () -> queue.updateMemory(elsewhere));
        assertEquals("queue 3: descriptor table at front-end VA 0x" + Long.toHexString(driver.descFrontendVa())
                + " (128 bytes) is not inside one mapped memory region", e.getMessage());
        assertSame(split, queue.memory());
    }

    @Test
    void shouldRefuseDataPathCallsBeforeConfigure() {
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> queue.pop(new DescriptorChain()));
        assertEquals("queue 3: not configured", e.getMessage());
    }
}

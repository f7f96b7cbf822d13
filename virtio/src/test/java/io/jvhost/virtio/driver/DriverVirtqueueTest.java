package io.jvhost.virtio.driver;

import io.jvhost.virtio.VirtioFeatures;
import io.jvhost.virtio.driver.DriverVirtqueue.Used;
import io.jvhost.virtio.ring.DescriptorChain;
import io.jvhost.virtio.ring.RingStatus;
import io.jvhost.virtio.ring.SplitVirtqueue;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class DriverVirtqueueTest {

    private final GuestRam ram = GuestRam.allocate(0x20_0000, 0x1000_0000L, 0x7F00_1000_0000L);

    @Test
    void shouldLayOutRingsAlignedAndContiguousWithFrontendVaOffset() {
        DriverVirtqueue d = new DriverVirtqueue(ram, 256);
        assertEquals(0x1000_0000L, d.descGpa());
        assertEquals(0x1000_1000L, d.availGpa(), "16 * 256 bytes of descriptors");
        assertEquals(0x1000_1208L, d.usedGpa(), "after 6 + 2 * 256 bytes of avail ring, aligned to 4");
        assertEquals(0x7F00_1000_1208L, d.usedFrontendVa());
        assertEquals(0x1000_1A40L, d.slotGpa(0), "after 6 + 8 * 256 bytes of used ring, aligned to 64");
        assertEquals(0x1000_1A40L + 2048 * 3, d.slotGpa(3));
    }

    @Test
    void shouldReuseTheSlotOfARecycledDescriptor() {
        DriverVirtqueue d = new DriverVirtqueue(ram, 4);
        SplitVirtqueue q = new SplitVirtqueue(0);
        d.configure(q, 0);
        DescriptorChain chain = new DescriptorChain();
        long before = ram.nextFree();
        for (int i = 0; i < 100; i++) {
            int head = d.addTx(new byte[]{(byte) i});
            d.publishAvail();
            assertEquals(RingStatus.OK, q.pop(chain));
            assertEquals(d.slotGpa(head) - 0x1000_0000L, chain.offset(0));
            q.pushUsed(chain.head(), 0);
            q.publishUsed();
            assertEquals(List.of(new Used(head, 0)), d.pollUsed());
        }
        assertEquals(before, ram.nextFree(), "no RAM allocated for slot-sized buffers");
    }

    @Test
    void shouldRejectAHeadTheDeviceNeverGot() {
        DriverVirtqueue d = new DriverVirtqueue(ram, 4);
        SplitVirtqueue q = new SplitVirtqueue(0);
        d.configure(q, 0);
        d.addRx(10);
        d.publishAvail();
        q.pushUsed(3, 0);
        q.publishUsed();
        AssertionError e = assertThrows(AssertionError.class, d::pollUsed);
        assertEquals("device returned head 3 which is not outstanding", e.getMessage());
    }

    @Test
    void shouldRejectAUsedLengthLargerThanTheChain() {
        DriverVirtqueue d = new DriverVirtqueue(ram, 4);
        SplitVirtqueue q = new SplitVirtqueue(0);
        d.configure(q, 0);
        int head = d.addRx(10);
        d.publishAvail();
        assertEquals(RingStatus.OK, q.pop(new DescriptorChain()));
        q.pushUsed(head, 11);
        q.publishUsed();
        Used u = d.pollUsed().getFirst();
        AssertionError e = assertThrows(AssertionError.class, () -> d.written(u));
        assertEquals("device wrote 11 bytes into head " + head + " which holds 10", e.getMessage());
    }

    @Test
    void shouldRefuseToPostWithoutFreeDescriptors() {
        DriverVirtqueue d = new DriverVirtqueue(ram, 2);
        d.addRx(1);
        d.addRx(1);
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> d.addRx(1));
        assertEquals("need 1 free descriptors, have 0", e.getMessage());
    }

    @Test
    void shouldWriteAndReadAcrossRegions() {
        GuestRam two = new GuestRam(
                new io.jvhost.virtio.memory.MemoryRegion(0x10000, 0x1000, 0x1000, MemorySegment.ofArray(new byte[0x1000])),
                new io.jvhost.virtio.memory.MemoryRegion(0x11000, 0x1000, 0x9000, MemorySegment.ofArray(new byte[0x1000])));
        two.write(0x10FFE, new byte[]{1, 2, 3, 4});
        assertArrayEquals(new byte[]{1, 2, 3, 4}, two.read(0x10FFE, 4));
        assertEquals(0x9001, two.frontendVa(0x11001));
        two.skipTo(0x10FF0);
        assertEquals(0x11000, two.allocateInOneRegion(0x20, 16), "ring areas never straddle regions");
    }

    /**
     * Driver and device on two threads, 200,000 frames through a 256-entry ring with EVENT_IDX:
     * every frame arrives once, in order, with its bytes (exercises the acquire/release pairs).
     */
    @Test
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    void shouldMoveFramesBetweenThreadsWithoutLossOrReordering() throws Exception {
        final int frames = 200_000;
        DriverVirtqueue d = new DriverVirtqueue(ram, 256);
        SplitVirtqueue q = new SplitVirtqueue(1);
        d.configure(q, VirtioFeatures.mask(VirtioFeatures.RING_EVENT_IDX));
        AtomicReference<Throwable> failure = new AtomicReference<>();
        Thread device = Thread.ofPlatform().name("test-device").start(() -> {
            DescriptorChain chain = new DescriptorChain();
            MemorySegment scratch = MemorySegment.ofArray(new byte[8]);
            int expected = 0;
            try {
                while (expected < frames) {
                    int status = q.pop(chain);
                    if (status == RingStatus.EMPTY) {
                        q.publishUsed();
                        Thread.onSpinWait();
                        continue;
                    }
                    if (status != RingStatus.OK) {
                        throw new AssertionError(q.brokenReason());
                    }
                    chain.readBytes(0, scratch, 0, 4);
                    int value = scratch.get(java.lang.foreign.ValueLayout.JAVA_INT_UNALIGNED, 0);
                    if (value != expected) {
                        throw new AssertionError("frame " + value + " arrived, expected " + expected);
                    }
                    expected++;
                    q.pushUsed(chain.head(), 0);
                    if (q.pendingUsedCount() == 32) {
                        q.publishUsed();
                    }
                }
                q.publishUsed();
            } catch (Throwable t) {
                failure.set(t);
            }
        });
        int sent = 0;
        int completed = 0;
        byte[] frame = new byte[64];
        MemorySegment f = MemorySegment.ofArray(frame);
        while (completed < frames && failure.get() == null) {
            while (sent < frames && d.freeDescriptors() > 0) {
                f.set(java.lang.foreign.ValueLayout.JAVA_INT_UNALIGNED, 0, sent++);
                d.addTx(frame);
                if ((sent & 15) == 0) {
                    d.publishAvail();
                }
            }
            d.publishAvail();
            completed += d.pollUsed().size();
            Thread.onSpinWait();
        }
        device.join();
        if (failure.get() != null) {
            throw new AssertionError(failure.get());
        }
        assertEquals(frames, completed);
        assertEquals(frames & 0xFFFF, d.usedIdx());
    }
}

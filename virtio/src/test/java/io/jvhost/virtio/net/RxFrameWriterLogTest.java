package io.jvhost.virtio.net;

import io.jvhost.virtio.driver.DriverVirtqueue;
import io.jvhost.virtio.driver.DriverVirtqueue.Used;
import io.jvhost.virtio.driver.GuestRam;
import io.jvhost.virtio.memory.DirtyLog;
import io.jvhost.virtio.memory.MemoryRegion;
import io.jvhost.virtio.ring.RingStatus;
import io.jvhost.virtio.ring.SplitVirtqueue;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Dirty-page logging of the RX path (vhost-user.rst, "Migration"): every page a frame's bytes, its
 * header or the used ring land in is marked, by guest-physical address, across memory regions, and no
 * page the device did not write.
 */
class RxFrameWriterLogTest {

    private static final long PAGE = 4096;
    /** Two regions contiguous in GPA, each its own mapping, and one at 4 GiB. */
    private static final long LOW_GPA = 0x10_0000;
    private static final long BOUNDARY = 0x11_0000;
    private static final long HIGH_GPA = 0x1_0000_0000L;
    /** Where the used ring is logged (log_guest_addr), unrelated to where the test's ring lies. */
    private static final long USED_LOG_GPA = 0x3FF0;
    /** Covers up to 4 GiB + 64 KiB, one bit per page, in whole 64-bit words as QEMU sizes it. */
    private static final long LOG_BYTES = ((HIGH_GPA + 0x1_0000) / PAGE + 63) / 64 * 8;

    private final GuestRam ram = new GuestRam(
            new MemoryRegion(LOW_GPA, 0x1_0000, 0x7F00_0000_0000L, Arena.ofAuto().allocate(0x1_0000, 4096)),
            new MemoryRegion(BOUNDARY, 0x1_0000, 0x7F10_0000_0000L, Arena.ofAuto().allocate(0x1_0000, 4096)),
            new MemoryRegion(HIGH_GPA, 0x1_0000, 0x7F20_0000_0000L, Arena.ofAuto().allocate(0x1_0000, 4096)));
    private final DirtyLog log = DirtyLog.over(Arena.ofAuto().allocate(LOG_BYTES, 8));
    private DriverVirtqueue driver;
    private final SplitVirtqueue rx = new SplitVirtqueue(0);
    private final RxFrameWriter writer = new RxFrameWriter();

    @BeforeEach
    void setUp() {
        ram.skipTo(LOW_GPA);
        driver = new DriverVirtqueue(ram, 8, 0); // ring areas at the start of the low region, no slots
    }

    private void start(long features) {
        driver.configure(rx, features);
        rx.setDirtyLog(log, USED_LOG_GPA);
    }

    private static MemorySegment frame(int length) {
        byte[] b = new byte[length];
        for (int i = 0; i < length; i++) {
            b[i] = (byte) (i * 13 + 5);
        }
        return MemorySegment.ofArray(b);
    }

    private int write(int frameLength) {
        return writer.write(rx, frame(frameLength), 0, frameLength);
    }

    private static long page(long gpa) {
        return gpa / PAGE;
    }

    private void assertDirtyPages(long... pages) {
        for (long p : pages) {
            assertTrue(log.isDirty(p * PAGE), "page 0x" + Long.toHexString(p) + " must be dirty");
        }
    }

    private void assertClean(long... pages) {
        for (long p : pages) {
            assertFalse(log.isDirty(p * PAGE), "page 0x" + Long.toHexString(p) + " must be clean");
        }
    }

    @Test
    void shouldLogBothSidesOfABufferThatCrossesARegionBoundary() {
        start(RxFrameWriterTest.VERSION_1);
        driver.chain().writableAt(BOUNDARY - 0x800, 0x1000).add(); // 2 KiB in each region
        driver.publishAvail();

        assertEquals(RingStatus.OK, write(0x1000 - 12));
        assertEquals(0, log.dirtyPages(), "bits wait in the queue's cache until the publish");
        rx.publishUsed();

        assertDirtyPages(page(BOUNDARY) - 1, page(BOUNDARY));
        assertClean(page(BOUNDARY) - 2, page(BOUNDARY) + 1);
        assertEquals(0x1000, driver.pollUsed().getFirst().len());
    }

    @Test
    void shouldLogOnlyThePagesWrittenNotTheWholeBuffer() {
        start(RxFrameWriterTest.VERSION_1);
        long buffer = LOW_GPA + 0x3FFC; // 4 bytes before a page end, 8 KiB long: spans three pages
        driver.chain().writableAt(buffer, 0x2000).add();
        driver.publishAvail();

        assertEquals(RingStatus.OK, write(4)); // 12-byte header + 4 bytes: the first two pages
        rx.publishUsed();

        assertDirtyPages(page(buffer), page(buffer) + 1);
        assertClean(page(buffer) + 2);
    }

    @Test
    void shouldLogAtTheGuestPhysicalAddressOfAHighRegion() {
        start(RxFrameWriterTest.MERGEABLE);
        driver.chain().writableAt(HIGH_GPA + 5 * PAGE + 100, 64).add();
        driver.chain().writableAt(LOW_GPA + 0x8000, 1500).add(); // the frame's second buffer
        driver.publishAvail();

        assertEquals(RingStatus.OK, write(600));
        rx.publishUsed();

        assertDirtyPages(page(HIGH_GPA) + 5, page(LOW_GPA + 0x8000));
        assertClean(page(HIGH_GPA) + 4, page(HIGH_GPA) + 6, page(LOW_GPA + 0x8000) + 1);
        List<Used> used = driver.pollUsed();
        assertEquals(2, used.size());
    }

    @Test
    void shouldLogUsedRingWritesAtLogGuestAddrAndWrapAround() {
        start(RxFrameWriterTest.VERSION_1);
        // Elements are 8 bytes from USED_LOG_GPA + 4: slot 0 on page 3, slot 1 across pages 3 and 4, slots 2-7 on page 4.
        driver.chain().writableAt(LOW_GPA + 0x9000, 64).add();
        driver.publishAvail();
        write(10);
        rx.publishUsed();
        assertDirtyPages(3); // slot 0 and the used idx (USED_LOG_GPA + 2)
        assertClean(4);

        for (int i = 0; i < 7; i++) {
            driver.pollUsed();
            driver.chain().writableAt(LOW_GPA + 0x9000, 64).add();
            driver.publishAvail();
            assertEquals(RingStatus.OK, write(10));
            rx.publishUsed();
        }
        assertDirtyPages(4);
        assertClean(2, 5);
    }

    @Test
    void shouldLogNothingWhenLoggingIsOff() {
        start(RxFrameWriterTest.VERSION_1);
        rx.setDirtyLog(null, -1);
        driver.chain().writableAt(LOW_GPA + 0x9000, 2048).add();
        driver.publishAvail();

        assertEquals(RingStatus.OK, write(1000));
        rx.publishUsed();

        assertEquals(0, log.dirtyPages());
        assertFalse(rx.isLogging());
    }

    @Test
    void shouldFlushIntoTheOldLogWhenTheLogIsReplaced() {
        start(RxFrameWriterTest.VERSION_1);
        DirtyLog next = DirtyLog.over(Arena.ofAuto().allocate(LOG_BYTES, 8));
        driver.chain().writableAt(LOW_GPA + 0xA000, 64).add();
        driver.publishAvail();
        assertEquals(RingStatus.OK, write(10)); // written while the first log was current

        rx.setDirtyLog(next, USED_LOG_GPA);
        rx.publishUsed();

        assertDirtyPages(page(LOW_GPA + 0xA000)); // in the old log, which the front-end syncs after the switch
        assertTrue(next.isDirty(3 * PAGE), "the used ring published after the switch is in the new log");
        assertFalse(next.isDirty(LOW_GPA + 0xA000));
    }
}

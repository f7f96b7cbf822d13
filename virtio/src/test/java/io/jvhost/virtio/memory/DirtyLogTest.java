package io.jvhost.virtio.memory;

import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class DirtyLogTest {

    private final MemorySegment bitmap = Arena.ofAuto().allocate(64, 8); // 512 pages: 2 MiB of guest memory
    private final DirtyLog log = DirtyLog.over(bitmap);

    private int logByte(int i) {
        return Byte.toUnsignedInt(bitmap.get(ValueLayout.JAVA_BYTE, i));
    }

    @Test
    void shouldSetBitPageModEightOfBytePageDivEight() {
        // vhost-user.rst: page = addr / 4096; log[page / 8] |= 1 << page % 8
        log.markRange(5 * 4096 + 17, 1);
        log.markRange(70L * 4096, 4096);

        assertEquals(1 << 5, logByte(0));
        assertEquals(1 << 6, logByte(8), "page 70: byte 8, bit 6");
        assertEquals(2, log.dirtyPages());
        assertTrue(log.isDirty(70L * 4096 + 4095));
        assertFalse(log.isDirty(71L * 4096));
    }

    @Test
    void shouldMarkBothPagesOfARangeOverAPageEnd() {
        log.markRange(0x1FFF, 2); // last byte of page 1, first of page 2

        assertEquals(0b110, logByte(0));
        assertEquals(2, log.dirtyPages());
    }

    @Test
    void shouldNotMarkThePageAfterARangeEndingOnItsBoundary() {
        log.markRange(0x3000, 0x1000); // exactly page 3

        assertEquals(1 << 3, logByte(0));
        assertFalse(log.isDirty(0x4000));
    }

    @Test
    void shouldMarkAcrossA64PageWordBoundary() {
        log.markRange(63L * 4096 + 4000, 200); // pages 63 and 64: two different 64-bit words

        assertEquals(0x80, logByte(7), "page 63: bit 7 of byte 7 (word 0, bit 63)");
        assertEquals(0x01, logByte(8), "page 64: bit 0 of byte 8 (word 1, bit 0)");
        assertEquals(2, log.dirtyPages());
    }

    @Test
    void shouldMarkEveryPageOfALongRange() {
        log.markRange(10L * 4096 + 1, 200L * 4096); // pages 10..210

        assertEquals(201, log.dirtyPages());
        assertFalse(log.isDirty(9L * 4096 + 4095));
        assertTrue(log.isDirty(210L * 4096));
        assertFalse(log.isDirty(211L * 4096));
    }

    @Test
    void shouldCountPagesPastTheEndOfTheLogAndNotWriteThem() {
        log.markRange(511L * 4096, 2 * 4096); // page 511 is the last; 512 is past the log

        assertTrue(log.isDirty(511L * 4096));
        assertEquals(1, log.dirtyPages());
        assertEquals(1, log.outOfRange());
    }

    @Test
    void shouldKeepBitsOthersSet() {
        bitmap.set(ValueLayout.JAVA_BYTE, 0, (byte) 0x01); // the front-end's (or another queue's) bit
        log.markRange(0x2000, 1);

        assertEquals(0b101, logByte(0));
    }

    @Test
    void shouldRefuseLogsAtomicWordsCannotCover() {
        assertThrows(IllegalArgumentException.class, () -> DirtyLog.over(Arena.ofAuto().allocate(12, 8)));
        assertThrows(IllegalArgumentException.class, () -> DirtyLog.over(Arena.ofAuto().allocate(24, 8).asSlice(4, 16)));
        assertThrows(IllegalArgumentException.class, () -> DirtyLog.over(MemorySegment.ofArray(new long[2])));
    }

    @Test
    void cacheShouldHoldBitsUntilFlushed() {
        DirtyLogCache cache = new DirtyLogCache();
        cache.setLog(log);
        cache.mark(0x1000, 1);
        cache.mark(0x1800, 0x1000); // pages 1 and 2, same word: one entry

        assertEquals(0, log.dirtyPages(), "nothing reaches the log before the flush");
        assertEquals(1, cache.pending());
        cache.flush();
        assertEquals(0b110, logByte(0));
        assertEquals(0, cache.pending());
    }

    @Test
    void cacheShouldFlushWhenFullAndKeepEveryBit() {
        DirtyLogCache cache = new DirtyLogCache();
        cache.setLog(log);
        for (int word = 0; word < 8; word++) {
            cache.mark(word * 64L * 4096, 1);
        }
        MemorySegment big = Arena.ofAuto().allocate(8L * (DirtyLogCache.CAPACITY + 5), 8);
        DirtyLog wide = DirtyLog.over(big);
        cache.setLog(wide); // flushes the first batch into the first log
        assertEquals(8, log.dirtyPages());
        for (int word = 0; word < DirtyLogCache.CAPACITY + 5; word++) {
            cache.mark(word * 64L * 4096 + 4096 * (word % 64), 1);
        }
        assertEquals(DirtyLogCache.CAPACITY, wide.dirtyPages(), "the full cache flushed once");
        assertEquals(5, cache.pending(), "the 5 words after it wait");
        cache.flush();
        assertEquals(DirtyLogCache.CAPACITY + 5, wide.dirtyPages());
        assertEquals(8, log.dirtyPages(), "the replaced log got nothing more");
    }
}

package io.jvhost.virtio.memory;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.VarHandle;
import java.nio.ByteOrder;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The dirty-page log of a live migration (vhost-user.rst, "Migration"): one bit per 4 KiB page of
 * guest-physical memory, page {@code p} at bit {@code p % 8} of byte {@code p / 8}, set by the
 * back-end after it wrote into that page so that the front-end copies the page again.
 *
 * <pre>
 *   byte 0                byte 1                      byte 8 (word 1)
 *   | p7 .. p1 p0 |       | p15 .. p8 |      ...      | p71 .. p64 | ...
 *   read as little-endian u64 words: word w, bit b  =  page 64 * w + b
 * </pre>
 *
 * <p>Bits are set with an atomic OR of a whole little-endian 64-bit word (the spec asks for atomic
 * operations: the front-end reads and clears the log concurrently, and every queue of every worker
 * logs into it). Read as u64 words the byte layout above is the same bit order, and an atomic access
 * needs the word aligned: the log must start 8-byte aligned and be a whole number of words (QEMU
 * sizes it in u64 chunks and maps it from offset 0). A page past the end of the log is not logged
 * and counted ({@link #outOfRange()}): the front-end sized the log to cover all guest memory, so
 * that only happens to a ring whose {@code log_guest_addr} lies beyond it.
 *
 * <p>Thread-safe: any thread may mark; the segment must stay mapped while any thread may.
 */
public final class DirtyLog {

    /** Log granularity: 4 KiB pages, whatever the guest's page size. */
    public static final int PAGE_SHIFT = 12;
    public static final long PAGE_SIZE = 1L << PAGE_SHIFT;
    /** Pages per 64-bit word of the log. */
    public static final int PAGES_PER_WORD_SHIFT = 6;

    private static final VarHandle WORD = ValueLayout.JAVA_LONG.withOrder(ByteOrder.LITTLE_ENDIAN).varHandle();

    private final MemorySegment bitmap;
    private final long words;
    private final AtomicLong outOfRange = new AtomicLong();

    private DirtyLog(MemorySegment bitmap) {
        this.bitmap = bitmap;
        this.words = bitmap.byteSize() >>> 3;
    }

    /**
     * A log over {@code bitmap}.
     *
     * @throws IllegalArgumentException when the bitmap is empty, not 8-byte aligned or not a whole
     *                                  number of 64-bit words
     */
    public static DirtyLog over(MemorySegment bitmap) {
        long size = bitmap.byteSize();
        if (size <= 0 || (size & 7) != 0) {
            throw new IllegalArgumentException("log size " + size + " is not a positive multiple of 8 bytes");
        }
        if (!bitmap.isNative() || (bitmap.address() & 7) != 0) {
            throw new IllegalArgumentException("log at 0x" + Long.toHexString(bitmap.address())
                    + " is not 8-byte aligned native memory (atomic 64-bit ORs need it)");
        }
        return new DirtyLog(bitmap);
    }

    /** Pages the log covers: guest-physical {@code [0, pages() * 4096)}. */
    public long pages() {
        return words << PAGES_PER_WORD_SHIFT;
    }

    /** ORs {@code bits} into word {@code word} atomically (page {@code 64 * word + b} for bit b). */
    public void markWord(long word, long bits) {
        if (word >= 0 && word < words) {
            // word < words = byteSize / 8: the 8-byte access lies inside the segment, aligned.
            long ignored = (long) WORD.getAndBitwiseOr(bitmap, word << 3, bits);
        } else {
            outOfRange.incrementAndGet();
        }
    }

    /** Marks every page that {@code [gpa, gpa + length)} touches, at once (no batching). */
    public void markRange(long gpa, long length) {
        if (length <= 0) {
            return;
        }
        long firstPage = gpa >>> PAGE_SHIFT;
        long lastPage = (gpa + length - 1) >>> PAGE_SHIFT;
        long lastWord = lastPage >>> PAGES_PER_WORD_SHIFT;
        for (long word = firstPage >>> PAGES_PER_WORD_SHIFT; word <= lastWord; word++) {
            markWord(word, wordMask(word, firstPage, lastPage));
        }
    }

    /**
     * The bits of word {@code word} for pages {@code [firstPage, lastPage]}; the word must hold one of
     * them.
     */
    static long wordMask(long word, long firstPage, long lastPage) {
        int low = word == firstPage >>> PAGES_PER_WORD_SHIFT ? (int) (firstPage & 63) : 0;
        int high = word == lastPage >>> PAGES_PER_WORD_SHIFT ? (int) (lastPage & 63) : 63;
        return (-1L << low) & (-1L >>> (63 - high));
    }

    /** Whether the page holding {@code gpa} is marked (tests, diagnostics). */
    public boolean isDirty(long gpa) {
        long page = gpa >>> PAGE_SHIFT;
        long word = page >>> PAGES_PER_WORD_SHIFT;
        if (word >= words) {
            return false;
        }
        return ((long) WORD.getVolatile(bitmap, word << 3) & (1L << (page & 63))) != 0;
    }

    /** Marked pages in the whole log (tests, diagnostics). */
    public long dirtyPages() {
        long n = 0;
        for (long w = 0; w < words; w++) {
            n += Long.bitCount((long) WORD.getVolatile(bitmap, w << 3));
        }
        return n;
    }

    /** Pages that fell past the end of the log and were not logged. */
    public long outOfRange() {
        return outOfRange.get();
    }

    @Override
    public String toString() {
        return "DirtyLog[" + pages() + " pages]";
    }
}

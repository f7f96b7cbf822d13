package io.jvhost.virtio.memory;

/**
 * One queue's pending dirty bits, gathered while it writes guest memory and ORed into the
 * {@link DirtyLog} together, before the queue publishes its used index (as DPDK's log cache): a burst
 * of frames into the same few pages costs a handful of atomic operations, not one per buffer. The
 * data is always written before its bits are gathered, so a flush sets bits only for bytes already in
 * guest memory; the front-end sees the used index only after the flush, so it never finds a completed
 * buffer whose page is clean.
 *
 * <p>Fixed capacity, no allocation: a full cache flushes what it holds and starts again.
 *
 * <p>Not thread-safe: used by whoever holds the queue (its worker, or the sender holding an RX claim).
 */
public final class DirtyLogCache {

    /** Distinct log words gathered before a flush is forced (64 pages each: 8 MiB of guest memory in all). */
    public static final int CAPACITY = 32;

    private final long[] words = new long[CAPACITY];
    private final long[] bits = new long[CAPACITY];
    private int count;
    private DirtyLog log;

    /** The log being written into, or null when logging is off. */
    public DirtyLog log() {
        return log;
    }

    /**
     * Switches to {@code next} (null: logging off), flushing what was gathered into the current log
     * first: those writes happened while it was the log, and the front-end reads the old log once the
     * switch is acknowledged (QEMU syncs it before freeing it).
     */
    public void setLog(DirtyLog next) {
        flush();
        log = next;
    }

    /** Gathers the pages {@code [gpa, gpa + length)} touches. Logging must be on ({@link #log()} not null). */
    public void mark(long gpa, long length) {
        if (length <= 0) {
            return;
        }
        long firstPage = gpa >>> DirtyLog.PAGE_SHIFT;
        long lastPage = (gpa + length - 1) >>> DirtyLog.PAGE_SHIFT;
        long lastWord = lastPage >>> DirtyLog.PAGES_PER_WORD_SHIFT;
        for (long word = firstPage >>> DirtyLog.PAGES_PER_WORD_SHIFT; word <= lastWord; word++) {
            add(word, DirtyLog.wordMask(word, firstPage, lastPage));
        }
    }

    private void add(long word, long mask) {
        final int n = count;
        for (int i = n - 1; i >= 0; i--) { // the latest word first: consecutive buffers share pages
            if (words[i] == word) {
                bits[i] |= mask;
                return;
            }
        }
        if (n == CAPACITY) {
            flush();
            words[0] = word;
            bits[0] = mask;
            count = 1;
            return;
        }
        words[n] = word;
        bits[n] = mask;
        count = n + 1;
    }

    /** ORs every gathered word into the log (atomically, word by word) and empties the cache. */
    public void flush() {
        final int n = count;
        if (n == 0) {
            return;
        }
        final DirtyLog l = log;
        if (l != null) {
            for (int i = 0; i < n; i++) {
                l.markWord(words[i], bits[i]);
            }
        }
        count = 0;
    }

    /** Words gathered and not yet flushed (tests). */
    public int pending() {
        return count;
    }
}

package io.jvhost.it.qemu;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

/**
 * Compares two QEMU processes' guest RAM, the {@code memory-backend-memfd} each holds open (found as
 * {@code /memfd:memory-backend-memfd} among {@code /proc/PID/fd}), 4 KiB page by page: read through the fd, so the test
 * sees exactly what the guests would. Both must be stopped while it reads.
 */
final class RamComparison {

    private static final int PAGE = 4096;
    private static final int CHUNK = 1 << 20;
    /** Pages reported at most; the count is always exact. */
    private static final int MAX_LISTED = 20;

    private RamComparison() {
    }

    /**
     * What differs between two stopped QEMUs' guest RAM, from one pass over it.
     *
     * @param pages     the pages that differ, each as {@code "0xGPA[first..last] N bytes, run R"} (the byte range
     *                  that differs, how many bytes in it differ, the longest run of consecutive differing bytes;
     *                  for {@code memory-backend-memfd} below 4 GiB the file offset is the guest-physical address),
     *                  with a last {@code "... N pages in all"} entry when more than {@value #MAX_LISTED} differ
     * @param framelike those of them whose difference looks like frame bytes, a run of at least
     *                  {@value #FRAME_RUN} consecutive differing bytes, listed the same way. What a backend writes
     *                  into guest memory is frames (here the payload of random files, where almost every byte of a
     *                  stale copy differs), headers and ring entries; QEMU 7.2 under TCG by itself now and then
     *                  leaves a page of the guest's own kernel data stale ({@link BridgeMigrationControl}, no vhost
     *                  back-end at all): pointers and counts, which differ in a few bytes at a time.
     */
    record Differences(List<String> pages, List<String> framelike) {
    }

    /** Consecutive differing bytes from which a page's difference counts as frame bytes. */
    static final int FRAME_RUN = 32;

    /** Compares the guest RAM of {@code pidA} and {@code pidB} (both stopped). */
    static Differences compare(long pidA, long pidB) throws IOException {
        Listing pages = new Listing();
        Listing framelike = new Listing();
        walkDiffering(pidA, pidB, (gpa, pageA, pageB, first) -> {
            int last = pageA.limit() - 1;
            while (pageA.get(last) == pageB.get(last)) {
                last--;
            }
            int differing = 0;
            int run = 0;
            int longest = 0;
            for (int i = first; i <= last; i++) {
                if (pageA.get(i) != pageB.get(i)) {
                    differing++;
                    longest = Math.max(longest, ++run);
                } else {
                    run = 0;
                }
            }
            String page = String.format("0x%x[%d..%d] %d bytes, run %d", gpa, first, last, differing, longest);
            pages.add(page);
            if (longest >= FRAME_RUN) {
                framelike.add(page);
            }
        });
        return new Differences(pages.done(), framelike.done());
    }

    /** Up to {@value #MAX_LISTED} entries, then only counted. */
    private static final class Listing {
        private final List<String> entries = new ArrayList<>();
        private int count;

        void add(String entry) {
            if (count++ < MAX_LISTED) {
                entries.add(entry);
            }
        }

        List<String> done() {
            if (count > MAX_LISTED) {
                entries.add("... " + count + " pages in all");
            }
            return List.copyOf(entries);
        }
    }

    /**
     * Writes each differing page of both processes into {@code dir}, as {@code GPA.a} and {@code GPA.b}
     * (8 hex digits): what the pages hold tells whose writes they are (frame bytes, ring entries, kernel
     * pointers). Both must be stopped.
     */
    static void dumpDiffering(long pidA, long pidB, Path dir) throws IOException {
        Files.createDirectories(dir);
        walkDiffering(pidA, pidB, (gpa, pageA, pageB, first) -> {
            String name = String.format("%08x", gpa);
            write(dir.resolve(name + ".a"), pageA);
            write(dir.resolve(name + ".b"), pageB);
        });
    }

    /** One differing page: its offset (the GPA below 4 GiB), both contents, the first differing byte. */
    private interface DifferingPage {
        void found(long gpa, ByteBuffer pageA, ByteBuffer pageB, int first) throws IOException;
    }

    /** Calls {@code visitor} for every page that differs (sizes must match). */
    private static void walkDiffering(long pidA, long pidB, DifferingPage visitor) throws IOException {
        try (FileChannel a = FileChannel.open(memfd(pidA)); FileChannel b = FileChannel.open(memfd(pidB))) {
            if (a.size() != b.size()) {
                throw new IOException("RAM sizes differ: " + a.size() + " and " + b.size());
            }
            ByteBuffer bufferA = ByteBuffer.allocateDirect(CHUNK);
            ByteBuffer bufferB = ByteBuffer.allocateDirect(CHUNK);
            for (long offset = 0; offset < a.size(); offset += CHUNK) {
                read(a, bufferA, offset);
                read(b, bufferB, offset);
                for (int p = 0; p < bufferA.limit(); p += PAGE) {
                    ByteBuffer pageA = bufferA.slice(p, Math.min(PAGE, bufferA.limit() - p));
                    ByteBuffer pageB = bufferB.slice(p, pageA.limit());
                    int first = pageA.mismatch(pageB);
                    if (first >= 0) {
                        visitor.found(offset + p, pageA, pageB, first);
                    }
                }
            }
        }
    }

    private static void write(Path file, ByteBuffer page) throws IOException {
        try (FileChannel out = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.TRUNCATE_EXISTING)) {
            ByteBuffer view = page.duplicate();
            while (view.hasRemaining()) {
                out.write(view);
            }
        }
    }

    private static void read(FileChannel channel, ByteBuffer buffer, long offset) throws IOException {
        buffer.clear();
        while (buffer.hasRemaining() && channel.read(buffer, offset + buffer.position()) > 0) {
            // until the chunk is full or the file ends
        }
        buffer.flip();
    }

    /** The guest RAM fd of QEMU process {@code pid}. */
    private static Path memfd(long pid) throws IOException {
        try (Stream<Path> fds = Files.list(Path.of("/proc", Long.toString(pid), "fd"))) {
            for (Path fd : fds.toList()) {
                try {
                    if (Files.readSymbolicLink(fd).toString().startsWith("/memfd:memory-backend-memfd")) {
                        return fd;
                    }
                } catch (IOException e) {
                    // closed while listed: not it
                }
            }
        }
        throw new IOException("QEMU " + pid + " holds no memory-backend-memfd");
    }
}

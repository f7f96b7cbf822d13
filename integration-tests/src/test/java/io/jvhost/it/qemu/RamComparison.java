package io.jvhost.it.qemu;

import io.jvhost.backend.switching.MacAddress;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
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
     * @param pages       the pages that differ, each as {@code "0xGPA[first..last] N bytes, run R"} (the byte range
     *                    that differs, how many bytes in it differ, the longest run of consecutive differing bytes;
     *                    for {@code memory-backend-memfd} below 4 GiB the file offset is the guest-physical address),
     *                    with a last {@code "... N pages in all"} entry when more than {@value #MAX_LISTED} differ
     * @param backendLike      those of them that hold what a back-end writes ({@link BackendWrites}), listed the
     *                         same way
     * @param backendLikeCount how many of them hold what a back-end writes
     * @param gpas             every differing page's address, for {@link #restore}
     */
    record Differences(List<String> pages, List<String> backendLike, int backendLikeCount, List<Long> gpas) {
        /** How many pages differ. */
        int count() {
            return gpas.size();
        }
    }

    /**
     * What a vhost back-end writes into this guest, to tell a stale page of it from QEMU's own loss. QEMU 7.2
     * under TCG by itself leaves pages of the guest's kernel data stale now and then ({@link BridgeMigrationControl},
     * no vhost back-end at all): kernel stacks, allocator lists, pointers and counts. A back-end writes only
     * three things: its used rings, frames (whose bytes here are the payload of random files: a stale copy
     * differs in a long run of high-entropy bytes) and the headers of frames (a virtio-net header, then an
     * Ethernet header with the sender's MAC; any destination: unicast, broadcast, IPv6 multicast).
     *
     * @param usedRings the used rings' guest-physical ranges, each {@code {gpa, length}}
     * @param senders   the MACs of the guests whose frames reach this one ({@link MacAddress#parse})
     */
    record BackendWrites(List<long[]> usedRings, List<Long> senders) {
    }

    /** A run of this many differing bytes or more is a frame's payload when its bytes are random enough. */
    static final int PAYLOAD_RUN = 64;
    /**
     * Bits per byte of the source's bytes in such a run from which they count as random file payload: 64 random
     * bytes measure at least 5.4 (2000 draws); the longest runs of stale kernel stacks seen measured at most 4.0.
     */
    static final double PAYLOAD_ENTROPY = 5.0;
    /** How far before or after the differing bytes a sender's MAC may be and still be in the frame's header. */
    private static final int HEADER_REACH = 32;
    private static final int MAC_LENGTH = 6;

    /** Compares the guest RAM of {@code source} and {@code target} (both stopped). */
    static Differences compare(long source, long target, BackendWrites backend) throws IOException {
        Listing pages = new Listing();
        Listing backendLike = new Listing();
        List<Long> gpas = new ArrayList<>();
        walkDiffering(source, target, (gpa, pageA, pageB, first) -> {
            gpas.add(gpa);
            int last = pageA.limit() - 1;
            while (pageA.get(last) == pageB.get(last)) {
                last--;
            }
            int differing = 0;
            int run = 0;
            int longest = 0;
            int longestEnd = first;
            for (int i = first; i <= last; i++) {
                if (pageA.get(i) != pageB.get(i)) {
                    differing++;
                    if (++run > longest) {
                        longest = run;
                        longestEnd = i + 1;
                    }
                } else {
                    run = 0;
                }
            }
            String page = String.format("0x%x[%d..%d] %d bytes, run %d", gpa, first, last, differing, longest);
            double runEntropy = longest >= PAYLOAD_RUN ? entropy(pageA, longestEnd - longest, longestEnd) : 0;
            String why = null;
            if (inUsedRing(backend, gpa, pageA.limit())) {
                why = "a used ring";
            } else if (runEntropy >= PAYLOAD_ENTROPY) {
                why = String.format("payload, %.1f bits per byte", runEntropy);
            } else if (frameHeaderNear(pageA, first, last, backend.senders())) {
                why = "a frame's header";
            }
            pages.add(page);
            if (why != null) {
                backendLike.add(page + " (" + why + ")");
            }
        });
        return new Differences(pages.done(), backendLike.done(), backendLike.count, List.copyOf(gpas));
    }

    private static boolean inUsedRing(BackendWrites backend, long gpa, int length) {
        for (long[] ring : backend.usedRings()) {
            if (ring[0] < gpa + length && gpa < ring[0] + ring[1]) {
                return true;
            }
        }
        return false;
    }

    /** Shannon entropy of {@code page[from, to)}, in bits per byte. */
    static double entropy(ByteBuffer page, int from, int to) {
        int[] counts = new int[256];
        for (int i = from; i < to; i++) {
            counts[page.get(i) & 0xFF]++;
        }
        double n = to - from;
        double bits = 0;
        for (int c : counts) {
            if (c > 0) {
                bits -= c / n * (Math.log(c / n) / Math.log(2));
            }
        }
        return bits;
    }

    private static boolean frameHeaderNear(ByteBuffer page, int first, int last, List<Long> senders) {
        MemorySegment bytes = MemorySegment.ofBuffer(page);
        int to = Math.min(last + HEADER_REACH, page.limit() - MAC_LENGTH);
        for (int i = Math.max(0, first - HEADER_REACH); i <= to; i++) {
            if (senders.contains(MacAddress.read(bytes, i))) {
                return true;
            }
        }
        return false;
    }

    /**
     * Writes the source's version of the pages {@code differences} found into the target's RAM: QEMU's own
     * lost writes put back, so that the destination does not run on with a stale kernel page. Both must be
     * stopped (as they were for {@link #compare}).
     */
    static void restore(long source, long target, Differences differences) throws IOException {
        try (FileChannel in = FileChannel.open(memfd(source));
             FileChannel out = FileChannel.open(memfd(target), StandardOpenOption.WRITE)) {
            ByteBuffer page = ByteBuffer.allocateDirect(PAGE);
            for (long gpa : differences.gpas()) {
                read(in, page, gpa);
                while (page.hasRemaining()) {
                    out.write(page, gpa + page.position());
                }
            }
        }
    }

    /** Up to {@value #MAX_LISTED} entries, then only counted. */
    private static final class Listing {
        private final List<String> entries = new ArrayList<>();
        int count;

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

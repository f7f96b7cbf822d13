package io.jvhost.it.qemu;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
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
     * The pages that differ, each as {@code "0xGPA[first..last]"} (the byte range that differs; for
     * {@code memory-backend-memfd} below 4 GiB the file offset is the guest-physical address), with a
     * last {@code "... N pages in all"} entry when more than {@value #MAX_LISTED} differ.
     */
    static List<String> differingPages(long pidA, long pidB) throws IOException {
        try (FileChannel a = FileChannel.open(memfd(pidA)); FileChannel b = FileChannel.open(memfd(pidB))) {
            if (a.size() != b.size()) {
                return List.of("sizes differ: " + a.size() + " and " + b.size());
            }
            ByteBuffer bufferA = ByteBuffer.allocateDirect(CHUNK);
            ByteBuffer bufferB = ByteBuffer.allocateDirect(CHUNK);
            List<String> out = new ArrayList<>();
            int count = 0;
            for (long offset = 0; offset < a.size(); offset += CHUNK) {
                read(a, bufferA, offset);
                read(b, bufferB, offset);
                for (int p = 0; p < bufferA.limit(); p += PAGE) {
                    ByteBuffer pageA = bufferA.slice(p, Math.min(PAGE, bufferA.limit() - p));
                    ByteBuffer pageB = bufferB.slice(p, pageA.limit());
                    int first = pageA.mismatch(pageB);
                    if (first < 0) {
                        continue;
                    }
                    count++;
                    if (out.size() < MAX_LISTED) {
                        int last = pageA.limit() - 1;
                        while (pageA.get(last) == pageB.get(last)) {
                            last--;
                        }
                        out.add(String.format("0x%x[%d..%d]", offset + p, first, last));
                    }
                }
            }
            if (count > MAX_LISTED) {
                out.add("... " + count + " pages in all");
            }
            return out;
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

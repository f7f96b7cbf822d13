package io.jvhost.backend.offload;

import io.jvhost.virtio.LittleEndian;
import io.jvhost.virtio.net.FrameSource;
import io.jvhost.virtio.ring.DescriptorChain;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * The Internet checksum (RFC 1071): the ones' complement of the ones' complement sum of 16-bit words.
 *
 * <p>Sums are computed on little-endian 8-byte loads and kept unfolded in a {@code long}: the ones'
 * complement sum is independent of byte order (RFC 1071 §2(B)), so the sum of little-endian words is
 * the byte-swapped sum of the network-order words, and storing the folded result as a little-endian
 * {@code u16} puts the network-order checksum in memory. Adding the two 32-bit halves of each 8-byte
 * word to a 64-bit accumulator cannot overflow before 2^30 words (8 GiB), far beyond any frame.
 *
 * <p>Numbers that are not in memory (a pseudo-header's length and protocol) are added with
 * {@link #addNumber}, which swaps them into the same little-endian view. A range that starts at an odd
 * position of the checksummed stream contributes its folded sum byte-swapped ({@link #sum(FrameSource,
 * long, long)} handles that across descriptor boundaries).
 *
 * <p>Stateless and allocation-free; any thread.
 */
public final class InternetChecksum {

    private static final ValueLayout.OfLong U64 = LittleEndian.U64;
    private static final ValueLayout.OfInt U32 = LittleEndian.U32;
    private static final ValueLayout.OfShort U16 = LittleEndian.U16;

    private InternetChecksum() {
    }

    /** The unfolded sum of {@code length} bytes of {@code segment} from {@code offset}, as if at an even position. */
    public static long sum(MemorySegment segment, long offset, long length) {
        long a = 0;
        long b = 0;
        long i = 0;
        final long end16 = length - 15;
        // Two accumulators: the adds of consecutive words do not wait for each other.
        for (; i < end16; i += 16) {
            long w0 = segment.get(U64, offset + i);
            long w1 = segment.get(U64, offset + i + 8);
            a += (w0 & 0xFFFF_FFFFL) + (w0 >>> 32);
            b += (w1 & 0xFFFF_FFFFL) + (w1 >>> 32);
        }
        a += b;
        if (i + 8 <= length) {
            long w = segment.get(U64, offset + i);
            a += (w & 0xFFFF_FFFFL) + (w >>> 32);
            i += 8;
        }
        if (i + 4 <= length) {
            a += Integer.toUnsignedLong(segment.get(U32, offset + i));
            i += 4;
        }
        if (i + 2 <= length) {
            a += Short.toUnsignedInt(segment.get(U16, offset + i));
            i += 2;
        }
        if (i < length) {
            // A last odd byte is the high-order byte of a network-order word: the low byte of a LE one.
            a += Byte.toUnsignedInt(segment.get(ValueLayout.JAVA_BYTE, offset + i));
        }
        return a;
    }

    /**
     * The unfolded sum of frame bytes {@code [from, from + length)}, as if {@code from} were an even
     * position, across the descriptors of a chain frame.
     */
    public static long sum(FrameSource frame, long from, long length) {
        DescriptorChain chain = frame.chain();
        if (chain == null) {
            return sum(frame.segment(), frame.segmentOffset() + from, length);
        }
        long skip = frame.chainOffset() + from;
        int buffer = 0;
        final int readable = chain.readableCount();
        while (buffer < readable && skip >= chain.length(buffer)) {
            skip -= chain.length(buffer);
            buffer++;
        }
        long total = 0;
        long done = 0;
        while (done < length && buffer < readable) {
            long n = Math.min(chain.length(buffer) - skip, length - done);
            long part = sum(chain.segmentOf(buffer), chain.offset(buffer) + skip, n);
            // A run starting at an odd position of the stream has its bytes in the other half of each word.
            total += at(part, done);
            done += n;
            skip = 0;
            buffer++;
        }
        return total;
    }

    /**
     * {@code part}, the sum of a range computed as if it began at an even position, as it counts
     * when the range begins at {@code position} of the checksummed stream.
     */
    public static long at(long part, long position) {
        return (position & 1) == 0 ? part : swap(fold(part));
    }

    /** Adds the 16-bit number {@code value} (a length, a protocol) as it would read in network order. */
    public static long addNumber(long sum, int value) {
        return sum + swap(value);
    }

    /** The sum folded to 16 bits (end-around carry), still in the little-endian view. */
    public static int fold(long sum) {
        long s = (sum & 0xFFFF_FFFFL) + (sum >>> 32);
        s = (s & 0xFFFF_FFFFL) + (s >>> 32);
        s = (s & 0xFFFF) + (s >>> 16);
        s = (s & 0xFFFF) + (s >>> 16);
        return (int) s;
    }

    /** The checksum to store (little-endian) for {@code sum}: its folded complement. */
    public static int finish(long sum) {
        return ~fold(sum) & 0xFFFF;
    }

    /**
     * As {@link #finish}, but a result of 0 becomes 0xFFFF: for UDP over IPv4 0 means "no checksum",
     * and Linux stores 0xFFFF (CSUM_MANGLED_0) wherever it completes a partial checksum; both are the
     * same value in ones' complement arithmetic.
     */
    public static int finishNonZero(long sum) {
        int c = finish(sum);
        return c == 0 ? 0xFFFF : c;
    }

    /** The checksum of bytes {@code [offset, offset + length)} of {@code segment} (an IPv4 header). */
    public static int of(MemorySegment segment, long offset, long length) {
        return finish(sum(segment, offset, length));
    }

    /** Whether bytes whose checksum field is included sum to a valid checksum (all ones). */
    public static boolean verifies(long sumIncludingChecksum) {
        return fold(sumIncludingChecksum) == 0xFFFF;
    }

    private static int swap(int value) {
        return Short.toUnsignedInt(Short.reverseBytes((short) value));
    }
}

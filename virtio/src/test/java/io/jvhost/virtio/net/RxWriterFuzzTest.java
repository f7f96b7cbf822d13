package io.jvhost.virtio.net;

import com.code_intelligence.jazzer.junit.FuzzTest;
import io.jvhost.virtio.LittleEndian;
import io.jvhost.virtio.driver.DriverVirtqueue;
import io.jvhost.virtio.driver.GuestRam;
import io.jvhost.virtio.fuzz.FuzzInput;
import io.jvhost.virtio.fuzz.FuzzStats;
import io.jvhost.virtio.memory.MemoryRegion;
import io.jvhost.virtio.ring.RingStatus;
import io.jvhost.virtio.ring.SplitVirtqueue;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Fuzzes {@link RxFrameWriter}: receive rings a driver filled with chains of fuzzed shapes (one to
 * three buffers of any length, zero included, sometimes a device-readable one, sometimes indirect,
 * buffers that cross the boundary of two memory regions), then frames of fuzzed lengths behind
 * fuzzed headers and prefixes, with and without MRG_RXBUF and VERSION_1.
 *
 * <p>Asserted for every frame:
 * <ul>
 * <li>no exception; the status is OK, NO_BUFFERS, FRAME_TOO_LARGE or a ring error (then the queue is
 * broken);</li>
 * <li>NO_BUFFERS and FRAME_TOO_LARGE consume nothing (next avail and the pending used entries stay);</li>
 * <li>OK: the chains the writer reports are the used entries the driver sees (exactly one without
 * MRG_RXBUF), and what they hold, in order, is the header (bytes 0-7 and csum_offset as given,
 * num_buffers the chain count) followed by the prefix and the frame;</li>
 * <li>whatever the status, every byte of guest memory that changed lies in a writable buffer of a
 * chain the driver had made available, or in the used ring.</li>
 * </ul>
 */
class RxWriterFuzzTest {

    @RegisterExtension
    static final FuzzStats STATS = new FuzzStats("RxWriterFuzzTest");
    private static final long REGION_SIZE = 0x2_0000;
    private static final long GPA = 0x10_0000;
    private static final long VA_OFFSET = 0x7F00_0000_0000L;
    private static final int SOURCE_SIZE = 1 << 16;
    private static final int[] CAPACITIES = {2, 16, 1024};
    private static final int[] MAX_CHAINS = {1, 4, RxFrameWriter.DEFAULT_MAX_CHAINS_PER_FRAME};

    private final MemorySegment backing = Arena.ofAuto().allocate(2 * REGION_SIZE, 4096);
    private final MemorySegment source = Arena.ofAuto().allocate(SOURCE_SIZE, 8);
    private final MemorySegment prefix = Arena.ofAuto().allocate(64, 8);
    private final RxFrameWriter[] writers = new RxFrameWriter[CAPACITIES.length * MAX_CHAINS.length];
    private final MemorySegment before = Arena.ofAuto().allocate(2 * REGION_SIZE, 4096);
    /** Where the writer may write: sorted, merged [start, end) offsets into guest RAM. */
    private final List<long[]> allowed = new ArrayList<>();

    RxWriterFuzzTest() {
        for (int i = 0; i < writers.length; i++) {
            writers[i] = new RxFrameWriter(CAPACITIES[i % CAPACITIES.length], MAX_CHAINS[i / CAPACITIES.length]);
        }
        for (int i = 0; i < SOURCE_SIZE; i++) {
            source.set(ValueLayout.JAVA_BYTE, i, (byte) (i * 31 + 7));
        }
    }

    @FuzzTest(maxDuration = FuzzStats.MAX_DURATION)
    void shouldWriteEveryFrameIntoOfferedBuffersOnly(byte[] data) {
        FuzzInput in = STATS.start(data);
        backing.fill((byte) 0);
        // Two regions adjacent in guest-physical space: buffers from the bump allocator may span both.
        GuestRam ram = new GuestRam(
                new MemoryRegion(GPA, REGION_SIZE, GPA + VA_OFFSET, backing.asSlice(0, REGION_SIZE)),
                new MemoryRegion(GPA + REGION_SIZE, REGION_SIZE, GPA + REGION_SIZE + VA_OFFSET + 0x10_0000,
                        backing.asSlice(REGION_SIZE, REGION_SIZE)));
        int size = 1 << (1 + in.below(5));
        DriverVirtqueue driver = new DriverVirtqueue(ram, size, 256);
        long features = (in.bool() ? VirtioNetFeatures.mask(VirtioNetFeatures.MRG_RXBUF) : 0)
                | (in.bool() ? VirtioNetFeatures.mask(VirtioNetFeatures.VERSION_1) : 0)
                | (in.bool() ? VirtioNetFeatures.mask(VirtioNetFeatures.RING_EVENT_IDX) : 0)
                | VirtioNetFeatures.mask(VirtioNetFeatures.RING_INDIRECT_DESC);
        boolean mergeable = VirtioNetFeatures.has(features, VirtioNetFeatures.MRG_RXBUF);
        int headerLength = NetHeader.length(features);
        SplitVirtqueue rx = new SplitVirtqueue(0);
        driver.configure(rx, features);
        RxFrameWriter writer = writers[in.below(writers.length)];
        List<Integer> available = postChains(in, driver, size);

        FrameSource frame = new FrameSource().wrapSegment(source, 0, SOURCE_SIZE);
        for (int frames = 0; frames < 8 && in.hasMore() && !rx.isBroken(); frames++) {
            long header = in.u64();
            int csumOffset = in.u16();
            int prefixLength = in.below(65);
            for (int i = 0; i < prefixLength; i++) {
                prefix.set(ValueLayout.JAVA_BYTE, i, (byte) in.u8());
            }
            int from = in.below(64);
            int length = in.below(4000);
            markAllowed(driver, available);
            MemorySegment.copy(backing, 0, before, 0, backing.byteSize());
            int nextAvail = rx.nextAvail();
            int pendingUsed = rx.pendingUsedCount();

            int status = writer.write(rx, header, csumOffset, prefix, prefixLength, frame, from, length);

            checkChangesAllowed();
            if (status == RingStatus.OK) {
                int chains = writer.lastChainCount();
                assertTrue(chains >= 1 && (mergeable || chains == 1), chains + " chains");
                assertEquals(pendingUsed + chains, rx.pendingUsedCount());
                rx.publishUsed();
                List<DriverVirtqueue.Used> used = driver.pollUsed();
                assertEquals(chains, used.size(), "used entries");
                byte[] expected = expectedBytes(headerLength, header, csumOffset, chains, prefixLength, from, length);
                assertArrayEquals(expected, received(driver, used), "bytes in the RX chains");
                for (DriverVirtqueue.Used u : used) {
                    available.remove(Integer.valueOf(u.id()));
                }
            } else if (status == RingStatus.NO_BUFFERS || status == RingStatus.FRAME_TOO_LARGE) {
                assertEquals(nextAvail, rx.nextAvail(), RingStatus.name(status) + " consumed a chain");
                assertEquals(pendingUsed, rx.pendingUsedCount());
            } else if (RingStatus.isError(status)) {
                assertTrue(rx.isBroken(), "error status on a queue that is not broken");
                assertEquals(status, rx.brokenStatus());
            } else {
                fail("write answered " + RingStatus.name(status));
            }
        }
    }

    /** Up to {@code size} chains of one to three buffers; returns their heads. */
    private static List<Integer> postChains(FuzzInput in, DriverVirtqueue driver, int size) {
        List<Integer> heads = new ArrayList<>();
        int count = in.below(size + 1);
        for (int c = 0; c < count; c++) {
            int shape = in.u8();
            int parts = 1 + shape % 3;
            boolean indirect = (shape & 0x30) == 0x30;
            if (driver.freeDescriptors() < (indirect ? 1 : parts)) {
                break;
            }
            DriverVirtqueue.ChainBuilder chain = driver.chain();
            for (int p = 0; p < parts; p++) {
                if (in.below(32) == 0) {
                    chain.readable(new byte[1 + in.below(16)]);
                } else {
                    chain.writable(in.below(8) == 0 ? 0 : in.below(1200));
                }
            }
            if (indirect) {
                chain.indirect();
            }
            heads.add(chain.add());
        }
        driver.publishAvail();
        return heads;
    }

    private void markAllowed(DriverVirtqueue driver, List<Integer> available) {
        List<long[]> ranges = new ArrayList<>();
        for (int head : available) {
            for (DriverVirtqueue.Buffer b : driver.buffers(head)) {
                if (b.writable() && b.length() > 0) {
                    ranges.add(new long[] {b.gpa() - GPA, b.gpa() - GPA + b.length()});
                }
            }
        }
        long used = driver.usedGpa() - GPA;
        ranges.add(new long[] {used, used + 6 + 8L * driver.size()});
        ranges.sort((x, y) -> Long.compare(x[0], y[0]));
        allowed.clear();
        for (long[] r : ranges) {
            long[] last = allowed.isEmpty() ? null : allowed.getLast();
            if (last != null && r[0] <= last[1]) {
                last[1] = Math.max(last[1], r[1]);
            } else {
                allowed.add(r.clone());
            }
        }
    }

    /** Every byte that differs from {@link #before} lies in an allowed range (mismatch runs in the JDK, uninstrumented). */
    private void checkChangesAllowed() {
        long end = backing.byteSize();
        long at = 0;
        int range = 0;
        while (at < end) {
            long differs = MemorySegment.mismatch(before, at, end, backing, at, end);
            if (differs < 0) {
                return;
            }
            long offset = at + differs;
            while (range < allowed.size() && allowed.get(range)[1] <= offset) {
                range++;
            }
            if (range == allowed.size() || offset < allowed.get(range)[0]) {
                fail("the writer changed gpa 0x" + Long.toHexString(GPA + offset)
                        + ", outside every writable buffer of the available chains and the used ring");
            }
            at = allowed.get(range)[1];
        }
    }

    private byte[] expectedBytes(int headerLength, long header, int csumOffset, int chains, int prefixLength,
                                 int from, int length) {
        MemorySegment out = MemorySegment.ofArray(new byte[headerLength + prefixLength + length]);
        out.set(LittleEndian.U64, 0, header);
        out.set(LittleEndian.U16, 8, (short) csumOffset);
        if (headerLength == NetHeader.LENGTH) {
            out.set(LittleEndian.U16, 10, (short) chains);
        }
        MemorySegment.copy(prefix, 0, out, headerLength, prefixLength);
        MemorySegment.copy(source, from, out, headerLength + prefixLength, length);
        return out.toArray(ValueLayout.JAVA_BYTE);
    }

    private static byte[] received(DriverVirtqueue driver, List<DriverVirtqueue.Used> used) {
        List<byte[]> parts = new ArrayList<>();
        int total = 0;
        for (DriverVirtqueue.Used u : used) {
            byte[] part = driver.written(u);
            parts.add(part);
            total += part.length;
        }
        byte[] out = new byte[total];
        int at = 0;
        for (byte[] part : parts) {
            System.arraycopy(part, 0, out, at, part.length);
            at += part.length;
        }
        return out;
    }
}

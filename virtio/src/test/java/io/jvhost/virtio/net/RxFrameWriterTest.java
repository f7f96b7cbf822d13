package io.jvhost.virtio.net;

import io.jvhost.virtio.VirtioFeatures;
import io.jvhost.virtio.driver.DriverVirtqueue;
import io.jvhost.virtio.driver.DriverVirtqueue.Used;
import io.jvhost.virtio.driver.GuestRam;
import io.jvhost.virtio.ring.DescriptorChain;
import io.jvhost.virtio.ring.RingStatus;
import io.jvhost.virtio.ring.SplitVirtqueue;
import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class RxFrameWriterTest {

    static final long VERSION_1 = VirtioNetFeatures.mask(VirtioNetFeatures.VERSION_1);
    static final long MERGEABLE = VERSION_1 | VirtioNetFeatures.mask(VirtioNetFeatures.MRG_RXBUF);

    // Two guests: the receiver (RX queue) and a sender whose TX chains are the source.
    private final GuestRam rxRam = GuestRam.allocate(0x10_0000, 0x10_0000, 0x7F00_0010_0000L);
    private final GuestRam txRam = GuestRam.allocate(0x10_0000, 0x4000_0000L, 0x7E00_4000_0000L);
    private final DriverVirtqueue rxDriver = new DriverVirtqueue(rxRam, 8);
    private final DriverVirtqueue txDriver = new DriverVirtqueue(txRam, 8);
    private final SplitVirtqueue rx = new SplitVirtqueue(0);
    private final SplitVirtqueue tx = new SplitVirtqueue(1);
    private final RxFrameWriter writer = new RxFrameWriter();

    private static byte[] frame(int length) {
        byte[] b = new byte[length];
        for (int i = 0; i < length; i++) {
            b[i] = (byte) (i * 7 + 1);
        }
        return b;
    }

    private static byte[] header(int length, int numBuffers) {
        byte[] h = new byte[length];
        if (length == 12) {
            h[10] = (byte) numBuffers;
            h[11] = (byte) (numBuffers >> 8);
        }
        return h;
    }

    private static byte[] concat(byte[] a, byte[] b) {
        byte[] out = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }

    private static byte[] range(byte[] b, int from, int to) {
        return Arrays.copyOfRange(b, from, to);
    }

    /** Frame bytes placed at offset 5 of a larger segment, to prove the offset is honoured. */
    private static MemorySegment segmentWith(byte[] frame) {
        byte[] padded = new byte[frame.length + 9];
        Arrays.fill(padded, (byte) 0x99);
        System.arraycopy(frame, 0, padded, 5, frame.length);
        return MemorySegment.ofArray(padded);
    }

    @Test
    void shouldSpreadFrameOverThreeMergeableBuffersWithNumBuffers3() {
        rxDriver.configure(rx, MERGEABLE);
        int a = rxDriver.addRx(64);
        int b = rxDriver.addRx(64);
        int c = rxDriver.addRx(64);
        rxDriver.publishAvail();
        byte[] f = frame(150);

        assertEquals(RingStatus.OK, writer.write(rx, segmentWith(f), 5, 150));
        assertEquals(3, writer.lastChainCount());
        assertEquals(3, rx.pendingUsedCount());
        assertTrue(rx.publishUsed());

        List<Used> used = rxDriver.pollUsed();
        assertEquals(List.of(new Used(a, 64), new Used(b, 64), new Used(c, 34)), used);
        assertArrayEquals(concat(header(12, 3), range(f, 0, 52)), rxDriver.written(used.get(0)));
        assertArrayEquals(range(f, 52, 116), rxDriver.written(used.get(1)));
        assertArrayEquals(range(f, 116, 150), rxDriver.written(used.get(2)));
        assertEquals((byte) 0xEE, rxRam.readByte(rxDriver.buffers(c).getFirst().gpa() + 34), "nothing written past the frame");
    }

    @Test
    void shouldCopyFromTxChainAfterItsHeaderIntoSplitHeaderRxChains() {
        txDriver.configure(tx, VERSION_1);
        byte[] f = frame(100);
        byte[] txHeader = new byte[12];
        Arrays.fill(txHeader, (byte) 0x77);
        txDriver.chain().readable(txHeader).readable(range(f, 0, 40)).readable(range(f, 40, 100)).add();
        txDriver.publishAvail();
        DescriptorChain txChain = new DescriptorChain();
        assertEquals(RingStatus.OK, tx.pop(txChain));

        rxDriver.configure(rx, MERGEABLE);
        int first = rxDriver.chain().writable(12).writable(30).add();
        int second = rxDriver.addRx(200);
        rxDriver.publishAvail();

        assertEquals(RingStatus.OK, writer.write(rx, txChain, 12, 100));
        rx.publishUsed();
        List<Used> used = rxDriver.pollUsed();
        assertEquals(List.of(new Used(first, 42), new Used(second, 70)), used);
        assertArrayEquals(concat(header(12, 2), range(f, 0, 30)), rxDriver.written(used.get(0)));
        assertArrayEquals(range(f, 30, 100), rxDriver.written(used.get(1)));
    }

    @Test
    void shouldWriteTheGivenOffloadHeaderThenThePrefixThenTheSourceRangeAcrossChains() {
        txDriver.configure(tx, VERSION_1);
        byte[] f = frame(100);
        txDriver.chain().readable(new byte[12]).readable(range(f, 0, 33)).readable(range(f, 33, 100)).add();
        txDriver.publishAvail();
        DescriptorChain txChain = new DescriptorChain();
        assertEquals(RingStatus.OK, tx.pop(txChain));
        rxDriver.configure(rx, MERGEABLE);
        int first = rxDriver.chain().writable(12).writable(20).add();
        int second = rxDriver.addRx(200);
        rxDriver.publishAvail();
        byte[] prefix = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25};
        long header = NetHeader.pack(NetHeader.F_NEEDS_CSUM, NetHeader.GSO_TCPV4, 54, 1448, 34);

        // Prefix (25 bytes) + frame bytes 30..99 (70 bytes) = 95 bytes behind the header.
        FrameSource source = new FrameSource().wrapChain(txChain, 12, 100);
        assertEquals(RingStatus.OK, writer.write(rx, header, 16, MemorySegment.ofArray(prefix), 25, source, 30, 70));
        rx.publishUsed();

        List<Used> used = rxDriver.pollUsed();
        assertEquals(List.of(new Used(first, 32), new Used(second, 75)), used);
        byte[] expectedHeader = {NetHeader.F_NEEDS_CSUM, NetHeader.GSO_TCPV4, 54, 0, (byte) 0xA8, 0x05, 34, 0, 16, 0, 2, 0};
        assertArrayEquals(concat(expectedHeader, range(prefix, 0, 20)), rxDriver.written(used.get(0)));
        assertArrayEquals(concat(range(prefix, 20, 25), range(f, 30, 100)), rxDriver.written(used.get(1)));
    }

    @Test
    void shouldWriteALegacyHeaderWithOffloadFieldsAndNoNumBuffers() {
        rxDriver.configure(rx, 0L);
        rxDriver.addRx(200);
        rxDriver.publishAvail();
        byte[] f = frame(60);
        long header = NetHeader.pack(NetHeader.F_DATA_VALID, NetHeader.GSO_NONE, 0, 0, 0);

        FrameSource source = new FrameSource().wrapSegment(segmentWith(f), 5, 60);
        assertEquals(RingStatus.OK, writer.write(rx, header, 0, null, 0, source, 0, 60));
        rx.publishUsed();

        List<Used> used = rxDriver.pollUsed();
        assertEquals(List.of(new Used(used.getFirst().id(), 70)), used);
        byte[] expectedHeader = {NetHeader.F_DATA_VALID, 0, 0, 0, 0, 0, 0, 0, 0, 0};
        assertArrayEquals(concat(expectedHeader, f), rxDriver.written(used.getFirst()));
    }

    @Test
    void shouldConsumeNothingWhenMergeableBuffersRunOut() {
        rxDriver.configure(rx, MERGEABLE);
        rxDriver.addRx(64);
        rxDriver.addRx(64);
        rxDriver.publishAvail();

        assertEquals(RingStatus.NO_BUFFERS, writer.write(rx, segmentWith(frame(150)), 5, 150));
        assertEquals(0, rx.nextAvail());
        assertEquals(2, rx.pendingCount());
        assertEquals(0, rx.pendingUsedCount());
        assertFalse(rx.isBroken());

        rxDriver.addRx(64);
        rxDriver.publishAvail();
        assertEquals(RingStatus.OK, writer.write(rx, segmentWith(frame(150)), 5, 150));
        assertEquals(3, rx.nextAvail());
        assertEquals(3, writer.lastChainCount());
    }

    @Test
    void shouldAnswerNoBuffersOnAnEmptyRing() {
        rxDriver.configure(rx, MERGEABLE);
        assertEquals(RingStatus.NO_BUFFERS, writer.write(rx, segmentWith(frame(60)), 5, 60));
        rxDriver.configure(rx, VERSION_1);
        assertEquals(RingStatus.NO_BUFFERS, writer.write(rx, segmentWith(frame(60)), 5, 60));
    }

    @Test
    void shouldUseOneChainWhenTheFrameFitsTheFirstMergeableBuffer() {
        rxDriver.configure(rx, MERGEABLE);
        int a = rxDriver.addRx(64);
        rxDriver.addRx(64);
        rxDriver.publishAvail();
        byte[] f = frame(52);
        assertEquals(RingStatus.OK, writer.write(rx, segmentWith(f), 5, 52));
        assertEquals(1, rx.pendingCount(), "the second buffer is left for the next frame");
        rx.publishUsed();
        List<Used> used = rxDriver.pollUsed();
        assertEquals(List.of(new Used(a, 64)), used);
        assertArrayEquals(concat(header(12, 1), f), rxDriver.written(used.getFirst()));
    }

    @Test
    void shouldWriteHeaderOnlyForAnEmptyFrame() {
        rxDriver.configure(rx, MERGEABLE);
        int a = rxDriver.addRx(64);
        rxDriver.publishAvail();
        assertEquals(RingStatus.OK, writer.write(rx, MemorySegment.ofArray(new byte[0]), 0, 0));
        rx.publishUsed();
        assertEquals(List.of(new Used(a, 12)), rxDriver.pollUsed());
    }

    @Test
    void shouldUseExactlyOneBufferWithoutMergeableBuffers() {
        rxDriver.configure(rx, VERSION_1);
        int a = rxDriver.addRx(1526);
        rxDriver.addRx(1526);
        rxDriver.publishAvail();
        byte[] f = frame(60);
        assertEquals(RingStatus.OK, writer.write(rx, segmentWith(f), 5, 60));
        rx.publishUsed();
        List<Used> used = rxDriver.pollUsed();
        assertEquals(List.of(new Used(a, 72)), used);
        assertArrayEquals(concat(header(12, 1), f), rxDriver.written(used.getFirst()), "num_buffers is 1 (§5.1.6.4)");
    }

    @Test
    void shouldWriteTenByteHeaderForALegacyDriver() {
        rxDriver.configure(rx, 0);
        int a = rxDriver.addRx(1524);
        rxDriver.publishAvail();
        byte[] f = frame(60);
        assertEquals(RingStatus.OK, writer.write(rx, segmentWith(f), 5, 60));
        rx.publishUsed();
        List<Used> used = rxDriver.pollUsed();
        assertEquals(List.of(new Used(a, 70)), used);
        assertArrayEquals(concat(header(10, 0), f), rxDriver.written(used.getFirst()));
    }

    @Test
    void shouldWriteHeaderAcrossDescriptorsOfOneChain() {
        rxDriver.configure(rx, VERSION_1);
        int a = rxDriver.chain().writable(4).writable(8).writable(100).add();
        rxDriver.publishAvail();
        byte[] f = frame(50);
        assertEquals(RingStatus.OK, writer.write(rx, segmentWith(f), 5, 50));
        rx.publishUsed();
        List<Used> used = rxDriver.pollUsed();
        assertEquals(List.of(new Used(a, 62)), used);
        assertArrayEquals(concat(header(12, 1), f), rxDriver.written(used.getFirst()));
    }

    @Test
    void shouldDropFrameTooLargeForTheOnlyBufferAndKeepTheBuffer() {
        rxDriver.configure(rx, VERSION_1);
        rxDriver.addRx(71);
        rxDriver.publishAvail();
        assertEquals(RingStatus.FRAME_TOO_LARGE, writer.write(rx, segmentWith(frame(60)), 5, 60));
        assertEquals(0, rx.nextAvail());
        assertEquals(0, rx.pendingUsedCount());
        assertFalse(rx.isBroken());
        assertEquals(RingStatus.OK, writer.write(rx, segmentWith(frame(59)), 5, 59));
    }

    @Test
    void shouldDropFrameNeedingMoreChainsThanTheWriterAllows() {
        RxFrameWriter twoChains = new RxFrameWriter(16, 2);
        rxDriver.configure(rx, MERGEABLE);
        for (int i = 0; i < 3; i++) {
            rxDriver.addRx(64);
        }
        rxDriver.publishAvail();
        assertEquals(RingStatus.FRAME_TOO_LARGE, twoChains.write(rx, segmentWith(frame(150)), 5, 150));
        assertEquals(0, rx.nextAvail());
        assertEquals(RingStatus.OK, twoChains.write(rx, segmentWith(frame(116)), 5, 116));
        assertEquals(2, twoChains.lastChainCount());
    }

    @Test
    void shouldBreakRxQueueOnChainWithReadableBuffers() {
        rxDriver.configure(rx, MERGEABLE);
        rxDriver.chain().readable(new byte[4]).writable(64).add();
        rxDriver.publishAvail();
        assertEquals(RingStatus.ERR_CHAIN_LAYOUT, writer.write(rx, segmentWith(frame(10)), 5, 10));
        assertEquals("queue 0: RX chain head 0 has 1 device-readable buffers", rx.brokenReason());
        assertEquals(0, rx.pendingUsedCount());
    }

    @Test
    void shouldBreakRxQueueOnMergeableBufferSmallerThanTheHeader() {
        rxDriver.configure(rx, MERGEABLE);
        rxDriver.addRx(64);
        rxDriver.addRx(8);
        rxDriver.publishAvail();
        assertEquals(RingStatus.ERR_CHAIN_LAYOUT, writer.write(rx, segmentWith(frame(100)), 5, 100));
        assertEquals("queue 0: RX chain head 1 has 8 writable bytes, less than the 12-byte virtio-net header",
                rx.brokenReason());
        assertEquals(RingStatus.ERR_CHAIN_LAYOUT, writer.write(rx, segmentWith(frame(10)), 5, 10));
    }

    @Test
    void shouldPassOnRingErrorsOfTheRxQueue() {
        rxDriver.configure(rx, MERGEABLE);
        rxDriver.addLoop();
        rxDriver.publishAvail();
        assertEquals(RingStatus.ERR_LOOP_OR_TOO_LONG, writer.write(rx, segmentWith(frame(10)), 5, 10));
    }

    @Test
    void shouldFillIndirectRxChains() {
        rxDriver.configure(rx, MERGEABLE | VirtioFeatures.mask(VirtioFeatures.RING_INDIRECT_DESC));
        int a = rxDriver.chain().writable(20).writable(20).indirect().add();
        int b = rxDriver.chain().writable(100).indirect().add();
        rxDriver.publishAvail();
        byte[] f = frame(60);
        assertEquals(RingStatus.OK, writer.write(rx, segmentWith(f), 5, 60));
        rx.publishUsed();
        List<Used> used = rxDriver.pollUsed();
        assertEquals(List.of(new Used(a, 40), new Used(b, 32)), used);
        assertArrayEquals(concat(header(12, 2), range(f, 0, 28)), rxDriver.written(used.get(0)));
        assertArrayEquals(range(f, 28, 60), rxDriver.written(used.get(1)));
    }

    @Test
    void shouldRejectFrameOutsideTheTxChainOrSegment() {
        txDriver.configure(tx, VERSION_1);
        txDriver.addTx(new byte[20]);
        txDriver.publishAvail();
        DescriptorChain txChain = new DescriptorChain();
        assertEquals(RingStatus.OK, tx.pop(txChain));
        rxDriver.configure(rx, MERGEABLE);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> writer.write(rx, txChain, 12, 9));
        assertEquals("frame [12, +9) outside the readable length 20", e.getMessage());
        assertThrows(IndexOutOfBoundsException.class, () -> writer.write(rx, MemorySegment.ofArray(new byte[10]), 5, 6));
        assertEquals(0, rx.nextAvail());
    }
}

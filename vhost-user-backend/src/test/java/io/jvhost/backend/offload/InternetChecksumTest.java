package io.jvhost.backend.offload;

import io.jvhost.virtio.LittleEndian;
import io.jvhost.virtio.VirtioFeatures;
import io.jvhost.virtio.driver.DriverVirtqueue;
import io.jvhost.virtio.driver.GuestRam;
import io.jvhost.virtio.net.FrameSource;
import io.jvhost.virtio.ring.DescriptorChain;
import io.jvhost.virtio.ring.RingStatus;
import io.jvhost.virtio.ring.SplitVirtqueue;
import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class InternetChecksumTest {

    /** The checksum as it lies in memory (network order), read as a number. */
    private static int stored(int littleEndianValue) {
        MemorySegment s = MemorySegment.ofArray(new byte[2]);
        s.set(LittleEndian.U16, 0, (short) littleEndianValue);
        return TestPackets.u16(s.toArray(java.lang.foreign.ValueLayout.JAVA_BYTE), 0);
    }

    @Test
    void shouldSumTheRfc1071Example() {
        // RFC 1071 §3: 00 01 f2 03 f4 f5 f6 f7 sums to dd f2.
        byte[] b = TestPackets.bytes(0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7);
        int folded = InternetChecksum.fold(InternetChecksum.sum(MemorySegment.ofArray(b), 0, b.length));
        assertEquals(0xddf2, stored(folded));
    }

    @Test
    void shouldComputeAKnownIpv4HeaderChecksum() {
        // 4500 0073 0000 4000 4011 [b861] c0a8 0001 c0a8 00c7
        byte[] h = TestPackets.bytes(0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0, 0,
                0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7);
        assertEquals(0xb861, stored(InternetChecksum.of(MemorySegment.ofArray(h), 0, 20)));
        h[10] = (byte) 0xb8;
        h[11] = 0x61;
        assertTrue(InternetChecksum.verifies(InternetChecksum.sum(MemorySegment.ofArray(h), 0, 20)));
    }

    @Test
    void shouldMatchByteAtATimeSumsForEveryLengthAndAlignment() {
        Random random = new Random(42);
        byte[] data = new byte[300];
        random.nextBytes(data);
        MemorySegment segment = MemorySegment.ofArray(data);
        for (int offset = 0; offset < 9; offset++) {
            for (int length = 0; length < 280; length++) {
                int expected = TestPackets.fold(TestPackets.sum(data, offset, length));
                int actual = stored(InternetChecksum.fold(InternetChecksum.sum(segment, offset, length)));
                assertEquals(expected, actual, "offset " + offset + " length " + length);
            }
        }
    }

    @Test
    void shouldFoldAllOnesAndZeroesAsOnesComplementDoes() {
        byte[] ones = new byte[64];
        java.util.Arrays.fill(ones, (byte) 0xFF);
        assertEquals(0xFFFF, InternetChecksum.fold(InternetChecksum.sum(MemorySegment.ofArray(ones), 0, 64)));
        assertEquals(0, InternetChecksum.fold(0));
        assertEquals(0xFFFF, InternetChecksum.finish(0));
        // UDP: a computed 0 is sent as 0xFFFF (0 means "no checksum").
        assertEquals(0xFFFF, InternetChecksum.finishNonZero(0xFFFF));
    }

    @Test
    void shouldAddNumbersInNetworkOrder() {
        // The number 0x0102 reads as bytes 01 02: the same sum as the bytes in memory.
        long viaNumber = InternetChecksum.addNumber(0, 0x0102);
        long viaBytes = InternetChecksum.sum(MemorySegment.ofArray(TestPackets.bytes(0x01, 0x02)), 0, 2);
        assertEquals(InternetChecksum.fold(viaBytes), InternetChecksum.fold(viaNumber));
    }

    @Test
    void shouldSumAFrameAcrossDescriptorsOfOddLengths() {
        GuestRam ram = GuestRam.allocate(1 << 20, 0, 0x7f00_0000_0000L);
        DriverVirtqueue driver = new DriverVirtqueue(ram, 8);
        SplitVirtqueue ring = new SplitVirtqueue(1);
        driver.configure(ring, VirtioFeatures.mask(VirtioFeatures.VERSION_1));
        Random random = new Random(7);
        byte[][] parts = {new byte[13], new byte[1], new byte[250], new byte[7], new byte[64]};
        int total = 0;
        for (byte[] p : parts) {
            random.nextBytes(p);
            total += p.length;
        }
        DriverVirtqueue.ChainBuilder chain = driver.chain();
        for (byte[] p : parts) {
            chain.readable(p);
        }
        chain.add();
        driver.publishAvail();
        DescriptorChain popped = new DescriptorChain();
        assertEquals(RingStatus.OK, ring.pop(popped));
        byte[] all = new byte[total];
        int at = 0;
        for (byte[] p : parts) {
            System.arraycopy(p, 0, all, at, p.length);
            at += p.length;
        }
        FrameSource frame = new FrameSource().wrapChain(popped, 3, total - 3);
        for (int from = 0; from < 40; from++) {
            for (int length : new int[]{0, 1, 2, 9, 10, 11, 200, total - 3 - from}) {
                int expected = TestPackets.fold(TestPackets.sum(all, 3 + from, length));
                int actual = stored(InternetChecksum.fold(InternetChecksum.sum(frame, from, length)));
                assertEquals(expected, actual, "from " + from + " length " + length);
            }
        }
    }
}

package io.jvhost.virtio.ring;

import io.jvhost.virtio.driver.DriverVirtqueue;
import io.jvhost.virtio.driver.GuestRam;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class DescriptorChainTest {

    private final GuestRam ram = GuestRam.of(MemorySegment.ofArray(new byte[0x10000]), 0x1000, 0x1000);
    private final DriverVirtqueue driver = new DriverVirtqueue(ram, 8, 256);
    private final SplitVirtqueue queue = new SplitVirtqueue(0);
    private final DescriptorChain chain = new DescriptorChain();
    private int head;

    @BeforeEach
    void popChainOfThreeReadableAndTwoWritableBuffers() {
        driver.configure(queue, 0);
        head = driver.chain().readable(new byte[]{0, 1, 2}).readable(new byte[]{3}).readable(new byte[]{4, 5, 6, 7})
                .writable(5).writable(3).add();
        driver.publishAvail();
        assertEquals(RingStatus.OK, queue.pop(chain));
    }

    @Test
    void shouldReadAcrossBufferBoundaries() {
        byte[] out = new byte[10];
        assertEquals(5, chain.readBytes(2, MemorySegment.ofArray(out), 1, 5));
        assertArrayEquals(new byte[]{0, 2, 3, 4, 5, 6, 0, 0, 0, 0}, out);
        assertEquals(1, chain.readBytes(7, MemorySegment.ofArray(out), 0, 5), "only one readable byte is left");
        assertEquals(7, out[0]);
        assertEquals(0, chain.readBytes(8, MemorySegment.ofArray(out), 0, 5), "past the readable part");
        assertEquals(3, chain.readByte(3));
        assertEquals(7, chain.readByte(7));
    }

    @Test
    void shouldRejectReadOfAByteOutsideTheReadablePart() {
        IndexOutOfBoundsException e = assertThrows(IndexOutOfBoundsException.class, () -> chain.readByte(8));
        assertEquals("offset 8 outside readable length 8", e.getMessage());
    }

    @Test
    void shouldWriteAcrossWritableBuffersOnly() {
        byte[] src = {10, 11, 12, 13, 14, 15, 16, 17, 18};
        assertEquals(6, chain.writeBytes(2, MemorySegment.ofArray(src), 1, 9), "8 writable bytes, 2 skipped");
        var buffers = driver.buffers(head);
        assertArrayEquals(new byte[]{(byte) 0xEE, (byte) 0xEE, 11, 12, 13}, ram.read(buffers.get(3).gpa(), 5));
        assertArrayEquals(new byte[]{14, 15, 16}, ram.read(buffers.get(4).gpa(), 3));
        assertArrayEquals(new byte[]{0, 1, 2}, ram.read(buffers.get(0).gpa(), 3), "readable buffers untouched");
    }

    @Test
    void shouldDescribeBuffersInChainOrder() {
        assertEquals(head, chain.head());
        assertEquals(5, chain.bufferCount());
        assertEquals(3, chain.readableCount());
        assertEquals(2, chain.writableCount());
        assertEquals(8, chain.readableLength());
        assertEquals(8, chain.writableLength());
        assertEquals(4, chain.length(2));
        assertEquals(true, chain.isWritable(3));
        assertEquals(false, chain.isWritable(2));
        IndexOutOfBoundsException e = assertThrows(IndexOutOfBoundsException.class, () -> chain.length(5));
        assertEquals("buffer 5 of 5", e.getMessage());
        assertEquals(DescriptorChain.DEFAULT_CAPACITY, chain.capacity());
    }
}

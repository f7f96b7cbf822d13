package io.jvhost.virtio.ring;

import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/** The layout classes against byte positions written out from the spec (not from their constants). */
class RingLayoutTest {

    @Test
    void shouldPlaceDescriptorFieldsLittleEndian() {
        byte[] bytes = new byte[32];
        MemorySegment table = MemorySegment.ofArray(bytes);
        Descriptor.write(table, 16, 0x1122_3344_5566_7788L, 0xAABB_CCDD, 0x0007, 0x0102);
        assertArrayEquals(new byte[]{
                (byte) 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11,
                (byte) 0xDD, (byte) 0xCC, (byte) 0xBB, (byte) 0xAA,
                0x07, 0x00,
                0x02, 0x01}, java.util.Arrays.copyOfRange(bytes, 16, 32));
        assertEquals(0x1122_3344_5566_7788L, Descriptor.gpa(table, 16));
        assertEquals(0xAABB_CCDDL, Descriptor.length(table, 16), "length widened unsigned");
        assertEquals(7, Descriptor.flags(table, 16));
        assertEquals(0x102, Descriptor.next(table, 16));
    }

    @Test
    void shouldSizeRingAreasAsTheSpecSays() {
        assertEquals(6 + 2 * 256, AvailRing.byteSize(256));
        assertEquals(4 + 2 * 256, AvailRing.usedEventOffset(256));
        assertEquals(6 + 8 * 256, UsedRing.byteSize(256));
        assertEquals(4 + 8 * 256, UsedRing.availEventOffset(256));
    }

    @Test
    void shouldReadAvailRingFields() {
        byte[] bytes = new byte[6 + 2 * 4];
        bytes[0] = 1;               // flags
        bytes[2] = 0x34;            // idx 0x1234
        bytes[3] = 0x12;
        bytes[4 + 2 * 3] = 5;       // ring[3] = 5
        bytes[12] = (byte) 0xFE;    // used_event 0xFFFE
        bytes[13] = (byte) 0xFF;
        AvailRing ring = new AvailRing().wrap(MemorySegment.ofArray(bytes), 4);
        assertEquals(1, ring.flags());
        assertEquals(0x1234, ring.idxAcquire());
        assertEquals(5, ring.entry(3));
        assertEquals(0xFFFE, ring.usedEvent());
    }

    @Test
    void shouldWriteUsedRingFields() {
        byte[] bytes = new byte[6 + 8 * 4];
        UsedRing ring = new UsedRing().wrap(MemorySegment.ofArray(bytes), 4);
        ring.setFlags(UsedRing.F_NO_NOTIFY);
        ring.setElement(2, 3, 0x0102_0304);
        ring.publishIdx(0xABCD);
        ring.setAvailEvent(0x0506);
        byte[] expected = new byte[6 + 8 * 4];
        expected[0] = 1;
        expected[2] = (byte) 0xCD;
        expected[3] = (byte) 0xAB;
        expected[4 + 16] = 3;
        expected[4 + 16 + 4] = 4;
        expected[4 + 16 + 5] = 3;
        expected[4 + 16 + 6] = 2;
        expected[4 + 16 + 7] = 1;
        expected[36] = 6;
        expected[37] = 5;
        assertArrayEquals(expected, bytes);
        assertEquals(0xABCD, ring.idx());
        assertEquals(3, ring.elementId(2));
        assertEquals(0x0102_0304L, ring.elementLength(2));
        assertEquals(0x0506, ring.availEvent());
    }
}

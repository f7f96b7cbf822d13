package io.jvhost.virtio.net;

import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class NetHeaderTest {

    @Test
    void shouldBeTwelveBytesWithVersion1OrMergeableBuffersElseTen() {
        assertEquals(10, NetHeader.length(0));
        assertEquals(10, NetHeader.length(VirtioNetFeatures.mask(VirtioNetFeatures.MAC)));
        assertEquals(12, NetHeader.length(VirtioNetFeatures.mask(VirtioNetFeatures.VERSION_1)));
        assertEquals(12, NetHeader.length(VirtioNetFeatures.mask(VirtioNetFeatures.MRG_RXBUF)));
    }

    @Test
    void shouldReadFieldsLittleEndian() {
        byte[] b = {1, 3, 0x36, 0, (byte) 0xA8, 0x05, 0x22, 0, 0x10, 0, 2, 0};
        MemorySegment s = MemorySegment.ofArray(b);
        assertEquals(NetHeader.F_NEEDS_CSUM, NetHeader.flags(s, 0));
        assertEquals(NetHeader.GSO_UDP, NetHeader.gsoType(s, 0));
        assertEquals(54, NetHeader.hdrLen(s, 0));
        assertEquals(1448, NetHeader.gsoSize(s, 0));
        assertEquals(34, NetHeader.csumStart(s, 0));
        assertEquals(16, NetHeader.csumOffset(s, 0));
        assertEquals(2, NetHeader.numBuffers(s, 0));
    }

    @Test
    void shouldWriteZeroedHeaderWithNumBuffersOnlyWhenTwelveBytes() {
        byte[] b = new byte[14];
        Arrays.fill(b, (byte) 0x55);
        NetHeader.writeZeroed(MemorySegment.ofArray(b), 1, 12, 0x0103);
        assertArrayEquals(new byte[]{0x55, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 1, 0x55}, b);
        Arrays.fill(b, (byte) 0x55);
        NetHeader.writeZeroed(MemorySegment.ofArray(b), 0, 10, 7);
        assertArrayEquals(new byte[]{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x55, 0x55, 0x55, 0x55}, b);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> NetHeader.writeZeroed(MemorySegment.ofArray(b), 0, 11, 1));
        assertEquals("virtio-net header length must be 10 or 12: 11", e.getMessage());
    }
}

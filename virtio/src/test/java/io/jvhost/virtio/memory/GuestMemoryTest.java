package io.jvhost.virtio.memory;

import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;

class GuestMemoryTest {

    private static MemoryRegion region(long gpa, int size, long frontendVa) {
        return new MemoryRegion(gpa, size, frontendVa, MemorySegment.ofArray(new byte[size]));
    }

    // Given out of order on purpose; front-end VAs in the opposite order to gpas.
    private final MemoryRegion high = region(0x10_0000, 0x1000, 0x7000_0000L);
    private final MemoryRegion low = region(0x0, 0x2000, 0x9000_0000L);
    private final MemoryRegion middle = region(0x4000, 0x1000, 0x8000_0000L);
    private final GuestMemory memory = GuestMemory.of(high, low, middle);

    @Test
    void shouldOrderRegionsByGpa() {
        assertEquals(3, memory.regionCount());
        assertSame(low, memory.region(0));
        assertSame(middle, memory.region(1));
        assertSame(high, memory.region(2));
        assertEquals(0x4000, memory.regionGpa(1));
        assertEquals(0x5000, memory.regionGpaEnd(1));
        assertSame(middle.segment(), memory.segment(1));
    }

    @Test
    void shouldFindRegionAtFirstAndLastByteAndNotPastIt() {
        assertEquals(0, memory.regionOfGpa(0x0));
        assertEquals(0, memory.regionOfGpa(0x1FFF));
        assertEquals(GuestMemory.NOT_MAPPED, memory.regionOfGpa(0x2000));
        assertEquals(1, memory.regionOfGpa(0x4000));
        assertEquals(1, memory.regionOfGpa(0x4FFF));
        assertEquals(GuestMemory.NOT_MAPPED, memory.regionOfGpa(0x5000));
        assertEquals(2, memory.regionOfGpa(0x10_0FFF));
        assertEquals(GuestMemory.NOT_MAPPED, memory.regionOfGpa(0x10_1000));
        assertEquals(GuestMemory.NOT_MAPPED, memory.regionOfGpa(-1L));
    }

    @Test
    void shouldTreatAddressesAsUnsigned() {
        MemoryRegion top = region(0x8000_0000_0000_0000L, 0x1000, 0xFFFF_0000_0000_0000L);
        GuestMemory m = GuestMemory.of(low, top);
        assertEquals(1, m.regionOfGpa(0x8000_0000_0000_0FFFL));
        assertEquals(GuestMemory.NOT_MAPPED, m.regionOfGpa(0x7FFF_FFFF_FFFF_FFFFL));
        assertEquals(1, m.regionOfFrontendVa(0xFFFF_0000_0000_0010L));
        assertEquals(0x8000_0000_0000_0010L, m.frontendVaToGpa(0xFFFF_0000_0000_0010L));
    }

    @Test
    void shouldSliceOnlyInsideOneRegion() {
        low.segment().set(ValueLayout.JAVA_BYTE, 0x1FF0, (byte) 42);
        MemorySegment slice = memory.sliceAtGpa(0x1FF0, 0x10);
        assertEquals(0x10, slice.byteSize());
        assertEquals(42, slice.get(ValueLayout.JAVA_BYTE, 0));
        assertNull(memory.sliceAtGpa(0x1FF0, 0x11), "runs past the region end");
        assertNull(memory.sliceAtGpa(0x3000, 1), "in the gap");
        assertNull(memory.sliceAtGpa(0x0, -1), "negative length");
        assertEquals(0, memory.sliceAtGpa(0x1FFF, 0).byteSize());
    }

    @Test
    void shouldTranslateFrontendVaToRegionIndexInGpaOrder() {
        assertEquals(2, memory.regionOfFrontendVa(0x7000_0000L));
        assertEquals(1, memory.regionOfFrontendVa(0x8000_0FFFL));
        assertEquals(0, memory.regionOfFrontendVa(0x9000_1FFFL));
        assertEquals(GuestMemory.NOT_MAPPED, memory.regionOfFrontendVa(0x9000_2000L));
        assertEquals(0x4010, memory.frontendVaToGpa(0x8000_0010L));
        assertEquals(-1, memory.frontendVaToGpa(0x6000_0000L));
    }

    @Test
    void shouldSliceAtFrontendVaWithinTheRegion() {
        middle.segment().set(ValueLayout.JAVA_BYTE, 0x20, (byte) 7);
        MemorySegment slice = memory.sliceAtFrontendVa(0x8000_0020L, 0x100);
        assertEquals(7, slice.get(ValueLayout.JAVA_BYTE, 0));
        assertEquals(0x100, slice.byteSize());
        assertNull(memory.sliceAtFrontendVa(0x8000_0F00L, 0x101));
        assertNull(memory.sliceAtFrontendVa(0x6000_0000L, 1));
    }

    @Test
    void shouldRejectOverlappingRegions() {
        IllegalArgumentException gpa = assertThrows(IllegalArgumentException.class,
                () -> GuestMemory.of(low, region(0x1000, 0x2000, 0x1_0000_0000L)));
        assertEquals("memory regions overlap in guest-physical space at gpa 0x1000", gpa.getMessage());
        IllegalArgumentException va = assertThrows(IllegalArgumentException.class,
                () -> GuestMemory.of(low, region(0x8000, 0x1000, 0x9000_1000L)));
        assertEquals("memory regions overlap in front-end address space at 0x90001000", va.getMessage());
    }

    @Test
    void shouldRejectInconsistentRegion() {
        IllegalArgumentException size = assertThrows(IllegalArgumentException.class,
                () -> new MemoryRegion(0, 0x2000, 0, MemorySegment.ofArray(new byte[0x1000])));
        assertEquals("segment size 4096 differs from region size 8192", size.getMessage());
        IllegalArgumentException wrap = assertThrows(IllegalArgumentException.class,
                () -> new MemoryRegion(-0x800L, 0x1000, 0, MemorySegment.ofArray(new byte[0x1000])));
        assertEquals("region wraps the 64-bit address space", wrap.getMessage());
    }

    @Test
    void shouldMapNothingWhenEmpty() {
        GuestMemory empty = GuestMemory.empty();
        assertEquals(0, empty.regionCount());
        assertEquals(GuestMemory.NOT_MAPPED, empty.regionOfGpa(0));
        assertNull(empty.sliceAtFrontendVa(0, 1));
    }
}

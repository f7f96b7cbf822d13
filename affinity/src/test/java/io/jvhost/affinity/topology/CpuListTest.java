package io.jvhost.affinity.topology;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class CpuListTest {

    @Test
    void shouldParseRangesAndSingles() {
        assertArrayEquals(new int[]{0, 1, 2, 3, 6, 8, 9}, CpuList.parse("0-3,6,8-9"));
        assertArrayEquals(new int[]{1}, CpuList.parse(" 1\n"));
    }

    @Test
    void shouldFormatCompactly() {
        assertEquals("0-3,6,8-9", CpuList.format(new int[]{0, 1, 2, 3, 6, 8, 9}));
    }

    @Test
    void shouldRejectGarbageWithThePart() {
        assertEquals("not a CPU number or range: 'x'",
                assertThrows(IllegalArgumentException.class, () -> CpuList.parse("0,x")).getMessage());
        assertEquals("descending CPU range '3-1'",
                assertThrows(IllegalArgumentException.class, () -> CpuList.parse("3-1")).getMessage());
    }
}

package io.jvhost.affinity.topology;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class CpuListTest {

    @Test
    void shouldParseRangesAndSingleCpusSorted() {
        assertEquals(List.of(0, 1, 2, 3, 6, 8, 9), CpuList.parse("0-3,6,8-9"));
        assertEquals(List.of(0, 1, 5), CpuList.parse("5, 0-1"));
        assertEquals(List.of(7), CpuList.parse("7"));
        assertEquals(List.of(4), CpuList.parse("4-4"));
        assertEquals(List.of(8191), CpuList.parse("8191"));
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
        "''          | the list is empty",
        "'  '        | the list is empty",
        "0-3,        | ''' is not a CPU id or a range like '0-3'",
        "0-x         | '0-x' is not a CPU id or a range like '0-3'",
        "-1          | '-1' is not a CPU id or a range like '0-3'",
        "1-2-3       | '1-2-3' is not a CPU id or a range like '0-3'",
        "3-1         | range '3-1' goes backwards",
        "0-3,2       | CPU 2 is listed twice",
        "8192        | CPU 8192 is above the maximum 8191",
        "99999999999 | '99999999999' is not a CPU id or a range like '0-3'",
    })
    void shouldRejectInvalidListsWithReason(String text, String reason) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> CpuList.parse(text));
        assertEquals(reason, e.getMessage());
    }

    @Test
    void shouldFormatCompactly() {
        assertEquals("0-3,6,8-9", CpuList.format(List.of(9, 8, 6, 3, 2, 1, 0)));
        assertEquals("5", CpuList.format(List.of(5)));
        assertEquals("0,2,4", CpuList.format(List.of(0, 2, 4)));
        assertEquals("", CpuList.format(List.of()));
    }

    @Test
    void shouldReadSysfsStyleFile(@TempDir Path dir) throws Exception {
        Path online = dir.resolve("online");
        Files.writeString(online, "0-5,7\n");
        assertEquals(List.of(0, 1, 2, 3, 4, 5, 7), CpuList.read(online));
    }

    @Test
    void shouldFailReadingAMissingFileAsAnIoProblem(@TempDir Path dir) {
        Path missing = dir.resolve("online");
        UncheckedIOException e = assertThrows(UncheckedIOException.class, () -> CpuList.read(missing));
        assertEquals("cannot read the online CPUs from " + missing, e.getMessage());
    }

    @Test
    void shouldReadTheHostsOnlineCpus() {
        assertFalse(CpuList.online().isEmpty());
    }
}

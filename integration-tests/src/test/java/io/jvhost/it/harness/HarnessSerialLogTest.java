package io.jvhost.it.harness;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.List;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Incremental line reading of a log another process appends to. */
class HarnessSerialLogTest {

    @TempDir
    Path dir;

    private void append(Path file, String text) throws IOException {
        Files.writeString(file, text, StandardCharsets.ISO_8859_1, StandardOpenOption.CREATE, StandardOpenOption.APPEND);
    }

    @Test
    void shouldReturnOnlyCompleteLinesWithoutCarriageReturn() throws IOException {
        Path file = dir.resolve("serial.log");
        SerialLog log = new SerialLog(file);
        assertEquals(0, log.refresh(), "a missing file has no lines");

        append(file, "\u001b[2JSeaBIOS\r\nJV-REA");
        assertEquals(1, log.refresh());
        append(file, "DY\r\nJV-DONE rc=0\n");

        assertEquals(3, log.refresh());
        assertEquals(List.of("\u001b[2JSeaBIOS", "JV-READY", "JV-DONE rc=0"), log.lines());
    }

    @Test
    void shouldFindFirstMatchAtOrAfterGivenLine() throws IOException {
        Path file = dir.resolve("serial.log");
        append(file, "JV-PING-RESULT 1 1\nx\nJV-PING-RESULT 20 19\n");
        SerialLog log = new SerialLog(file);

        SerialLog.LineMatch first = log.awaitLine(PingResult.MARKER, 0, Duration.ofSeconds(1), () -> true);
        SerialLog.LineMatch later = log.awaitLine(PingResult.MARKER, first.index() + 1, Duration.ofSeconds(1), () -> true);

        assertEquals(0, first.index());
        assertEquals(2, later.index());
        assertEquals("19", later.group(2));
    }

    @Test
    void shouldReturnTextBetweenMarkers() throws IOException {
        Path file = dir.resolve("serial.log");
        append(file, "JV-IPERF-BEGIN\n{\n \"a\": 1\n}\nJV-IPERF-END\n");

        String between = new SerialLog(file).awaitBetween(QemuGuest.IPERF_BEGIN, QemuGuest.IPERF_END, 0,
                Duration.ofSeconds(1), () -> true);

        assertEquals("{\n \"a\": 1\n}", between);
    }

    @Test
    void shouldTimeOutWithTailOfLog() throws IOException {
        Path file = dir.resolve("serial.log");
        append(file, "JV-BOOT kernel=6.1\nJV-NO-ETH0\n");
        SerialLog log = new SerialLog(file);

        HarnessTimeoutException e = assertThrows(HarnessTimeoutException.class,
                () -> log.awaitLine(QemuGuest.READY, 0, Duration.ofMillis(100), () -> true));

        assertTrue(e.getMessage().contains("no line matched /^JV-READY$/"), e.getMessage());
        assertTrue(e.getMessage().endsWith("JV-BOOT kernel=6.1\nJV-NO-ETH0\n"), e.getMessage());
    }

    @Test
    void shouldStopWaitingWhenWriterExitedButStillSeeItsLastLine() throws IOException {
        Path file = dir.resolve("serial.log");
        append(file, "JV-DONE rc=3\n");
        SerialLog log = new SerialLog(file);

        assertEquals("3", log.awaitLine(QemuGuest.DONE, 0, Duration.ofMinutes(1), () -> false).group(1));
        assertThrows(SerialLog.WriterExitedException.class,
                () -> log.awaitLine(Pattern.compile("never"), 0, Duration.ofMinutes(1), () -> false));
    }
}

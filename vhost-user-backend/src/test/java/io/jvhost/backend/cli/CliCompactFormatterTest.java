package io.jvhost.backend.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Instant;
import java.time.ZoneOffset;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import org.junit.jupiter.api.Test;

class CliCompactFormatterTest {

    private final CompactFormatter formatter = new CompactFormatter(ZoneOffset.UTC);

    private static LogRecord record(Level level, String logger, String message) {
        LogRecord record = new LogRecord(level, message);
        record.setInstant(Instant.parse("2026-01-05T12:34:56.789Z"));
        record.setLoggerName(logger);
        return record;
    }

    @Test
    void shouldWriteOneLineWithTimeLevelThreadLoggerAndMessage() {
        LogRecord record = record(Level.INFO, "io.jvhost.backend.cli.Main", "serving {0} ports");
        record.setParameters(new Object[] {2});

        assertEquals("2026-01-05 12:34:56.789 INFO [" + Thread.currentThread().getName() + "] Main: serving 2 ports\n",
                formatter.format(record));
    }

    @Test
    void shouldNameLevelsLikeSystemLogger() {
        assertEquals("ERROR", CompactFormatter.levelName(Level.SEVERE));
        assertEquals("WARN", CompactFormatter.levelName(Level.WARNING));
        assertEquals("INFO", CompactFormatter.levelName(Level.INFO));
        assertEquals("DEBUG", CompactFormatter.levelName(Level.FINE));
        assertEquals("TRACE", CompactFormatter.levelName(Level.FINEST));
    }

    @Test
    void shouldNameAnotherThreadByItsId() {
        LogRecord record = record(Level.WARNING, "", "x");
        record.setLongThreadID(Thread.currentThread().threadId() + 1000);

        assertEquals("2026-01-05 12:34:56.789 WARN [tid-" + record.getLongThreadID() + "] root: x\n",
                formatter.format(record));
    }

    @Test
    void shouldAppendTheStackTrace() {
        LogRecord record = record(Level.SEVERE, "a.B", "failed");
        record.setThrown(new IllegalStateException("bad"));

        String text = formatter.format(record);

        assertTrue(text.startsWith("2026-01-05 12:34:56.789 ERROR [" + Thread.currentThread().getName()
                + "] B: failed\njava.lang.IllegalStateException: bad\n\tat "), text);
    }
}

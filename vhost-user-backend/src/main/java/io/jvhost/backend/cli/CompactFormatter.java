package io.jvhost.backend.cli;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.time.LocalDateTime;
import java.time.ZoneId;
import java.time.format.DateTimeFormatter;
import java.util.logging.Formatter;
import java.util.logging.Level;
import java.util.logging.LogRecord;

/**
 * One line per record: {@code 2026-01-05 12:34:56.789 INFO [main] Main: message}, then the stack trace
 * of a throwable if there is one. Levels use the {@link System.Logger} names (ERROR, WARN, INFO, DEBUG,
 * TRACE); the logger is shown by its last name segment (the class name).
 */
public final class CompactFormatter extends Formatter {

    private static final DateTimeFormatter TIME = DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm:ss.SSS");

    private final ZoneId zone;

    public CompactFormatter() {
        this(ZoneId.systemDefault());
    }

    CompactFormatter(ZoneId zone) {
        this.zone = zone;
    }

    @Override
    public String format(LogRecord record) {
        StringBuilder line = new StringBuilder(160)
                .append(TIME.format(LocalDateTime.ofInstant(record.getInstant(), zone)))
                .append(' ').append(levelName(record.getLevel()))
                .append(" [").append(threadName(record)).append("] ")
                .append(shortName(record.getLoggerName())).append(": ")
                .append(formatMessage(record))
                .append('\n');
        if (record.getThrown() != null) {
            StringWriter trace = new StringWriter();
            record.getThrown().printStackTrace(new PrintWriter(trace));
            line.append(trace);
        }
        return line.toString();
    }

    static String levelName(Level level) {
        int value = level.intValue();
        if (value >= Level.SEVERE.intValue()) {
            return "ERROR";
        }
        if (value >= Level.WARNING.intValue()) {
            return "WARN";
        }
        if (value >= Level.INFO.intValue()) {
            return "INFO";
        }
        if (value >= Level.FINE.intValue()) {
            return "DEBUG";
        }
        return "TRACE";
    }

    /** Handlers format on the logging thread (ConsoleHandler is synchronous), so its name is at hand. */
    private static String threadName(LogRecord record) {
        Thread current = Thread.currentThread();
        return current.threadId() == record.getLongThreadID() ? current.getName() : "tid-" + record.getLongThreadID();
    }

    static String shortName(String loggerName) {
        if (loggerName == null || loggerName.isEmpty()) {
            return "root";
        }
        return loggerName.substring(loggerName.lastIndexOf('.') + 1);
    }
}

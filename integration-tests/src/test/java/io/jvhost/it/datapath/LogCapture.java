package io.jvhost.it.datapath;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.logging.Formatter;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import java.util.logging.SimpleFormatter;

import static org.junit.jupiter.api.Assertions.fail;

/**
 * What jvhost's loggers say while a test runs (System.Logger goes to java.util.logging here): one
 * line per record, "LEVEL message | thrown", for tests that check a failure was logged with its reason.
 */
public final class LogCapture extends Handler implements AutoCloseable {

    /** Held strongly: java.util.logging keeps loggers only weakly, and with them their handlers. */
    private final Logger logger = Logger.getLogger("io.jvhost");
    private final Formatter formatter = new SimpleFormatter();
    private final List<String> lines = new CopyOnWriteArrayList<>();

    public LogCapture() {
        setLevel(Level.ALL);
        logger.addHandler(this);
    }

    @Override
    public void publish(LogRecord record) {
        String line = record.getLevel() + " " + formatter.formatMessage(record);
        if (record.getThrown() != null) {
            line += " | " + record.getThrown();
        }
        lines.add(line);
    }

    /** Waits until a line contains every one of {@code parts}, and returns it. */
    public String await(Duration timeout, String... parts) {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            for (String line : lines) {
                if (containsAll(line, parts)) {
                    return line;
                }
            }
            if (System.nanoTime() > deadline) {
                return fail("no log line with " + List.of(parts) + " within " + timeout.toMillis() + " ms; logged:\n"
                        + String.join("\n", lines));
            }
            try {
                Thread.sleep(5);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted", e);
            }
        }
    }

    /** Lines logged so far that contain {@code part}. */
    public List<String> linesWith(String part) {
        return lines.stream().filter(line -> line.contains(part)).toList();
    }

    private static boolean containsAll(String line, String[] parts) {
        for (String part : parts) {
            if (!line.contains(part)) {
                return false;
            }
        }
        return true;
    }

    @Override
    public void flush() {
    }

    @Override
    public void close() {
        logger.removeHandler(this);
    }
}

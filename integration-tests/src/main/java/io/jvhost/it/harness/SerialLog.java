package io.jvhost.it.harness;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.function.BooleanSupplier;
import java.util.regex.MatchResult;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A log file another process is appending to (a guest's serial console, testpmd's stdout), read
 * incrementally as complete lines. Bytes are decoded as ISO-8859-1 so any byte sequence is a
 * string, and a trailing {@code \r} (the tty's ONLCR) is dropped.
 *
 * <p>Thread safety: synchronized; meant for one test thread.
 */
public final class SerialLog {

    private static final Duration POLL = Duration.ofMillis(50);

    private final Path file;
    private final List<String> lines = new ArrayList<>();
    private final StringBuilder partial = new StringBuilder();
    private final ByteBuffer buffer = ByteBuffer.allocate(64 * 1024);
    private long position;

    public SerialLog(Path file) {
        this.file = file;
    }

    public Path file() {
        return file;
    }

    /** Reads what was appended since the last call; returns the number of complete lines now known. */
    public synchronized int refresh() {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            ch.position(position);
            while (true) {
                buffer.clear();
                int n = ch.read(buffer);
                if (n <= 0) {
                    break;
                }
                position += n;
                buffer.flip();
                while (buffer.hasRemaining()) {
                    char c = (char) (buffer.get() & 0xFF);
                    if (c == '\n') {
                        int len = partial.length();
                        if (len > 0 && partial.charAt(len - 1) == '\r') {
                            partial.setLength(len - 1);
                        }
                        lines.add(partial.toString());
                        partial.setLength(0);
                    } else {
                        partial.append(c);
                    }
                }
            }
        } catch (NoSuchFileException e) {
            // Not created yet by the writer.
        } catch (IOException e) {
            throw new UncheckedIOException("reading " + file, e);
        }
        return lines.size();
    }

    /** A snapshot of all complete lines read so far (call {@link #refresh()} first for new ones). */
    public synchronized List<String> lines() {
        return List.copyOf(lines);
    }

    /**
     * Waits for the first line at index {@code fromLine} or later that {@code pattern} finds
     * ({@link Matcher#find()}).
     *
     * @param stillRunning polled between reads; once false, one last read decides, then a
     *                     {@link WriterExitedException} is thrown (no point waiting for a dead writer)
     * @return the line index and the match
     * @throws HarnessTimeoutException if no line matched within {@code timeout}
     */
    public LineMatch awaitLine(Pattern pattern, int fromLine, Duration timeout, BooleanSupplier stillRunning) {
        long deadline = System.nanoTime() + timeout.toNanos();
        int next = fromLine;
        while (true) {
            boolean running = stillRunning.getAsBoolean();
            int known = refresh();
            synchronized (this) {
                for (; next < known; next++) {
                    Matcher m = pattern.matcher(lines.get(next));
                    if (m.find()) {
                        return new LineMatch(next, lines.get(next), m.toMatchResult());
                    }
                }
            }
            if (!running) {
                throw new WriterExitedException("writer of " + file + " exited before a line matched /" + pattern
                        + "/\n" + tail(40));
            }
            if (System.nanoTime() - deadline > 0) {
                throw new HarnessTimeoutException("no line matched /" + pattern + "/ in " + timeout + " in " + file
                        + "\n" + tail(40));
            }
            sleep(POLL);
        }
    }

    /**
     * The lines strictly between the first {@code begin} line at or after {@code fromLine} and the
     * next {@code end} line, joined with {@code \n}; waits for both.
     */
    public String awaitBetween(Pattern begin, Pattern end, int fromLine, Duration timeout,
                               BooleanSupplier stillRunning) {
        long deadline = System.nanoTime() + timeout.toNanos();
        LineMatch b = awaitLine(begin, fromLine, timeout, stillRunning);
        LineMatch e = awaitLine(end, b.index() + 1, Duration.ofNanos(Math.max(0, deadline - System.nanoTime())),
                stillRunning);
        synchronized (this) {
            return String.join("\n", lines.subList(b.index() + 1, e.index()));
        }
    }

    /** The last {@code n} lines, for failure messages. */
    public synchronized String tail(int n) {
        refreshQuietly();
        int from = Math.max(0, lines.size() - n);
        StringBuilder sb = new StringBuilder("--- last lines of ").append(file).append(" ---\n");
        for (int i = from; i < lines.size(); i++) {
            sb.append(lines.get(i)).append('\n');
        }
        if (!partial.isEmpty()) {
            sb.append(partial).append(" <no newline>\n");
        }
        return sb.toString();
    }

    /** The whole file as it is now, for reports. */
    public String readAll() {
        try {
            return Files.exists(file) ? Files.readString(file, StandardCharsets.ISO_8859_1) : "";
        } catch (IOException e) {
            throw new UncheckedIOException("reading " + file, e);
        }
    }

    private void refreshQuietly() {
        try {
            refresh();
        } catch (UncheckedIOException ignored) {
            // Only used while composing a failure message; the original failure matters more.
        }
    }

    /** {@link Thread#sleep}; an interrupt becomes an {@link IllegalStateException} (interrupt flag kept). */
    public static void sleep(Duration d) {
        try {
            Thread.sleep(d);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted", e);
        }
    }

    /** A line that matched: its index in the log, its text, and the match (groups). */
    public record LineMatch(int index, String line, MatchResult match) {

        public String group(int group) {
            return match.group(group);
        }
    }

    /** The process writing the log exited before the awaited line appeared. */
    public static final class WriterExitedException extends IllegalStateException {

        public WriterExitedException(String message) {
            super(message);
        }
    }
}

package io.jvhost.it.harness;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;

/**
 * A QMP client for a guest started with {@link QemuGuest.Builder#qmpSocket}: one JSON command at a
 * time, its reply returned as text. QMP sends one JSON object per line; asynchronous events
 * (lines with {@code "event"}) are skipped. A reply with {@code "error"} throws.
 *
 * <p>Not thread-safe: one test thread.
 */
public final class QemuMonitor implements AutoCloseable {

    private final SocketChannel channel;
    private final StringBuilder pending = new StringBuilder();
    private final ByteBuffer buffer = ByteBuffer.allocate(8192);

    private QemuMonitor(SocketChannel channel) {
        this.channel = channel;
    }

    /** Connects (retrying until QEMU listens, up to {@code timeout}) and leaves capabilities negotiation. */
    public static QemuMonitor connect(Path socket, Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            try {
                SocketChannel channel = SocketChannel.open(StandardProtocolFamily.UNIX);
                try {
                    channel.connect(UnixDomainSocketAddress.of(socket));
                } catch (IOException e) {
                    channel.close();
                    throw e;
                }
                QemuMonitor monitor = new QemuMonitor(channel);
                monitor.readLine(); // the greeting: {"QMP": {...}}
                monitor.execute("{\"execute\": \"qmp_capabilities\"}");
                return monitor;
            } catch (IOException e) {
                if (System.nanoTime() > deadline) {
                    throw new UncheckedIOException("QMP " + socket + " not reachable within " + timeout, e);
                }
                sleep();
            }
        }
    }

    /**
     * Sends one command and returns its reply line.
     *
     * @throws IllegalStateException when QEMU answers with an error
     */
    public String execute(String json) throws IOException {
        channel.write(ByteBuffer.wrap((json + "\n").getBytes(StandardCharsets.UTF_8)));
        while (true) {
            String line = readLine();
            if (line.contains("\"event\"")) {
                continue;
            }
            if (line.contains("\"error\"")) {
                throw new IllegalStateException("QMP " + json + " failed: " + line);
            }
            return line;
        }
    }

    private String readLine() throws IOException {
        while (true) {
            int newline = pending.indexOf("\n");
            if (newline >= 0) {
                String line = pending.substring(0, newline).strip();
                pending.delete(0, newline + 1);
                return line;
            }
            buffer.clear();
            int n = channel.read(buffer); // blocking: QEMU answers every command
            if (n < 0) {
                throw new IOException("QMP connection closed by QEMU");
            }
            pending.append(new String(buffer.array(), 0, n, StandardCharsets.UTF_8));
        }
    }

    private static void sleep() {
        try {
            Thread.sleep(50);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted", e);
        }
    }

    @Override
    public void close() throws IOException {
        channel.close();
    }
}

package io.jvhost.it.harness;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;

/**
 * A QEMU Machine Protocol client over the UNIX socket of {@code -qmp unix:PATH,server=on,wait=off}
 * ({@link #qemuArgs}): one command at a time, events skipped. QMP is JSON, one object per line.
 *
 * <p>Thread safety: one thread.
 */
public final class Qmp implements AutoCloseable {

    private static final ObjectMapper JSON = new ObjectMapper();

    private final SocketChannel channel;
    private final BufferedReader in;

    private Qmp(SocketChannel channel) {
        this.channel = channel;
        this.in = new BufferedReader(new InputStreamReader(Channels.newInputStream(channel), StandardCharsets.UTF_8));
    }

    /** The QEMU arguments that make it serve QMP on {@code socket}. */
    public static String[] qemuArgs(Path socket) {
        return new String[] {"-qmp", "unix:" + QemuGuest.escapeOption(socket.toString()) + ",server=on,wait=off"};
    }

    /** Connects (waiting up to {@code timeout} for QEMU to listen) and leaves capabilities negotiation mode. */
    public static Qmp connect(Path socket, Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            try {
                SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX);
                try {
                    ch.connect(UnixDomainSocketAddress.of(socket));
                } catch (IOException e) {
                    ch.close();
                    throw e;
                }
                Qmp qmp = new Qmp(ch);
                qmp.readLine(); // the greeting: {"QMP": {...}}
                qmp.execute("qmp_capabilities", Map.of());
                return qmp;
            } catch (IOException e) {
                if (System.nanoTime() - deadline > 0 || !Files.exists(socket.getParent())) {
                    throw new HarnessTimeoutException("QMP at " + socket + " not reachable: " + e.getMessage());
                }
                SerialLog.sleep(Duration.ofMillis(50));
            }
        }
    }

    /**
     * Runs {@code command} with {@code arguments} and returns its {@code return} value.
     *
     * @throws IllegalStateException with QEMU's error description when the command failed
     */
    public JsonNode execute(String command, Map<String, ?> arguments) {
        ObjectNode request = JSON.createObjectNode().put("execute", command);
        if (!arguments.isEmpty()) {
            request.set("arguments", JSON.valueToTree(arguments));
        }
        try {
            channel.write(ByteBuffer.wrap((JSON.writeValueAsString(request) + "\n").getBytes(StandardCharsets.UTF_8)));
            while (true) {
                JsonNode reply = JSON.readTree(readLine());
                if (reply.has("event")) {
                    continue;
                }
                if (reply.has("error")) {
                    throw new IllegalStateException("QMP " + command + ": " + reply.get("error"));
                }
                return reply.path("return");
            }
        } catch (IOException e) {
            throw new UncheckedIOException("QMP " + command, e);
        }
    }

    /**
     * Starts migrating this (source) VM to {@code uri}, e.g. {@code tcp:127.0.0.1:PORT} of a QEMU started
     * with {@code -incoming} on it, capped at {@code maxBandwidth} bytes per second (QEMU 7.2's own
     * default is 32 MiB/s); the downtime limit stays QEMU's default (300 ms).
     */
    public void migrate(String uri, long maxBandwidth) {
        execute("migrate-set-parameters", Map.of("max-bandwidth", maxBandwidth));
        execute("migrate", Map.of("uri", uri));
    }

    /**
     * Polls {@code query-migrate} every 100 ms until the migration completed.
     *
     * @throws IllegalStateException     when it failed or was cancelled, with QEMU's {@code error-desc}
     * @throws HarnessTimeoutException   when it is still under way after {@code timeout}
     */
    public MigrationStats awaitMigration(Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            JsonNode info = execute("query-migrate", Map.of());
            switch (info.path("status").asText()) {
                case "completed" -> {
                    return MigrationStats.of(info);
                }
                case "failed", "cancelled" -> throw new IllegalStateException("migration " + info.path("status").asText()
                        + ": " + info.path("error-desc").asText("(no error-desc)") + "; " + info);
                default -> {
                    if (System.nanoTime() - deadline > 0) {
                        throw new HarnessTimeoutException("migration not done after " + timeout + ": " + info);
                    }
                    SerialLog.sleep(Duration.ofMillis(100));
                }
            }
        }
    }

    /** Waits until the VM's run state ({@code query-status}) is {@code status}, e.g. {@code paused}, {@code inmigrate}. */
    public void awaitStatus(String status, Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            String now = execute("query-status", Map.of()).path("status").asText();
            if (now.equals(status)) {
                return;
            }
            if (System.nanoTime() - deadline > 0) {
                throw new HarnessTimeoutException("VM never " + status + " in " + timeout + ": " + now);
            }
            SerialLog.sleep(Duration.ofMillis(20));
        }
    }

    private String readLine() throws IOException {
        String line = in.readLine();
        if (line == null) {
            throw new IOException("QEMU closed the QMP connection");
        }
        return line;
    }

    @Override
    public void close() {
        try {
            channel.close();
        } catch (IOException ignored) {
            // closing: nothing to do
        }
    }
}

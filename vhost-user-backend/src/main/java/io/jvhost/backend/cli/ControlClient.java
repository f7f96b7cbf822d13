package io.jvhost.backend.cli;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

/**
 * A minimal HTTP/1.1 client for the control socket (Java's HttpClient cannot speak AF_UNIX): one
 * request per connection ({@code Connection: close}), the whole answer read until the daemon closes.
 *
 * <p>Thread-safe: every call uses its own connection.
 */
public final class ControlClient {

    /** Answers are small (a port list); a longer one is not from jvhost. */
    private static final int MAX_RESPONSE_BYTES = 16 << 20;

    /** One answer: status code and body text. */
    public record Response(int status, String body) {
    }

    private ControlClient() {
    }

    /**
     * Sends one request to the daemon listening on {@code socket}.
     *
     * @param body a JSON body, or null for none
     * @throws IOException nobody listens there, or the answer is not HTTP
     */
    public static Response request(Path socket, String method, String path, String body) throws IOException {
        byte[] content = body == null ? new byte[0] : body.getBytes(StandardCharsets.UTF_8);
        StringBuilder head = new StringBuilder()
                .append(method).append(' ').append(path).append(" HTTP/1.1\r\n")
                .append("Host: localhost\r\n")
                .append("Connection: close\r\n")
                .append("Content-Length: ").append(content.length).append("\r\n");
        if (body != null) {
            head.append("Content-Type: application/json\r\n");
        }
        head.append("\r\n");
        ByteArrayOutputStream received = new ByteArrayOutputStream();
        try (SocketChannel channel = SocketChannel.open(StandardProtocolFamily.UNIX)) {
            channel.connect(UnixDomainSocketAddress.of(socket));
            ByteBuffer out = ByteBuffer.allocate(head.length() + content.length);
            out.put(head.toString().getBytes(StandardCharsets.US_ASCII)).put(content).flip();
            while (out.hasRemaining()) {
                channel.write(out);
            }
            ByteBuffer in = ByteBuffer.allocate(8192);
            while (channel.read(in.clear()) >= 0) {
                received.write(in.array(), 0, in.position());
                if (received.size() > MAX_RESPONSE_BYTES) {
                    throw new IOException(socket + ": answer longer than " + MAX_RESPONSE_BYTES + " bytes");
                }
            }
        }
        return parse(socket, received.toString(StandardCharsets.UTF_8));
    }

    private static Response parse(Path socket, String text) throws IOException {
        int end = text.indexOf("\r\n\r\n");
        if (!text.startsWith("HTTP/1.1 ") || end < 0 || text.length() < 12) {
            throw new IOException(socket + ": not an HTTP answer: '"
                    + text.substring(0, Math.min(text.length(), 40)) + "'");
        }
        int status;
        try {
            status = Integer.parseInt(text.substring(9, 12));
        } catch (NumberFormatException e) {
            throw new IOException(socket + ": bad HTTP status line: '" + text.lines().findFirst().orElse("") + "'", e);
        }
        return new Response(status, text.substring(end + 4));
    }
}

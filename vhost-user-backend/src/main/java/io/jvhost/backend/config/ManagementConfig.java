package io.jvhost.backend.config;

import java.nio.file.Path;
import java.util.Objects;

/**
 * {@code management}: where the read-only HTTP management endpoint listens, and the control socket
 * that serves the read-write API.
 *
 * @param host          an IP address or host name; an IPv6 address without brackets
 * @param port          0..65535; 0 picks a free port (tests)
 * @param controlSocket {@code management.control-socket}: the Unix socket of the read-write API, as
 *                      written (relative to the working directory, like port sockets)
 * @param controlGroup  {@code management.control-group}: the control socket's group (mode 0660), or
 *                      {@code null} for mode 0600 and jvhost's group
 */
public record ManagementConfig(String host, int port, Path controlSocket, String controlGroup) {

    public static final String DEFAULT_HOST = "127.0.0.1";
    public static final int DEFAULT_PORT = 9180;
    public static final Path DEFAULT_CONTROL_SOCKET = Path.of("run/jvhost.ctl");

    public ManagementConfig {
        Objects.requireNonNull(host, "host");
        if (port < 0 || port > 65_535) {
            throw new IllegalArgumentException("port out of range: " + port);
        }
        Objects.requireNonNull(controlSocket, "controlSocket");
    }

    /** {@code host:port} with the default control socket, mode 0600. */
    public ManagementConfig(String host, int port) {
        this(host, port, DEFAULT_CONTROL_SOCKET, null);
    }

    /** This config with another control socket and group. */
    public ManagementConfig withControl(Path socket, String group) {
        return new ManagementConfig(host, port, socket, group);
    }

    /** The {@code host:port} form of the config file ({@code [::1]:9180} for IPv6). */
    public String listen() {
        return (host.indexOf(':') >= 0 ? "[" + host + "]" : host) + ":" + port;
    }
}

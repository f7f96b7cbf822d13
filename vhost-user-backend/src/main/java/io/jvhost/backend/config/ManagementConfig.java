package io.jvhost.backend.config;

import java.util.Objects;

/**
 * {@code management.listen}: where the HTTP management endpoint listens.
 *
 * @param host an IP address or host name; an IPv6 address without brackets
 * @param port 0..65535; 0 picks a free port (tests)
 */
public record ManagementConfig(String host, int port) {

    public static final String DEFAULT_HOST = "127.0.0.1";
    public static final int DEFAULT_PORT = 9180;

    public ManagementConfig {
        Objects.requireNonNull(host, "host");
        if (port < 0 || port > 65_535) {
            throw new IllegalArgumentException("port out of range: " + port);
        }
    }

    /** The {@code host:port} form of the config file ({@code [::1]:9180} for IPv6). */
    public String listen() {
        return (host.indexOf(':') >= 0 ? "[" + host + "]" : host) + ":" + port;
    }
}

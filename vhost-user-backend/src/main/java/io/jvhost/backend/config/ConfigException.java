package io.jvhost.backend.config;

import java.io.Serial;

/**
 * The configuration is unusable. The message is meant for the user as is: it names the file, the key
 * path and what is wrong, for example {@code config.yaml: ports[1].mode: expected 'server' or
 * 'client', got 'listen'}, or for a YAML syntax error {@code config.yaml:3:7: invalid YAML: ...}.
 *
 * <p>The action for the caller of the config file is always the same: report the message and exit with
 * status 2. A port object sent to the running daemon is refused with the message (400, or 409 when
 * {@link #isDuplicate()}).
 */
public final class ConfigException extends Exception {

    @Serial
    private static final long serialVersionUID = 1L;

    /** Whether the problem is a name, socket path or TAP device another port already uses. */
    private final boolean duplicate;

    public ConfigException(String message) {
        this(message, false);
    }

    private ConfigException(String message, boolean duplicate) {
        super(message);
        this.duplicate = duplicate;
    }

    /**
     * A port's name, socket path or TAP device is already in use: at runtime a conflict with the
     * running ports (HTTP 409), not a malformed request.
     */
    static ConfigException duplicate(String message) {
        return new ConfigException(message, true);
    }

    public ConfigException(String message, Throwable cause) {
        super(message, cause);
        this.duplicate = false;
    }

    /** See {@link #duplicate(String)}. */
    public boolean isDuplicate() {
        return duplicate;
    }
}

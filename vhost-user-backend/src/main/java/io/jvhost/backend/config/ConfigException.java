package io.jvhost.backend.config;

import java.io.Serial;

/**
 * The configuration is unusable. The message is meant for the user as is: it names the file, the key
 * path and what is wrong, for example {@code config.yaml: ports[1].mode: expected 'server' or
 * 'client', got 'listen'}, or for a YAML syntax error {@code config.yaml:3:7: invalid YAML: ...}.
 *
 * <p>The action for the caller is always the same: report the message and exit with status 2.
 */
public final class ConfigException extends Exception {

    @Serial
    private static final long serialVersionUID = 1L;

    public ConfigException(String message) {
        super(message);
    }

    public ConfigException(String message, Throwable cause) {
        super(message, cause);
    }
}

package io.jvhost.backend.management;

import io.jvhost.backend.config.ConfigException;
import io.jvhost.backend.config.JvhostConfig;

/**
 * The changes the control socket makes to the running daemon ({@code POST /api/ports},
 * {@code DELETE /api/ports/NAME}, {@code POST /api/reload}), implemented by the daemon.
 *
 * <p>Threading: called on the control socket's event loop thread, one request at a time; the calls
 * may block while a port starts or stops (the read-only listener has its own thread).
 */
public interface PortControl {

    /**
     * Validates a port object (the keys of a config port) as the config file's ports are validated,
     * then starts the port.
     *
     * @param json the request body
     * @return the new port's status
     * @throws ConfigException the object is invalid (400) or, {@link ConfigException#isDuplicate()}, its
     *                         name, socket or TAP device is taken (409); the message is for the user
     */
    PortStatus addPort(String json) throws ConfigException;

    /**
     * Stops and removes port {@code name}: a connected front-end is disconnected, its queues stop, its
     * server socket file is removed.
     *
     * @return false when there is no such port
     */
    boolean removePort(String name);

    /**
     * Applies the difference between the running config ports and those of {@code next}, re-read from
     * {@code source}: ports gone are removed, new ones started, changed ones restarted; unchanged ones
     * keep running (their front-ends stay connected). Ports added at runtime are kept.
     *
     * @throws ConfigException a port of {@code next} cannot start, or (a duplicate) takes the name,
     *                         socket or TAP device of a port added at runtime: nothing is changed in
     *                         the latter case; in the former the ports before it are applied
     */
    ReloadResult reload(String source, JvhostConfig next) throws ConfigException;

    /** {@code POST /api/reload}: reads the config again and calls {@link #reload}. */
    @FunctionalInterface
    interface Reloader {

        ReloadResult reload() throws ConfigException;
    }
}

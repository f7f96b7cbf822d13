package io.jvhost.backend.cli;

import io.jvhost.backend.RunningDaemon;
import io.jvhost.backend.config.JvhostConfig;

/** Starts the daemon for a validated config; {@link Main} owns what it returns. */
@FunctionalInterface
public interface DaemonFactory {

    /**
     * Starts serving {@code config}: returns once the ports are set up (server sockets listening,
     * client connections being attempted) and the workers run.
     *
     * @throws io.jvhost.backend.config.ConfigException the config cannot be served as written (for
     *                                                  example a socket path in a missing directory):
     *                                                  reported like a config error, exit status 2
     * @throws Exception                                any other failure, exit status 1; the factory
     *                                                  releases whatever it had set up
     */
    RunningDaemon start(JvhostConfig config) throws Exception;
}

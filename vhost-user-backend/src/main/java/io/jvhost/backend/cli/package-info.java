/**
 * The {@code jvhost} command line ({@link io.jvhost.backend.cli.Main}, started by {@code bin/jvhost})
 * and the small contract through which it starts the daemon
 * ({@link io.jvhost.backend.cli.DaemonFactory}, {@link io.jvhost.backend.RunningDaemon}).
 */
package io.jvhost.backend.cli;

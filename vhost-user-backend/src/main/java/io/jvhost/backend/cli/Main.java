package io.jvhost.backend.cli;

import io.jvhost.backend.RunningDaemon;
import io.jvhost.backend.config.ConfigException;
import io.jvhost.backend.config.ConfigLoader;
import io.jvhost.backend.Jvhost;
import io.jvhost.backend.config.JvhostConfig;
import io.jvhost.backend.config.PortConfig;
import io.jvhost.backend.management.ManagementServer;
import io.jvhost.backend.management.PortControl;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.lang.System.Logger;
import java.lang.System.Logger.Level;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.util.StringJoiner;

/**
 * The {@code jvhost} command line: {@code jvhost serve [--config FILE]}, the control commands
 * ({@code jvhost [--control PATH] port add|del|list}, {@code status}, {@code reload}, see
 * {@link ControlCommand}) and {@code jvhost --help}.
 *
 * <p>{@code serve} loads the config (the embedded default without {@code --config}), starts the daemon,
 * then the management endpoint over the daemon's view, logs one line saying what it serves, and waits
 * for SIGINT or SIGTERM; then it closes the management endpoint, then the daemon, in that order.
 *
 * <p>Exit status ({@code docs/interface.md}): {@value #EXIT_OK} after a clean stop, {@value #EXIT_USAGE}
 * for a bad command line or config (one message on stderr), {@value #EXIT_FAILURE} for any other
 * failure.
 */
public final class Main {

    public static final int EXIT_OK = 0;
    public static final int EXIT_FAILURE = 1;
    public static final int EXIT_USAGE = 2;

    /** The real daemon, looked up by name so that this package builds without it. */

    static final String USAGE = """
            Usage: jvhost serve [--config FILE]
                   jvhost [--control PATH] port add NAME (--socket PATH [--mode server|client] [--queues N]
                                                   | --tap IFNAME) [--network NET] [--mtu N]
                   jvhost [--control PATH] port del NAME
                   jvhost [--control PATH] port list
                   jvhost [--control PATH] status
                   jvhost [--control PATH] reload
                   jvhost --help

            Runs the jvhost vhost-user-net backend in the foreground until SIGINT or SIGTERM, or changes
            a running one through its control socket.

            Commands:
              serve            serve the ports of the config file; without --config, the embedded
                               default: server-mode ports run/vm0.sock and run/vm1.sock (relative to
                               the current directory) switched together, management on 127.0.0.1:9180,
                               control socket run/jvhost.ctl
              port add         add a port to the running daemon (checked as a config file's port)
              port del         remove a port: its front-end is disconnected, its socket removed
              port list        the running daemon's ports
              status           its workers (CPU, socket, busy, queues) and queues (worker and vCPU CPUs)
              reload           re-read its config file and apply the difference of the ports
            Options:
              --config FILE    the YAML config file (keys: workers, topology, ports, management)
              --control PATH   the daemon's control socket; default $JVHOST_CONTROL, then run/jvhost.ctl
              -h, --help       show this help and exit

            Exit status: serve: 0 after a clean stop, 2 for a bad command line or config, 1 for any other
            failure. port, status, reload: 0 ok, 2 for a bad command line or a request the daemon rejected (its message is
            printed), 1 when the daemon cannot be reached.
            """;

    private static final Logger LOG = System.getLogger(Main.class.getName());

    private Main() {
    }

    public static void main(String[] args) {
        System.exit(runProcess(args, Jvhost::start));
    }

    /** {@link #main} without the exit: logging, signals, {@link #run}. */
    static int runProcess(String[] args, DaemonFactory factory) {
        Logging.configure();
        ProcessSignals signals = ProcessSignals.install();
        int status = EXIT_FAILURE;
        try {
            status = run(args, factory, signals, System.out, System.err);
        } catch (RuntimeException | Error e) {
            LOG.log(Level.ERROR, "jvhost failed", e);
        } finally {
            Logging.flush();
            signals.finished(status);
        }
        return status;
    }

    /**
     * Runs one command line to completion.
     *
     * @param args    the arguments after {@code jvhost}
     * @param factory starts the daemon
     * @param stop    when to stop serving
     * @param out     where {@code --help} goes
     * @param err     where the one-line messages of a failure go
     * @return the exit status
     */
    public static int run(String[] args, DaemonFactory factory, StopSignal stop, PrintStream out, PrintStream err) {
        if (ControlCommand.isControl(args)) {
            ControlCommand.Request request;
            try {
                request = ControlCommand.parse(args, System.getenv(ControlCommand.CONTROL_VARIABLE));
            } catch (UsageException e) {
                err.println("jvhost: " + e.getMessage() + " (try 'jvhost --help')");
                return EXIT_USAGE;
            }
            return ControlCommand.run(request, out, err);
        }
        Command command;
        try {
            command = Command.parse(args);
        } catch (UsageException e) {
            err.println("jvhost: " + e.getMessage() + " (try 'jvhost --help')");
            return EXIT_USAGE;
        }
        if (command.help()) {
            out.print(USAGE);
            return EXIT_OK;
        }
        JvhostConfig config;
        try {
            config = command.config() == null ? ConfigLoader.embeddedDefault() : ConfigLoader.load(command.config());
        } catch (ConfigException e) {
            err.println("jvhost: " + e.getMessage());
            return EXIT_USAGE;
        } catch (UncheckedIOException e) {
            // The online CPUs could not be read: the host, not the config.
            return failed(err, "cannot load the config", e);
        }
        String source = command.config() == null ? "the embedded default config" : command.config().toString();
        return serve(config, command.config(), source, factory, stop, err);
    }

    /** @param configFile the file {@code POST /api/reload} re-reads; null: the embedded default */
    private static int serve(JvhostConfig config, Path configFile, String source, DaemonFactory factory,
                             StopSignal stop, PrintStream err) {
        RunningDaemon daemon;
        try {
            daemon = factory.start(config);
        } catch (ConfigException e) {
            err.println("jvhost: " + e.getMessage());
            return EXIT_USAGE;
        } catch (Exception e) {
            return failed(err, "cannot start", e);
        }
        ManagementServer management;
        try {
            management = ManagementServer.start(config.management(), daemon.view());
        } catch (Exception e) {
            int status = failed(err, "cannot start", e);
            closeDaemon(daemon, err);
            return status;
        }
        ManagementServer control = null;
        if (daemon.control() != null) {
            try {
                PortControl ports = daemon.control();
                String name = configFile == null ? ConfigLoader.DEFAULT_RESOURCE : configFile.toString();
                control = ManagementServer.startControl(config.management(), daemon.view(), ports,
                        () -> ports.reload(name, configFile == null
                                ? ConfigLoader.embeddedDefault()
                                : ConfigLoader.load(configFile)));
            } catch (Exception e) {
                int status = failed(err, "cannot start", e);
                management.close();
                closeDaemon(daemon, err);
                return status;
            }
        }
        LOG.log(Level.INFO, servingLine(config, source, management)
                + (control == null ? "" : "; control socket " + config.management().controlSocket()));
        boolean interrupted = false;
        try {
            stop.await();
        } catch (InterruptedException e) {
            // Interrupted means stop, like a signal. The flag is restored once everything is closed, so
            // that the daemon's close() does not run with an interrupt pending.
            interrupted = true;
        }
        LOG.log(Level.INFO, "stopping");
        boolean clean = true;
        try {
            if (control != null) {
                control.close();
            }
            management.close();
        } catch (RuntimeException e) {
            clean = false;
            failed(err, "cannot stop the management endpoint cleanly", e);
        }
        clean &= closeDaemon(daemon, err);
        LOG.log(Level.INFO, clean ? "stopped" : "stopped with errors");
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
        return clean ? EXIT_OK : EXIT_FAILURE;
    }

    private static boolean closeDaemon(RunningDaemon daemon, PrintStream err) {
        try {
            daemon.close();
            return true;
        } catch (Exception e) {
            failed(err, "cannot stop the daemon cleanly", e);
            return false;
        }
    }

    /** One line on stderr; the stack trace in the log too when the failure looks like a bug. */
    private static int failed(PrintStream err, String what, Exception e) {
        if (e instanceof RuntimeException) {
            LOG.log(Level.ERROR, what, e);
        }
        err.println("jvhost: " + what + ": " + describe(e));
        return EXIT_FAILURE;
    }

    static String describe(Throwable e) {
        String message = e.getMessage();
        return message == null || message.isBlank() ? e.getClass().getSimpleName() : message;
    }

    /** {@code serving vm0 (server run/vm0.sock), ... from FILE; management on http://host:port/}. */
    static String servingLine(JvhostConfig config, String source, ManagementServer management) {
        StringJoiner ports = new StringJoiner(", ");
        for (PortConfig port : config.ports()) {
            ports.add(port.name() + " (" + (port.isTap()
                    ? "tap " + port.tap()
                    : port.mode().configName() + " " + port.socket()) + ")");
        }
        String host = config.management().host();
        String listen = (host.indexOf(':') >= 0 ? "[" + host + "]" : host) + ":" + management.port();
        return "serving " + ports + " from " + source + "; management on http://" + listen + "/";
    }

    /** A parsed command line. */
    record Command(boolean help, Path config) {

        static Command parse(String[] args) throws UsageException {
            if (args.length == 0) {
                throw new UsageException("missing command");
            }
            String first = args[0];
            if (first.equals("--help") || first.equals("-h") || first.equals("help")) {
                if (args.length > 1) {
                    throw new UsageException("unexpected argument '" + args[1] + "'");
                }
                return new Command(true, null);
            }
            if (!first.equals("serve")) {
                throw new UsageException(first.startsWith("-")
                        ? "unknown option '" + first + "'"
                        : "unknown command '" + first + "'");
            }
            Path config = null;
            for (int i = 1; i < args.length; i++) {
                String arg = args[i];
                String value;
                if (arg.equals("--help") || arg.equals("-h")) {
                    return new Command(true, null);
                } else if (arg.equals("--config")) {
                    if (i + 1 >= args.length) {
                        throw new UsageException("--config needs a FILE argument");
                    }
                    value = args[++i];
                } else if (arg.startsWith("--config=")) {
                    value = arg.substring("--config=".length());
                } else if (arg.startsWith("-")) {
                    throw new UsageException("unknown option '" + arg + "'");
                } else {
                    throw new UsageException("unexpected argument '" + arg + "'");
                }
                if (config != null) {
                    throw new UsageException("--config given twice");
                }
                if (value.isEmpty()) {
                    throw new UsageException("--config needs a FILE argument");
                }
                try {
                    config = Path.of(value);
                } catch (InvalidPathException e) {
                    throw new UsageException("--config: invalid path '" + value + "': " + e.getReason());
                }
            }
            return new Command(false, config);
        }
    }

    /** A bad command line; the message says what is wrong. */
    static final class UsageException extends Exception {

        private static final long serialVersionUID = 1L;

        UsageException(String message) {
            super(message);
        }
    }
}

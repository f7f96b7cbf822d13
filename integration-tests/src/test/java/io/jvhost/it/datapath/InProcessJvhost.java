package io.jvhost.it.datapath;

import io.jvhost.backend.Jvhost;
import io.jvhost.backend.RunningDaemon;
import io.jvhost.backend.config.JvhostConfig;
import io.jvhost.backend.config.ManagementConfig;
import io.jvhost.backend.config.PortConfig;
import io.jvhost.backend.config.WorkersConfig;
import io.jvhost.backend.linux.SocketAccess;
import io.jvhost.backend.management.ManagementServer;
import io.jvhost.backend.management.ManagementView;
import io.jvhost.backend.management.PortStatus;
import io.jvhost.backend.management.QueueStatus;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.function.Predicate;
import java.util.function.Supplier;
import java.util.function.UnaryOperator;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * jvhost started in this JVM for one test: vhost-user server sockets {@code <dir>/<port>.sock}, two
 * pinned workers on CPUs 0 and 1, one queue pair per port. Counter reads go through
 * {@link ManagementView}, as the management endpoint's would.
 */
@SuppressWarnings("try") // close() throws what RunningDaemon.close() throws; only test cleanup calls it
final class InProcessJvhost implements AutoCloseable {

    /** How long a counter or connection state may take to reach its expected value. */
    static final Duration SETTLE_TIMEOUT = Duration.ofSeconds(5);
    static final List<Integer> WORKER_CPUS = List.of(0, 1);

    /**
     * A port to create: its name, its L2 network, whether it offers offloads, its MTU, who may connect,
     * and whatever else {@code more} sets on its config (port security, storm control).
     */
    record Port(String name, String network, boolean offloads, int mtu, SocketAccess access,
                UnaryOperator<PortConfig> more) {

        Port(String name, String network) {
            this(name, network, true, PortConfig.DEFAULT_MTU);
        }

        Port(String name, String network, boolean offloads, int mtu) {
            this(name, network, offloads, mtu, SocketAccess.ANY, UnaryOperator.identity());
        }

        Port withMtu(int newMtu) {
            return new Port(name, network, offloads, newMtu, access, more);
        }

        Port withAccess(SocketAccess newAccess) {
            return new Port(name, network, offloads, mtu, newAccess, more);
        }

        Port withoutOffloads() {
            return new Port(name, network, false, mtu, access, more);
        }

        /** With {@code change} applied to the port's config too. */
        Port with(UnaryOperator<PortConfig> change) {
            return new Port(name, network, offloads, mtu, access, c -> change.apply(more.apply(c)));
        }
    }

    private final Path dir;
    private final RunningDaemon daemon;
    /** The config the daemon started with; {@link #rewriteConfig} changes what a reload reads. */
    private volatile JvhostConfig config;

    private InProcessJvhost(Path dir, RunningDaemon daemon, JvhostConfig config) {
        this.dir = dir;
        this.daemon = daemon;
        this.config = config;
    }

    static InProcessJvhost start(Path dir, Port... ports) throws Exception {
        return start(dir, WorkersConfig.Model.PER_CPU, ports);
    }

    /** With {@code model} {@link WorkersConfig.Model#PER_DEVICE}, every port gets its own (unpinned) thread. */
    static InProcessJvhost start(Path dir, WorkersConfig.Model model, Port... ports) throws Exception {
        return start(dir, WORKER_CPUS, model, ports);
    }

    /** Pinned workers on {@code cpus} (one CPU: every queue shares one worker). */
    static InProcessJvhost start(Path dir, List<Integer> cpus, WorkersConfig.Model model, Port... ports)
            throws Exception {
        return start(dir, new WorkersConfig(cpus, model, WorkersConfig.Placement.ROUND_ROBIN,
                WorkersConfig.Balance.LEAST_LOADED, WorkersConfig.DEFAULT_REBALANCE_INTERVAL_MS), ports);
    }

    /** Per-CPU workers with {@code workers.backpressure-timeout-us} set to {@code backpressureUs}. */
    static InProcessJvhost startWithBackpressure(Path dir, long backpressureUs, Port... ports) throws Exception {
        return start(dir, new WorkersConfig(WORKER_CPUS, WorkersConfig.Model.PER_CPU,
                WorkersConfig.Placement.ROUND_ROBIN, WorkersConfig.Balance.LEAST_LOADED,
                WorkersConfig.DEFAULT_REBALANCE_INTERVAL_MS, WorkersConfig.DEFAULT_BUSY_POLL_US, backpressureUs), ports);
    }

    private static InProcessJvhost start(Path dir, WorkersConfig workers, Port... ports) throws Exception {
        // The control socket (and the state file of runtime ports beside it) in dir, never in the working directory.
        JvhostConfig config = new JvhostConfig(workers, null, portConfigs(dir, ports),
                new ManagementConfig("127.0.0.1", 0, controlSocketPath(dir), null));
        return new InProcessJvhost(dir, Jvhost.start(config), config);
    }

    private static List<PortConfig> portConfigs(Path dir, Port... ports) {
        List<PortConfig> configs = new ArrayList<>();
        for (Port p : ports) {
            configs.add(p.more().apply(PortConfig.vhostUser(p.name(), socketPath(dir, p.name()),
                    PortConfig.Mode.SERVER, 1, p.network()).withOffloads(p.offloads()).withMtu(p.mtu())
                    .withAccess(p.access())));
        }
        return configs;
    }

    /** What the next {@code POST /api/reload} reads: the config with these ports instead. */
    void rewriteConfig(Port... ports) {
        JvhostConfig c = config;
        config = new JvhostConfig(c.workers(), c.topology(), portConfigs(dir, ports), c.management());
    }

    private static Path socketPath(Path dir, String port) {
        return dir.resolve(port + ".sock");
    }

    Path socket(String port) {
        return socketPath(dir, port);
    }

    private static Path controlSocketPath(Path dir) {
        return dir.resolve("jvhost.ctl");
    }

    /** Where {@link #startControl} puts the control socket. */
    Path controlSocket() {
        return controlSocketPath(dir);
    }

    /** The state file of the ports added at runtime, beside the control socket. */
    Path stateFile() {
        return dir.resolve("jvhost.ctl.state");
    }

    /** The control socket at {@link #controlSocket()}, as {@code jvhost serve} starts it; the caller closes it. */
    ManagementServer startControl(String group) throws IOException {
        ManagementConfig management = new ManagementConfig("127.0.0.1", 0, controlSocket(), group);
        return ManagementServer.startControl(management, daemon.view(), daemon.control(),
                () -> daemon.control().reload("config.yaml", config));
    }

    /** The read-only TCP listener on a free port; the caller closes it. */
    ManagementServer startListener() throws IOException {
        return ManagementServer.start(new ManagementConfig("127.0.0.1", 0, controlSocket(), null), daemon.view());
    }

    ManagementView view() {
        return daemon.view();
    }

    PortStatus port(String name) {
        for (PortStatus p : view().ports()) {
            if (p.name().equals(name)) {
                return p;
            }
        }
        throw new IllegalArgumentException("no port " + name);
    }

    /** Virtqueue {@code index} of {@code port}: 0 is the guest's RX, 1 its TX. */
    QueueStatus queue(String port, int index) {
        for (QueueStatus q : view().queues()) {
            if (q.port().equals(port) && q.index() == index) {
                return q;
            }
        }
        throw new IllegalArgumentException("no queue " + port + "/" + index);
    }

    /** Waits until {@code port}'s status satisfies {@code condition}; fails showing the last status. */
    PortStatus awaitPort(String port, Predicate<PortStatus> condition, String what) {
        long deadline = System.nanoTime() + SETTLE_TIMEOUT.toNanos();
        while (true) {
            PortStatus status = port(port);
            if (condition.test(status)) {
                return status;
            }
            if (System.nanoTime() > deadline) {
                return fail("port " + port + ": not " + what + " within " + SETTLE_TIMEOUT.toMillis() + " ms: "
                        + status);
            }
            pause();
        }
    }

    /**
     * Waits until {@code actual} yields {@code expected} (counters are published a little after the
     * frames they count), then asserts it: an exact value, reached or not.
     */
    static <T> void awaitEquals(T expected, Supplier<T> actual, String what) {
        long deadline = System.nanoTime() + SETTLE_TIMEOUT.toNanos();
        T value = actual.get();
        while (!Objects.equals(expected, value) && System.nanoTime() < deadline) {
            pause();
            value = actual.get();
        }
        assertEquals(expected, value, what);
    }

    private static void pause() {
        try {
            Thread.sleep(2);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted", e);
        }
    }

    @Override
    public void close() throws Exception {
        daemon.close();
    }
}

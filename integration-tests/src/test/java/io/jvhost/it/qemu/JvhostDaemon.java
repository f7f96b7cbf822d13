package io.jvhost.it.qemu;

import io.jvhost.backend.Jvhost;
import io.jvhost.backend.RunningDaemon;
import io.jvhost.backend.config.JvhostConfig;
import io.jvhost.backend.config.ManagementConfig;
import io.jvhost.backend.config.PortConfig;
import io.jvhost.backend.config.TopologyConfig;
import io.jvhost.backend.config.WorkersConfig;
import io.jvhost.backend.management.ManagementServer;
import io.jvhost.backend.management.ManagementView;
import io.jvhost.backend.management.PortStatus;
import io.jvhost.backend.management.QueueStatus;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

/** jvhost started in-process for a test, with the pool on CPUs 0-1. */
final class JvhostDaemon implements AutoCloseable {

    private final RunningDaemon daemon;
    private final JvhostConfig config;

    private JvhostDaemon(RunningDaemon daemon, JvhostConfig config) {
        this.daemon = daemon;
        this.config = config;
    }

    static JvhostDaemon start(WorkersConfig.Model model, List<PortConfig> ports) throws Exception {
        return start(model, null, ports);
    }

    /** @param sockets {@code topology.sockets}, or null for the detected topology */
    static JvhostDaemon start(WorkersConfig.Model model, List<List<Integer>> sockets, List<PortConfig> ports)
            throws Exception {
        WorkersConfig workers = new WorkersConfig(List.of(0, 1), model, WorkersConfig.Placement.SOCKET_AFFINE,
                WorkersConfig.Balance.LEAST_LOADED, 100);
        TopologyConfig topology = sockets == null ? null : new TopologyConfig(sockets);
        // The control socket, and the state file of runtime ports beside it, next to the first port's
        // socket (a test's directory) rather than in the working directory.
        ManagementConfig management = new ManagementConfig("127.0.0.1", 0);
        for (PortConfig p : ports) {
            if (p.socket() != null) {
                management = management.withControl(p.socket().resolveSibling("jvhost.ctl"), null);
                break;
            }
        }
        JvhostConfig config = new JvhostConfig(workers, topology, ports, management);
        return new JvhostDaemon(Jvhost.start(config), config);
    }

    /** The control socket ({@code management.control-socket}), as {@code jvhost serve} starts it; the caller closes it. */
    ManagementServer startControl() throws IOException {
        return ManagementServer.startControl(config.management(), daemon.view(), daemon.control());
    }

    /** Where {@link #startControl} listens. */
    Path controlSocket() {
        return config.management().controlSocket();
    }

    /** Rebalance periods the daemon has run so far. */
    long rebalancePeriods() {
        return daemon.view().extraCounters().getOrDefault("rebalance_periods", -1L);
    }

    static PortConfig server(String name, Path socket, int queues) {
        return PortConfig.vhostUser(name, socket, PortConfig.Mode.SERVER, queues, "default");
    }

    static PortConfig tap(String name, String tapName) {
        return PortConfig.tap(name, tapName, 1, "default");
    }

    static PortConfig client(String name, Path socket, int queues) {
        return PortConfig.vhostUser(name, socket, PortConfig.Mode.CLIENT, queues, "default");
    }

    ManagementView view() {
        return daemon.view();
    }

    /** The status of port {@code name}. */
    PortStatus port(String name) {
        return view().ports().stream().filter(p -> p.name().equals(name)).findFirst().orElseThrow();
    }

    /** Virtqueue {@code index} of {@code port} (0: the guest's RX, 1: its TX). */
    QueueStatus queue(String port, int index) {
        return view().queues().stream().filter(q -> q.port().equals(port) && q.index() == index)
                .findFirst().orElseThrow();
    }

    @Override
    public void close() throws Exception {
        daemon.close();
    }
}

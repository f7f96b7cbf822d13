package io.jvhost.it.bench;

import io.jvhost.it.harness.GuestImage;
import io.jvhost.it.harness.GuestNic;
import io.jvhost.it.harness.GuestRole;
import io.jvhost.it.harness.NetNamespace;
import io.jvhost.it.harness.ProcessReaper;
import io.jvhost.it.harness.QemuGuest;
import io.jvhost.it.harness.TapNic;
import io.jvhost.it.harness.Testpmd;
import io.jvhost.it.harness.VhostUserNic;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Case 4, the TCP stream table of the 2012 per-cpu vhost RFC with guest offloads: iperf3 TCP
 * streams at several write sizes, in three directions, through five setups measured in the same run.
 * <ul>
 *   <li>guest → guest: two TCG guests, the client guest runs {@code stream:LEN} against the other;</li>
 *   <li>host → guest and guest → host: one guest and "the host", a network namespace the bench
 *       creates, where {@code iperf3 -s} runs at {@link #HOST_ADDRESS}; the guest runs
 *       {@code rstream:LEN} (the host sends) and {@code stream:LEN} (the guest sends).</li>
 * </ul>
 * The setups ({@link Backend}):
 * <ul>
 *   <li>{@link Backend#JVHOST_PER_CPU} and {@link Backend#JVHOST_OFFLOADS_OFF}: jvhost with its
 *       default config, or {@code offloads: false} on every port; for the host, a TAP port that jvhost
 *       creates and the bench moves into the namespace;</li>
 *   <li>{@link Backend#BRIDGE} and {@link Backend#BRIDGE_OFFLOADS_OFF}: no vhost backend, QEMU's own
 *       virtio-net on a TAP in a Linux bridge inside the namespace (QEMU runs there too); the
 *       bridge's address is the host. Offloads off: {@link TapNic#OFFLOADS_OFF} on the device;</li>
 *   <li>{@link Backend#DPDK_TSO}: testpmd, {@code net_vhost} ports with {@code tso=1}, io forwarding;
 *       for the host a {@code net_tap} port (moved into the namespace) with testpmd's TSO and checksum
 *       TX offloads turned on for it, so the tap PMD segments and checksums what the guest handed over;
 *       host → guest only ({@link #measuresGuestToHost}).</li>
 * </ul>
 * Same guests everywhere (1 vCPU, 256 MiB, QEMU's default CPU model), nothing pinned: jvhost
 * {@code workers.cpus: "0-1"}, testpmd {@code -l 0,1}.
 *
 * <p>Thread safety: one bench thread.
 */
final class OffloadBench {

    /** The host's address in its namespace (the bridge's, or the TAP's moved there). */
    static final String HOST_ADDRESS = "192.0.2.100";
    private static final Duration BOOT = Duration.ofSeconds(180);
    /** testpmd commands run before forwarding starts: TX offloads on the tap port (port 1). */
    private static final String TAP_OFFLOAD_COMMANDS = """
            port stop 1
            port config 1 tx_offload tcp_tso on
            port config 1 tx_offload tcp_cksum on
            port config 1 tx_offload udp_cksum on
            port config 1 tx_offload ipv4_cksum on
            port start 1
            """;

    /** A row group of the table. */
    enum Direction {
        GUEST_TO_GUEST("g2g", "guest → guest"),
        HOST_TO_GUEST("h2g", "host → guest"),
        GUEST_TO_HOST("g2h", "guest → host");

        private final String tag;
        private final String label;

        Direction(String tag, String label) {
            this.tag = tag;
            this.label = label;
        }

        String tag() {
            return tag;
        }

        String label() {
            return label;
        }
    }

    private final BenchEnv env;
    private final GuestImage image;

    OffloadBench(BenchEnv env, GuestImage image) {
        this.env = env;
        this.image = image;
    }

    /** The {@link Results} parameter of one cell: {@code g2g/1024}. */
    static String param(Direction direction, int writeBytes) {
        return direction.tag() + "/" + writeBytes;
    }

    /**
     * Guest → guest at every size in one boot of the pair.
     *
     * @return Mbit/s the server guest received, by {@link #param}; NaN where a test failed
     */
    Map<String, Double> measurePair(Backend setup, List<Integer> sizes, int seconds) {
        String name = env.nextName("offloads-" + setup.tag() + "-pair");
        Path serverSocket = env.socketDir().resolve(name + "-0.sock");
        Path clientSocket = env.socketDir().resolve(name + "-1.sock");
        List<String> tests = new ArrayList<>();
        for (int size : sizes) {
            tests.add("stream:" + size);
        }
        // Only the bridge setups use the namespace here; one code path for all is worth an empty one.
        try (NetNamespace ns = NetNamespace.create("jvbench")) {
            String bridge = isBridge(setup) ? ns.addBridge(HOST_ADDRESS + "/24") : null;
            try (Backends.Running running = startPairBackend(setup, name, serverSocket, clientSocket);
                 QemuGuest server = guest(name + "-server", setup, ns)
                         .role(GuestRole.BENCH_SERVER).ip("192.0.2.1/24")
                         .nic(nic(setup, ns, bridge, serverSocket, "52:54:00:00:00:01"))
                         .start();
                 QemuGuest client = guest(name + "-client", setup, ns)
                         .role(GuestRole.BENCH).ip("192.0.2.2/24").peer("192.0.2.1").peerWaitSeconds(120)
                         .iperfSeconds(seconds).kernelArg("jv.bench", String.join(",", tests))
                         .nic(nic(setup, ns, bridge, clientSocket, "52:54:00:00:00:02"))
                         .start()) {
                Map<String, Double> values = results("offloads guest → guest", setup, running, client, name, tests,
                        seconds);
                Map<String, Double> out = new LinkedHashMap<>();
                for (int size : sizes) {
                    out.put(param(Direction.GUEST_TO_GUEST, size), values.get("stream:" + size));
                }
                return out;
            }
        } finally {
            deleteQuietly(serverSocket);
            deleteQuietly(clientSocket);
        }
    }

    /**
     * Host → guest and guest → host at every size in one boot of one guest; for {@link Backend#DPDK_TSO}
     * host → guest only (see {@link #measuresGuestToHost}).
     *
     * @return Mbit/s the receiving side got, by {@link #param}; NaN where a test failed
     */
    Map<String, Double> measureHost(Backend setup, List<Integer> sizes, int seconds) {
        String name = env.nextName("offloads-" + setup.tag() + "-host");
        Path socket = env.socketDir().resolve(name + "-0.sock");
        List<String> tests = new ArrayList<>();
        boolean guestToHost = measuresGuestToHost(setup);
        for (int size : sizes) {
            tests.add("rstream:" + size);
            if (guestToHost) {
                tests.add("stream:" + size);
            }
        }
        try (NetNamespace ns = NetNamespace.create("jvbench")) {
            String bridge = isBridge(setup) ? ns.addBridge(HOST_ADDRESS + "/24") : null;
            try (Backends.Running running = startHostBackend(setup, name, socket, ns)) {
                // Started once the address exists (-B binds it); stopped before the namespace goes.
                Process iperfServer = ns.start(List.of("iperf3", "-s", "-B", HOST_ADDRESS),
                        env.logDir().resolve(name + "-iperf3-server.log"), "iperf3 server");
                try (QemuGuest client = guest(name + "-client", setup, ns)
                        .role(GuestRole.BENCH).ip("192.0.2.1/24").peer(HOST_ADDRESS).peerWaitSeconds(120)
                        .iperfSeconds(seconds).kernelArg("jv.bench", String.join(",", tests))
                        .nic(nic(setup, ns, bridge, socket, "52:54:00:00:00:01"))
                        .start()) {
                    Map<String, Double> values = results("offloads host ↔ guest", setup, running, client, name,
                            tests, seconds);
                    Map<String, Double> out = new LinkedHashMap<>();
                    for (int size : sizes) {
                        out.put(param(Direction.HOST_TO_GUEST, size), values.get("rstream:" + size));
                        if (guestToHost) {
                            out.put(param(Direction.GUEST_TO_HOST, size), values.get("stream:" + size));
                        }
                    }
                    return out;
                } finally {
                    ProcessReaper.terminate(iperfServer.toHandle(), Duration.ofSeconds(2));
                }
            }
        } finally {
            deleteQuietly(socket);
        }
    }

    /**
     * False for {@link Backend#DPDK_TSO}: guest → host through testpmd's {@code net_tap} port does not
     * work with a TSO guest. DPDK 22.11's tap PMD drops every full-sized TSO segment as a TX error
     * (it compares the MSS plus all headers, 1514 bytes, with the MTU of 1500, and drops the rest of
     * the burst with it), so TCP stalls at 1-2 Mbit/s; that measures the tap PMD, not the vhost PMD.
     */
    static boolean measuresGuestToHost(Backend setup) {
        return setup != Backend.DPDK_TSO;
    }

    private static Duration timeout(int tests, int seconds) {
        return BOOT.plus(Duration.ofSeconds((long) tests * (seconds + 40)));
    }

    /** The bridge setups run QEMU in the namespace, where their TAPs are; the others in the bench's. */
    private QemuGuest.Builder guest(String name, Backend setup, NetNamespace ns) {
        QemuGuest.Builder b = QemuGuest.builder(name, env.logDir()).image(image);
        return isBridge(setup) ? b.networkNamespace(ns.name()) : b;
    }

    /** A new TAP on {@code bridge} for the bridge setups, else a vhost-user NIC on {@code socket}. */
    private static GuestNic nic(Backend setup, NetNamespace ns, String bridge, Path socket, String mac) {
        if (isBridge(setup)) {
            return ns.addTap(bridge).withMac(mac).withOffloads(setup == Backend.BRIDGE);
        }
        return VhostUserNic.client(socket).withReconnect(1).withMac(mac);
    }

    private static boolean isBridge(Backend setup) {
        return setup == Backend.BRIDGE || setup == Backend.BRIDGE_OFFLOADS_OFF;
    }

    /** The backend of a pair; null for the bridge setups (the kernel's bridge needs no process). */
    private Backends.Running startPairBackend(Backend setup, String name, Path serverSocket, Path clientSocket) {
        if (setup.isJvhost()) {
            List<JvhostProcess.Port> ports = List.of(new JvhostProcess.Port("vm0", serverSocket, "default"),
                    new JvhostProcess.Port("vm1", clientSocket, "default"));
            return Backends.jvhost(JvhostProcess.start(env.logDir(), name + "-jvhost", env.javaCommand(), "0-1",
                    setup.model(), offloads(setup, ports), Duration.ofSeconds(60)));
        }
        if (setup == Backend.DPDK_TSO) {
            return Backends.testpmd(Testpmd.builder(env.logDir()).cpuList("0,1").filePrefix(env.filePrefix(name))
                    .vhostUser(serverSocket, false, 1, true).vhostUser(clientSocket, false, 1, true)
                    .forwardMode("io").statsPeriodSeconds(10).start());
        }
        return null;
    }

    /**
     * The backend of a host measurement, with the host's end configured in {@code ns}: jvhost's or
     * testpmd's TAP moved there with {@link #HOST_ADDRESS}; null for the bridge setups (the bridge
     * has the address).
     */
    private Backends.Running startHostBackend(Backend setup, String name, Path socket, NetNamespace ns) {
        String tap = "jvb" + String.format("%06x", ThreadLocalRandom.current().nextInt(0x1000000));
        if (setup.isJvhost()) {
            List<JvhostProcess.Port> ports = List.of(new JvhostProcess.Port("vm0", socket, "default"),
                    JvhostProcess.Port.tap("uplink", tap, "default"));
            Backends.Running jvhost = Backends.jvhost(JvhostProcess.start(env.logDir(), name + "-jvhost",
                    env.javaCommand(), "0-1", setup.model(), offloads(setup, ports), Duration.ofSeconds(60)));
            return adopted(jvhost, ns, tap);
        }
        if (setup == Backend.DPDK_TSO) {
            Path commands = env.logDir().resolve(name + "-testpmd-commands.txt");
            write(commands, TAP_OFFLOAD_COMMANDS);
            Backends.Running testpmd = Backends.testpmd(Testpmd.builder(env.logDir()).cpuList("0,1")
                    .filePrefix(env.filePrefix(name)).vhostUser(socket, false, 1, true).tap(tap)
                    .forwardMode("io").statsPeriodSeconds(10)
                    .extraAppArgs("--cmdline-file=" + commands).start());
            return adopted(testpmd, ns, tap);
        }
        return null;
    }

    /** Moves the backend's TAP into the host namespace; stops the backend if that fails. */
    private static Backends.Running adopted(Backends.Running backend, NetNamespace ns, String tap) {
        try {
            ns.adopt(tap, HOST_ADDRESS + "/24");
            return backend;
        } catch (RuntimeException e) {
            backend.close();
            throw e;
        }
    }

    private static List<JvhostProcess.Port> offloads(Backend setup, List<JvhostProcess.Port> ports) {
        if (setup != Backend.JVHOST_OFFLOADS_OFF) {
            return ports;
        }
        List<JvhostProcess.Port> out = new ArrayList<>();
        for (JvhostProcess.Port p : ports) {
            out.add(p.withOffloadsOff());
        }
        return out;
    }

    /**
     * Records the command lines, waits for the client guest's tests to end, saves the backend's
     * counters (none for the bridge) and returns each test's result ({@link GuestBench#parse}).
     */
    private Map<String, Double> results(String kind, Backend setup, Backends.Running running, QemuGuest client,
                                        String name, List<String> tests, int seconds) {
        if (running != null) {
            env.remember(kind + ", " + setup.label() + " backend", running.commandLine());
        }
        env.remember(kind + ", " + setup.label() + " QEMU client guest", client.commandLine());
        client.awaitLine(QemuGuest.DONE, timeout(tests.size(), seconds));
        if (running != null) {
            running.saveCounters(env.logDir().resolve(name + "-counters.json"));
        }
        return GuestBench.parse(client.serial().lines(), tests);
    }

    private static void write(Path file, String text) {
        try {
            Files.writeString(file, text);
        } catch (IOException e) {
            throw new UncheckedIOException("writing " + file, e);
        }
    }

    private static void deleteQuietly(Path p) {
        try {
            Files.deleteIfExists(p);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}

package io.jvhost.backend.config;

import io.jvhost.affinity.topology.CpuList;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.jvhost.backend.config.PortConfig.Mode;
import io.jvhost.backend.config.WorkersConfig.Balance;
import io.jvhost.backend.config.WorkersConfig.Model;
import io.jvhost.backend.config.WorkersConfig.Placement;
import io.jvhost.backend.linux.SocketAccess;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ConfigLoaderTest {

    private static final List<Integer> ONLINE = List.of(0, 1, 2, 3);

    private static JvhostConfig parse(String yaml) throws ConfigException {
        return ConfigLoader.parse("config.yaml", yaml, ONLINE);
    }

    @Test
    void shouldServeTwoServerPortsInOneNetworkByDefault() throws Exception {
        JvhostConfig expected = new JvhostConfig(
                new WorkersConfig(ONLINE, Model.PER_CPU, Placement.SOCKET_AFFINE, Balance.LEAST_LOADED, 100),
                null,
                List.of(
                        new PortConfig("vm0", Path.of("run/vm0.sock"), Mode.SERVER, 1, "default", null, null, true, 1500),
                        new PortConfig("vm1", Path.of("run/vm1.sock"), Mode.SERVER, 1, "default", null, null, true, 1500)),
                new ManagementConfig("127.0.0.1", 9180));

        assertEquals(expected, ConfigLoader.embeddedDefault(ONLINE));
    }

    @Test
    void shouldUseAllOnlineCpusOfTheHostInTheDefault() throws Exception {
        assertEquals(CpuList.online(), ConfigLoader.embeddedDefault().workers().cpus());
    }

    @Test
    void shouldDocumentEveryKeyInTheDefaultResource() {
        String text = ConfigLoader.defaultText();
        Stream.of(ConfigLoader.ROOT_KEYS, ConfigLoader.WORKERS_KEYS, ConfigLoader.TOPOLOGY_KEYS,
                        ConfigLoader.PORT_KEYS, ConfigLoader.STORM_CONTROL_KEYS, ConfigLoader.MANAGEMENT_KEYS)
                .flatMap(List::stream)
                .forEach(key -> assertTrue(text.contains(" " + key + ":") || text.contains("\n" + key + ":"),
                        "jvhost-default.yaml does not document '" + key + "'"));
    }

    @Test
    void shouldParseTheFullExample() throws Exception {
        JvhostConfig config = parse("""
                workers:
                  cpus: "0-1"
                  model: per-device
                  placement: round-robin
                  balance: random
                  rebalance-interval-ms: 250
                  busy-poll-us: 0
                  wakeup-slice-us: 0
                topology:
                  sockets: [[0, 1], "2-3"]
                ports:
                  - name: vm0
                    socket: run/vm0.sock
                    mode: client
                    queues: 2
                    network: blue
                    vcpus: [1, 0]
                  - name: uplink
                    tap: jv0
                    network: default
                  - name: vm1
                    socket: /var/run/jvhost/vm1.sock
                    socket-mode: "0660"
                    socket-group: kvm
                    allowed-uids: [0, 64055]
                  - name: vm2
                    socket: run/vm2.sock
                    mode: client
                    allowed-uids: [4294967294]
                management:
                  listen: 0.0.0.0:9181
                """);

        JvhostConfig expected = new JvhostConfig(
                new WorkersConfig(List.of(0, 1), Model.PER_DEVICE, Placement.ROUND_ROBIN, Balance.RANDOM, 250, 0,
                        WorkersConfig.DEFAULT_BACKPRESSURE_TIMEOUT_US, 0),
                new TopologyConfig(List.of(List.of(0, 1), List.of(2, 3))),
                List.of(
                        new PortConfig("vm0", Path.of("run/vm0.sock"), Mode.CLIENT, 2, "blue", null, List.of(1, 0), true,
                                1500),
                        new PortConfig("uplink", null, null, 1, "default", "jv0", null, true, 1500),
                        new PortConfig("vm1", Path.of("/var/run/jvhost/vm1.sock"), Mode.SERVER, 1, "default", null,
                                null, true, 1500, new SocketAccess(0660, "kvm", List.of(0L, 64055L))),
                        new PortConfig("vm2", Path.of("run/vm2.sock"), Mode.CLIENT, 1, "default", null, null, true,
                                1500, new SocketAccess(-1, null, List.of(4294967294L)))),
                new ManagementConfig("0.0.0.0", 9181));
        assertEquals(expected, config);
        assertEquals("tap", config.ports().get(1).kind());
        assertEquals("vhost-user", config.ports().get(0).kind());
        assertEquals(1, config.topology().socketOf(3));
    }

    @Test
    void shouldDefaultEveryOptionalKey() throws Exception {
        JvhostConfig config = parse("""
                ports:
                  - name: vm0
                    socket: vm0.sock
                """);

        assertEquals(new WorkersConfig(ONLINE, Model.PER_CPU, Placement.SOCKET_AFFINE, Balance.LEAST_LOADED, 100, 50),
                config.workers());
        assertNull(config.topology());
        assertEquals(List.of(new PortConfig("vm0", Path.of("vm0.sock"), Mode.SERVER, 1, "default", null, null, true, 1500)),
                config.ports());
        assertEquals(new ManagementConfig("127.0.0.1", 9180), config.management());
    }

    @Test
    void shouldTreatEmptySectionsAsDefaults() throws Exception {
        JvhostConfig config = parse("""
                workers:
                topology:
                ports: [{name: vm0, socket: vm0.sock}]
                management:
                """);

        assertEquals(ONLINE, config.workers().cpus());
        assertNull(config.topology());
        assertEquals(new ManagementConfig("127.0.0.1", 9180), config.management());
    }

    @Test
    void shouldAcceptCpusAsOneIdOrAList() throws Exception {
        assertEquals(List.of(2), parse("workers: {cpus: 2}\nports: [{name: a, socket: a.sock}]").workers().cpus());
        assertEquals(List.of(1, 3),
                parse("workers: {cpus: [3, 1]}\nports: [{name: a, socket: a.sock}]").workers().cpus());
    }

    @Test
    void shouldParseIpv6AndPortZeroListenAddresses() throws Exception {
        assertEquals(new ManagementConfig("::1", 0),
                parse("ports: [{name: a, socket: a.sock}]\nmanagement: {listen: \"[::1]:0\"}").management());
        assertEquals("[::1]:0", new ManagementConfig("::1", 0).listen());
        assertEquals(new ManagementConfig("localhost", 80),
                parse("ports: [{name: a, socket: a.sock}]\nmanagement: {listen: localhost:80}").management());
    }

    @Test
    void shouldParseTheControlSocketAndGroup() throws Exception {
        assertEquals(new ManagementConfig("127.0.0.1", 9180, Path.of("/run/jvhost/ctl"), "kvm"),
                parse("ports: [{name: a, socket: a.sock}]\n"
                        + "management: {control-socket: /run/jvhost/ctl, control-group: kvm}").management());
        assertEquals(new ManagementConfig("127.0.0.1", 9180, Path.of("run/jvhost.ctl"), "64055"),
                parse("ports: [{name: a, socket: a.sock}]\nmanagement: {control-group: '64055'}").management());
        assertEquals(Path.of("run/jvhost.ctl"), ConfigLoader.embeddedDefault(ONLINE).management().controlSocket());
    }

    @Test
    void shouldParseARuntimePortObjectAsAConfigPort() throws Exception {
        PortConfig running = PortConfig.vhostUser("a", Path.of("run/a.sock"), Mode.SERVER, 1, "default");
        assertEquals(new PortConfig("b", Path.of("run/b.sock"), Mode.CLIENT, 2, "blue", null, null, false, 9000),
                ConfigLoader.parsePort("POST /api/ports", """
                        {"name": "b", "socket": "run/b.sock", "mode": "client", "queues": 2, "network": "blue",
                         "offloads": false, "mtu": 9000}""", List.of(running)));

        ConfigException invalid = assertThrows(ConfigException.class, () -> ConfigLoader.parsePort("POST /api/ports",
                "{\"name\": \"b\", \"tap\": \"jv0\", \"mode\": \"server\"}", List.of(running)));
        assertEquals("POST /api/ports: mode: only valid for a vhost-user port (one with 'socket')", invalid.getMessage());
        assertFalse(invalid.isDuplicate());

        ConfigException duplicate = assertThrows(ConfigException.class, () -> ConfigLoader.parsePort("POST /api/ports",
                "{\"name\": \"b\", \"socket\": \"run/../run/a.sock\"}", List.of(running)));
        assertEquals("POST /api/ports: socket: duplicate socket path 'run/../run/a.sock' (also port a)",
                duplicate.getMessage());
        assertTrue(duplicate.isDuplicate());

        ConfigException twice = assertThrows(ConfigException.class, () -> ConfigLoader.parsePort("POST /api/ports",
                "{\"name\": \"b\", \"name\": \"c\", \"tap\": \"jv0\"}", List.of()));
        assertEquals("POST /api/ports:1: duplicate key 'name'", twice.getMessage());
        assertEquals("POST /api/ports: expected a mapping, got nothing",
                assertThrows(ConfigException.class, () -> ConfigLoader.parsePort("POST /api/ports", "", List.of()))
                        .getMessage());
        assertEquals("POST /api/ports: expected one JSON object, found more after it",
                assertThrows(ConfigException.class, () -> ConfigLoader.parsePort("POST /api/ports",
                        "{\"name\": \"b\", \"tap\": \"jv0\"} {}", List.of())).getMessage());
    }

    @Test
    void shouldParsePortSecurityAndStormControl() throws Exception {
        JvhostConfig config = parse("""
                ports:
                  - name: vm0
                    socket: run/vm0.sock
                    mac: "52:54:00:12:34:56"
                    allowed-macs: ["02:00:00:00:00:01", "FA:16:3E:00:00:0A"]
                    storm-control:
                      broadcast-pps: 1000
                      multicast-pps: 5000
                      unknown-unicast-pps: 0
                  - name: uplink
                    tap: jv0
                    allowed-macs: ["02:00:00:00:00:02"]
                    storm-control: {multicast-pps: 20}
                  - name: vm1
                    socket: run/vm1.sock
                """);
        PortConfig vm0 = config.ports().get(0);
        assertEquals(0x5254_0012_3456L, vm0.mac());
        assertEquals(List.of(0x0200_0000_0001L, 0xFA16_3E00_000AL), vm0.allowedMacs());
        assertEquals(List.of(0x5254_0012_3456L, 0x0200_0000_0001L, 0xFA16_3E00_000AL),
                java.util.Arrays.stream(vm0.securedMacs()).boxed().toList());
        assertEquals(new StormControl(1000, 5000, 0), vm0.stormControl());
        PortConfig uplink = config.ports().get(1);
        assertNull(uplink.mac());
        assertEquals(List.of(0x0200_0000_0002L), uplink.allowedMacs());
        assertEquals(new StormControl(StormControl.UNLIMITED, 20, StormControl.UNLIMITED), uplink.stormControl());
        PortConfig vm1 = config.ports().get(2);
        assertNull(vm1.mac());
        assertEquals(List.of(), vm1.allowedMacs());
        assertEquals(StormControl.NONE, vm1.stormControl(), "no limit by default");
    }

    @Test
    void shouldParsePortSecurityAndStormControlOfARuntimePort() throws Exception {
        PortConfig running = PortConfig.vhostUser("a", Path.of("run/a.sock"), Mode.SERVER, 1, "red")
                .withPortSecurity(0x0200_0000_0001L, List.of());
        assertEquals(PortConfig.vhostUser("b", Path.of("run/b.sock"), Mode.SERVER, 1, "red")
                        .withPortSecurity(0x0200_0000_0002L, List.of())
                        .withStormControl(new StormControl(50, StormControl.UNLIMITED, StormControl.UNLIMITED)),
                ConfigLoader.parsePort("POST /api/ports", """
                        {"name": "b", "socket": "run/b.sock", "network": "red", "mac": "02:00:00:00:00:02",
                         "storm-control": {"broadcast-pps": 50}}""", List.of(running)));
        ConfigException taken = assertThrows(ConfigException.class, () -> ConfigLoader.parsePort("POST /api/ports",
                "{\"name\": \"b\", \"socket\": \"b.sock\", \"network\": \"red\", \"mac\": \"02:00:00:00:00:01\"}",
                List.of(running)));
        assertEquals("POST /api/ports: mac: duplicate MAC '02:00:00:00:00:01' in network 'red' (also port a)",
                taken.getMessage());
        assertTrue(taken.isDuplicate());
        // The same MAC in another network is another switch's business.
        assertEquals(0x0200_0000_0001L, ConfigLoader.parsePort("POST /api/ports",
                "{\"name\": \"b\", \"socket\": \"b.sock\", \"network\": \"blue\", \"mac\": \"02:00:00:00:00:01\"}",
                List.of(running)).mac());
    }

    @Test
    void shouldReadBackTheStateFileItWrites(@TempDir Path dir) throws Exception {
        List<PortConfig> ports = List.of(
                new PortConfig("vm1", Path.of("/var/run/jvhost/vm1.sock"), Mode.SERVER, 2, "blue", null, List.of(1, 0),
                        false, 9000, new SocketAccess(0660, "kvm", List.of(0L, 64055L))),
                new PortConfig("vm2", Path.of("run/vm2.sock"), Mode.CLIENT, 1, "default", null, null, true, 1500)
                        .withPortSecurity(0x5254_0012_3456L, List.of(0x0200_0000_0001L))
                        .withStormControl(new StormControl(1000, StormControl.UNLIMITED, 0)),
                PortConfig.tap("up", "jv0", 1, "default").withPortSecurity(null, List.of(0x0200_0000_0002L))
                        .withStormControl(new StormControl(StormControl.UNLIMITED, 5000, StormControl.UNLIMITED)));
        Path file = dir.resolve("jvhost.ctl.state");
        Files.writeString(file, ConfigLoader.stateText(ports));

        assertEquals(ports, ConfigLoader.loadState(file, List.of()));
        assertEquals(List.of(), ConfigLoader.loadState(dir.resolve("missing.state"), List.of()));
        ConfigException taken = assertThrows(ConfigException.class, () -> ConfigLoader.loadState(file,
                List.of(PortConfig.tap("uplink", "jv0", 1, "default"))));
        assertEquals(file + ": ports[2].tap: duplicate TAP device 'jv0' (also port uplink)", taken.getMessage());
        Files.writeString(file, "{\"ports\": [{\"name\": \"x\", \"socket\": \"x.sock\", \"mode\": \"listen\"}]}");
        assertEquals(file + ": ports[0].mode: expected 'server' or 'client', got 'listen'",
                assertThrows(ConfigException.class, () -> ConfigLoader.loadState(file, List.of())).getMessage());
    }

    @Test
    void shouldLoadAFileAndKeepRelativeSocketPathsRelative(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("jvhost.yaml");
        Files.writeString(file, "ports:\n  - name: vm0\n    socket: run/vm0.sock\n");

        JvhostConfig config = ConfigLoader.load(file, ONLINE);

        assertEquals(Path.of("run/vm0.sock"), config.ports().get(0).socket());
    }

    @Test
    void shouldNameTheFileWhenItCannotBeRead(@TempDir Path dir) throws Exception {
        Path missing = dir.resolve("missing.yaml");
        assertEquals(missing + ": cannot read the file: no such file",
                assertThrows(ConfigException.class, () -> ConfigLoader.load(missing, ONLINE)).getMessage());
        assertEquals(dir + ": cannot read the file: it is a directory",
                assertThrows(ConfigException.class, () -> ConfigLoader.load(dir, ONLINE)).getMessage());
        Path latin1 = dir.resolve("latin1.yaml");
        Files.write(latin1, "ports: [{name: caf\u00e9, socket: a}]".getBytes(StandardCharsets.ISO_8859_1));
        assertEquals(latin1 + ": cannot read the file: not valid UTF-8",
                assertThrows(ConfigException.class, () -> ConfigLoader.load(latin1, ONLINE)).getMessage());
    }
}

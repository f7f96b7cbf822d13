package io.jvhost.backend.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** Every validation failure is one message: file, key path, what is wrong. */
class ConfigErrorsTest {

    private static final List<Integer> ONLINE = List.of(0, 1, 2, 3);
    private static final String PORT = "ports: [{name: vm0, socket: vm0.sock}]\n";

    /** {@code n} distinct quoted MACs, comma-separated. */
    private static String macs(int n) {
        StringBuilder sb = new StringBuilder();
        for (int i = 1; i <= n; i++) {
            sb.append(i > 1 ? ", " : "").append(String.format("'02:00:00:00:01:%02x'", i));
        }
        return sb.toString();
    }

    static Stream<Arguments> invalidConfigs() {
        return Stream.of(
                // Structure and unknown keys.
                Arguments.of("- a\n",
                        "config.yaml: expected a mapping with the keys workers, topology, ports, management, got a list"),
                Arguments.of("worker: {}\n" + PORT,
                        "config.yaml: worker: unknown key (known keys: workers, topology, ports, management)"),
                Arguments.of("workers: {threads: 2}\n" + PORT,
                        "config.yaml: workers.threads: unknown key"
                                + " (known keys: cpus, model, placement, balance, rebalance-interval-ms, busy-poll-us,"
                                + " backpressure-timeout-us, wakeup-slice-us)"),
                Arguments.of("workers: [0, 1]\n" + PORT, "config.yaml: workers: expected a mapping, got a list"),
                Arguments.of("ports: [{name: vm0, sockets: vm0.sock}]\n",
                        "config.yaml: ports[0].sockets: unknown key"
                                + " (known keys: name, socket, tap, mode, queues, network, vcpus, offloads, mtu,"
                                + " socket-mode, socket-group, allowed-uids, mac, allowed-macs, storm-control)"),
                Arguments.of(PORT + "management: {listen: 1.2.3.4:1, port: 3}\n",
                        "config.yaml: management.port: unknown key (known keys: listen, control-socket, control-group)"),
                Arguments.of("", "config.yaml: ports: missing required key"),
                Arguments.of("ports:\n", "config.yaml: ports: expected a list of ports, got nothing"),
                Arguments.of("ports: []\n", "config.yaml: ports: expected at least one port"),
                Arguments.of("ports: {vm0: {socket: a}}\n",
                        "config.yaml: ports: expected a list of ports, got a mapping"),
                Arguments.of("ports: [vm0]\n", "config.yaml: ports[0]: expected a mapping, got 'vm0'"),
                // Workers.
                Arguments.of("workers: {model: per-queue}\n" + PORT,
                        "config.yaml: workers.model: expected 'per-cpu' or 'per-device', got 'per-queue'"),
                Arguments.of("workers: {placement: numa}\n" + PORT,
                        "config.yaml: workers.placement: expected 'socket-affine' or 'round-robin', got 'numa'"),
                Arguments.of("workers: {balance: 3}\n" + PORT,
                        "config.yaml: workers.balance: expected 'least-loaded' or 'random', got 3"),
                Arguments.of("workers: {wakeup-slice-us: 50}\n" + PORT,
                        "config.yaml: workers.wakeup-slice-us: must be 0 (the kernel's default) or 100..100000, got 50"),
                Arguments.of("workers: {wakeup-slice-us: 100001}\n" + PORT,
                        "config.yaml: workers.wakeup-slice-us: expected an integer from 0 to 100000, got 100001"),
                Arguments.of("workers: {busy-poll-us: 1001}\n" + PORT,
                        "config.yaml: workers.busy-poll-us: expected an integer from 0 to 1000, got 1001"),
                Arguments.of("workers: {busy-poll-us: -1}\n" + PORT,
                        "config.yaml: workers.busy-poll-us: expected an integer from 0 to 1000, got -1"),
                Arguments.of("workers: {rebalance-interval-ms: 0}\n" + PORT,
                        "config.yaml: workers.rebalance-interval-ms: expected an integer from 1 to 3600000, got 0"),
                Arguments.of("workers: {rebalance-interval-ms: 1.5}\n" + PORT,
                        "config.yaml: workers.rebalance-interval-ms: expected an integer from 1 to 3600000, got 1.5"),
                Arguments.of("workers: {cpus: \"0-5\"}\n" + PORT,
                        "config.yaml: workers.cpus: CPU 4 is not online (online CPUs: 0-3)"),
                Arguments.of("workers: {cpus: 0-x}\n" + PORT,
                        "config.yaml: workers.cpus: invalid CPU list '0-x':"
                                + " '0-x' is not a CPU id or a range like '0-3'"),
                Arguments.of("workers: {cpus: \"\"}\n" + PORT,
                        "config.yaml: workers.cpus: invalid CPU list '': the list is empty"),
                Arguments.of("workers: {cpus: []}\n" + PORT, "config.yaml: workers.cpus: expected at least one CPU"),
                Arguments.of("workers: {cpus: [1, 1]}\n" + PORT, "config.yaml: workers.cpus[1]: CPU 1 is listed twice"),
                Arguments.of("workers: {cpus: [1, -1]}\n" + PORT,
                        "config.yaml: workers.cpus[1]: expected an integer from 0 to 8191, got -1"),
                Arguments.of("workers: {cpus: {a: 1}}\n" + PORT,
                        "config.yaml: workers.cpus: expected a CPU list like '0-3,6' or a list of CPU ids,"
                                + " got a mapping"),
                // Topology.
                Arguments.of("topology: {}\n" + PORT, "config.yaml: topology.sockets: missing required key"),
                Arguments.of("topology: {sockets: []}\n" + PORT,
                        "config.yaml: topology.sockets: expected at least one socket"),
                Arguments.of("topology: {sockets: [[0, 1], [1, 2, 3]]}\n" + PORT,
                        "config.yaml: topology.sockets[1]: CPU 1 is already in topology.sockets[0]"),
                Arguments.of("topology: {sockets: [[0, 1], [2]]}\n" + PORT,
                        "config.yaml: topology.sockets: worker CPU 3"
                                + " (workers.cpus defaults to all online CPUs) is in no socket"),
                Arguments.of("workers: {cpus: 0-2}\ntopology: {sockets: [[0, 1]]}\n" + PORT,
                        "config.yaml: topology.sockets: worker CPU 2 (in workers.cpus) is in no socket"),
                // Ports.
                Arguments.of("ports: [{socket: a.sock}]\n", "config.yaml: ports[0].name: missing required key"),
                Arguments.of("ports: [{name: vm 0, socket: a.sock}]\n",
                        "config.yaml: ports[0].name: expected a name of 1 to 64 letters, digits, '.', '_' or '-',"
                                + " got 'vm 0'"),
                Arguments.of("ports: [{name: vm0, socket: a.sock}, {name: vm1, socket: b.sock, mode: listen}]\n",
                        "config.yaml: ports[1].mode: expected 'server' or 'client', got 'listen'"),
                Arguments.of("ports: [{name: vm0, socket: a.sock, mode: }]\n",
                        "config.yaml: ports[0].mode: expected 'server' or 'client', got nothing"),
                Arguments.of("ports: [{name: vm0, socket: a.sock}, {name: vm0, socket: b.sock}]\n",
                        "config.yaml: ports[1].name: duplicate port name 'vm0' (also ports[0].name)"),
                Arguments.of("ports: [{name: vm0, socket: run/a.sock}, {name: vm1, socket: ./run/a.sock}]\n",
                        "config.yaml: ports[1].socket: duplicate socket path './run/a.sock' (also ports[0].socket)"),
                Arguments.of("ports: [{name: t0, tap: jv0}, {name: t1, tap: jv0}]\n",
                        "config.yaml: ports[1].tap: duplicate TAP device 'jv0' (also ports[0].tap)"),
                Arguments.of("ports: [{name: vm0, socket: a.sock, tap: jv0}]\n",
                        "config.yaml: ports[0]: expected exactly one of 'socket' or 'tap', got both"),
                Arguments.of("ports: [{name: vm0, queues: 2}]\n",
                        "config.yaml: ports[0]: expected exactly one of 'socket' or 'tap', got neither"),
                Arguments.of("ports: [{name: vm0, socket: a.sock, queues: 17}]\n",
                        "config.yaml: ports[0].queues: expected an integer from 1 to 16, got 17"),
                Arguments.of("ports: [{name: vm0, socket: a.sock, queues: 0}]\n",
                        "config.yaml: ports[0].queues: expected an integer from 1 to 16, got 0"),
                Arguments.of("ports: [{name: vm0, socket: a.sock, queues: two}]\n",
                        "config.yaml: ports[0].queues: expected an integer from 1 to 16, got 'two'"),
                Arguments.of("ports: [{name: vm0, socket: a.sock, offloads: yes please}]\n",
                        "config.yaml: ports[0].offloads: expected true or false, got 'yes please'"),
                Arguments.of("ports: [{name: vm0, socket: a.sock, mtu: 67}]\n",
                        "config.yaml: ports[0].mtu: expected an integer from 68 to 65535, got 67"),
                Arguments.of("ports: [{name: t0, tap: jv0, mtu: 65536}]\n",
                        "config.yaml: ports[0].mtu: expected an integer from 68 to 65535, got 65536"),
                // Socket access.
                Arguments.of("ports: [{name: vm0, socket: a.sock, socket-mode: 0660}]\n",
                        "config.yaml: ports[0].socket-mode: expected a quoted octal mode like \"0660\", got the number 432"
                                + " (quote the mode)"),
                Arguments.of("ports: [{name: vm0, socket: a.sock, socket-mode: '0690'}]\n",
                        "config.yaml: ports[0].socket-mode: expected a quoted octal mode like \"0660\", got '0690'"),
                Arguments.of("ports: [{name: vm0, socket: a.sock, mode: client, socket-mode: '0660'}]\n",
                        "config.yaml: ports[0].socket-mode: only valid for a server-mode vhost-user port"
                                + " (a socket jvhost creates)"),
                Arguments.of("ports: [{name: t0, tap: jv0, socket-group: kvm}]\n",
                        "config.yaml: ports[0].socket-group: only valid for a server-mode vhost-user port"
                                + " (a socket jvhost creates)"),
                Arguments.of("ports: [{name: vm0, socket: a.sock, socket-group: 'kvm users'}]\n",
                        "config.yaml: ports[0].socket-group: expected a group name or a numeric gid, got 'kvm users'"),
                Arguments.of("ports: [{name: t0, tap: jv0, allowed-uids: [0]}]\n",
                        "config.yaml: ports[0].allowed-uids: only valid for a vhost-user port (one with 'socket')"),
                Arguments.of("ports: [{name: vm0, socket: a.sock, allowed-uids: []}]\n",
                        "config.yaml: ports[0].allowed-uids: expected at least one user id"
                                + " (leave the key out to accept any peer)"),
                Arguments.of("ports: [{name: vm0, socket: a.sock, allowed-uids: [0, -1]}]\n",
                        "config.yaml: ports[0].allowed-uids[1]: expected an integer from 0 to 4294967294, got -1"),
                Arguments.of("ports: [{name: vm0, socket: a.sock, allowed-uids: 0}]\n",
                        "config.yaml: ports[0].allowed-uids: expected a list of user ids, got 0"),
                // Port security.
                Arguments.of("ports: [{name: vm0, socket: a.sock, mac: '52:54:00:12:34'}]\n",
                        "config.yaml: ports[0].mac: expected a MAC address like \"52:54:00:12:34:56\","
                                + " got '52:54:00:12:34'"),
                Arguments.of("ports: [{name: vm0, socket: a.sock, mac: '52-54-00-12-34-56'}]\n",
                        "config.yaml: ports[0].mac: expected a MAC address like \"52:54:00:12:34:56\","
                                + " got '52-54-00-12-34-56'"),
                Arguments.of("ports: [{name: vm0, socket: a.sock, mac: 52}]\n",
                        "config.yaml: ports[0].mac: expected a MAC address like \"52:54:00:12:34:56\", got 52"),
                Arguments.of("ports: [{name: vm0, socket: a.sock, mac: '01:00:5e:00:00:01'}]\n",
                        "config.yaml: ports[0].mac: expected a unicast MAC address (first octet even),"
                                + " got the group address '01:00:5e:00:00:01'"),
                Arguments.of("ports: [{name: vm0, socket: a.sock, mac: '00:00:00:00:00:00'}]\n",
                        "config.yaml: ports[0].mac: expected a unicast MAC address,"
                                + " got the all-zero address '00:00:00:00:00:00'"),
                Arguments.of("ports: [{name: t0, tap: jv0, mac: '52:54:00:12:34:56'}]\n",
                        "config.yaml: ports[0].mac: only valid for a vhost-user port (one with 'socket');"
                                + " a TAP port takes 'allowed-macs'"),
                Arguments.of("ports: [{name: vm0, socket: a.sock, allowed-macs: []}]\n",
                        "config.yaml: ports[0].allowed-macs: expected at least one MAC address"
                                + " (leave the key out for no port security)"),
                Arguments.of("ports: [{name: vm0, socket: a.sock, allowed-macs: '52:54:00:12:34:56'}]\n",
                        "config.yaml: ports[0].allowed-macs: expected a list of MAC addresses,"
                                + " got '52:54:00:12:34:56'"),
                Arguments.of("ports: [{name: vm0, socket: a.sock, mac: '52:54:00:12:34:56',"
                                + " allowed-macs: ['52:54:00:12:34:57', '52:54:00:12:34:56']}]\n",
                        "config.yaml: ports[0].allowed-macs[1]: duplicate MAC '52:54:00:12:34:56'"
                                + " (also ports[0].mac)"),
                Arguments.of("ports: [{name: t0, tap: jv0, allowed-macs: ['52:54:00:12:34:5g']}]\n",
                        "config.yaml: ports[0].allowed-macs[0]: expected a MAC address like"
                                + " \"52:54:00:12:34:56\", got '52:54:00:12:34:5g'"),
                Arguments.of("ports: [{name: vm0, socket: a.sock, mac: '52:54:00:12:34:56', allowed-macs: ["
                                + macs(64) + "]}]\n",
                        "config.yaml: ports[0].allowed-macs: expected at most 63 MAC addresses (with 'mac', 64),"
                                + " got 64"),
                Arguments.of("ports: [{name: a, socket: a.sock, network: red, mac: '52:54:00:12:34:56'},"
                                + " {name: b, socket: b.sock, network: red, allowed-macs: ['52:54:00:12:34:56']}]\n",
                        "config.yaml: ports[1].allowed-macs[0]: duplicate MAC '52:54:00:12:34:56' in network 'red'"
                                + " (also ports[0].mac)"),
                // Storm control.
                Arguments.of("ports: [{name: vm0, socket: a.sock, storm-control: {broadcast: 10}}]\n",
                        "config.yaml: ports[0].storm-control.broadcast: unknown key"
                                + " (known keys: broadcast-pps, multicast-pps, unknown-unicast-pps)"),
                Arguments.of("ports: [{name: vm0, socket: a.sock, storm-control: 1000}]\n",
                        "config.yaml: ports[0].storm-control: expected a mapping, got 1000"),
                Arguments.of("ports: [{name: vm0, socket: a.sock, storm-control: {multicast-pps: -1}}]\n",
                        "config.yaml: ports[0].storm-control.multicast-pps: expected an integer from 0 to 100000000,"
                                + " got -1"),
                Arguments.of("ports: [{name: t0, tap: jv0, storm-control: {unknown-unicast-pps: 1.5}}]\n",
                        "config.yaml: ports[0].storm-control.unknown-unicast-pps: expected an integer from 0 to"
                                + " 100000000, got 1.5"),
                Arguments.of("ports: [{name: vm0, socket: a.sock, storm-control: {broadcast-pps: 100000001}}]\n",
                        "config.yaml: ports[0].storm-control.broadcast-pps: expected an integer from 0 to 100000000,"
                                + " got 100000001"),
                Arguments.of("ports: [{name: vm0, socket: ''}]\n",
                        "config.yaml: ports[0].socket: expected a socket path, got ''"),
                Arguments.of("ports: [{name: vm0, socket: [a]}]\n",
                        "config.yaml: ports[0].socket: expected a socket path, got a list"),
                Arguments.of("ports: [{name: vm0, socket: run/}]\n",
                        "config.yaml: ports[0].socket: expected a socket path, got the directory 'run/'"),
                Arguments.of("ports: [{name: vm0, socket: " + "d/".repeat(54) + "}]\n",
                        "config.yaml: ports[0].socket: the path is 108 bytes long,"
                                + " a unix socket path has at most 107"),
                Arguments.of("ports: [{name: vm0, socket: a.sock, network: 'blue net'}]\n",
                        "config.yaml: ports[0].network: expected a name of 1 to 64 letters, digits, '.', '_' or '-',"
                                + " got 'blue net'"),
                Arguments.of("ports: [{name: t0, tap: jv0, mode: server}]\n",
                        "config.yaml: ports[0].mode: only valid for a vhost-user port (one with 'socket')"),
                Arguments.of("ports: [{name: t0, tap: jv0, vcpus: [0]}]\n",
                        "config.yaml: ports[0].vcpus: only valid for a vhost-user port (one with 'socket')"),
                Arguments.of("ports: [{name: t0, tap: abcdefghijklmnop}]\n",
                        "config.yaml: ports[0].tap: expected an interface name of 1 to 15 bytes without '/', ':'"
                                + " or white space, got 'abcdefghijklmnop'"),
                Arguments.of("ports: [{name: t0, tap: 'jv:0'}]\n",
                        "config.yaml: ports[0].tap: expected an interface name of 1 to 15 bytes without '/', ':'"
                                + " or white space, got 'jv:0'"),
                Arguments.of("ports: [{name: vm0, socket: a.sock, queues: 2, vcpus: [0]}]\n",
                        "config.yaml: ports[0].vcpus: expected 2 entries (one per queue pair), got 1"),
                Arguments.of("ports: [{name: vm0, socket: a.sock, vcpus: 0}]\n",
                        "config.yaml: ports[0].vcpus: expected a list of 1 vCPU indexes (one per queue pair), got 0"),
                Arguments.of("ports: [{name: vm0, socket: a.sock, vcpus: [x]}]\n",
                        "config.yaml: ports[0].vcpus[0]: expected an integer from 0 to 8191, got 'x'"),
                // Management.
                Arguments.of(PORT + "management: {listen: '9180'}\n",
                        "config.yaml: management.listen: expected host:port like '127.0.0.1:9180', got '9180'"),
                Arguments.of(PORT + "management: {listen: 9180}\n",
                        "config.yaml: management.listen: expected host:port like '127.0.0.1:9180', got 9180"),
                Arguments.of(PORT + "management: {listen: ':9180'}\n",
                        "config.yaml: management.listen: expected host:port like '127.0.0.1:9180', got ':9180'"),
                Arguments.of(PORT + "management: {listen: 'localhost:99999'}\n",
                        "config.yaml: management.listen: port '99999' in 'localhost:99999'"
                                + " is not a number from 0 to 65535"),
                Arguments.of(PORT + "management: {listen: 'localhost:http'}\n",
                        "config.yaml: management.listen: port 'http' in 'localhost:http'"
                                + " is not a number from 0 to 65535"),
                Arguments.of(PORT + "management: {listen: '[::1:9180'}\n",
                        "config.yaml: management.listen: expected host:port like '127.0.0.1:9180' or '[::1]:9180',"
                                + " got '[::1:9180'"),
                Arguments.of(PORT + "management: {control-socket: ''}\n",
                        "config.yaml: management.control-socket: expected a socket path, got ''"),
                Arguments.of(PORT + "management: {control-socket: 7}\n",
                        "config.yaml: management.control-socket: expected a socket path, got 7"),
                Arguments.of(PORT + "management: {control-socket: run/}\n",
                        "config.yaml: management.control-socket: expected a socket path, got the directory 'run/'"),
                Arguments.of(PORT + "management: {control-socket: " + "d/".repeat(54) + "s}\n",
                        "config.yaml: management.control-socket: the path is 109 bytes long, a unix socket path has"
                                + " at most 107"),
                Arguments.of(PORT + "management: {control-group: 'bad group'}\n",
                        "config.yaml: management.control-group: expected a group name or a numeric gid,"
                                + " got 'bad group'"),
                Arguments.of(PORT + "management: {control-group: [kvm]}\n",
                        "config.yaml: management.control-group: expected a group name or a numeric gid, got a list"),
                // YAML itself: line and column.
                Arguments.of("ports:\n  - name: vm0\n   socket: a.sock\n",
                        "config.yaml:3:4: invalid YAML: expected <block end>, but found '<block mapping start>'"
                                + " (while parsing a block collection at line 2, column 3)"),
                Arguments.of("ports:\n  - name: vm0\n    socket: a: b\n",
                        "config.yaml:3:14: invalid YAML: mapping values are not allowed here"),
                Arguments.of("ports: [{name: vm0, socket: a.sock}\n",
                        "config.yaml:2:1: invalid YAML: expected ',' or ']', but got <stream end>"
                                + " (while parsing a flow sequence at line 1, column 8)"),
                Arguments.of("ports:\n\t- name: vm0\n",
                        "config.yaml:2:1: invalid YAML: found character '\\t(TAB)' that cannot start any token."
                                + " (Do not use \\t(TAB) for indentation) (while scanning for the next token)"),
                Arguments.of("ports: [{name: vm0, socket: a.sock}]\nports: []\n",
                        "config.yaml:2: duplicate key 'ports'"),
                Arguments.of(PORT + "---\n" + PORT,
                        "config.yaml:3:1: expected a single YAML document, found another one"));
    }

    @ParameterizedTest
    @MethodSource("invalidConfigs")
    void shouldRejectWithOneMessageNamingFileKeyAndProblem(String yaml, String message) {
        ConfigException e = assertThrows(ConfigException.class, () -> ConfigLoader.parse("config.yaml", yaml, ONLINE));
        assertEquals(message, e.getMessage());
    }
}

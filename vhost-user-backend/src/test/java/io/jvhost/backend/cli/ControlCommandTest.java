package io.jvhost.backend.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.jvhost.backend.cli.ControlCommand.Request;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** The control commands' command line: which socket, which request, which usage errors. */
class ControlCommandTest {

    @Test
    void shouldTakeTheControlSocketFromTheOptionThenTheVariableThenTheDefault() throws Exception {
        String[] list = {"port", "list"};
        assertEquals(Path.of("run/jvhost.ctl"), ControlCommand.parse(list, null).control());
        assertEquals(Path.of("run/jvhost.ctl"), ControlCommand.parse(list, "").control());
        assertEquals(Path.of("/env.ctl"), ControlCommand.parse(list, "/env.ctl").control());
        assertEquals(Path.of("/opt.ctl"),
                ControlCommand.parse(new String[] {"--control", "/opt.ctl", "port", "list"}, "/env.ctl").control());
        assertEquals(Path.of("/eq.ctl"),
                ControlCommand.parse(new String[] {"--control=/eq.ctl", "port", "list"}, "/env.ctl").control());
        assertTrue(ControlCommand.isControl(new String[] {"--control", "x", "port", "del", "a"}));
        assertFalse(ControlCommand.isControl(new String[] {"serve"}));
    }

    @Test
    void shouldMakeOneRequestPerCommand() throws Exception {
        assertEquals(new Request(Path.of("c"), "GET", "/api/ports", null, null),
                ControlCommand.parse(new String[] {"--control", "c", "port", "list"}, null));
        assertEquals(new Request(Path.of("c"), "DELETE", "/api/ports/vm3", null, "port vm3 deleted"),
                ControlCommand.parse(new String[] {"--control", "c", "port", "del", "vm3"}, null));
        Request add = ControlCommand.parse(new String[] {"--control", "c", "port", "add", "vm3", "--socket", "/s/vm3.sock",
                "--mode", "client", "--queues", "2", "--network", "blue", "--mtu", "9000"}, null);
        assertEquals("POST", add.method());
        assertEquals(new ObjectMapper().readTree("""
                {"name": "vm3", "socket": "/s/vm3.sock", "mode": "client", "queues": 2, "network": "blue", "mtu": 9000}"""),
                new ObjectMapper().readTree(add.body()));
        Request tap = ControlCommand.parse(new String[] {"port", "add", "up", "--tap", "jv0"}, null);
        assertEquals(new ObjectMapper().readTree("{\"name\": \"up\", \"tap\": \"jv0\"}"), new ObjectMapper().readTree(tap.body()));
    }

    @Test
    void shouldShowWorkersAndQueuesAsTwoTables() throws Exception {
        assertEquals(new Request(Path.of("c"), "GET", "/api/workers", null, null),
                ControlCommand.parse(new String[] {"--control", "c", "status"}, null));
        ObjectMapper json = new ObjectMapper();
        String status = ControlCommand.status(json.readTree("""
                [{"cpu": 0, "socket": 0, "queues": ["vm0/0", "vm0/1"], "busy": 0.125},
                 {"cpu": 1, "socket": null, "queues": [], "busy": 0}]"""), json.readTree("""
                [{"port": "vm0", "index": 0, "direction": "rx", "worker_cpu": 0, "vcpu_cpu": 3, "packets": 10, "drops": 0},
                 {"port": "vm0", "index": 1, "direction": "tx", "worker_cpu": null, "vcpu_cpu": null, "packets": 7,
                  "drops": 1}]"""), json.readTree("""
                [{"name": "vm0", "cpu_seconds": 0.0125, "rx_packets": 7, "tx_packets": 10}]"""));
        assertEquals("""
                workers:
                CPU  SOCKET  BUSY   QUEUES
                0    0       12.5%  vm0/0 vm0/1
                1    -       0.0%   -

                queues:
                PORT  QUEUE  DIRECTION  WORKER_CPU  VCPU_CPU  PACKETS  DROPS
                vm0   0      rx         0           3         10       0
                vm0   1      tx         -           -         7        1

                ports:
                PORT  CPU_SECONDS  RX_PACKETS  TX_PACKETS
                vm0   0.013        7           10
                """, status);
        assertTrue(ControlCommand.isControl(new String[] {"status"}));
        assertEquals("unexpected argument 'now'", assertThrows(Main.UsageException.class,
                () -> ControlCommand.parse(new String[] {"status", "now"}, null)).getMessage());
    }

    @Test
    void shouldReloadAndListWhatNeedsARestart() throws Exception {
        assertEquals(new Request(Path.of("c"), "POST", "/api/reload", null, null),
                ControlCommand.parse(new String[] {"--control", "c", "reload"}, null));
        assertEquals("added: vm2 vm3\nremoved: -\nchanged: vm0\nnot applied, needs a restart: workers\n",
                ControlCommand.reloaded(new ObjectMapper().readTree("""
                        {"added": ["vm2", "vm3"], "removed": [], "changed": ["vm0"], "not_applied": ["workers"]}""")));
    }

    @Test
    void shouldSendARelativeSocketPathAsTheAbsolutePathItMeansHere() throws Exception {
        Request add = ControlCommand.parse(new String[] {"port", "add", "vm3", "--socket", "run/vm3.sock"}, null);
        assertEquals(Path.of("run/vm3.sock").toAbsolutePath().toString(),
                new ObjectMapper().readTree(add.body()).path("socket").asText());
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
            "port                                 | port needs a command: add, del or list",
            "port show                            | unknown port command 'show' (add, del or list)",
            "port list extra                      | unexpected argument 'extra'",
            "port del                             | port del needs a port NAME",
            "port add                             | port add needs a port NAME",
            "port add vm3                         | port add needs --socket PATH or --tap IFNAME",
            "port add vm3 --socket                | --socket needs a value",
            "port add vm3 --socket a --socket b   | --socket given twice",
            "port add vm3 --socket a --queues two | --queues needs a number, got 'two'",
            "port add vm3 --socket a --colour red | unknown option '--colour'",
            "--control                            | --control needs a PATH argument",
    })
    void shouldRefuseABadCommandLine(String line, String message) {
        String[] args = line.split(" +");
        if (args[0].equals("--control")) {
            args = new String[] {"--control", "", "port", "list"};
        }
        String[] parsed = args;
        assertEquals(message, assertThrows(Main.UsageException.class, () -> ControlCommand.parse(parsed, null)).getMessage());
    }

    @Test
    void shouldExitOneWhenNobodyListens(@TempDir Path dir) {
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        Path missing = dir.resolve("none.ctl");
        int status = Main.run(new String[] {"--control", missing.toString(), "port", "list"}, config -> {
            throw new AssertionError("no daemon is started");
        }, () -> { }, new PrintStream(new ByteArrayOutputStream()), new PrintStream(err, true, StandardCharsets.UTF_8));

        assertEquals(Main.EXIT_FAILURE, status);
        assertTrue(err.toString(StandardCharsets.UTF_8).startsWith("jvhost: cannot reach the daemon at " + missing + ": "),
                err.toString(StandardCharsets.UTF_8));
    }

    @Test
    void shouldExitTwoForABadCommandLine() {
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int status = Main.run(new String[] {"port", "add"}, config -> null, () -> { },
                new PrintStream(new ByteArrayOutputStream()), new PrintStream(err, true, StandardCharsets.UTF_8));

        assertEquals(Main.EXIT_USAGE, status);
        assertEquals("jvhost: port add needs a port NAME (try 'jvhost --help')\n", err.toString(StandardCharsets.UTF_8));
    }

    @Test
    void shouldListPortsAsAnAlignedTable() throws Exception {
        String table = ControlCommand.table(new ObjectMapper().readTree("""
                [{"name": "vm0", "kind": "vhost-user", "socket": "run/vm0.sock", "mode": "server", "network": "default",
                  "connected": true, "mtu": 1500, "queues": 1, "rx_packets": 12, "tx_packets": 3, "drops": 0},
                 {"name": "uplink", "kind": "tap", "socket": null, "mode": null, "network": "default",
                  "connected": true, "mtu": 1500, "queues": 1, "rx_packets": 0, "tx_packets": 100, "drops": 1}]"""));
        assertEquals("""
                NAME    KIND        NETWORK  CONNECTED  QUEUES  MTU   RX_PACKETS  TX_PACKETS  DROPS  SOCKET
                vm0     vhost-user  default  yes        1       1500  12          3           0      server run/vm0.sock
                uplink  tap         default  yes        1       1500  0           100         1      -
                """, table);
    }
}

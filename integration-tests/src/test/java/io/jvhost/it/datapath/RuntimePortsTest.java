package io.jvhost.it.datapath;

import io.jvhost.backend.testing.Resources;
import io.jvhost.backend.cli.ControlClient;
import io.jvhost.backend.cli.ControlClient.Response;
import io.jvhost.backend.config.ConfigException;
import io.jvhost.backend.config.WorkersConfig;
import io.jvhost.backend.management.PortStatus;
import io.jvhost.it.datapath.InProcessJvhost.Port;
import io.jvhost.it.frontend.VhostUserFrontend;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

import static io.jvhost.it.datapath.Frames.BROADCAST;
import static io.jvhost.it.datapath.Frames.TIMEOUT;
import static io.jvhost.it.datapath.Frames.assertFrames;
import static io.jvhost.it.datapath.Frames.frame;
import static io.jvhost.it.datapath.Frames.mac;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Ports added and removed through the control socket of a running daemon ({@code POST /api/ports},
 * {@code DELETE /api/ports/NAME}), with front-ends on the other ports forwarding all the while; the
 * control socket's mode and group; the read-only TCP listener refusing changes.
 */
class RuntimePortsTest {

    @TempDir
    Path dir;

    @RegisterExtension
    final Resources resources = new Resources();
    private int seq;

    private InProcessJvhost startWithControl(String group, Port... ports) throws Exception {
        InProcessJvhost jvhost = resources.track(InProcessJvhost.start(dir, ports));
        resources.track(jvhost.startControl(group));
        return jvhost;
    }

    /** A front-end on {@code port}, once the daemon shows the port connected. */
    private VhostUserFrontend connect(InProcessJvhost jvhost, String port) throws Exception {
        VhostUserFrontend frontend = resources.track(VhostUserFrontend.connect(jvhost.socket(port)));
        jvhost.awaitPort(port, PortStatus::connected, "connected");
        return frontend;
    }

    /** A frame of {@code length} bytes sent by {@code from} arrives at {@code to}, and nothing else. */
    private void assertDelivers(VhostUserFrontend from, byte[] destination, byte[] source, int length,
                                VhostUserFrontend to, String where) throws Exception {
        byte[] frame = frame(destination, source, ++seq, length);
        from.send(frame);
        assertFrames(List.of(frame), to.receive(TIMEOUT), where);
    }

    private Response post(InProcessJvhost jvhost, String json) throws Exception {
        return ControlClient.request(jvhost.controlSocket(), "POST", "/api/ports", json);
    }

    private Response delete(InProcessJvhost jvhost, String name) throws Exception {
        return ControlClient.request(jvhost.controlSocket(), "DELETE", "/api/ports/" + name, null);
    }

    private static String portJson(InProcessJvhost jvhost, String name) {
        return "{\"name\": \"" + name + "\", \"socket\": \"" + jvhost.socket(name) + "\", \"network\": \"lan\"}";
    }

    @Test
    void shouldCreateTheControlSocketForItsOwnerOnlyAndRemoveItOnClose() throws Exception {
        InProcessJvhost jvhost = resources.track(InProcessJvhost.start(dir, new Port("a", "lan")));
        Path socket = jvhost.controlSocket();
        try (var control = jvhost.startControl(null)) {
            assertEquals(0600, (Integer) Files.getAttribute(socket, "unix:mode") & 0777);
            Response ports = ControlClient.request(socket, "GET", "/api/ports", null);
            assertEquals(200, ports.status());
            assertTrue(ports.body().contains("\"name\" : \"a\""), ports.body());
            try (var files = Files.list(dir)) {
                assertEquals(List.of("a.sock", "jvhost.ctl"), files.map(p -> p.getFileName().toString()).sorted().toList(),
                        "no private bind directory is left");
            }
        }
        assertFalse(Files.exists(socket), "control socket removed on close");
    }

    @Test
    void shouldGiveTheControlSocketItsGroupAndMode0660() throws Exception {
        int ownGid = (Integer) Files.getAttribute(dir, "unix:gid");
        String[] group = Files.readAllLines(Path.of("/etc/group")).stream().map(line -> line.split(":"))
                .filter(f -> f.length > 2 && !f[2].equals(String.valueOf(ownGid))).findFirst().orElseThrow();
        InProcessJvhost jvhost = startWithControl(group[0], new Port("a", "lan"));

        assertEquals(0660, (Integer) Files.getAttribute(jvhost.controlSocket(), "unix:mode") & 0777);
        assertEquals(Integer.parseInt(group[2]), (Integer) Files.getAttribute(jvhost.controlSocket(), "unix:gid"));
    }

    @Test
    void shouldRefuseChangesOnTheTcpListenerNamingTheControlSocket() throws Exception {
        InProcessJvhost jvhost = resources.track(InProcessJvhost.start(dir, new Port("a", "lan")));
        var listener = resources.track(jvhost.startListener());
        HttpClient http = HttpClient.newHttpClient();
        URI base = URI.create("http://127.0.0.1:" + listener.port());
        String expected = "read-only listener: send changes to the control socket " + jvhost.controlSocket()
                + " (management.control-socket)\n";

        HttpResponse<String> delete = http.send(HttpRequest.newBuilder(base.resolve("/api/ports/a")).DELETE().build(),
                HttpResponse.BodyHandlers.ofString());
        HttpResponse<String> post = http.send(HttpRequest.newBuilder(base.resolve("/api/ports"))
                        .POST(HttpRequest.BodyPublishers.ofString(portJson(jvhost, "b"))).build(),
                HttpResponse.BodyHandlers.ofString());

        assertEquals(403, delete.statusCode());
        assertEquals(expected, delete.body());
        assertEquals(403, post.statusCode());
        assertEquals(expected, post.body());
        HttpResponse<String> reload = http.send(HttpRequest.newBuilder(base.resolve("/api/reload"))
                .POST(HttpRequest.BodyPublishers.noBody()).build(), HttpResponse.BodyHandlers.ofString());
        assertEquals(403, reload.statusCode());
        assertEquals(expected, reload.body());
        assertEquals(List.of("a"), jvhost.view().ports().stream().map(PortStatus::name).toList());
    }

    @Test
    void shouldForwardBetweenAPortAddedAtRuntimeAndAnExistingOne() throws Exception {
        InProcessJvhost jvhost = startWithControl(null, new Port("a", "lan"));
        VhostUserFrontend a = resources.track(VhostUserFrontend.connect(jvhost.socket("a")));

        Response added = post(jvhost, portJson(jvhost, "c"));

        assertEquals(201, added.status(), added.body());
        assertTrue(added.body().startsWith("{"), added.body());
        assertTrue(added.body().contains("\"name\" : \"c\"") && added.body().contains("\"connected\" : false"),
                added.body());
        VhostUserFrontend c = connect(jvhost, "c");
        assertDelivers(c, BROADCAST, mac(0xc), 200, a, "a");
        assertDelivers(a, mac(0xc), mac(0xa), 1514, c, "c");
    }

    @Test
    void shouldDisconnectAndForgetADeletedConnectedPort() throws Exception {
        InProcessJvhost jvhost = startWithControl(null, new Port("a", "lan"), new Port("b", "lan"));
        VhostUserFrontend a = connect(jvhost, "a");
        VhostUserFrontend b = connect(jvhost, "b");

        Response deleted = delete(jvhost, "b");

        assertEquals(204, deleted.status(), deleted.body());
        assertEquals("", deleted.body());
        assertTrue(b.awaitClosedByBackend(TIMEOUT), "b's front-end sees the connection closed");
        assertFalse(Files.exists(jvhost.socket("b")), "b's socket file removed");
        Response ports = ControlClient.request(jvhost.controlSocket(), "GET", "/api/ports", null);
        assertFalse(ports.body().contains("\"b\""), ports.body());
        assertEquals(List.of("a"), jvhost.view().ports().stream().map(PortStatus::name).toList());
        assertEquals(List.of(0, 1), jvhost.view().queues().stream().map(q -> q.index()).toList(), "b's queues gone");
        Response again = delete(jvhost, "b");
        assertEquals(404, again.status());
        assertEquals("no such port: b\n", again.body());
        // The name and socket are free again.
        assertEquals(201, post(jvhost, portJson(jvhost, "b")).status());
        VhostUserFrontend b2 = resources.track(VhostUserFrontend.connect(jvhost.socket("b")));
        assertDelivers(a, BROADCAST, mac(0xa), 100, b2, "new b");
    }

    @Test
    void shouldLoseNoFrameBetweenOtherPortsWhilePortsComeAndGo() throws Exception {
        InProcessJvhost jvhost = startWithControl(null, new Port("a", "lan"), new Port("b", "lan"));
        VhostUserFrontend a = connect(jvhost, "a");
        VhostUserFrontend b = connect(jvhost, "b");
        AtomicBoolean streaming = new AtomicBoolean(true);
        AtomicInteger changes = new AtomicInteger();
        CompletableFuture<Void> churn = CompletableFuture.runAsync(() -> {
            try {
                // At least 6 changes, going on as long as frames flow; every other added port is connected.
                for (int i = 0; i < 6 || streaming.get(); i++) {
                    String name = "x" + (i % 3);
                    Response added = post(jvhost, portJson(jvhost, name));
                    assertEquals(201, added.status(), added.body());
                    if (i % 2 == 0) {
                        try (VhostUserFrontend x = VhostUserFrontend.connect(jvhost.socket(name))) {
                            jvhost.awaitPort(name, PortStatus::connected, "connected");
                            assertEquals(204, delete(jvhost, name).status());
                            assertTrue(x.awaitClosedByBackend(TIMEOUT));
                        }
                    } else {
                        assertEquals(204, delete(jvhost, name).status());
                    }
                    changes.incrementAndGet();
                }
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        });

        int sent = 0;
        int received = 0;
        try {
            while (sent < 20_000 && (!churn.isDone() || changes.get() < 6)) {
                // A burst A→B (broadcast: also flooded to whatever ports exist now), then B drains it,
                // so B's receive buffers never run out: any frame missing was lost by the switch.
                List<byte[]> burst = new ArrayList<>();
                for (int i = 0; i < 32; i++) {
                    burst.add(frame(BROADCAST, mac(0xa), ++seq, 60 + (seq % 200)));
                }
                a.sendBatch(burst);
                sent += burst.size();
                List<VhostUserFrontend.ReceivedFrame> got = b.receiveFrames(burst.size(), TIMEOUT);
                received += got.size();
                List<byte[]> bytes = got.stream().map(VhostUserFrontend.ReceivedFrame::bytes).toList();
                assertFrames(burst, bytes, "b, after " + changes.get() + " port changes");
            }
        } finally {
            streaming.set(false);
        }
        churn.get(60, TimeUnit.SECONDS);

        assertTrue(changes.get() >= 6, "ports added and removed " + changes.get() + " times");
        assertEquals(sent, received, "frames B received of those A sent");
        assertEquals(0, jvhost.port("b").drops(), "b dropped nothing");
        assertEquals(List.of("a", "b"), jvhost.view().ports().stream().map(PortStatus::name).toList());
    }

    @Test
    void shouldAddAndDeleteATapPortAtRuntime() throws Exception {
        InProcessJvhost jvhost = startWithControl(null, new Port("a", "lan"));
        String tap = "jvrt" + ProcessHandle.current().pid() % 100_000;

        Response added = post(jvhost, "{\"name\": \"up\", \"tap\": \"" + tap + "\", \"network\": \"lan\"}");

        assertEquals(201, added.status(), added.body());
        assertTrue(added.body().contains("\"kind\" : \"tap\""), added.body());
        assertTrue(Files.exists(Path.of("/sys/class/net", tap)), "TAP interface " + tap + " exists");
        assertEquals(409, post(jvhost, "{\"name\": \"up2\", \"tap\": \"" + tap + "\"}").status());
        assertEquals(204, delete(jvhost, "up").status());
        assertEquals(List.of("a"), jvhost.view().ports().stream().map(PortStatus::name).toList());
        InProcessJvhost.awaitEquals(false, () -> Files.exists(Path.of("/sys/class/net", tap)), "TAP interface gone");
    }

    @Test
    void shouldRestoreRuntimePortsAfterARestartUntilDeleted() throws Exception {
        InProcessJvhost first = InProcessJvhost.start(dir, new Port("a", "lan"));
        try (var control = first.startControl(null)) {
            assertEquals(201, post(first, "{\"name\": \"c\", \"socket\": \"" + first.socket("c")
                    + "\", \"network\": \"lan\", \"mtu\": 9000, \"socket-mode\": \"0660\"}").status());
            assertEquals(201, post(first, portJson(first, "d")).status());
            assertEquals(204, delete(first, "d").status());
        } finally {
            first.close();
        }
        assertFalse(Files.exists(first.socket("c")), "c's socket removed on stop");
        assertTrue(Files.exists(first.stateFile()));

        InProcessJvhost jvhost = startWithControl(null, new Port("a", "lan"));

        assertEquals(List.of("a", "c"), jvhost.view().ports().stream().map(PortStatus::name).toList());
        assertEquals(9000, jvhost.port("c").mtu());
        assertEquals(0660, (Integer) Files.getAttribute(jvhost.socket("c"), "unix:mode") & 0777);
        VhostUserFrontend a = connect(jvhost, "a");
        VhostUserFrontend c = connect(jvhost, "c");
        assertDelivers(a, BROADCAST, mac(0xa), 100, c, "restored c");
        assertEquals(204, delete(jvhost, "c").status());
        assertFalse(Files.exists(jvhost.stateFile()), "no runtime port left, no state file");
    }

    @Test
    void shouldStopTheStartOnABadStateFile() throws Exception {
        Files.writeString(dir.resolve("jvhost.ctl.state"), "{\"ports\": [{\"name\": \"a\", \"tap\": \"jv9\"}]}");

        ConfigException taken = assertThrows(ConfigException.class, () -> InProcessJvhost.start(dir, new Port("a", "lan")));
        assertEquals(dir.resolve("jvhost.ctl.state") + ": ports[0].name: duplicate port name 'a' (also port a)",
                taken.getMessage());

        Files.writeString(dir.resolve("jvhost.ctl.state"), "{\"ports\": [");
        ConfigException broken = assertThrows(ConfigException.class, () -> InProcessJvhost.start(dir, new Port("a", "lan")));
        assertTrue(broken.getMessage().startsWith(dir.resolve("jvhost.ctl.state") + ":1: invalid JSON: "),
                broken.getMessage());
        assertFalse(Files.exists(dir.resolve("a.sock")), "nothing left of the failed start");
    }

    @Test
    void shouldApplyTheDifferenceOfAReloadedConfigWithoutDisturbingUnchangedPorts() throws Exception {
        InProcessJvhost jvhost = startWithControl(null, new Port("a", "lan"), new Port("b", "lan"), new Port("old", "lan"));
        VhostUserFrontend a = connect(jvhost, "a");
        VhostUserFrontend b = connect(jvhost, "b");
        assertEquals(201, post(jvhost, portJson(jvhost, "rt")).status());
        jvhost.rewriteConfig(new Port("a", "lan"), new Port("new", "lan"), new Port("b", "lan").withMtu(9000));

        Response reloaded = ControlClient.request(jvhost.controlSocket(), "POST", "/api/reload", null);

        assertEquals(200, reloaded.status(), reloaded.body());
        assertEquals("""
                {
                  "added" : [ "new" ],
                  "removed" : [ "old" ],
                  "changed" : [ "b" ],
                  "not_applied" : [ ]
                }
                """, reloaded.body());
        assertEquals(List.of("a", "new", "b", "rt"), jvhost.view().ports().stream().map(PortStatus::name).toList());
        assertTrue(b.awaitClosedByBackend(TIMEOUT), "b restarted with its new MTU");
        assertEquals(9000, jvhost.port("b").mtu());
        assertFalse(Files.exists(jvhost.socket("old")));
        assertTrue(jvhost.port("a").connected(), "a untouched");
        VhostUserFrontend fresh = connect(jvhost, "new");
        assertDelivers(a, BROADCAST, mac(0xa), 100, fresh, "new");

        jvhost.rewriteConfig(new Port("a", "lan"), new Port("rt", "lan"));
        Response clash = ControlClient.request(jvhost.controlSocket(), "POST", "/api/reload", null);
        assertEquals(409, clash.status());
        assertEquals("config.yaml: ports[1].name: duplicate port name 'rt' (also port rt)\n", clash.body());
        assertEquals(List.of("a", "new", "b", "rt"), jvhost.view().ports().stream().map(PortStatus::name).toList(),
                "nothing changed");
    }

    @Test
    void shouldRefuseRuntimePortsWithPerDeviceWorkers() throws Exception {
        InProcessJvhost jvhost = resources.track(InProcessJvhost.start(dir, WorkersConfig.Model.PER_DEVICE,
                new Port("a", "lan")));
        resources.track(jvhost.startControl(null));

        Response refused = post(jvhost, portJson(jvhost, "b"));

        assertEquals(400, refused.status());
        assertEquals("POST /api/ports: ports cannot be added at runtime with workers.model per-device"
                + " (its device threads are made at start)\n", refused.body());
        assertFalse(Files.exists(jvhost.socket("b")));
    }

    @Test
    void shouldRefuseBadPortObjectsWithTheConfigFileMessages() throws Exception {
        InProcessJvhost jvhost = startWithControl(null, new Port("a", "lan"));
        String taken = jvhost.socket("a").toString();

        assertRefused(jvhost, 400, "{\"name\": \"c\", \"socket\": \"c.sock\", \"mode\": \"listen\"}",
                "POST /api/ports: mode: expected 'server' or 'client', got 'listen'\n");
        assertRefused(jvhost, 400, "{\"name\": \"c\"}",
                "POST /api/ports: expected exactly one of 'socket' or 'tap', got neither\n");
        assertRefused(jvhost, 400, "{\"name\": \"c\", \"socket\": \"c.sock\", \"colour\": 1}",
                "POST /api/ports: colour: unknown key (known keys: name, socket, tap, mode, queues, network, vcpus,"
                        + " offloads, mtu, socket-mode, socket-group, allowed-uids, mac, allowed-macs, storm-control)\n");
        assertRefused(jvhost, 400, "{\"name\": \"c\", \"socket\": \"c.sock\", \"mac\": \"ff:ff:ff:ff:ff:ff\"}",
                "POST /api/ports: mac: expected a unicast MAC address (first octet even), got the group address"
                        + " 'ff:ff:ff:ff:ff:ff'\n");
        assertRefused(jvhost, 400, "{\"name\": \"c\", \"socket\": \"c.sock\", \"storm-control\": {\"broadcast-pps\": -5}}",
                "POST /api/ports: storm-control.broadcast-pps: expected an integer from 0 to 100000000, got -5\n");
        assertRefused(jvhost, 400, "[1]", "POST /api/ports: expected a mapping, got a list\n");
        assertRefused(jvhost, 400, "{\"name\": \"c\", \"socket\": \"c.sock\", \"queues\": 17}",
                "POST /api/ports: queues: expected an integer from 1 to 16, got 17\n");
        assertRefused(jvhost, 409, "{\"name\": \"a\", \"socket\": \"other.sock\"}",
                "POST /api/ports: name: duplicate port name 'a' (also port a)\n");
        assertRefused(jvhost, 409, "{\"name\": \"c\", \"socket\": \"" + taken + "\"}",
                "POST /api/ports: socket: duplicate socket path '" + taken + "' (also port a)\n");
        Response broken = post(jvhost, "{\"name\": ");
        assertEquals(400, broken.status());
        assertTrue(broken.body().startsWith("POST /api/ports:1:"), broken.body());
        assertEquals(List.of("a"), jvhost.view().ports().stream().map(PortStatus::name).toList());
        try (var files = Files.list(dir)) {
            assertEquals(List.of("a.sock", "jvhost.ctl"), files.map(p -> p.getFileName().toString()).sorted().toList());
        }
    }

    private void assertRefused(InProcessJvhost jvhost, int status, String json, String message) throws Exception {
        Response response = post(jvhost, json);
        assertEquals(message, response.body(), json);
        assertEquals(status, response.status(), json);
    }
}

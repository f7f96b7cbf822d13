package io.jvhost.backend.management;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.net.ConnectException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

class ManagementServerTest {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final HttpClient CLIENT = HttpClient.newHttpClient();

    private static ManagementServer server;

    @BeforeAll
    static void start() throws IOException {
        server = ManagementServer.start("127.0.0.1", 0, new FakeView());
    }

    @AfterAll
    static void stop() {
        server.close();
    }

    private static HttpResponse<String> send(ManagementServer target, String method, String path) throws Exception {
        HttpRequest request = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + target.port() + path))
                .method(method, HttpRequest.BodyPublishers.noBody())
                .build();
        return CLIENT.send(request, HttpResponse.BodyHandlers.ofString());
    }

    private static HttpResponse<String> get(String path) throws Exception {
        return send(server, "GET", path);
    }

    @Test
    void shouldBindAnEphemeralPortWhenAskedForPortZero() {
        assertNotEquals(0, server.port());
        assertEquals("127.0.0.1", ((InetSocketAddress) server.address()).getAddress().getHostAddress());
    }

    @Test
    void shouldListPortsAsJson() throws Exception {
        HttpResponse<String> response = get("/api/ports");

        assertEquals(200, response.statusCode());
        assertEquals("application/json; charset=utf-8", response.headers().firstValue("content-type").orElseThrow());
        JsonNode expected = JSON.readTree("""
                [ {"name": "vm0", "kind": "vhost-user", "socket": "run/vm0.sock", "mode": "server",
                   "network": "default", "connected": true, "features": 9223372041955049472,
                   "features_hex": "0x8000000130000000",
                   "feature_names": ["RING_INDIRECT_DESC", "RING_EVENT_IDX", "VERSION_1", "bit63"],
                   "mtu": 9000, "offloads": ["CSUM", "TSO4"], "queues": 2,
                   "rx_packets": 10, "rx_bytes": 1500, "tx_packets": 20, "tx_bytes": 3000, "drops": 1, "errors": 0,
                   "storm_drops": 7, "spoof_drops": 3, "cpu_seconds": 1.5},
                  {"name": "uplink", "kind": "tap", "socket": null, "mode": null,
                   "network": "default", "connected": false, "features": 0, "features_hex": "0x0",
                   "feature_names": [], "mtu": 1500, "offloads": [], "queues": 1,
                   "rx_packets": 0, "rx_bytes": 0, "tx_packets": 0, "tx_bytes": 0, "drops": 0, "errors": 2,
                   "storm_drops": 0, "spoof_drops": 0, "cpu_seconds": 0.25} ]
                """);
        assertEquals(expected, JSON.readTree(response.body()));
    }

    @Test
    void shouldListWorkersAsJson() throws Exception {
        HttpResponse<String> response = get("/api/workers");

        assertEquals(200, response.statusCode());
        JsonNode expected = JSON.readTree("""
                [ {"cpu": 0, "socket": 0, "queues": ["vm0/0", "vm0/1"], "busy": 0.25, "wakeups": 7, "migrations_in": 1,
                   "busy_seconds": 1.75},
                  {"cpu": 1, "socket": null, "queues": [], "busy": 0.0, "wakeups": 0, "migrations_in": 0,
                   "busy_seconds": 0.0} ]
                """);
        assertEquals(expected, JSON.readTree(response.body()));
    }

    @Test
    void shouldListQueuesAsJsonWithNullCpusWhenUnknown() throws Exception {
        HttpResponse<String> response = get("/api/queues");

        assertEquals(200, response.statusCode());
        JsonNode expected = JSON.readTree("""
                [ {"port": "vm0", "index": 0, "direction": "rx", "worker_cpu": 0, "vcpu_cpu": 2,
                   "packets": 20, "bytes": 3000, "drops": 1, "backpressure_waits": 0, "migrations": 0, "error": null,
                   "sw_segmented": 4, "sw_checksums": 5, "offload_passthrough": 6, "bad_offload_drops": 0},
                  {"port": "vm0", "index": 1, "direction": "tx", "worker_cpu": 0, "vcpu_cpu": null,
                   "packets": 10, "bytes": 1500, "drops": 0, "backpressure_waits": 2, "migrations": 3, "error": "queue 1: descriptor 7 loops",
                   "sw_segmented": 0, "sw_checksums": 0, "offload_passthrough": 0, "bad_offload_drops": 7},
                  {"port": "uplink", "index": 0, "direction": "rx", "worker_cpu": null, "vcpu_cpu": null,
                   "packets": 0, "bytes": 0, "drops": 0, "backpressure_waits": 0, "migrations": 0, "error": null,
                   "sw_segmented": 0, "sw_checksums": 0, "offload_passthrough": 0, "bad_offload_drops": 0} ]
                """);
        assertEquals(expected, JSON.readTree(response.body()));
    }

    @Test
    void shouldExposePrometheusTextFormat() throws Exception {
        HttpResponse<String> response = get("/metrics");

        assertEquals(200, response.statusCode());
        assertEquals("text/plain; version=0.0.4; charset=utf-8",
                response.headers().firstValue("content-type").orElseThrow());
        assertEquals("""
                # HELP jvhost_port_info Port configuration, always 1.
                # TYPE jvhost_port_info gauge
                jvhost_port_info{port="vm0",kind="vhost-user",network="default",mode="server",socket="run/vm0.sock"} 1
                jvhost_port_info{port="uplink",kind="tap",network="default",mode="",socket=""} 1
                # HELP jvhost_port_connected 1 when a front-end is connected and the device runs.
                # TYPE jvhost_port_connected gauge
                jvhost_port_connected{port="vm0"} 1
                jvhost_port_connected{port="uplink"} 0
                # HELP jvhost_port_features Virtio feature bits acked by the driver.
                # TYPE jvhost_port_features gauge
                jvhost_port_features{port="vm0"} 9223372041955049472
                jvhost_port_features{port="uplink"} 0
                # HELP jvhost_port_queues Queue pairs in use.
                # TYPE jvhost_port_queues gauge
                jvhost_port_queues{port="vm0"} 2
                jvhost_port_queues{port="uplink"} 1
                # HELP jvhost_port_rx_packets_total Packets received from the port.
                # TYPE jvhost_port_rx_packets_total counter
                jvhost_port_rx_packets_total{port="vm0"} 10
                jvhost_port_rx_packets_total{port="uplink"} 0
                # HELP jvhost_port_rx_bytes_total Bytes received from the port.
                # TYPE jvhost_port_rx_bytes_total counter
                jvhost_port_rx_bytes_total{port="vm0"} 1500
                jvhost_port_rx_bytes_total{port="uplink"} 0
                # HELP jvhost_port_tx_packets_total Packets delivered to the port.
                # TYPE jvhost_port_tx_packets_total counter
                jvhost_port_tx_packets_total{port="vm0"} 20
                jvhost_port_tx_packets_total{port="uplink"} 0
                # HELP jvhost_port_tx_bytes_total Bytes delivered to the port.
                # TYPE jvhost_port_tx_bytes_total counter
                jvhost_port_tx_bytes_total{port="vm0"} 3000
                jvhost_port_tx_bytes_total{port="uplink"} 0
                # HELP jvhost_port_drops_total Packets dropped at the port.
                # TYPE jvhost_port_drops_total counter
                jvhost_port_drops_total{port="vm0"} 1
                jvhost_port_drops_total{port="uplink"} 0
                # HELP jvhost_port_errors_total Malformed descriptor chains and other errors.
                # TYPE jvhost_port_errors_total counter
                jvhost_port_errors_total{port="vm0"} 0
                jvhost_port_errors_total{port="uplink"} 2
                # HELP jvhost_port_storm_drops_total Frames from the port dropped over a storm-control limit (broadcast, multicast, unknown unicast).
                # TYPE jvhost_port_storm_drops_total counter
                jvhost_port_storm_drops_total{port="vm0"} 7
                jvhost_port_storm_drops_total{port="uplink"} 0
                # HELP jvhost_port_spoof_drops_total Frames from the port dropped for a source MAC port security does not allow.
                # TYPE jvhost_port_spoof_drops_total counter
                jvhost_port_spoof_drops_total{port="vm0"} 3
                jvhost_port_spoof_drops_total{port="uplink"} 0
                # HELP jvhost_port_cpu_seconds_total Worker CPU time spent for the port (its queues, and its copies into the ports it sends to).
                # TYPE jvhost_port_cpu_seconds_total counter
                jvhost_port_cpu_seconds_total{port="vm0"} 1.5
                jvhost_port_cpu_seconds_total{port="uplink"} 0.25
                # HELP jvhost_queue_packets_total Packets moved through the virtqueue.
                # TYPE jvhost_queue_packets_total counter
                jvhost_queue_packets_total{port="vm0",index="0",direction="rx"} 20
                jvhost_queue_packets_total{port="vm0",index="1",direction="tx"} 10
                jvhost_queue_packets_total{port="uplink",index="0",direction="rx"} 0
                # HELP jvhost_queue_bytes_total Bytes moved through the virtqueue.
                # TYPE jvhost_queue_bytes_total counter
                jvhost_queue_bytes_total{port="vm0",index="0",direction="rx"} 3000
                jvhost_queue_bytes_total{port="vm0",index="1",direction="tx"} 1500
                jvhost_queue_bytes_total{port="uplink",index="0",direction="rx"} 0
                # HELP jvhost_queue_drops_total Packets dropped on the virtqueue.
                # TYPE jvhost_queue_drops_total counter
                jvhost_queue_drops_total{port="vm0",index="0",direction="rx"} 1
                jvhost_queue_drops_total{port="vm0",index="1",direction="tx"} 0
                jvhost_queue_drops_total{port="uplink",index="0",direction="rx"} 0
                # HELP jvhost_queue_backpressure_waits_total Frames from the virtqueue that waited for a receiver without buffers instead of being dropped.
                # TYPE jvhost_queue_backpressure_waits_total counter
                jvhost_queue_backpressure_waits_total{port="vm0",index="0",direction="rx"} 0
                jvhost_queue_backpressure_waits_total{port="vm0",index="1",direction="tx"} 2
                jvhost_queue_backpressure_waits_total{port="uplink",index="0",direction="rx"} 0
                # HELP jvhost_queue_migrations_total Moves of the virtqueue to another worker.
                # TYPE jvhost_queue_migrations_total counter
                jvhost_queue_migrations_total{port="vm0",index="0",direction="rx"} 0
                jvhost_queue_migrations_total{port="vm0",index="1",direction="tx"} 3
                jvhost_queue_migrations_total{port="uplink",index="0",direction="rx"} 0
                # HELP jvhost_queue_sw_segmented_total GSO frames segmented in software for the receiver.
                # TYPE jvhost_queue_sw_segmented_total counter
                jvhost_queue_sw_segmented_total{port="vm0",index="0",direction="rx"} 4
                jvhost_queue_sw_segmented_total{port="vm0",index="1",direction="tx"} 0
                jvhost_queue_sw_segmented_total{port="uplink",index="0",direction="rx"} 0
                # HELP jvhost_queue_sw_checksums_total Checksums completed in software for the receiver.
                # TYPE jvhost_queue_sw_checksums_total counter
                jvhost_queue_sw_checksums_total{port="vm0",index="0",direction="rx"} 5
                jvhost_queue_sw_checksums_total{port="vm0",index="1",direction="tx"} 0
                jvhost_queue_sw_checksums_total{port="uplink",index="0",direction="rx"} 0
                # HELP jvhost_queue_offload_passthrough_total Frames passed to the receiver with their offload header as it was.
                # TYPE jvhost_queue_offload_passthrough_total counter
                jvhost_queue_offload_passthrough_total{port="vm0",index="0",direction="rx"} 6
                jvhost_queue_offload_passthrough_total{port="vm0",index="1",direction="tx"} 0
                jvhost_queue_offload_passthrough_total{port="uplink",index="0",direction="rx"} 0
                # HELP jvhost_queue_bad_offload_drops_total Frames dropped for a bad offload header.
                # TYPE jvhost_queue_bad_offload_drops_total counter
                jvhost_queue_bad_offload_drops_total{port="vm0",index="0",direction="rx"} 0
                jvhost_queue_bad_offload_drops_total{port="vm0",index="1",direction="tx"} 7
                jvhost_queue_bad_offload_drops_total{port="uplink",index="0",direction="rx"} 0
                # HELP jvhost_queue_worker_cpu CPU of the worker serving the virtqueue.
                # TYPE jvhost_queue_worker_cpu gauge
                jvhost_queue_worker_cpu{port="vm0",index="0",direction="rx"} 0
                jvhost_queue_worker_cpu{port="vm0",index="1",direction="tx"} 0
                # HELP jvhost_queue_vcpu_cpu Host CPU last seen running the vCPU that kicks the virtqueue.
                # TYPE jvhost_queue_vcpu_cpu gauge
                jvhost_queue_vcpu_cpu{port="vm0",index="0",direction="rx"} 2
                # HELP jvhost_worker_busy_seconds_total Time the worker spent working.
                # TYPE jvhost_worker_busy_seconds_total counter
                jvhost_worker_busy_seconds_total{cpu="0"} 1.75
                jvhost_worker_busy_seconds_total{cpu="1"} 0.0
                # HELP jvhost_worker_busy_ratio Share of the last interval the worker spent working.
                # TYPE jvhost_worker_busy_ratio gauge
                jvhost_worker_busy_ratio{cpu="0"} 0.25
                jvhost_worker_busy_ratio{cpu="1"} 0.0
                # HELP jvhost_worker_wakeups_total Times the worker woke up to work.
                # TYPE jvhost_worker_wakeups_total counter
                jvhost_worker_wakeups_total{cpu="0"} 7
                jvhost_worker_wakeups_total{cpu="1"} 0
                # HELP jvhost_worker_queues Virtqueues the worker serves.
                # TYPE jvhost_worker_queues gauge
                jvhost_worker_queues{cpu="0"} 2
                jvhost_worker_queues{cpu="1"} 0
                # HELP jvhost_worker_migrations_in_total Virtqueues moved to the worker.
                # TYPE jvhost_worker_migrations_in_total counter
                jvhost_worker_migrations_in_total{cpu="0"} 1
                jvhost_worker_migrations_in_total{cpu="1"} 0
                # HELP jvhost_worker_socket CPU socket of the worker.
                # TYPE jvhost_worker_socket gauge
                jvhost_worker_socket{cpu="0"} 0
                # HELP jvhost_switch_flooded_total Switch counter 'flooded'.
                # TYPE jvhost_switch_flooded_total counter
                jvhost_switch_flooded_total 9
                # HELP jvhost_switch_learned_total Switch counter 'learned'.
                # TYPE jvhost_switch_learned_total counter
                jvhost_switch_learned_total 4
                """, response.body());
    }

    @Test
    void shouldEscapeLabelValues() throws Exception {
        ManagementView view = new ManagementView() {
            @Override
            public List<PortStatus> ports() {
                return List.of(new PortStatus("p", "vhost-user", "a\\b\"c\nd", "server", "n", false, 0, 1,
                        0, 0, 0, 0, 0, 0, 1500, List.of(), 0, 0, 0));
            }

            @Override
            public List<WorkerStatus> workers() {
                return List.of();
            }

            @Override
            public List<QueueStatus> queues() {
                return List.of();
            }

            @Override
            public Map<String, Long> extraCounters() {
                return Map.of("aged-out", 1L);
            }
        };
        String metrics = PrometheusText.render(view);

        assertTrue(metrics.contains(
                "jvhost_port_info{port=\"p\",kind=\"vhost-user\",network=\"n\",mode=\"server\","
                        + "socket=\"a\\\\b\\\"c\\nd\"} 1\n"), metrics);
        assertTrue(metrics.contains("\njvhost_switch_aged_out_total 1\n"), metrics);
    }

    @Test
    void shouldFormatSpecialDoublesAsPrometheusDoes() {
        assertEquals("NaN", PrometheusText.number(Double.NaN));
        assertEquals("+Inf", PrometheusText.number(Double.POSITIVE_INFINITY));
        assertEquals("-Inf", PrometheusText.number(Double.NEGATIVE_INFINITY));
        assertEquals("1.0E-4", PrometheusText.number(0.0001));
    }

    @Test
    void shouldIgnoreTheQueryString() throws Exception {
        assertEquals(200, get("/api/ports?pretty=1").statusCode());
    }

    @Test
    void shouldAnswer404ForOtherPaths() throws Exception {
        HttpResponse<String> response = get("/api/port");

        assertEquals(404, response.statusCode());
        assertEquals("not found: /api/port\n", response.body());
        assertEquals(404, get("/").statusCode());
        assertEquals(404, send(server, "POST", "/nothing").statusCode());
    }

    @Test
    void shouldAnswer405ForOtherMethods() throws Exception {
        HttpResponse<String> response = send(server, "POST", "/metrics");

        assertEquals(405, response.statusCode());
        assertEquals("GET", response.headers().firstValue("allow").orElseThrow());
        assertEquals("method not allowed: POST\n", response.body());
        assertEquals(405, send(server, "DELETE", "/api/queues").statusCode());
        assertEquals(405, send(server, "PUT", "/api/workers").statusCode());
    }

    @Test
    void shouldAnswer500WhenTheViewFails() throws Exception {
        ManagementView broken = new FakeView() {
            @Override
            public List<PortStatus> ports() {
                throw new IllegalStateException("view broke");
            }
        };
        try (ManagementServer other = ManagementServer.start("127.0.0.1", 0, broken)) {
            HttpResponse<String> response = send(other, "GET", "/api/ports");

            assertEquals(500, response.statusCode());
            assertEquals("internal error: java.lang.IllegalStateException: view broke\n", response.body());
            assertEquals(200, send(other, "GET", "/api/queues").statusCode());
        }
    }

    @Test
    void shouldServeFromOneThreadNamedJvhostManagement() throws Exception {
        String[] seen = new String[1];
        ManagementView view = new FakeView() {
            @Override
            public List<QueueStatus> queues() {
                seen[0] = Thread.currentThread().getName();
                return super.queues();
            }
        };
        try (ManagementServer other = ManagementServer.start("127.0.0.1", 0, view)) {
            send(other, "GET", "/api/queues");
        }

        assertEquals("jvhost-management", seen[0]);
    }

    @Test
    void shouldReleaseThePortAndTheThreadOnClose() throws Exception {
        ManagementServer other = ManagementServer.start("127.0.0.1", 0, new FakeView());
        int port = other.port();
        long threadsBefore = managementThreads();

        other.close();
        other.close();

        assertEquals(threadsBefore - 1, managementThreads());
        assertThrows(ConnectException.class, () -> new Socket(InetAddress.getLoopbackAddress(), port).close());
        try (ServerSocket again = new ServerSocket(port, 1, InetAddress.getLoopbackAddress())) {
            assertEquals(port, again.getLocalPort());
        }
    }

    @Test
    void shouldFailToStartOnAPortInUse() throws Exception {
        try (ServerSocket taken = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            int port = taken.getLocalPort();
            long threadsBefore = managementThreads();

            IOException e = assertThrows(IOException.class,
                    () -> ManagementServer.start("127.0.0.1", port, new FakeView()));

            assertTrue(e.getMessage().startsWith("management: cannot listen on 127.0.0.1:" + port + ": "),
                    e.getMessage());
            assertTrue(e.getMessage().contains("Address already in use"), e.getMessage());
            assertEquals(threadsBefore, managementThreads());
        }
    }

    @Test
    void shouldFailToStartOnAnUnknownHost() {
        IOException e = assertThrows(IOException.class,
                () -> ManagementServer.start("no-such-host.invalid", 0, new FakeView()));

        assertEquals("management: cannot listen on no-such-host.invalid:0: unknown host 'no-such-host.invalid'",
                e.getMessage());
    }

    private static long managementThreads() {
        return Thread.getAllStackTraces().keySet().stream()
                .filter(t -> t.getName().equals(ManagementServer.THREAD_NAME) && t.isAlive())
                .count();
    }

    @Test
    void shouldNotLeaveManagementThreadsOfClosedServers() {
        assertFalse(managementThreads() > 1, "only the shared server's thread may be alive");
    }
}

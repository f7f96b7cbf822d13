package io.jvhost.it.qemu;

import io.jvhost.backend.config.WorkersConfig;
import io.jvhost.backend.management.PortStatus;
import io.jvhost.backend.management.QueueStatus;
import io.jvhost.it.harness.GuestImage;
import io.jvhost.it.harness.GuestRole;
import io.jvhost.it.harness.IperfResult;
import io.jvhost.it.harness.PingResult;
import io.jvhost.it.harness.QemuGuest;
import io.jvhost.it.harness.VhostUserNic;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Two real Linux guests (QEMU, TCG) whose virtio-net devices are served by jvhost, switched together
 * in one network: 20 pings without loss, then iperf3 TCP.
 */
class GuestPairThroughJvhostTest {

    private static final Duration BOOT_AND_PING = Duration.ofSeconds(120);

    @ParameterizedTest(name = "workers.model {0}")
    @EnumSource(WorkersConfig.Model.class)
    @Timeout(value = 5, unit = TimeUnit.MINUTES)
    void shouldPingWithoutLossAndRunIperfBetweenTwoGuests(WorkersConfig.Model model, @TempDir Path dir) throws Exception {
        GuestImage image = GuestImage.get();
        Path vm0 = dir.resolve("vm0.sock");
        Path vm1 = dir.resolve("vm1.sock");
        try (JvhostDaemon jvhost = JvhostDaemon.start(model,
                     List.of(JvhostDaemon.server("vm0", vm0, 1), JvhostDaemon.server("vm1", vm1, 1)));
             QemuGuest server = iperfServer(dir, image, vm0);
             QemuGuest client = iperfClient(dir, image, vm1, 20, 5)) {
            server.awaitReady(BOOT_AND_PING);
            assertEquals(new PingResult(20, 20), client.awaitPingResult(BOOT_AND_PING));

            IperfResult iperf = client.awaitIperfResult(Duration.ofSeconds(90));
            assertNull(iperf.error(), "iperf3 error");
            assertTrue(iperf.receivedBitsPerSecond() > 0, "iperf3 moved no data");
            assertEquals(0, client.awaitDone(Duration.ofSeconds(30)));

            List<PortStatus> ports = jvhost.view().ports();
            assertEquals(List.of("vm0", "vm1"), ports.stream().map(PortStatus::name).toList());
            // Every byte iperf3 received went through vm1's TX queue into vm0's RX queue.
            assertTrue(ports.get(1).rxBytes() >= iperf.receivedBytes(), ports.toString());
            assertTrue(ports.get(0).txBytes() >= iperf.receivedBytes(), ports.toString());
            assertEquals(0, ports.get(0).errors() + ports.get(1).errors(), ports.toString());
            System.out.printf("guest pair through jvhost (%s): iperf3 %.1f Mbit/s received, %d retransmits; %s%n",
                    model.configName(), iperf.receivedBitsPerSecond() / 1e6, iperf.retransmits(), ports);
        }
    }

    /**
     * iperf3's default 10 s TCP stream between two guests, as a user runs it: jvhost loses nothing. When
     * the receiving guest's RX ring is full the sender's frame waits (back-pressure) instead of being
     * dropped, so its RX queue counts no drop and TCP retransmits nothing; the waits show it happened.
     */
    @Test
    @Timeout(value = 5, unit = TimeUnit.MINUTES)
    void shouldRunTenSecondsOfIperfWithoutARxDropOrARetransmit(@TempDir Path dir) throws Exception {
        GuestImage image = GuestImage.get();
        Path vm0 = dir.resolve("vm0.sock");
        Path vm1 = dir.resolve("vm1.sock");
        try (JvhostDaemon jvhost = JvhostDaemon.start(WorkersConfig.Model.PER_CPU,
                     List.of(JvhostDaemon.server("vm0", vm0, 1), JvhostDaemon.server("vm1", vm1, 1)));
             QemuGuest server = iperfServer(dir, image, vm0);
             QemuGuest client = iperfClient(dir, image, vm1, 3, 10)) {
            server.awaitReady(BOOT_AND_PING);
            client.awaitReady(BOOT_AND_PING);
            // From here: a multicast of one guest may meet the other's RX ring before its link is up.
            long drops0 = jvhost.queue("vm0", 0).drops();
            long drops1 = jvhost.queue("vm1", 0).drops();
            assertEquals(new PingResult(3, 3), client.awaitPingResult(BOOT_AND_PING));
            IperfResult iperf = client.awaitIperfResult(Duration.ofSeconds(90));
            assertNull(iperf.error(), "iperf3 error");
            QueueStatus toServer = jvhost.queue("vm0", 0);
            QueueStatus fromClient = jvhost.queue("vm1", 1);
            Map<String, Long> tcp = client.awaitTcpExt(Duration.ofSeconds(30));
            System.out.printf("iperf3 10 s through jvhost: %.1f Mbit/s, %d retransmits (sender's TcpExt %s); "
                            + "server RX drops %d, client TX waits %d, client RX drops %d%n",
                    iperf.receivedBitsPerSecond() / 1e6, iperf.retransmits(), tcp, toServer.drops() - drops0,
                    fromClient.waits(), jvhost.queue("vm1", 0).drops() - drops1);
            assertTrue(iperf.receivedBitsPerSecond() > 0, "iperf3 moved no data");
            assertEquals(0, toServer.drops() - drops0, "frames to the receiving guest dropped: " + toServer);
            assertEquals(0, jvhost.queue("vm1", 0).drops() - drops1, "ACKs to the sending guest dropped");
            assertEquals(0, fromClient.drops(), "frames from the sending guest dropped: " + fromClient);
            // Under TCG a vCPU can stall long enough for a tail loss probe or a timeout to resend a
            // segment that had arrived; the receiver then says so with a D-SACK. A retransmit without
            // one is a segment that was lost.
            long dsacks = tcp.getOrDefault("TCPDSACKRecv", -1L);
            assertTrue(dsacks >= 0, "TcpExt TCPDSACKRecv missing: " + tcp);
            assertTrue(iperf.retransmits() <= dsacks,
                    iperf.retransmits() + " retransmits, only " + dsacks + " of them spurious (D-SACKed): " + tcp);
            assertEquals(0, client.awaitDone(Duration.ofSeconds(30)));
        }
    }

    /** Guest vm0 at 192.0.2.1 on {@code socket}, running an iperf3 server. */
    private static QemuGuest iperfServer(Path dir, GuestImage image, Path socket) {
        return QemuGuest.builder("vm0", dir).image(image)
                .role(GuestRole.SERVER).ip("192.0.2.1/24")
                .nic(VhostUserNic.client(socket).withReconnect(1).withMac("52:54:00:00:00:01"))
                .start();
    }

    /** Guest vm1 at 192.0.2.2 on {@code socket}: {@code pings} pings to vm0, then iperf3 for {@code seconds}. */
    private static QemuGuest iperfClient(Path dir, GuestImage image, Path socket, int pings, int seconds) {
        return QemuGuest.builder("vm1", dir).image(image)
                .role(GuestRole.CLIENT).ip("192.0.2.2/24").peer("192.0.2.1")
                .pingCount(pings).pingInterval("0.2").iperfSeconds(seconds)
                .nic(VhostUserNic.client(socket).withReconnect(1).withMac("52:54:00:00:00:02"))
                .start();
    }

    /**
     * QEMU listens (server chardev) and jvhost connects (client mode), with two queue pairs and two
     * vCPUs: the guest enables both pairs, and every one of jvhost's four queues is served by a worker.
     */
    @Test
    @Timeout(value = 5, unit = TimeUnit.MINUTES)
    void shouldServeTwoQueuePairsWhenJvhostConnectsToQemu(@TempDir Path dir) throws Exception {
        GuestImage image = GuestImage.get();
        Path vm0 = dir.resolve("vm0.sock");
        Path vm1 = dir.resolve("vm1.sock");
        try (QemuGuest server = QemuGuest.builder("vm0", dir).image(image).smp(2)
                     .role(GuestRole.SERVER).ip("192.0.2.1/24")
                     .nic(VhostUserNic.server(vm0).withQueues(2).withMac("52:54:00:00:00:01"))
                     .start();
             QemuGuest client = QemuGuest.builder("vm1", dir).image(image).smp(2)
                     .role(GuestRole.CLIENT).ip("192.0.2.2/24").peer("192.0.2.1")
                     .pingCount(20).pingInterval("0.2").iperfSeconds(3).iperfParallel(2)
                     .nic(VhostUserNic.server(vm1).withQueues(2).withMac("52:54:00:00:00:02"))
                     .start()) {
            server.awaitServerSockets(Duration.ofSeconds(30));
            client.awaitServerSockets(Duration.ofSeconds(30));
            try (JvhostDaemon jvhost = JvhostDaemon.start(WorkersConfig.Model.PER_CPU,
                    List.of(JvhostDaemon.client("vm0", vm0, 2), JvhostDaemon.client("vm1", vm1, 2)))) {
                assertEquals("rxq=2 txq=2", netQueues(client.awaitNet(BOOT_AND_PING)));
                assertEquals(new PingResult(20, 20), client.awaitPingResult(BOOT_AND_PING));
                // Checked while both guests run: the client powers off right after iperf3.
                List<QueueStatus> queues = awaitEveryQueueServed(jvhost);
                assertEquals(8, queues.size(), queues.toString());
                IperfResult iperf = client.awaitIperfResult(Duration.ofSeconds(90));
                assertNull(iperf.error(), "iperf3 error");
                assertTrue(iperf.receivedBitsPerSecond() > 0, "iperf3 moved no data");
                System.out.printf("two queue pairs, jvhost as client: iperf3 -P 2 %.1f Mbit/s; %s%n",
                        iperf.receivedBitsPerSecond() / 1e6, queues);
            }
        }
    }

    private static List<QueueStatus> awaitEveryQueueServed(JvhostDaemon jvhost) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        List<QueueStatus> queues = jvhost.view().queues();
        while (System.nanoTime() < deadline) {
            queues = jvhost.view().queues();
            if (queues.stream().allMatch(q -> q.workerCpu() != null)) {
                return queues;
            }
            Thread.sleep(20);
        }
        for (QueueStatus q : queues) {
            assertNotNull(q.workerCpu(), "queue without a worker: " + q);
        }
        return queues;
    }

    private static String netQueues(io.jvhost.it.harness.SerialLog.LineMatch net) {
        return "rxq=" + net.group(2) + " txq=" + net.group(3);
    }
}

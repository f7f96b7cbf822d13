package io.jvhost.it.harness;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Smoke test of the harness and the guest image without jvhost: two TCG guests whose vhost-user
 * NICs are DPDK testpmd's two ports, forwarding io-mode between them. If this fails, the problem is
 * the machine, the image or the QEMU command line, not jvhost.
 */
class TestpmdGuestPairTest {

    private static final Duration BOOT_AND_PING = Duration.ofSeconds(120);

    @Test
    @Timeout(value = 5, unit = TimeUnit.MINUTES)
    void shouldPingWithoutLossAndRunIperfBetweenTwoGuestsThroughTestpmd(@TempDir Path dir) {
        GuestImage image = GuestImage.get();
        Path serverSocket = dir.resolve("a.sock");
        Path clientSocket = dir.resolve("b.sock");
        long testpmdPid;
        long serverPid;
        long clientPid;
        Path runtimeDir;
        long start = System.nanoTime();

        try (Testpmd testpmd = Testpmd.builder(dir).cpuList("0,1").vhostUser(serverSocket).vhostUser(clientSocket)
                .forwardMode("io").start();
             QemuGuest server = QemuGuest.builder("server", dir).image(image)
                     .role(GuestRole.SERVER).ip("192.0.2.1/24")
                     .nic(VhostUserNic.client(serverSocket).withReconnect(1).withMac("52:54:00:00:00:01"))
                     .start();
             QemuGuest client = QemuGuest.builder("client", dir).image(image)
                     .role(GuestRole.CLIENT).ip("192.0.2.2/24").peer("192.0.2.1")
                     .pingCount(20).pingInterval("0.2").iperfSeconds(3)
                     .nic(VhostUserNic.client(clientSocket).withReconnect(1).withMac("52:54:00:00:00:02"))
                     .start()) {
            testpmdPid = testpmd.pid();
            serverPid = server.pid();
            clientPid = client.pid();
            runtimeDir = Testpmd.Builder.runtimeDir(testpmd.filePrefix());

            server.awaitReady(BOOT_AND_PING);
            assertEquals("rxq=1 txq=1", netQueues(client.awaitNet(BOOT_AND_PING)));
            PingResult ping = client.awaitPingResult(BOOT_AND_PING);
            assertEquals(new PingResult(20, 20), ping);

            IperfResult iperf = client.awaitIperfResult(Duration.ofSeconds(60));
            assertNull(iperf.error(), "iperf3 error");
            assertTrue(iperf.receivedBitsPerSecond() > 0, "iperf3 moved no data");
            assertEquals(0, client.awaitDone(Duration.ofSeconds(30)));
            assertTrue(server.isAlive(), "the server role stays up until killed");

            // Port 0 is the server's socket, port 1 the client's: the TCP stream entered testpmd on
            // port 1 as whole frames, so at least iperf3's payload bytes. The statistics are printed
            // once a second, so wait for a block that includes the end of the run.
            long payload = iperf.receivedBytes();
            Map<Integer, Testpmd.PortStats> stats = testpmd.awaitPortStats(
                    s -> s.size() == 2 && s.get(1).rxBytes() >= payload && s.get(0).rxPackets() > 0,
                    Duration.ofSeconds(10));

            List<VcpuThread> vcpus = server.vcpuThreads(Duration.ofSeconds(5));
            assertEquals(1, vcpus.size(), vcpus.toString());

            // Stop testpmd now (close() is idempotent) to read its exit totals: in io mode every
            // packet received on one port was either sent on the other or dropped for lack of room.
            server.close();
            testpmd.close();
            Map<Integer, Testpmd.ForwardStats> totals = testpmd.forwardStats();
            assertEquals(2, totals.size(), totals.toString());
            assertEquals(totals.get(0).rxPackets(), totals.get(1).txPackets() + totals.get(1).txDropped(),
                    totals.toString());
            assertEquals(totals.get(1).rxPackets(), totals.get(0).txPackets() + totals.get(0).txDropped(),
                    totals.toString());

            System.out.printf("testpmd guest pair: image %s (%d ms), ping %d/%d, iperf3 %.1f Mbit/s received,"
                            + " %d retransmits, testpmd totals %s, whole test %d ms%n",
                    image.kernelRelease(), image.buildTime().toMillis(), ping.received(), ping.transmitted(),
                    iperf.receivedBitsPerSecond() / 1e6, iperf.retransmits(), totals,
                    TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start));
        }

        for (long pid : new long[] {testpmdPid, serverPid, clientPid}) {
            assertFalse(ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false), "pid " + pid + " still alive");
            assertFalse(ProcessReaper.isRegistered(pid), "pid " + pid + " still registered");
        }
        assertFalse(Files.exists(runtimeDir), "EAL runtime dir left behind: " + runtimeDir);
        assertFalse(Files.exists(serverSocket), "testpmd socket left behind");
    }

    @Test
    @Timeout(value = 3, unit = TimeUnit.MINUTES)
    void shouldEnableTwoQueuePairsWhenQemuListensAndTestpmdConnects(@TempDir Path dir) {
        GuestImage image = GuestImage.get();
        Path socket = dir.resolve("mq.sock");

        try (QemuGuest guest = QemuGuest.builder("mq", dir).image(image).smp(2)
                     .role(GuestRole.IDLE).ip("192.0.2.1/24")
                     .nic(VhostUserNic.server(socket).withQueues(2).withMac("52:54:00:00:00:11"))
                     .start()) {
            guest.awaitServerSockets(Duration.ofSeconds(30));
            try (Testpmd testpmd = Testpmd.builder(dir).vhostUser(socket, true, 2).queues(2).start()) {
                // virtio_net enables min(queue pairs, vCPUs) pairs by itself.
                assertEquals("rxq=2 txq=2", netQueues(guest.awaitNet(BOOT_AND_PING)));
                guest.awaitReady(BOOT_AND_PING);

                List<VcpuThread> vcpus = guest.vcpuThreads(Duration.ofSeconds(5));
                assertEquals(List.of(0, 1), vcpus.stream().map(VcpuThread::index).toList(), vcpus.toString());
                assertEquals("CPU 1/TCG", vcpus.get(1).comm());
                assertTrue(testpmd.isAlive());
            }
        }
    }

    private static String netQueues(SerialLog.LineMatch net) {
        return "rxq=" + net.group(2) + " txq=" + net.group(3);
    }
}

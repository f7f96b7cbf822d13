package io.jvhost.it.qemu;

import io.jvhost.backend.config.WorkersConfig;
import io.jvhost.backend.management.PortStatus;
import io.jvhost.it.datapath.CpuShares;
import io.jvhost.it.harness.GuestImage;
import io.jvhost.it.harness.GuestRole;
import io.jvhost.it.harness.IperfResult;
import io.jvhost.it.harness.NetNamespace;
import io.jvhost.it.harness.PingResult;
import io.jvhost.it.harness.ProcessReaper;
import io.jvhost.it.harness.QemuGuest;
import io.jvhost.it.harness.VhostUserNic;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Per-port CPU accounting with real guests: one guest streams TCP to the host (a namespace behind a
 * TAP port) while another only pings it. The streaming guest's port is charged the larger share of
 * the workers' time, and what the ports are charged adds up to the workers' busy time within 10 %.
 */
class GuestCpuAccountingTest {

    private static final Duration BOOT = Duration.ofSeconds(120);

    @Test
    @Timeout(value = 5, unit = TimeUnit.MINUTES)
    void shouldChargeTheBusyGuestTheLargerShareAndAddUpToTheWorkersBusyTime(@TempDir Path dir) throws Exception {
        GuestImage image = GuestImage.get();
        Path busySocket = dir.resolve("busy.sock");
        Path quietSocket = dir.resolve("quiet.sock");
        String tapName = "jvc" + Long.toHexString(System.nanoTime() & 0xFFFFFF);
        try (NetNamespace host = NetNamespace.create("jvhost-it-cpu");
             JvhostDaemon jvhost = JvhostDaemon.start(WorkersConfig.Model.PER_CPU, List.of(
                     JvhostDaemon.server("busy", busySocket, 1), JvhostDaemon.server("quiet", quietSocket, 1),
                     JvhostDaemon.tap("uplink", tapName)))) {
            host.adopt(tapName, "192.0.2.10/24");
            Process iperfServer = host.start(List.of("iperf3", "-s", "-B", "192.0.2.10"),
                    dir.resolve("iperf3-host.log"), "iperf3 server on the host");
            try (QemuGuest busy = QemuGuest.builder("busy", dir).image(image).role(GuestRole.CLIENT)
                         .ip("192.0.2.1/24").peer("192.0.2.10").pingCount(5).pingInterval("0.2").iperfSeconds(5)
                         .nic(VhostUserNic.client(busySocket).withReconnect(1).withMac("52:54:00:00:00:01")).start();
                 QemuGuest quiet = QemuGuest.builder("quiet", dir).image(image).role(GuestRole.PING)
                         .ip("192.0.2.2/24").peer("192.0.2.10").pingCount(20).pingInterval("0.2")
                         .nic(VhostUserNic.client(quietSocket).withReconnect(1).withMac("52:54:00:00:00:02")).start()) {
                assertEquals(new PingResult(20, 20), quiet.awaitPingResult(BOOT));
                IperfResult iperf = busy.awaitIperfResult(BOOT);
                assertNull(iperf.error(), "iperf3 error");
                assertEquals(0, busy.awaitDone(Duration.ofSeconds(30)));

                PortStatus busyPort = jvhost.port("busy");
                PortStatus quietPort = jvhost.port("quiet");
                assertTrue(busyPort.cpuSeconds() > quietPort.cpuSeconds(),
                        "the streaming guest is charged more: " + busyPort + " / " + quietPort);
                double[] sums = CpuShares.assertPortsAddUpToWorkersBusyTime(jvhost.view());
                System.out.printf("cpu seconds: busy guest %.4f (iperf3 %.0f Mbit/s), quiet guest %.4f, uplink %.4f;"
                                + " all ports %.4f, workers busy %.4f%n", busyPort.cpuSeconds(),
                        iperf.receivedBitsPerSecond() / 1e6, quietPort.cpuSeconds(), jvhost.port("uplink").cpuSeconds(),
                        sums[0], sums[1]);
            } finally {
                ProcessReaper.terminate(iperfServer.toHandle(), Duration.ofSeconds(2));
            }
        }
    }
}

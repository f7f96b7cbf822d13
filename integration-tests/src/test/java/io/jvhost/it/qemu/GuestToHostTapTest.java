package io.jvhost.it.qemu;

import io.jvhost.backend.config.WorkersConfig;
import io.jvhost.backend.management.PortStatus;
import io.jvhost.it.harness.GuestImage;
import io.jvhost.it.harness.GuestRole;
import io.jvhost.it.harness.IperfResult;
import io.jvhost.it.harness.PingResult;
import io.jvhost.it.harness.ProcessReaper;
import io.jvhost.it.harness.QemuGuest;
import io.jvhost.it.harness.VhostUserNic;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A guest and the host on one jvhost network: the host side is a TAP port that the test moves into a
 * network namespace of its own (address 192.0.2.10), where an iperf3 server runs.
 */
class GuestToHostTapTest {

    private static final Duration BOOT_AND_PING = Duration.ofSeconds(120);

    @Test
    @Timeout(value = 5, unit = TimeUnit.MINUTES)
    void shouldPingAndRunIperfBetweenAGuestAndAHostNamespaceThroughATapPort(@TempDir Path dir) throws Exception {
        String suffix = Integer.toHexString(ThreadLocalRandom.current().nextInt(0x10000, 0xFFFFF));
        String namespace = "jvhost-it-" + suffix;
        String tapName = "jvt" + suffix;
        Path vm0 = dir.resolve("vm0.sock");
        run("ip", "netns", "add", namespace);
        Process iperfServer = null;
        try (JvhostDaemon jvhost = JvhostDaemon.start(WorkersConfig.Model.PER_CPU,
                List.of(JvhostDaemon.server("vm0", vm0, 1), JvhostDaemon.tap("uplink", tapName)))) {
            run("ip", "link", "set", tapName, "netns", namespace);
            run("ip", "-n", namespace, "addr", "add", "192.0.2.10/24", "dev", tapName);
            run("ip", "-n", namespace, "link", "set", tapName, "up");
            run("ip", "-n", namespace, "link", "set", "lo", "up");
            iperfServer = ProcessReaper.start(new ProcessBuilder("ip", "netns", "exec", namespace,
                    "iperf3", "-s", "-1", "-B", "192.0.2.10").redirectErrorStream(true)
                    .redirectOutput(dir.resolve("iperf3-server.log").toFile()), "iperf3 server in " + namespace);

            try (QemuGuest guest = QemuGuest.builder("vm0", dir).image(GuestImage.get())
                    .role(GuestRole.CLIENT).ip("192.0.2.1/24").peer("192.0.2.10")
                    .pingCount(20).pingInterval("0.2").iperfSeconds(5)
                    .nic(VhostUserNic.client(vm0).withReconnect(1).withMac("52:54:00:00:00:01"))
                    .start()) {
                assertEquals(new PingResult(20, 20), guest.awaitPingResult(BOOT_AND_PING));
                IperfResult iperf = guest.awaitIperfResult(Duration.ofSeconds(90));
                assertNull(iperf.error(), "iperf3 error");
                assertTrue(iperf.receivedBitsPerSecond() > 0, "iperf3 moved no data");
                assertEquals(0, guest.awaitDone(Duration.ofSeconds(30)));

                PortStatus uplink = jvhost.view().ports().get(1);
                assertEquals("tap", uplink.kind());
                assertTrue(uplink.txBytes() >= iperf.receivedBytes(), uplink.toString());
                assertTrue(uplink.rxPackets() > 0, uplink.toString());
                System.out.printf("guest to host TAP: iperf3 %.1f Mbit/s, %d retransmits; %s%n",
                        iperf.receivedBitsPerSecond() / 1e6, iperf.retransmits(), uplink);
            }
        } finally {
            if (iperfServer != null) {
                ProcessReaper.terminate(iperfServer.toHandle(), Duration.ofSeconds(2));
            }
            run("ip", "netns", "del", namespace);
        }
    }

    private static void run(String... command) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(new ArrayList<>(List.of(command))).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        assertEquals(0, p.waitFor(), String.join(" ", command) + ": " + out);
    }
}

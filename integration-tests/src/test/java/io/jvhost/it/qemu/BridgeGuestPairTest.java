package io.jvhost.it.qemu;

import io.jvhost.it.harness.CsumErrors;
import io.jvhost.it.harness.FileDigest;
import io.jvhost.it.harness.GuestImage;
import io.jvhost.it.harness.GuestRole;
import io.jvhost.it.harness.IperfResult;
import io.jvhost.it.harness.NetNamespace;
import io.jvhost.it.harness.PingResult;
import io.jvhost.it.harness.PmtuResult;
import io.jvhost.it.harness.QemuGuest;
import io.jvhost.it.harness.TapNic;
import io.jvhost.it.harness.VcpuThread;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Guests on QEMU's own virtio-net, each on a TAP device in one Linux bridge, all inside a network
 * namespace of the test's (the bridge has 192.0.2.100, the "host"): the setup a user would pick
 * instead of any vhost backend, and the reference the bench compares jvhost against. No jvhost here.
 */
class BridgeGuestPairTest {

    private static final Duration BOOT_AND_PING = Duration.ofSeconds(120);
    private static final String HOST = "192.0.2.100";

    @ParameterizedTest(name = "offloads {0}")
    @ValueSource(booleans = {true, false})
    @Timeout(value = 5, unit = TimeUnit.MINUTES)
    void shouldPingWithoutLossAndRunIperfBetweenTwoGuestsOnTheBridge(boolean offloads, @TempDir Path dir) {
        GuestImage image = GuestImage.get();
        try (NetNamespace ns = NetNamespace.create("jvhost-it-br")) {
            String bridge = ns.addBridge(HOST + "/24");
            TapNic serverTap = ns.addTap(bridge).withMac("52:54:00:00:00:01").withOffloads(offloads);
            TapNic clientTap = ns.addTap(bridge).withMac("52:54:00:00:00:02").withOffloads(offloads);
            try (QemuGuest server = QemuGuest.builder("vm0", dir).image(image).networkNamespace(ns.name())
                         .role(GuestRole.SERVER).ip("192.0.2.1/24").nic(serverTap)
                         .start();
                 QemuGuest client = QemuGuest.builder("vm1", dir).image(image).networkNamespace(ns.name())
                         .role(GuestRole.CLIENT).ip("192.0.2.2/24").peer("192.0.2.1")
                         .pingCount(20).pingInterval("0.2").iperfSeconds(5).nic(clientTap)
                         .start()) {
                server.awaitReady(BOOT_AND_PING);
                assertEquals(new PingResult(20, 20), client.awaitPingResult(BOOT_AND_PING));
                // The namespace is the host: it reaches the guests through the bridge's address.
                String hostPing = NetNamespace.command(ns.exec(List.of("ping", "-n", "-c", "3", "-i", "0.2", "-W", "2",
                        "192.0.2.1")).toArray(String[]::new));
                assertTrue(hostPing.contains("3 packets transmitted, 3 received"), hostPing);

                IperfResult iperf = client.awaitIperfResult(Duration.ofSeconds(90));
                assertNull(iperf.error(), "iperf3 error");
                assertTrue(iperf.receivedBitsPerSecond() > 0, "iperf3 moved no data");
                assertEquals(0, client.awaitDone(Duration.ofSeconds(30)));
                // ip netns exec execs QEMU: the pid is QEMU's, with its named vCPU thread.
                List<VcpuThread> vcpus = server.vcpuThreads(Duration.ofSeconds(5));
                assertEquals(List.of("CPU 0/TCG"), vcpus.stream().map(VcpuThread::comm).toList());
                System.out.printf("guest pair on a bridge, offloads %s: iperf3 %.1f Mbit/s received, %d retransmits%n",
                        offloads ? "on" : "off", iperf.receivedBitsPerSecond() / 1e6, iperf.retransmits());
            }
        }
    }

    /**
     * The file roles and the path-MTU role end to end: 8 MiB cross the bridge intact with no checksum
     * error in either guest, and with don't-fragment a 1472-byte ping (a 1500-byte IP packet) gets
     * every reply from the host while a 1473-byte one is refused by the guest's own stack.
     */
    @Test
    @Timeout(value = 5, unit = TimeUnit.MINUTES)
    void shouldCarryAFileIntactAndStopDontFragmentPingsAboveTheMtu(@TempDir Path dir) {
        GuestImage image = GuestImage.get();
        try (NetNamespace ns = NetNamespace.create("jvhost-it-br")) {
            String bridge = ns.addBridge(HOST + "/24");
            try (QemuGuest receiver = QemuGuest.builder("recv", dir).image(image).networkNamespace(ns.name())
                         .role(GuestRole.RECV_FILE).ip("192.0.2.1/24").filePort(5002)
                         .nic(ns.addTap(bridge).withMac("52:54:00:00:00:01"))
                         .start();
                 QemuGuest sender = QemuGuest.builder("send", dir).image(image).networkNamespace(ns.name())
                         .role(GuestRole.SEND_FILE).ip("192.0.2.2/24").peer("192.0.2.1").filePort(5002)
                         .fileSizeMiB(8)
                         .nic(ns.addTap(bridge).withMac("52:54:00:00:00:02"))
                         .start();
                 QemuGuest pmtu = QemuGuest.builder("pmtu", dir).image(image).networkNamespace(ns.name())
                         .role(GuestRole.PMTU).ip("192.0.2.3/24").peer(HOST).pmtuSizes(1472, 1473)
                         .pingCount(3).pingInterval("0.2")
                         .nic(ns.addTap(bridge).withMac("52:54:00:00:00:03"))
                         .start()) {
                FileDigest sent = sender.awaitFileSha256(BOOT_AND_PING);
                assertEquals(8L << 20, sent.bytes());
                FileDigest received = receiver.awaitFileSha256(Duration.ofSeconds(180));
                assertEquals(sent, received);
                assertEquals(new CsumErrors(0, 0), receiver.awaitSnmpCsumErrors(Duration.ofSeconds(10)));
                assertEquals(new CsumErrors(0, 0), sender.awaitSnmpCsumErrors(Duration.ofSeconds(60)));
                assertEquals(0, receiver.awaitDone(Duration.ofSeconds(30)));
                assertEquals(0, sender.awaitDone(Duration.ofSeconds(30)));

                List<PmtuResult> results = pmtu.awaitPmtuResults(BOOT_AND_PING);
                assertEquals(List.of(new PmtuResult(1472, 3, 3, 0), new PmtuResult(1473, 3, 0, 1)), results);
                assertEquals(0, pmtu.awaitDone(Duration.ofSeconds(30)));
            }
        }
    }
}

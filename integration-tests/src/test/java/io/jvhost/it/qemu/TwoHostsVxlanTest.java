package io.jvhost.it.qemu;

import io.jvhost.backend.config.WorkersConfig;
import io.jvhost.backend.management.PortStatus;
import io.jvhost.backend.management.QueueStatus;
import io.jvhost.it.harness.GuestImage;
import io.jvhost.it.harness.GuestRole;
import io.jvhost.it.harness.IperfResult;
import io.jvhost.it.harness.NetNamespace;
import io.jvhost.it.harness.PingResult;
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
 * Two hosts on one machine, as README "More than one host" sets them up: each host is a network
 * namespace with its own jvhost, one guest and a TAP uplink in a Linux bridge with a kernel VXLAN
 * device; the hosts' underlay is a veth pair. Nothing between the hosts is jvhost's: the bridge, the
 * VXLAN tunnel and the veth are the host's own network stack. The two guests ping each other and run
 * iperf3 with offloads (the guests' TSO frames go to the kernel as they are; VXLAN segments them).
 *
 * <p>Both daemons share this JVM (the data paths and sockets are separate; only the process is not).
 */
class TwoHostsVxlanTest {

    private static final Duration BOOT_AND_PING = Duration.ofSeconds(120);
    /** VXLAN over IPv4 adds 50 bytes: the underlay carries them so that the guests keep an MTU of 1500. */
    private static final int UNDERLAY_MTU = 1550;
    private static final String VNI = "4242";

    @Test
    @Timeout(value = 6, unit = TimeUnit.MINUTES)
    void shouldPingAndRunIperfBetweenGuestsOnTwoHostsThroughVxlan(@TempDir Path dir) throws Exception {
        GuestImage image = GuestImage.get();
        String suffix = Long.toHexString(System.nanoTime() & 0xFFFFFF);
        String tapA = "jvua" + suffix;
        String tapB = "jvub" + suffix;
        String vethA = "jvva" + suffix;
        String vethB = "jvvb" + suffix;
        Path sockA = dir.resolve("a-vm.sock");
        Path sockB = dir.resolve("b-vm.sock");
        try (NetNamespace hostA = NetNamespace.create("jvhost-it-ha");
             NetNamespace hostB = NetNamespace.create("jvhost-it-hb")) {
            NetNamespace.command("ip", "link", "add", vethA, "mtu", String.valueOf(UNDERLAY_MTU), "type", "veth",
                    "peer", "name", vethB, "mtu", String.valueOf(UNDERLAY_MTU));
            hostA.adopt(vethA, "198.51.100.1/24");
            hostB.adopt(vethB, "198.51.100.2/24");
            String bridgeA = tunnelBridge(hostA, vethA, "198.51.100.1", "198.51.100.2");
            String bridgeB = tunnelBridge(hostB, vethB, "198.51.100.2", "198.51.100.1");
            try (JvhostDaemon jvhostA = JvhostDaemon.start(WorkersConfig.Model.PER_CPU,
                         List.of(JvhostDaemon.server("vm", sockA, 1), JvhostDaemon.tap("uplink", tapA)));
                 JvhostDaemon jvhostB = JvhostDaemon.start(WorkersConfig.Model.PER_CPU,
                         List.of(JvhostDaemon.server("vm", sockB, 1), JvhostDaemon.tap("uplink", tapB)))) {
                attachUplink(hostA, tapA, bridgeA);
                attachUplink(hostB, tapB, bridgeB);
                try (QemuGuest server = QemuGuest.builder("host-a-vm", dir).image(image)
                             .role(GuestRole.SERVER).ip("192.0.2.1/24")
                             .nic(VhostUserNic.client(sockA).withReconnect(1).withMac("52:54:00:00:0a:01")).start();
                     QemuGuest client = QemuGuest.builder("host-b-vm", dir).image(image)
                             .role(GuestRole.CLIENT).ip("192.0.2.2/24").peer("192.0.2.1")
                             .pingCount(20).pingInterval("0.2").iperfSeconds(5)
                             .nic(VhostUserNic.client(sockB).withReconnect(1).withMac("52:54:00:00:0b:01")).start()) {
                    server.awaitReady(BOOT_AND_PING);
                    assertEquals(new PingResult(20, 20), client.awaitPingResult(BOOT_AND_PING));
                    PortStatus uplinkB = jvhostB.port("uplink"); // while the guests run
                    assertTrue(uplinkB.offloads().containsAll(List.of("CSUM", "TSO4")),
                            "the uplink takes what the guest took: " + uplinkB);
                    IperfResult iperf = client.awaitIperfResult(Duration.ofSeconds(90));
                    assertNull(iperf.error(), "iperf3 error");
                    assertTrue(iperf.receivedBitsPerSecond() > 0, "iperf3 moved no data");
                    assertEquals(0, client.awaitDone(Duration.ofSeconds(30)));

                    QueueStatus toKernelB = jvhostB.queue("uplink", 0);
                    assertTrue(toKernelB.offloads().passedThrough() > 0,
                            "host B: the guest's TSO frames to the kernel as they were: " + toKernelB);
                    QueueStatus guestRxA = jvhostA.queue("vm", 0);
                    assertTrue(guestRxA.bytes() >= iperf.receivedBytes(), "host A's guest got it all: " + guestRxA);
                    String vxlanStats = hostB.ip("-s", "link", "show", "dev", "jvvx");
                    System.out.printf("two hosts through VXLAN: iperf3 %.0f Mbit/s, %d retransmits; host B uplink %s;"
                                    + " host A guest RX %s%nhost B vxlan: %s%n", iperf.receivedBitsPerSecond() / 1e6,
                            iperf.retransmits(), toKernelB, guestRxA, vxlanStats);
                }
            }
        }
    }

    /**
     * A bridge in {@code host} with a VXLAN device to {@code remote} over {@code underlay} in it: what
     * each host of README "More than one host" runs.
     *
     * @return the bridge's name
     */
    private static String tunnelBridge(NetNamespace host, String underlay, String local, String remote) {
        String bridge = host.addBridge(null);
        host.ip("link", "add", "jvvx", "type", "vxlan", "id", VNI, "local", local, "remote", remote,
                "dstport", "4789", "dev", underlay);
        host.ip("link", "set", "jvvx", "master", bridge);
        host.ip("link", "set", "jvvx", "up");
        return bridge;
    }

    /** Moves jvhost's TAP into {@code host}'s bridge (jvhost keeps its fd across the move). */
    private static void attachUplink(NetNamespace host, String tap, String bridge) {
        NetNamespace.command("ip", "link", "set", tap, "netns", host.name());
        host.ip("link", "set", tap, "master", bridge);
        host.ip("link", "set", tap, "up");
    }
}

package io.jvhost.it.qemu;

import io.jvhost.backend.config.WorkersConfig;
import io.jvhost.backend.management.PortStatus;
import io.jvhost.backend.management.QueueStatus;
import io.jvhost.it.harness.CsumErrors;
import io.jvhost.it.harness.FileDigest;
import io.jvhost.it.harness.GuestImage;
import io.jvhost.it.harness.GuestRole;
import io.jvhost.it.harness.IperfResult;
import io.jvhost.it.harness.NetNamespace;
import io.jvhost.it.harness.PmtuResult;
import io.jvhost.it.harness.ProcessReaper;
import io.jvhost.it.harness.QemuGuest;
import io.jvhost.it.harness.VhostUserNic;
import io.jvhost.virtio.net.VirtioNetFeatures;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.DigestInputStream;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Offloads and MTU with real QEMU guests (TCG, QEMU's default CPU model) through jvhost:
 * <ul>
 *   <li>two guests that negotiated TSO and checksum offload run iperf3 both ways, and jvhost passes
 *       their 64 KiB frames on as they are;</li>
 *   <li>a guest with offloads sends a 16 MiB file to a guest started with
 *       {@code guest_tso4=off,guest_tso6=off,guest_csum=off}: jvhost segments and checksums in
 *       software, the file arrives with the same sha256 and the receiver counts no checksum error;</li>
 *   <li>guests and the host (a TAP port moved into a network namespace) with TSO on both ways;</li>
 *   <li>MTU 9000 (QEMU {@code host_mtu}, VIRTIO_NET_F_MTU, NET_SET_MTU): don't-fragment pings of
 *       8972 bytes get through, 8973 bytes are refused by the guest's stack.</li>
 * </ul>
 */
class GuestOffloadTest {

    private static final Duration BOOT = Duration.ofSeconds(150);
    private static final String STREAM = "stream:131072";
    private static final String REVERSE = "rstream:131072";
    private static final String NO_GUEST_OFFLOADS = "guest_tso4=off,guest_tso6=off,guest_csum=off";

    private static VhostUserNic nic(Path socket, int n) {
        return VhostUserNic.client(socket).withReconnect(1).withMac("52:54:00:00:00:0" + n);
    }

    /** The iperf3 JSON of one bench test of {@code guest} (role bench), parsed. */
    private static IperfResult benchResult(QemuGuest guest, String test, Duration timeout) {
        String quoted = Pattern.quote(test);
        String body = guest.serial().awaitBetween(Pattern.compile("^JV-BENCH-BEGIN " + quoted + "$"),
                Pattern.compile("^JV-BENCH-END " + quoted + " rc=\\d+$"), 0, timeout, guest::isAlive);
        IperfResult r = IperfResult.parse(body);
        assertNull(r.error(), test + ": iperf3 error");
        assertTrue(r.receivedBitsPerSecond() > 0, test + ": no data");
        return r;
    }

    /** jvhost with the two guest ports most tests use, vm0 and vm1, in one network. */
    private static JvhostDaemon pair(Path vm0, Path vm1) throws Exception {
        return JvhostDaemon.start(WorkersConfig.Model.PER_CPU,
                List.of(JvhostDaemon.server("vm0", vm0, 1), JvhostDaemon.server("vm1", vm1, 1)));
    }

    @Test
    @Timeout(value = 5, unit = TimeUnit.MINUTES)
    void shouldRunTcpBothWaysBetweenGuestsThatNegotiatedOffloads(@TempDir Path dir) throws Exception {
        Path vm0 = dir.resolve("vm0.sock");
        Path vm1 = dir.resolve("vm1.sock");
        GuestImage image = GuestImage.get();
        try (JvhostDaemon jvhost = pair(vm0, vm1);
             QemuGuest server = QemuGuest.builder("server", dir).image(image).role(GuestRole.BENCH_SERVER)
                     .ip("192.0.2.1/24").nic(nic(vm0, 1)).start();
             QemuGuest client = QemuGuest.builder("client", dir).image(image).role(GuestRole.BENCH)
                     .ip("192.0.2.2/24").peer("192.0.2.1").iperfSeconds(5)
                     .kernelArg("jv.bench", STREAM + "," + REVERSE).nic(nic(vm1, 2)).start()) {
            IperfResult forward = benchResult(client, STREAM, BOOT);
            for (String name : List.of("vm0", "vm1")) { // read while both guests run
                PortStatus p = jvhost.port(name);
                for (int bit : new int[]{VirtioNetFeatures.CSUM, VirtioNetFeatures.GUEST_CSUM,
                        VirtioNetFeatures.HOST_TSO4, VirtioNetFeatures.GUEST_TSO4, VirtioNetFeatures.HOST_TSO6,
                        VirtioNetFeatures.GUEST_TSO6}) {
                    assertTrue(VirtioNetFeatures.has(p.features(), bit), name + " acked "
                            + VirtioNetFeatures.describe(1L << bit) + ": " + VirtioNetFeatures.describe(p.features()));
                }
            }
            IperfResult reverse = benchResult(client, REVERSE, Duration.ofSeconds(60));
            assertEquals(0, client.awaitDone(Duration.ofSeconds(30)));
            // Both directions carried TSO frames through as they were, with nothing done in software.
            for (String name : List.of("vm0", "vm1")) {
                QueueStatus rx = jvhost.queue(name, 0);
                assertTrue(rx.offloads().passedThrough() > 0, rx.toString());
                assertEquals(0, rx.offloads().segmented(), rx.toString());
            }
            System.out.printf("guests with offloads: %.0f Mbit/s forward, %.0f reverse, %d + %d retransmits%n",
                    forward.receivedBitsPerSecond() / 1e6, reverse.receivedBitsPerSecond() / 1e6,
                    forward.retransmits(), reverse.retransmits());
        }
    }

    /**
     * Linux without MRG_RXBUF but with GUEST_TSO posts 64 KiB chains (big-packets mode): TSO frames go
     * into them as they are, one chain per frame.
     */
    @Test
    @Timeout(value = 5, unit = TimeUnit.MINUTES)
    void shouldPassTsoFramesIntoTheBigBuffersOfAGuestWithoutMergeableBuffers(@TempDir Path dir) throws Exception {
        Path vm0 = dir.resolve("vm0.sock");
        Path vm1 = dir.resolve("vm1.sock");
        GuestImage image = GuestImage.get();
        try (JvhostDaemon jvhost = pair(vm0, vm1);
             QemuGuest server = QemuGuest.builder("server", dir).image(image).role(GuestRole.BENCH_SERVER)
                     .ip("192.0.2.1/24").nic(nic(vm0, 1).withDeviceOption("mrg_rxbuf=off")).start();
             QemuGuest client = QemuGuest.builder("client", dir).image(image).role(GuestRole.BENCH)
                     .ip("192.0.2.2/24").peer("192.0.2.1").iperfSeconds(5).kernelArg("jv.bench", STREAM)
                     .nic(nic(vm1, 2)).start()) {
            server.awaitReady(BOOT);
            client.awaitReady(BOOT);
            // From here: a multicast of the client's may have met the server's ring before its link was up.
            long dropsBefore = jvhost.queue("vm0", 0).drops();
            PortStatus p = jvhost.port("vm0");
            assertEquals(0, p.features() & VirtioNetFeatures.mask(VirtioNetFeatures.MRG_RXBUF), p.toString());
            assertTrue(VirtioNetFeatures.has(p.features(), VirtioNetFeatures.GUEST_TSO4), p.toString());
            IperfResult forward = benchResult(client, STREAM, BOOT);
            QueueStatus rx = jvhost.queue("vm0", 0);
            assertTrue(rx.offloads().passedThrough() > 0, "TSO frames into big chains: " + rx);
            assertEquals(0, rx.offloads().segmented(), rx.toString());
            assertEquals(dropsBefore, rx.drops(), "every frame fit its chain: " + rx);
            System.out.printf("to a guest without mergeable buffers: %.0f Mbit/s; %s%n",
                    forward.receivedBitsPerSecond() / 1e6, rx);
        }
    }

    @Test
    @Timeout(value = 6, unit = TimeUnit.MINUTES)
    void shouldSegmentAndChecksumInSoftwareForAGuestWithoutOffloads(@TempDir Path dir) throws Exception {
        Path vm0 = dir.resolve("vm0.sock");
        Path vm1 = dir.resolve("vm1.sock");
        GuestImage image = GuestImage.get();
        try (JvhostDaemon jvhost = pair(vm0, vm1);
             QemuGuest receiver = QemuGuest.builder("recv", dir).image(image).role(GuestRole.RECV_FILE)
                     .ip("192.0.2.1/24").nic(nic(vm0, 1).withDeviceOption(NO_GUEST_OFFLOADS)).start();
             QemuGuest sender = QemuGuest.builder("send", dir).image(image).role(GuestRole.SEND_FILE)
                     .ip("192.0.2.2/24").peer("192.0.2.1").fileSizeMiB(16).nic(nic(vm1, 2)).start()) {
            FileDigest sent = sender.awaitFileSha256(BOOT);
            assertEquals(16L << 20, sent.bytes());
            receiver.awaitReady(BOOT);
            // Read while both guests run (a guest that powered off has no features).
            PortStatus r = jvhost.port("vm0");
            assertEquals(0, r.features() & VirtioNetFeatures.mask(VirtioNetFeatures.GUEST_CSUM), r.toString());
            assertEquals(List.of(), r.offloads());
            assertTrue(VirtioNetFeatures.has(jvhost.port("vm1").features(), VirtioNetFeatures.HOST_TSO4));
            assertEquals(sent, receiver.awaitFileSha256(Duration.ofSeconds(240)));
            assertEquals(new CsumErrors(0, 0), receiver.awaitSnmpCsumErrors(Duration.ofSeconds(10)));
            assertEquals(0, receiver.awaitDone(Duration.ofSeconds(30)));
            assertEquals(0, sender.awaitDone(Duration.ofSeconds(60)));

            QueueStatus rx = jvhost.queue("vm0", 0);
            assertTrue(rx.offloads().segmented() > 0, "TSO frames segmented in software: " + rx);
            assertTrue(rx.offloads().checksums() > rx.offloads().segmented(), "a checksum per segment: " + rx);
            assertEquals(0, rx.offloads().passedThrough(), rx.toString());
            System.out.printf("16 MiB to a guest without offloads: %s%n", rx.offloads());
        }
    }

    @Test
    @Timeout(value = 6, unit = TimeUnit.MINUTES)
    void shouldCarryTsoBetweenGuestsAndTheHostThroughATapPort(@TempDir Path dir) throws Exception {
        Path vm0 = dir.resolve("vm0.sock");
        Path vm1 = dir.resolve("vm1.sock");
        GuestImage image = GuestImage.get();
        String tapName = "jvo" + Long.toHexString(System.nanoTime() & 0xFFFFFF);
        Path received = dir.resolve("from-guest.bin");
        try (NetNamespace host = NetNamespace.create("jvhost-it-tap");
             JvhostDaemon jvhost = JvhostDaemon.start(WorkersConfig.Model.PER_CPU,
                     List.of(JvhostDaemon.server("vm0", vm0, 1), JvhostDaemon.server("vm1", vm1, 1),
                             JvhostDaemon.tap("uplink", tapName)))) {
            host.adopt(tapName, "192.0.2.10/24");
            Process iperfServer = host.start(List.of("iperf3", "-s", "-B", "192.0.2.10"),
                    dir.resolve("iperf3-host.log"), "iperf3 server on the host");
            // busybox nc -l stops after its first 1024 bytes once its stdin is at EOF: give it a FIFO
            // that stays open (written by nobody) until the file is in.
            Path stdin = dir.resolve("nc-stdin");
            NetNamespace.command("mkfifo", stdin.toString());
            Process nc = host.start(List.of("sh", "-c", "exec busybox nc -l -p 5001 < " + stdin + " > " + received),
                    dir.resolve("nc-host.log"), "nc receiving on the host");
            OutputStream keepOpen = Files.newOutputStream(stdin);
            try (QemuGuest bench = QemuGuest.builder("bench", dir).image(image).role(GuestRole.BENCH)
                         .ip("192.0.2.1/24").peer("192.0.2.10").iperfSeconds(5)
                         .kernelArg("jv.bench", STREAM + "," + REVERSE).nic(nic(vm0, 1)).start();
                 QemuGuest sender = QemuGuest.builder("send", dir).image(image).role(GuestRole.SEND_FILE)
                         .ip("192.0.2.2/24").peer("192.0.2.10").fileSizeMiB(16).nic(nic(vm1, 2)).start()) {
                IperfResult toHost = benchResult(bench, STREAM, BOOT);
                PortStatus uplink = jvhost.port("uplink"); // while the guests run
                assertTrue(uplink.offloads().containsAll(List.of("CSUM", "TSO4", "TSO6")),
                        "TUNSETOFFLOAD follows the guests: " + uplink);
                IperfResult fromHost = benchResult(bench, REVERSE, Duration.ofSeconds(60));
                FileDigest sent = sender.awaitFileSha256(BOOT);
                assertTrue(nc.waitFor(240, TimeUnit.SECONDS), "nc on the host got the whole file");
                assertEquals(sent, new FileDigest(sha256(received), Files.size(received)));
                assertEquals(0, bench.awaitDone(Duration.ofSeconds(30)));

                QueueStatus toHostQueue = jvhost.queue("uplink", 0);
                assertTrue(toHostQueue.offloads().passedThrough() > 0, "guest TSO frames to the kernel: " + toHostQueue);
                QueueStatus guestRx = jvhost.queue("vm0", 0);
                assertTrue(guestRx.offloads().passedThrough() > 0, "the kernel's TSO frames to the guest: " + guestRx);
                assertEquals(0, jvhost.queue("uplink", 1).offloads().badHeaders());
                System.out.printf("guest to host %.0f Mbit/s, host to guest %.0f Mbit/s; uplink %s%n",
                        toHost.receivedBitsPerSecond() / 1e6, fromHost.receivedBitsPerSecond() / 1e6, uplink);
            } finally {
                keepOpen.close();
                ProcessReaper.terminate(iperfServer.toHandle(), Duration.ofSeconds(2));
                ProcessReaper.terminate(nc.toHandle(), Duration.ofSeconds(2));
            }
        }
    }

    @Test
    @Timeout(value = 5, unit = TimeUnit.MINUTES)
    void shouldCarryJumboFramesAtMtu9000AndRefuseLargerDontFragmentPings(@TempDir Path dir) throws Exception {
        Path vm0 = dir.resolve("vm0.sock");
        Path vm1 = dir.resolve("vm1.sock");
        GuestImage image = GuestImage.get();
        try (JvhostDaemon jvhost = JvhostDaemon.start(WorkersConfig.Model.PER_CPU,
                List.of(JvhostDaemon.server("vm0", vm0, 1).withMtu(9000),
                        JvhostDaemon.server("vm1", vm1, 1).withMtu(9000)));
             QemuGuest peer = QemuGuest.builder("peer", dir).image(image).role(GuestRole.IDLE)
                     .ip("192.0.2.1/24").nic(nic(vm0, 1).withDeviceOption("host_mtu=9000")).start();
             QemuGuest pinger = QemuGuest.builder("pmtu", dir).image(image).role(GuestRole.PMTU)
                     .ip("192.0.2.2/24").peer("192.0.2.1").pmtuSizes(8972, 8973).pingCount(3).pingInterval("0.2")
                     .nic(nic(vm1, 2).withDeviceOption("host_mtu=9000")).start()) {
            pinger.awaitReady(BOOT);
            peer.awaitReady(BOOT);
            // Counted from here: the pinger's first multicast (IPv6 DAD, router solicitation) may reach
            // the peer's RX ring after its driver started the device but before it brought the link up
            // and posted buffers; that drop is real but is not the jumbo path's.
            long dropsBefore = jvhost.queue("vm0", 0).drops();
            for (String name : List.of("vm0", "vm1")) {
                PortStatus p = jvhost.port(name);
                assertTrue(VirtioNetFeatures.has(p.features(), VirtioNetFeatures.MTU), "MTU acked: " + p);
                assertEquals(9000, p.mtu());
            }
            List<PmtuResult> results = pinger.awaitPmtuResults(BOOT);
            assertEquals(new PmtuResult(8972, 3, 3, 0), results.get(0), "9000-byte IP packets with DF");
            PmtuResult tooLarge = results.get(1);
            assertEquals(8973, tooLarge.size());
            assertEquals(0, tooLarge.received(), "9001 bytes with DF: refused");
            assertTrue(tooLarge.exitStatus() != 0, tooLarge.toString());
            assertEquals(0, pinger.awaitDone(Duration.ofSeconds(30)));
            assertEquals(dropsBefore, jvhost.queue("vm0", 0).drops(), "jumbo frames to the peer dropped");
        }
    }

    /** Jumbo frames to the host: a TAP port with {@code mtu: 9000} gives its interface that MTU. */
    @Test
    @Timeout(value = 5, unit = TimeUnit.MINUTES)
    void shouldCarryJumboFramesToTheHostThroughATapPortWithMtu9000(@TempDir Path dir) throws Exception {
        Path vm0 = dir.resolve("vm0.sock");
        String tapName = "jvm" + Long.toHexString(System.nanoTime() & 0xFFFFFF);
        try (NetNamespace host = NetNamespace.create("jvhost-it-mtu");
             JvhostDaemon jvhost = JvhostDaemon.start(WorkersConfig.Model.PER_CPU,
                     List.of(JvhostDaemon.server("vm0", vm0, 1).withMtu(9000),
                             JvhostDaemon.tap("uplink", tapName).withMtu(9000)))) {
            assertTrue(NetNamespace.command("ip", "link", "show", "dev", tapName).contains(" mtu 9000 "),
                    "the TAP interface got the port's MTU");
            host.adopt(tapName, "192.0.2.10/24");
            try (QemuGuest pinger = QemuGuest.builder("pmtu", dir).image(GuestImage.get()).role(GuestRole.PMTU)
                    .ip("192.0.2.1/24").peer("192.0.2.10").pmtuSizes(8972, 8973).pingCount(3).pingInterval("0.2")
                    .nic(nic(vm0, 1).withDeviceOption("host_mtu=9000")).start()) {
                List<PmtuResult> results = pinger.awaitPmtuResults(BOOT);
                assertEquals(new PmtuResult(8972, 3, 3, 0), results.get(0), "9000-byte IP packets to the host");
                assertEquals(0, results.get(1).received());
                assertEquals(0, pinger.awaitDone(Duration.ofSeconds(30)));
            }
        }
    }

    private static String sha256(Path file) throws IOException, NoSuchAlgorithmException {
        MessageDigest digest = MessageDigest.getInstance("SHA-256");
        try (InputStream in = new DigestInputStream(Files.newInputStream(file), digest)) {
            in.transferTo(OutputStream.nullOutputStream());
        }
        return HexFormat.of().formatHex(digest.digest());
    }
}

package io.jvhost.it.qemu;

import io.jvhost.backend.config.PortConfig;
import io.jvhost.backend.config.WorkersConfig;
import io.jvhost.backend.management.PortStatus;
import io.jvhost.backend.protocol.VhostUserSession;
import io.jvhost.it.datapath.LogCapture;
import io.jvhost.it.harness.GuestImage;
import io.jvhost.it.harness.GuestRole;
import io.jvhost.it.harness.IperfResult;
import io.jvhost.it.harness.PingResult;
import io.jvhost.it.harness.QemuGuest;
import io.jvhost.it.harness.Qmp;
import io.jvhost.it.harness.SerialLog;
import io.jvhost.it.harness.VhostUserNic;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Memory hotplug on a running guest (QEMU 7.2, TCG) served by jvhost: DIMMs added through QMP
 * ({@code object-add memory-backend-memfd}, {@code device_add pc-dimm}) reach jvhost as ADD_MEM_REG
 * (CONFIGURE_MEM_SLOTS), one by one, until the table has more regions than SET_MEM_TABLE could carry;
 * the guest has two queue pairs, so QEMU sends every region twice (once per pair's vhost device);
 * the guest onlines them ({@code memhp_default_state=online}) and its kernel, which allocates from
 * the hot-added ZONE_NORMAL before the boot memory's ZONE_DMA32, posts receive buffers there. Then a
 * second guest streams iperf3 into it.
 *
 * <p>Proof that frames landed in the new memory, read from QEMU's own memfds of the DIMMs (as root,
 * through /proc/PID/fd): jvhost writes each received frame into the guest's buffer as a 12-byte
 * virtio-net header followed by the Ethernet header, destination the receiving guest, source the
 * sender. The guest never writes that sequence itself (its own frames have the MACs the other way
 * round, and the copies its stack makes leave the virtio-net header behind), and QEMU does not touch
 * guest memory for a vhost-user device. A DIMM jvhost ignored, mapped at the wrong offset or could not
 * translate into would have no such frame, and its buffers would stop the guest's RX queue. (Without
 * {@code memhp_default_state=online} the guest leaves the DIMMs offline and the count is 0: the
 * pattern does not turn up by chance.)
 *
 * <p>Then jvhost restarts: QEMU reconnects and sends boot memory and DIMMs again as ADD_MEM_REG, and
 * the guest answers a new guest's pings.
 */
class MemoryHotplugTest {

    private static final Duration BOOT = Duration.ofSeconds(120);
    private static final int DIMMS = 9;
    /** virtio_net_hdr_mrg_rxbuf (VERSION_1): flags, gso_type, hdr_len, gso_size, csum_start, csum_offset, num_buffers. */
    private static final int NET_HEADER = 12;
    private static final int DIMM_MIB = 128;
    private static final String SERVER_MAC = "52:54:00:00:00:01";
    private static final String CLIENT_MAC = "52:54:00:00:00:02";
    private static final Pattern ADDED = Pattern.compile(
            "ADD_MEM_REG: mapped region gpa 0x(\\p{XDigit}+) size 0x8000000 .*\\((\\d+) of (\\d+) slots in use\\)");

    @Test
    @Timeout(value = 8, unit = TimeUnit.MINUTES)
    void shouldCarryTrafficIntoBuffersInDimmsAddedAtRuntime(@TempDir Path dir) throws Exception {
        GuestImage image = GuestImage.get();
        Path vm0 = dir.resolve("vm0.sock");
        Path vm1 = dir.resolve("vm1.sock");
        Path qmpPath = dir.resolve("vm0.qmp");
        List<PortConfig> ports = List.of(JvhostDaemon.server("vm0", vm0, 2), JvhostDaemon.server("vm1", vm1, 1));
        JvhostDaemon[] daemon = new JvhostDaemon[1]; // the running one: the test restarts it
        try (LogCapture logs = new LogCapture();
             AutoCloseable stopDaemon = () -> {
                 if (daemon[0] != null) {
                     daemon[0].close();
                 }
             };
             QemuGuest server = QemuGuest.builder("vm0", dir).image(image).smp(2)
                     .memorySlots(DIMMS + 1, 256 + (DIMMS + 1) * DIMM_MIB).qmpSocket(qmpPath)
                     .extraKernelArg("memhp_default_state=online")
                     .role(GuestRole.SERVER).ip("192.0.2.1/24")
                     .nic(VhostUserNic.client(vm0).withReconnect(1).withQueues(2).withMac(SERVER_MAC))
                     .start()) {
            daemon[0] = JvhostDaemon.start(WorkersConfig.Model.PER_CPU, ports);
            // Both queue pairs in use: QEMU has a vhost device per pair, each sending every region.
            SerialLog.LineMatch net = server.awaitNet(BOOT);
            assertEquals("2 2", net.group(2) + " " + net.group(3), "rxq txq");
            server.awaitReady(BOOT);
            List<Long> dimmGpas = new ArrayList<>();
            int slotsInUse = 0;
            try (Qmp qmp = Qmp.connect(qmpPath, Duration.ofSeconds(30))) {
                for (int i = 1; i <= DIMMS; i++) {
                    qmp.execute("object-add", Map.of("qom-type", "memory-backend-memfd", "id", "m" + i,
                            "size", (long) DIMM_MIB << 20, "share", true));
                    qmp.execute("device_add", Map.of("driver", "pc-dimm", "id", "d" + i, "memdev", "m" + i));
                    Matcher added = awaitAdded(logs, dimmGpas);
                    dimmGpas.add(Long.parseUnsignedLong(added.group(1), 16));
                    slotsInUse = Integer.parseInt(added.group(2));
                }
            }
            assertTrue(slotsInUse > 8, "the table has more regions than SET_MEM_TABLE's 8: " + slotsInUse);

            try (QemuGuest client = QemuGuest.builder("vm1", dir).image(image)
                    .role(GuestRole.CLIENT).ip("192.0.2.2/24").peer("192.0.2.1")
                    .pingCount(10).pingInterval("0.2").iperfSeconds(5)
                    .nic(VhostUserNic.client(vm1).withReconnect(1).withMac(CLIENT_MAC))
                    .start()) {
                assertEquals(new PingResult(10, 10), client.awaitPingResult(BOOT));
                IperfResult iperf = client.awaitIperfResult(Duration.ofSeconds(90));
                assertNull(iperf.error(), "iperf3 error");
                assertTrue(iperf.receivedBitsPerSecond() > 0, "iperf3 moved no data");
                assertEquals(0, client.awaitDone(Duration.ofSeconds(30)));
                System.out.printf("memory hotplug: %d DIMMs at gpa %s, %d regions; iperf3 into the guest %.1f Mbit/s%n",
                        DIMMS, dimmGpas.stream().map(Long::toHexString).toList(), slotsInUse,
                        iperf.receivedBitsPerSecond() / 1e6);
            }
            List<Long> framesPerDimm = framesInDimms(server.pid());
            System.out.println("memory hotplug: frames to vm0 found in each DIMM's memfd: " + framesPerDimm);
            assertEquals(DIMMS, framesPerDimm.size(), "QEMU's DIMM memfds");
            assertTrue(framesPerDimm.stream().mapToLong(Long::longValue).sum() > 0,
                    "no frame jvhost delivered to vm0 is in hot-added memory: " + framesPerDimm);
            PortStatus port = daemon[0].port("vm0");
            assertTrue(port.connected(), "vm0 still connected: " + port);
            assertEquals(0, port.errors(), "vm0's queues: " + port);

            // jvhost restarts (an upgrade): QEMU reconnects (reconnect=1) and sends the whole table
            // again, boot memory and every DIMM, as ADD_MEM_REG; a new guest's pings get answers.
            String full = "(" + slotsInUse + " of " + VhostUserSession.MAX_MEM_SLOTS + " slots in use)";
            daemon[0].close();
            daemon[0] = JvhostDaemon.start(WorkersConfig.Model.PER_CPU, ports);
            try (QemuGuest pinger = QemuGuest.builder("vm2", dir).image(image)
                    .role(GuestRole.PING).ip("192.0.2.3/24").peer("192.0.2.1").pingCount(5).pingInterval("0.2")
                    .nic(VhostUserNic.client(vm1).withReconnect(1).withMac("52:54:00:00:00:03"))
                    .start()) {
                assertEquals(new PingResult(5, 5), pinger.awaitPingResult(BOOT));
            }
            assertEquals(2, logs.linesWith(full).size(), "the full table once before the restart, once after: "
                    + logs.linesWith("MEM_REG"));
        }
    }

    /** Waits for the next ADD_MEM_REG of a 128 MiB region whose gpa is not in {@code seen}. */
    private static Matcher awaitAdded(LogCapture logs, List<Long> seen) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (System.nanoTime() < deadline) {
            for (String line : logs.linesWith("ADD_MEM_REG")) {
                Matcher m = ADDED.matcher(line);
                if (m.find() && !seen.contains(Long.parseUnsignedLong(m.group(1), 16))) {
                    return m;
                }
            }
            Thread.sleep(20);
        }
        throw new AssertionError("no ADD_MEM_REG of a new 128 MiB region after " + seen + " within 60 s; logged:\n"
                + String.join("\n", logs.linesWith("ADD_MEM_REG")));
    }

    /**
     * For each of QEMU's DIMM memfds (the 128 MiB ones; guest RAM is 256 MiB), how many frames to
     * the server guest from the client it holds, each as jvhost writes one: a virtio-net header
     * ({@link #isNetHeader}), then destination and source MAC.
     */
    private static List<Long> framesInDimms(long qemuPid) throws IOException {
        byte[] macs = HexFormat.of().parseHex((SERVER_MAC + CLIENT_MAC).replace(":", ""));
        List<Long> counts = new ArrayList<>();
        try (DirectoryStream<Path> fds = Files.newDirectoryStream(Path.of("/proc/" + qemuPid + "/fd"))) {
            for (Path fd : fds) {
                String target;
                try {
                    target = Files.readSymbolicLink(fd).toString();
                } catch (IOException e) {
                    continue; // closed meanwhile
                }
                if (!target.startsWith("/memfd:") || Files.size(fd) != (long) DIMM_MIB << 20) {
                    continue;
                }
                try (FileChannel channel = FileChannel.open(fd, StandardOpenOption.READ)) {
                    counts.add(countFrames(channel.map(FileChannel.MapMode.READ_ONLY, 0, channel.size()), macs));
                }
            }
        }
        return counts;
    }

    private static long countFrames(ByteBuffer memory, byte[] macs) {
        long found = 0;
        int limit = memory.limit() - macs.length;
        for (int i = NET_HEADER; i < limit; i++) {
            if (memory.get(i) == macs[0] && matches(memory, i, macs) && isNetHeader(memory, i - NET_HEADER)) {
                found++;
            }
        }
        return found;
    }

    /**
     * Whether the 12 bytes at {@code at} are a virtio-net header as jvhost hands on the sender's:
     * flags at most NEEDS_CSUM | DATA_VALID; a checksum to complete only for IPv4 TCP or UDP without
     * options (csum_start 34, csum_offset 16 or 6), none otherwise; a GSO type virtio defines;
     * num_buffers 1..64. Stale bytes that merely look like one are practically impossible.
     */
    private static boolean isNetHeader(ByteBuffer memory, int at) {
        int flags = memory.get(at) & 0xff;
        int gsoType = memory.get(at + 1) & 0x7f; // without ECN
        int csumStart = u16(memory, at + 6);
        int csumOffset = u16(memory, at + 8);
        int numBuffers = u16(memory, at + 10);
        boolean checksum = (flags & 1) != 0
                ? csumStart == 34 && (csumOffset == 16 || csumOffset == 6)
                : csumStart == 0 && csumOffset == 0;
        return flags <= 3 && checksum && (gsoType == 0 || gsoType == 1 || gsoType == 3 || gsoType == 4 || gsoType == 5)
                && numBuffers >= 1 && numBuffers <= 64;
    }

    private static int u16(ByteBuffer memory, int at) {
        return (memory.get(at) & 0xff) | (memory.get(at + 1) & 0xff) << 8;
    }

    private static boolean matches(ByteBuffer memory, int at, byte[] bytes) {
        for (int k = 1; k < bytes.length; k++) {
            if (memory.get(at + k) != bytes[k]) {
                return false;
            }
        }
        return true;
    }
}

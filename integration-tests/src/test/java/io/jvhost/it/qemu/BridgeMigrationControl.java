package io.jvhost.it.qemu;

import io.jvhost.it.harness.FileDigest;
import io.jvhost.it.harness.FreePort;
import io.jvhost.it.harness.GuestImage;
import io.jvhost.it.harness.GuestRole;
import io.jvhost.it.harness.MigrationStats;
import io.jvhost.it.harness.NetNamespace;
import io.jvhost.it.harness.Qmp;
import io.jvhost.it.harness.QemuGuest;
import io.jvhost.it.harness.SerialLog;
import io.jvhost.it.harness.TapNic;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.CleanupMode;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The control of {@link GuestLiveMigrationTest}, with no vhost back-end at all: the same guests and
 * migration, on QEMU's own virtio-net over TAP devices in a Linux bridge inside a namespace of the
 * test's. A destination whose RAM differs from the source's at the switch-over here is QEMU's (TCG's)
 * doing, not jvhost's. An investigation's tool, not a CI test: its name is outside Surefire's test
 * patterns, so it runs only when named, {@code mvn -pl integration-tests -am test-compile
 * surefire:test@default-test -Dtest=BridgeMigrationControl -Dsurefire.failIfNoSpecifiedTests=false}
 * (knobs: {@code jvhost.it.migration.startBytes},
 * {@code fileMiB}, {@code fileMiBOfB}, {@code pings}, {@code dumpDir}, as in
 * {@link GuestLiveMigrationTest}). The destination runs on past differing pages: whether it crashes
 * is the point; the test fails on them at its end.
 */
class BridgeMigrationControl {

    private static final Duration BOOT = Duration.ofSeconds(180);
    private static final Pattern SWAP_START = Pattern.compile("^JV-SWAP-START$");
    private static final long START_BYTES = Long.getLong("jvhost.it.migration.startBytes", 1 << 20);
    private static final int FILE_MIB = Integer.getInteger("jvhost.it.migration.fileMiB", 16);
    private static final int PINGS = Integer.getInteger("jvhost.it.migration.pings", 30);
    private static final int FILE_MIB_OF_B = Integer.getInteger("jvhost.it.migration.fileMiBOfB", FILE_MIB);

    /** The destination starts paused; at the switch-over both RAMs are compared, then it runs on. */
    @Test
    @Timeout(value = 10, unit = TimeUnit.MINUTES)
    void shouldMigrateAGuestOnQemusOwnVirtioNetWithIdenticalRam(@TempDir(cleanup = CleanupMode.ON_SUCCESS) Path dir)
            throws Exception {
        GuestImage image = GuestImage.get();
        int migrationPort = FreePort.onLoopback(); // used inside the namespace, where both QEMUs are: free in a new one
        Path sourceQmp = dir.resolve("b-src.qmp");
        Path targetQmp = dir.resolve("b-dst.qmp");
        try (NetNamespace ns = NetNamespace.create("jvhost-it-mig")) {
            String bridge = ns.addBridge(null);
            TapNic sourceTap = ns.addTap(bridge).withMac("52:54:00:00:0b:01");
            try (QemuGuest guestA = swapGuest("a", dir, image, ns, ns.addTap(bridge).withMac("52:54:00:00:0a:01"),
                         "192.0.2.1", "192.0.2.2", FILE_MIB).start();
                 QemuGuest source = swapGuest("b-src", dir, image, ns, sourceTap, "192.0.2.2", "192.0.2.1", FILE_MIB_OF_B)
                         .extraQemuArgs(Qmp.qemuArgs(sourceQmp)).start();
                 QemuGuest target = swapGuest("b-dst", dir, image, ns, ns.addTap(bridge).withMac("52:54:00:00:0b:01"),
                         "192.0.2.2", "192.0.2.1", FILE_MIB_OF_B)
                         .extraQemuArgs("-incoming", "tcp:127.0.0.1:" + migrationPort, "-S")
                         .extraQemuArgs(Qmp.qemuArgs(targetQmp)).start();
                 Qmp qmp = Qmp.connect(sourceQmp, Duration.ofSeconds(30));
                 Qmp qmpTarget = Qmp.connect(targetQmp, Duration.ofSeconds(30))) {
                source.awaitLine(SWAP_START, BOOT);
                long swapStarted = System.nanoTime();
                guestA.awaitLine(SWAP_START, BOOT);
                long bytes;
                while ((bytes = tapTxBytes(ns, sourceTap.ifname())) < START_BYTES) {
                    SerialLog.sleep(Duration.ofMillis(50));
                }
                long started = System.nanoTime();
                qmp.migrate("tcp:127.0.0.1:" + migrationPort, 32L << 20);
                MigrationStats done = qmp.awaitMigration(BOOT);
                System.out.printf("control migration: started %d ms after B's swap began (%d bytes into B), downtime %d ms,"
                                + " %d dirty-bitmap syncs%n", (started - swapStarted) / 1_000_000, bytes,
                        done.downtimeMs(), done.dirtySyncCount());
                qmpTarget.awaitStatus("paused", BOOT);
                List<String> differing = RamComparison.compare(source.pid(), target.pid(),
                        new RamComparison.BackendWrites(List.of(), List.of())).pages();
                System.out.println("control: differing pages at the switch-over: " + differing);
                String dumpDir = System.getProperty("jvhost.it.migration.dumpDir");
                if (dumpDir != null && !differing.isEmpty()) {
                    RamComparison.dumpDiffering(source.pid(), target.pid(), Path.of(dumpDir));
                }
                qmpTarget.execute("cont", Map.of());

                FileDigest sentByA = guestA.awaitSentSha256(BOOT);
                FileDigest receivedByB = target.awaitReceivedSha256(BOOT);
                assertEquals(sentByA, receivedByB, "the file into B, across the migration");
                assertEquals(0, target.awaitDone(BOOT), "B's role on the destination");
                assertEquals(List.of(), differing, "pages of B's RAM that differ at the switch-over");
            }
        }
    }

    private static QemuGuest.Builder swapGuest(String name, Path dir, GuestImage image, NetNamespace ns, TapNic tap,
                                               String ip, String peer, int fileMiB) {
        return QemuGuest.builder(name, dir).image(image).networkNamespace(ns.name())
                .role(GuestRole.FILE_SWAP).ip(ip + "/24").peer(peer)
                .fileSizeMiB(fileMiB).filePaceMicros(30_000)
                .pingCount(PINGS).pingInterval("0.5").peerWaitSeconds(120)
                .nic(tap);
    }

    /** Bytes the TAP passed to its guest ({@code /proc/net/dev} of the namespace: the TAP's transmit). */
    private static long tapTxBytes(NetNamespace ns, String tap) {
        String dev = NetNamespace.command(ns.exec(List.of("cat", "/proc/net/dev")).toArray(String[]::new));
        for (String line : dev.split("\n")) {
            String trimmed = line.trim();
            if (trimmed.startsWith(tap + ":")) {
                String[] f = trimmed.substring(tap.length() + 1).trim().split("\\s+");
                return Long.parseLong(f[8]); // receive: 8 fields, then transmit bytes
            }
        }
        throw new IllegalStateException("no " + tap + " in /proc/net/dev: " + dev);
    }
}

package io.jvhost.it.qemu;

import io.jvhost.backend.config.WorkersConfig;
import io.jvhost.backend.management.PortStatus;
import io.jvhost.backend.switching.MacAddress;
import io.jvhost.it.harness.FileDigest;
import io.jvhost.it.harness.FreePort;
import io.jvhost.it.harness.GuestImage;
import io.jvhost.it.harness.GuestRole;
import io.jvhost.it.harness.MigrationStats;
import io.jvhost.it.harness.PingResult;
import io.jvhost.it.harness.Qmp;
import io.jvhost.it.harness.QemuGuest;
import io.jvhost.it.harness.SerialLog;
import io.jvhost.it.harness.VhostUserNic;
import io.jvhost.virtio.ring.UsedRing;
import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.CleanupMode;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Live migration of a real guest between two jvhost ports (issue 10): guest B runs on port b1 and
 * swaps a 16 MiB random file with guest A (port a) over TCP in both directions, paced so that it lasts
 * well beyond the migration, while both ping each other; meanwhile B moves with the monitor's
 * {@code migrate} to a second QEMU started with {@code -incoming} on port b2 of the same network.
 *
 * <p>What it proves: the migration completes (QEMU would refuse at once without LOG_SHMFD); the file
 * into B arrives whole on the destination, so every RX write jvhost made into B's memory during the
 * migration was logged (a missed page would reach the destination stale and corrupt the copy); B's
 * file out arrives whole; at most one ping of 30 is lost either way; and once B runs on the
 * destination jvhost delivers its traffic to b2 (the switch learned the moved MAC from the guest's
 * announcement at once) and nothing to b1 any more.
 *
 * <p>Knobs for investigations (system properties {@code jvhost.it.migration.*}; unset, the test runs as
 * described): {@code startBytes} migrates both cases only once that much of A's file went into B,
 * {@code fileMiB} and {@code fileMiBOfB} size the files (B done sending gets RX only), {@code pings}
 * keeps the pings going past a late migration, {@code dumpDir} keeps both versions of each differing
 * page, {@code keepGoing} lets the destination run on past differing pages.
 *
 * <p>QEMU 7.2 under TCG loses guest writes by itself: now and then, and on some days in most migrations, a
 * few pages of the guest's own kernel data (kernel stacks, the page allocator's per-CPU lists) reach the
 * destination stale, which may then die of list corruption in {@code rmqueue_bulk}. Its control,
 * {@link BridgeMigrationControl}, shows such pages and the same crash with QEMU's own virtio-net and no vhost
 * back-end at all. The RAM comparison tells those from what a back-end writes
 * ({@link RamComparison.BackendWrites}) and puts them back on the destination before it runs.
 */
class GuestLiveMigrationTest {

    private static final Duration BOOT = Duration.ofSeconds(180);
    private static final Duration MIGRATION = Duration.ofSeconds(180);
    private static final String MAC_A = "52:54:00:00:0a:01";
    private static final String MAC_B = "52:54:00:00:0b:01";
    private static final Pattern SWAP_START = Pattern.compile("^JV-SWAP-START$");
    /** Pings each way, every half second: they must outlast the migration (a knob for late starts). */
    private static final int PINGS = Integer.getInteger("jvhost.it.migration.pings", 30);
    private static final int FILE_MIB = Integer.getInteger("jvhost.it.migration.fileMiB", 16);
    /** Knob: the size of B's own file (A's stays {@link #FILE_MIB}): a B that is done sending gets RX only. */
    private static final int FILE_MIB_OF_B = Integer.getInteger("jvhost.it.migration.fileMiBOfB", FILE_MIB);
    private static final long MIGRATION_BYTES_PER_SECOND = 32L << 20;
    /**
     * Knob for investigations: when set, both cases migrate only once this many bytes of A's file went
     * into B (late in the transfer, with RX into B all through the migration); unset, the usual starts.
     */
    private static final Long START_BYTES = Long.getLong("jvhost.it.migration.startBytes");
    /** Knob: where the differing pages of both RAMs go (investigations), or unset. */
    private static final String DUMP_DIR = System.getProperty("jvhost.it.migration.dumpDir");
    /**
     * Kernel command line words of both guests (comma-separated; knob {@code kernelWords}, empty for none).
     * {@code pti=on}: every kernel entry and exit switches page tables, and without PCID (QEMU's default CPU
     * model has none) each switch flushes the TLB. Without it QEMU lost guest writes in most migrations here
     * (kernel stacks, allocator lists, a user buffer of nc's: 6 of 8 migrations on 2026-12-02), with it none
     * in 10. A guess at why, not checked in QEMU's source: TCG marks a page dirty on the first write through
     * a TLB entry, and an entry that outlives a dirty-bitmap sync lets later writes through unmarked; kernel
     * mappings are global on this CPU model (no PTI on an AMD model), so nothing flushes them.
     */
    private static final String KERNEL_WORDS = System.getProperty("jvhost.it.migration.kernelWords", "pti=on");
    /** Knob: differing pages are printed and the destination runs on anyway (does it crash?). */
    private static final boolean KEEP_GOING = Boolean.getBoolean("jvhost.it.migration.keepGoing");

    @Test
    @Timeout(value = 10, unit = TimeUnit.MINUTES)
    void shouldMigrateAGuestBetweenPortsWhileItSwapsFilesAndKeepsAnswering(@TempDir(cleanup = CleanupMode.ON_SUCCESS) Path dir)
            throws Exception {
        migrate(dir, false);
    }

    /**
     * The direct proof that every write was logged: the destination starts paused ({@code -S}), and
     * at the switch-over its RAM must equal the source's page for page (the source stays stopped after
     * the migration). A page jvhost wrote after QEMU last sent it, without its bit, differs. The pause
     * takes the comparison's time, so pings are not judged here.
     *
     * <p>A differing page that holds only the guest's own kernel data is QEMU's lost write (see the class
     * comment): its source version is written into the destination's RAM before {@code cont}, so that B
     * runs on as the source left it and the file and checksum checks that follow stay jvhost's. A page that
     * holds what a back-end writes (a used ring of B's, frame payload, a frame's header) fails the test,
     * unless it is the first migration's only such finding: B's own CPU copies file payload too (its socket
     * reads, its file), and without {@code pti=on} QEMU lost such a page by itself now and then, so the whole
     * migration runs once more with fresh guests and a second finding fails. A missed log on jvhost's side
     * stales several pages in a migration (with {@code RxFrameWriter}'s logging removed: 3 pages with frame
     * headers in the first).
     */
    @Test
    @Timeout(value = 16, unit = TimeUnit.MINUTES)
    void shouldLeaveTheDestinationsRamIdenticalToTheSourcesAtTheSwitchOver(
            @TempDir(cleanup = CleanupMode.ON_SUCCESS) Path dir) throws Exception {
        try {
            migrate(dir.resolve("1"), true);
        } catch (StaleBackendLikePage e) {
            if (e.count > 1) {
                throw e;
            }
            System.out.println("one page like a back-end's write stale, migrating again with fresh guests: "
                    + e.getMessage());
            migrate(dir.resolve("2"), true);
        }
    }

    /** Pages of B's RAM that hold what a back-end writes differed at the switch-over. */
    private static final class StaleBackendLikePage extends AssertionError {
        final int count;

        StaleBackendLikePage(List<String> pages, int count) {
            super("pages of B's RAM that the destination got stale, with what a back-end writes in them: " + pages);
            this.count = count;
        }
    }

    private static void migrate(Path dir, boolean compareRam) throws Exception {
        Files.createDirectories(dir);
        GuestImage image = GuestImage.get();
        Path a = dir.resolve("a.sock");
        Path b1 = dir.resolve("b1.sock");
        Path b2 = dir.resolve("b2.sock");
        Path sourceQmp = dir.resolve("b-src.qmp");
        Path targetQmp = dir.resolve("b-dst.qmp");
        int migrationPort = FreePort.onLoopback();
        try (JvhostDaemon jvhost = JvhostDaemon.start(WorkersConfig.Model.PER_CPU, List.of(
                     JvhostDaemon.server("a", a, 1), JvhostDaemon.server("b1", b1, 1), JvhostDaemon.server("b2", b2, 1)));
             QemuGuest guestA = swapGuest("a", dir, image, a, MAC_A, "192.0.2.1", "192.0.2.2", FILE_MIB).start();
             QemuGuest source = swapGuest("b-src", dir, image, b1, MAC_B, "192.0.2.2", "192.0.2.1", FILE_MIB_OF_B)
                     .extraQemuArgs(Qmp.qemuArgs(sourceQmp)).start();
             // The destination: the same machine and device, waiting for the incoming state.
             QemuGuest target = swapGuest("b-dst", dir, image, b2, MAC_B, "192.0.2.2", "192.0.2.1", FILE_MIB_OF_B)
                     .extraQemuArgs("-incoming", "tcp:127.0.0.1:" + migrationPort)
                     .extraQemuArgs(compareRam ? new String[] {"-S"} : new String[0])
                     .extraQemuArgs(Qmp.qemuArgs(targetQmp)).start();
             Qmp qmp = Qmp.connect(sourceQmp, Duration.ofSeconds(30));
             Qmp qmpTarget = Qmp.connect(targetQmp, Duration.ofSeconds(30))) {
            long swapStarted;
            if (START_BYTES != null) {
                source.awaitLine(SWAP_START, BOOT);
                swapStarted = System.nanoTime();
                guestA.awaitLine(SWAP_START, BOOT);
                awaitBytesInto(jvhost, "b1", START_BYTES);
            } else if (compareRam) {
                // Early, while little comes in: B's RX buffers then wait in its ring from before QEMU first
                // sent their pages until jvhost fills them, and only the log brings those pages again.
                source.awaitReady(BOOT);
                swapStarted = System.nanoTime();
            } else {
                source.awaitLine(SWAP_START, BOOT);
                swapStarted = System.nanoTime();
                guestA.awaitLine(SWAP_START, BOOT);
                // Migrate while A's file streams into B, slowly enough that jvhost keeps writing into B's
                // memory through several dirty-bitmap passes (unthrottled, 256 MiB go over in about a second).
                awaitBytesInto(jvhost, "b1", 1 << 20);
            }
            awaitConnected(jvhost, "b2");
            long bytesBefore = jvhost.port("b1").txBytes();
            long started = System.nanoTime();
            qmp.migrate("tcp:127.0.0.1:" + migrationPort, MIGRATION_BYTES_PER_SECOND);
            MigrationStats done = qmp.awaitMigration(MIGRATION);
            System.out.printf("migration: started %d ms after B's swap began (%d bytes into B by then), done after %d ms%n",
                    (started - swapStarted) / 1_000_000, bytesBefore, (System.nanoTime() - started) / 1_000_000);
            assertTrue(!source.printed(PingResult.MARKER), "B's pings ended before the migration; it must overlap them");
            if (compareRam) {
                qmpTarget.awaitStatus("paused", MIGRATION);
                RamComparison.Differences differences = RamComparison.compare(source.pid(), target.pid(),
                        new RamComparison.BackendWrites(usedRings(qmp), List.of(MacAddress.parse(MAC_A))));
                System.out.println("differing pages at the switch-over: " + differences.pages());
                if (DUMP_DIR != null && differences.count() > 0) {
                    RamComparison.dumpDiffering(source.pid(), target.pid(), Path.of(DUMP_DIR));
                }
                if (!KEEP_GOING) {
                    if (!differences.backendLike().isEmpty()) {
                        throw new StaleBackendLikePage(differences.backendLike(), differences.backendLikeCount());
                    }
                    if (differences.count() > 0) {
                        RamComparison.restore(source.pid(), target.pid(), differences);
                        System.out.println("QEMU lost " + differences.count() + " pages of B's kernel data by itself;"
                                + " restored on the destination");
                    }
                }
                qmpTarget.execute("cont", Map.of());
            }
            PortStatus b1AtMove = jvhost.port("b1");
            PortStatus b2AtMove = jvhost.port("b2");
            assertTrue((b1AtMove.features() & (1L << 26)) != 0, "the source acked VHOST_F_LOG_ALL: " + b1AtMove);
            System.out.printf("live migration through jvhost: downtime %d ms, total %d ms, %d MiB transferred,"
                            + " %d dirty-bitmap syncs, dirty rate %d pages/s%n", done.downtimeMs(), done.totalTimeMs(),
                    done.transferredBytes() >> 20, done.dirtySyncCount(), done.dirtyPagesRate());

            // B goes on on the destination: its markers from now on are in the destination's console.
            FileDigest sentByA = guestA.awaitSentSha256(BOOT);
            FileDigest sentByB = source.printed(FileDigest.SENT)
                    ? source.awaitSentSha256(BOOT) : target.awaitSentSha256(MIGRATION);
            FileDigest receivedByB = target.awaitReceivedSha256(MIGRATION);
            FileDigest receivedByA = guestA.awaitReceivedSha256(MIGRATION);
            assertEquals(sentByA, receivedByB, "the file into B, across the migration (RX writes logged)");
            assertEquals(sentByB, receivedByA, "the file out of B, across the migration");
            PingResult pingsOfB = target.awaitPingResult(MIGRATION);
            PingResult pingsOfA = guestA.awaitPingResult(MIGRATION);
            System.out.printf("pings across the migration: B->A %s, A->B %s%n", pingsOfB, pingsOfA);
            assertEquals(PINGS, pingsOfB.transmitted());
            assertEquals(PINGS, pingsOfA.transmitted());
            if (!compareRam) {
                assertTrue(pingsOfB.received() >= PINGS - 1, "B's pings of A: at most one lost: " + pingsOfB);
                assertTrue(pingsOfA.received() >= PINGS - 1, "A's pings of B: at most one lost: " + pingsOfA);
            }
            // A stale RX buffer (its page not logged) that reached the guest fails TCP's checksum.
            assertEquals(0, target.awaitSnmpCsumErrors(MIGRATION).tcpInCsumErrors(), "TCP checksum errors in B");
            assertEquals(0, target.awaitDone(MIGRATION), "B's role on the destination");
            assertEquals(0, guestA.awaitDone(MIGRATION), "A's role");

            PortStatus b1End = jvhost.port("b1");
            PortStatus b2End = jvhost.port("b2");
            System.out.printf("b1 at the move %s%nb1 at the end %s%nb2 at the move %s%nb2 at the end %s%n",
                    b1AtMove, b1End, b2AtMove, b2End);
            assertEquals(b1AtMove.txPackets(), b1End.txPackets(), "nothing delivered to the old port after the move");
            assertEquals(b1AtMove.rxPackets(), b1End.rxPackets(), "nothing sent from the old port after the move");
            assertTrue(b2End.txBytes() - b2AtMove.txBytes() > 64 * 1024,
                    "A's file went on into B through the new port: " + b2AtMove + " -> " + b2End);
            assertTrue(FILE_MIB_OF_B < FILE_MIB || b2End.rxBytes() - b2AtMove.rxBytes() > 64 * 1024,
                    "B's file went on from the new port: " + b2AtMove + " -> " + b2End);
            assertTrue(b1End.txBytes() + b2End.txBytes() >= (long) FILE_MIB << 20, "A's file reached B in all");
            assertEquals(0, b1End.errors() + b2End.errors() + jvhost.port("a").errors(), "queue errors");
        }
    }

    /** B's used rings, as the source QEMU has them ({@code x-query-virtio-queue-status}): {gpa, length} each. */
    private static List<long[]> usedRings(Qmp qmp) {
        List<long[]> rings = new ArrayList<>();
        for (JsonNode device : qmp.execute("x-query-virtio", Map.of())) {
            String path = device.path("path").asText();
            for (int queue = 0; queue < 2; queue++) {
                JsonNode status = qmp.execute("x-query-virtio-queue-status", Map.of("path", path, "queue", queue));
                long used = status.path("vring-used").asLong();
                int num = status.path("vring-num").asInt();
                rings.add(new long[] {used, UsedRing.byteSize(num)});
            }
        }
        if (rings.isEmpty() || rings.stream().anyMatch(r -> r[0] == 0)) {
            throw new AssertionError("the source QEMU shows no used ring for B: " + rings.size() + " queues");
        }
        return rings;
    }


    /** A guest on {@code socket} that swaps files with {@code peer} and pings it {@link #PINGS} times. */
    private static QemuGuest.Builder swapGuest(String name, Path dir, GuestImage image, Path socket, String mac,
                                               String ip, String peer, int fileMiB) {
        QemuGuest.Builder b = QemuGuest.builder(name, dir).image(image);
        for (String word : KERNEL_WORDS.split(",")) {
            if (!word.isEmpty()) {
                b.extraKernelArg(word);
            }
        }
        return b
                .role(GuestRole.FILE_SWAP).ip(ip + "/24").peer(peer)
                .fileSizeMiB(fileMiB).filePaceMicros(30_000)
                .pingCount(PINGS).pingInterval("0.5").peerWaitSeconds(120)
                .nic(VhostUserNic.client(socket).withReconnect(1).withMac(mac));
    }

    /** Waits until jvhost delivered {@code bytes} to the guest on {@code port}. */
    private static void awaitBytesInto(JvhostDaemon jvhost, String port, long bytes) {
        long deadline = System.nanoTime() + BOOT.toNanos();
        while (jvhost.port(port).txBytes() < bytes) {
            if (System.nanoTime() - deadline > 0) {
                throw new AssertionError("port " + port + " got too little: " + jvhost.port(port));
            }
            SerialLog.sleep(Duration.ofMillis(20));
        }
    }

    private static void awaitConnected(JvhostDaemon jvhost, String port) {
        long deadline = System.nanoTime() + BOOT.toNanos();
        while (!jvhost.port(port).connected()) {
            if (System.nanoTime() - deadline > 0) {
                throw new AssertionError("port " + port + " never connected: " + jvhost.port(port));
            }
            SerialLog.sleep(Duration.ofMillis(50));
        }
    }
}

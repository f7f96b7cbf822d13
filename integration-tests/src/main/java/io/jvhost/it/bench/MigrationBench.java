package io.jvhost.it.bench;

import io.jvhost.it.harness.FreePort;
import io.jvhost.it.harness.GuestImage;
import io.jvhost.it.harness.GuestRole;
import io.jvhost.it.harness.MigrationStats;
import io.jvhost.it.harness.PingResult;
import io.jvhost.it.harness.QemuGuest;
import io.jvhost.it.harness.Qmp;
import io.jvhost.it.harness.SerialLog;
import io.jvhost.it.harness.VhostUserNic;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * Case 6, live migration (issue 10): guest B (TCG, 1 vCPU, 256 MiB memfd) on the backend's port 1
 * moves with QMP {@code migrate} to a second QEMU started with {@code -incoming tcp:127.0.0.1:PORT},
 * whose NIC is on port 2; QEMU's {@code query-migrate} gives the downtime, the total time, the bytes
 * sent and the dirty-bitmap syncs (each sync collects the backend's dirty log too).
 * <ul>
 *   <li>{@link Row#IDLE}: B only configures eth0 and sleeps; two ports.</li>
 *   <li>{@link Row#PING}: B pings guest A (port 0) through the backend during the migration; the ping
 *       result, printed by B on the destination, counts the echo requests lost across the switch-over.
 *       testpmd pairs its ports (0-1, 2-3, ...) and has no MAC learning, so a B moved to a third port could
 *       not reach A: with testpmd the destination connects to B's own {@code net_vhost} socket instead
 *       (DPDK's vhost-user server takes a second connection; the port's device changes at the switch-over).</li>
 * </ul>
 * The migration runs at {@link #MAX_BANDWIDTH} (QEMU 7.2's default, set explicitly so both backends and
 * other QEMU versions see the same) with QEMU's default downtime limit of 300 ms.
 *
 * <p>Thread safety: one bench thread.
 */
final class MigrationBench {

    /** Bytes per second: QEMU 7.2's default {@code max-bandwidth}, as GuestLiveMigrationTest uses. */
    static final long MAX_BANDWIDTH = 32L << 20;
    private static final Duration BOOT = Duration.ofSeconds(180);
    private static final Duration MIGRATION = Duration.ofSeconds(120);
    /** After B's pinging began, so that pings go out before, during and after the migration. */
    private static final Duration PING_LEAD = Duration.ofSeconds(1);
    private static final String MAC_A = "52:54:00:00:0a:01";
    private static final String MAC_B = "52:54:00:00:0b:01";

    /** The rows of the case's table. */
    enum Row {
        IDLE("idle"), PING("ping");

        private final String param;

        Row(String param) {
            this.param = param;
        }

        /** The {@code param} of its samples in runs.csv. */
        String param() {
            return param;
        }
    }

    /**
     * One migration.
     *
     * @param pings the ping result of B across the migration; null for {@link Row#IDLE}
     */
    record Result(MigrationStats stats, PingResult pings) {
    }

    private final BenchEnv env;
    private final GuestImage image;

    MigrationBench(BenchEnv env, GuestImage image) {
        this.env = env;
        this.image = image;
    }

    /** With testpmd, the destination of {@link Row#PING} shares the source's socket (see the class comment). */
    static boolean sharesSocket(Backend backend, Row row) {
        return row == Row.PING && !backend.isJvhost();
    }

    /**
     * Boots B (and for {@link Row#PING} A), migrates B and returns QEMU's numbers.
     *
     * @param pings     {@link Row#PING}: echo requests B sends, every {@code interval} seconds
     * @throws IllegalStateException when QEMU refuses or fails the migration (its {@code error-desc} in
     *                               the message), or the pings ended before the migration did
     */
    Result measure(Backend backend, Row row, int pings, String interval) {
        String name = env.nextName("migration-" + row.param() + "-" + backend.tag());
        List<Path> sockets = new ArrayList<>();
        if (row == Row.PING) {
            sockets.add(env.socketDir().resolve(name + "-a.sock"));
        }
        Path sourceSocket = env.socketDir().resolve(name + "-b1.sock");
        sockets.add(sourceSocket);
        Path targetSocket = sourceSocket;
        if (!sharesSocket(backend, row)) {
            targetSocket = env.socketDir().resolve(name + "-b2.sock");
            sockets.add(targetSocket);
        }
        GuestRole roleOfB = row == Row.PING ? GuestRole.PING : GuestRole.IDLE;
        Path sourceQmp = env.socketDir().resolve(name + "-src.qmp");
        Path targetQmp = env.socketDir().resolve(name + "-dst.qmp");
        int migrationPort = FreePort.onLoopback();
        try (Backends.Running running = Backends.forGuests(env, backend, name, sockets);
             QemuGuest guestA = row == Row.PING ? guest(name + "-a", GuestRole.IDLE, "192.0.2.1", sockets.getFirst(),
                     MAC_A).start() : null;
             QemuGuest source = guest(name + "-src", roleOfB, "192.0.2.2", sourceSocket, MAC_B)
                     .pingCount(pings).pingInterval(interval)
                     .extraQemuArgs(Qmp.qemuArgs(sourceQmp)).start();
             // The same machine and device, waiting for the incoming state.
             QemuGuest target = guest(name + "-dst", roleOfB, "192.0.2.2", targetSocket, MAC_B)
                     .pingCount(pings).pingInterval(interval)
                     .extraQemuArgs("-incoming", "tcp:127.0.0.1:" + migrationPort)
                     .extraQemuArgs(Qmp.qemuArgs(targetQmp)).start();
             Qmp qmp = Qmp.connect(sourceQmp, Duration.ofSeconds(30));
             Qmp qmpTarget = Qmp.connect(targetQmp, Duration.ofSeconds(30))) {
            env.remember("migration, " + backend.label() + " backend", running.commandLine());
            env.remember("migration, QEMU source guest", source.commandLine());
            env.remember("migration, QEMU destination guest", target.commandLine());
            if (row == Row.PING) {
                guestA.awaitReady(BOOT);
                source.awaitLine(QemuGuest.PEER_UP, BOOT);
                SerialLog.sleep(PING_LEAD);
            } else {
                source.awaitReady(BOOT);
            }
            // QEMU answers QMP commands only once its main loop runs, after its vhost-user NIC connected.
            qmpTarget.awaitStatus("inmigrate", BOOT);
            qmp.migrate("tcp:127.0.0.1:" + migrationPort, MAX_BANDWIDTH);
            MigrationStats stats = qmp.awaitMigration(MIGRATION);
            PingResult pingResult = null;
            if (row == Row.PING) {
                if (source.printed(PingResult.MARKER)) {
                    throw new IllegalStateException("B's pings ended before the migration completed (" + stats.totalTimeMs()
                            + " ms); more pings needed: " + source.serial().tail(5));
                }
                pingResult = target.awaitPingResult(Duration.ofSeconds(60L + pings * 3L));
            } else {
                qmpTarget.awaitStatus("running", Duration.ofSeconds(30));
            }
            running.saveCounters(env.logDir().resolve(name + "-counters.json"));
            return new Result(stats, pingResult);
        } finally {
            for (Path s : sockets) {
                GuestBench.deleteQuietly(s);
            }
        }
    }

    private QemuGuest.Builder guest(String guestName, GuestRole role, String ip, Path socket, String mac) {
        return QemuGuest.builder(guestName, env.logDir()).image(image).role(role).ip(ip + "/24")
                .peer("192.0.2.1").peerWaitSeconds(120)
                .nic(VhostUserNic.client(socket).withReconnect(1).withMac(mac));
    }
}

package io.jvhost.it.qemu;

import io.jvhost.backend.cli.Main;
import io.jvhost.backend.config.WorkersConfig;
import io.jvhost.it.harness.GuestImage;
import io.jvhost.it.harness.GuestRole;
import io.jvhost.it.harness.PingResult;
import io.jvhost.it.harness.QemuGuest;
import io.jvhost.it.harness.VhostUserNic;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Issue 11's acceptance with real guests (QEMU, TCG): while guest B pings guest A, port c is added
 * with {@code jvhost port add}, a third guest on c pings A, c is deleted with {@code jvhost port del},
 * and B loses no ping; {@code port list} no longer shows c. A port d added at runtime is back after the
 * daemon restarts, and a guest on it pings A.
 */
class RuntimePortGuestTest {

    private static final Duration BOOT_AND_PING = Duration.ofSeconds(180);
    /** B pings long enough (at 0.2 s) to outlast C's boot, pings and deletion on a loaded host. */
    private static final int B_PINGS = 900;

    @Test
    @Timeout(value = 10, unit = TimeUnit.MINUTES)
    void shouldAddAndDeleteAGuestsPortWhileAnotherGuestPingsWithoutLoss(@TempDir Path dir) throws Exception {
        GuestImage image = GuestImage.get();
        Path a = dir.resolve("a.sock");
        Path b = dir.resolve("b.sock");
        Path c = dir.resolve("c.sock");
        Path d = dir.resolve("d.sock");
        try (JvhostDaemon jvhost = daemon(a, b);
             var control = jvhost.startControl();
             QemuGuest guestA = guestA("a", dir, image, a);
             QemuGuest guestB = QemuGuest.builder("b", dir).image(image)
                     .role(GuestRole.PING).ip("192.0.2.2/24").peer("192.0.2.1")
                     .pingCount(B_PINGS).pingInterval("0.2")
                     .nic(VhostUserNic.client(b).withReconnect(1).withMac("52:54:00:00:00:02"))
                     .start()) {
            guestA.awaitReady(BOOT_AND_PING);
            awaitPackets(jvhost, "b", 10, "B pinging A");

            assertEquals(Main.EXIT_OK, cli(jvhost, "port", "add", "c", "--socket", c.toString()).status);
            try (QemuGuest guestC = QemuGuest.builder("c", dir).image(image)
                    .role(GuestRole.PING).ip("192.0.2.3/24").peer("192.0.2.1").pingCount(10).pingInterval("0.2")
                    .nic(VhostUserNic.client(c).withReconnect(1).withMac("52:54:00:00:00:03"))
                    .start()) {
                assertEquals(new PingResult(10, 10), guestC.awaitPingResult(BOOT_AND_PING));
                assertEquals(Main.EXIT_OK, cli(jvhost, "port", "del", "c").status);
            }
            assertFalse(Files.exists(c), "c's socket removed");
            Cli list = cli(jvhost, "port", "list");
            assertEquals(Main.EXIT_OK, list.status);
            assertFalse(list.out.lines().anyMatch(l -> l.startsWith("c ")), list.out);
            // B still pings after c is gone: the change happened while it pinged.
            long before = jvhost.port("b").rxPackets();
            awaitPackets(jvhost, "b", before + 5, "B pinging on after c's deletion");

            assertEquals(new PingResult(B_PINGS, B_PINGS), guestB.awaitPingResult(Duration.ofSeconds(B_PINGS / 5 + 180)));
            assertTrue(jvhost.view().ports().stream().noneMatch(p -> p.name().equals("c")));
            assertEquals(Main.EXIT_OK, cli(jvhost, "port", "add", "d", "--socket", d.toString()).status);
        }

        // The daemon restarts with the same config: d, added at runtime, is back (the state file beside
        // the control socket), and a guest on it pings A, whose QEMU reconnected to the new daemon.
        try (JvhostDaemon jvhost = daemon(a, b);
             var control = jvhost.startControl();
             QemuGuest guestA = guestA("a2", dir, image, a);
             QemuGuest guestD = QemuGuest.builder("d", dir).image(image)
                     .role(GuestRole.PING).ip("192.0.2.4/24").peer("192.0.2.1").pingCount(10).pingInterval("0.2")
                     .nic(VhostUserNic.client(d).withReconnect(1).withMac("52:54:00:00:00:04"))
                     .start()) {
            Cli list = cli(jvhost, "port", "list");
            assertTrue(list.out.lines().anyMatch(l -> l.startsWith("d ")), "d restored after the restart: " + list.out);
            guestA.awaitReady(BOOT_AND_PING);
            assertEquals(new PingResult(10, 10), guestD.awaitPingResult(BOOT_AND_PING));
            assertEquals(Main.EXIT_OK, cli(jvhost, "port", "del", "d").status);
        }
    }

    /** The daemon of this test: ports a and b from its config (runtime ports come from the state file). */
    private static JvhostDaemon daemon(Path a, Path b) throws Exception {
        return JvhostDaemon.start(WorkersConfig.Model.PER_CPU,
                List.of(JvhostDaemon.server("a", a, 1), JvhostDaemon.server("b", b, 1)));
    }

    /** Guest A, which everyone pings. */
    private static QemuGuest guestA(String name, Path dir, GuestImage image, Path socket) throws Exception {
        return QemuGuest.builder(name, dir).image(image).role(GuestRole.SERVER).ip("192.0.2.1/24")
                .nic(VhostUserNic.client(socket).withReconnect(1).withMac("52:54:00:00:00:01")).start();
    }

    private record Cli(int status, String out) {
    }

    private static Cli cli(JvhostDaemon jvhost, String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        String[] line = new String[args.length + 2];
        line[0] = "--control";
        line[1] = jvhost.controlSocket().toString();
        System.arraycopy(args, 0, line, 2, args.length);
        int status = Main.run(line, config -> {
            throw new AssertionError("a control command starts no daemon");
        }, () -> { }, new PrintStream(out, true, StandardCharsets.UTF_8), new PrintStream(err, true, StandardCharsets.UTF_8));
        System.err.print(err.toString(StandardCharsets.UTF_8));
        return new Cli(status, out.toString(StandardCharsets.UTF_8));
    }

    private static void awaitPackets(JvhostDaemon jvhost, String port, long atLeast, String what) throws InterruptedException {
        long deadline = System.nanoTime() + BOOT_AND_PING.toNanos();
        while (jvhost.port(port).rxPackets() < atLeast) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError(what + ": " + port + " sent " + jvhost.port(port).rxPackets() + " frames, not "
                        + atLeast + " within " + BOOT_AND_PING);
            }
            Thread.sleep(100);
        }
    }
}

package io.jvhost.it.datapath;

import io.jvhost.backend.testing.Resources;
import io.jvhost.backend.cli.Main;
import io.jvhost.backend.management.PortStatus;
import io.jvhost.it.datapath.InProcessJvhost.Port;
import io.jvhost.it.frontend.VhostUserFrontend;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static io.jvhost.it.datapath.Frames.BROADCAST;
import static io.jvhost.it.datapath.Frames.TIMEOUT;
import static io.jvhost.it.datapath.Frames.assertFrames;
import static io.jvhost.it.datapath.Frames.frame;
import static io.jvhost.it.datapath.Frames.mac;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code jvhost [--control PATH] port add|del|list} against a running daemon's control socket: the
 * command line's exit status and output, the daemon's messages for rejected ports.
 */
class ControlCliTest {

    @TempDir
    Path dir;

    private final Resources resources = new Resources();
    private final ByteArrayOutputStream out = new ByteArrayOutputStream();
    private final ByteArrayOutputStream err = new ByteArrayOutputStream();
    private InProcessJvhost jvhost;

    @AfterEach
    void closeAll() throws Exception {
        resources.close();
    }

    private int jvhost(String... args) {
        out.reset();
        err.reset();
        String[] line = new String[args.length + 2];
        line[0] = "--control";
        line[1] = jvhost.controlSocket().toString();
        System.arraycopy(args, 0, line, 2, args.length);
        return Main.run(line, config -> {
            throw new AssertionError("a control command starts no daemon");
        }, () -> { }, new PrintStream(out, true, StandardCharsets.UTF_8), new PrintStream(err, true, StandardCharsets.UTF_8));
    }

    private String out() {
        return out.toString(StandardCharsets.UTF_8);
    }

    private String err() {
        return err.toString(StandardCharsets.UTF_8);
    }

    @Test
    void shouldAddListAndDeleteAPortThatForwardsMeanwhile() throws Exception {
        jvhost = resources.track(InProcessJvhost.start(dir, new Port("a", "default")));
        resources.track(jvhost.startControl(null));
        VhostUserFrontend a = resources.track(VhostUserFrontend.connect(jvhost.socket("a")));

        assertEquals(Main.EXIT_OK, jvhost("port", "add", "c", "--socket", jvhost.socket("c").toString(), "--queues", "1"));
        assertEquals("port c added\n", out());
        assertEquals("", err());
        VhostUserFrontend c = resources.track(VhostUserFrontend.connect(jvhost.socket("c")));
        jvhost.awaitPort("c", PortStatus::connected, "connected");
        byte[] ping = frame(BROADCAST, mac(0xc), 1, 100);
        c.send(ping);
        assertFrames(List.of(ping), a.receive(TIMEOUT), "a");

        assertEquals(Main.EXIT_OK, jvhost("port", "list"));
        List<String> lines = out().lines().toList();
        assertEquals(3, lines.size(), out());
        assertTrue(lines.get(0).startsWith("NAME  KIND        NETWORK  CONNECTED"), out());
        assertTrue(lines.get(2).startsWith("c     vhost-user  default  yes"), out());
        assertTrue(lines.get(2).endsWith("server " + jvhost.socket("c")), out());

        assertEquals(Main.EXIT_OK, jvhost("status"));
        assertTrue(out().startsWith("workers:\nCPU  SOCKET  BUSY"), out());
        assertTrue(out().lines().anyMatch(l -> l.matches("c +1 +tx +[01] +.*")), out());

        assertEquals(Main.EXIT_OK, jvhost("port", "del", "c"));
        assertEquals("port c deleted\n", out());
        assertTrue(c.awaitClosedByBackend(TIMEOUT));
        assertFalse(Files.exists(jvhost.socket("c")));
        assertEquals(Main.EXIT_OK, jvhost("port", "list"));
        assertFalse(out().contains("\nc "), out());
    }

    @Test
    void shouldReloadAndSayWhatChanged() throws Exception {
        jvhost = resources.track(InProcessJvhost.start(dir, new Port("a", "default")));
        resources.track(jvhost.startControl(null));
        jvhost.rewriteConfig(new Port("a", "default"), new Port("b", "default"));

        assertEquals(Main.EXIT_OK, jvhost("reload"));

        assertEquals("added: b\nremoved: -\nchanged: -\n", out());
        assertTrue(Files.exists(jvhost.socket("b")));
    }

    @Test
    void shouldExitTwoWithTheDaemonsMessageForARejectedPort() throws Exception {
        jvhost = resources.track(InProcessJvhost.start(dir, new Port("a", "default")));
        resources.track(jvhost.startControl(null));

        assertEquals(Main.EXIT_USAGE, jvhost("port", "add", "c", "--socket", "c.sock", "--queues", "17"));
        assertEquals("jvhost: POST /api/ports: queues: expected an integer from 1 to 16, got 17\n", err());
        assertEquals(Main.EXIT_USAGE, jvhost("port", "add", "c", "--socket", "c.sock", "--mode", "listen"));
        assertEquals("jvhost: POST /api/ports: mode: expected 'server' or 'client', got 'listen'\n", err());
        assertEquals(Main.EXIT_USAGE, jvhost("port", "add", "a", "--tap", "jv9"));
        assertEquals("jvhost: POST /api/ports: name: duplicate port name 'a' (also port a)\n", err());
        assertEquals(Main.EXIT_USAGE, jvhost("port", "del", "nope"));
        assertEquals("jvhost: no such port: nope\n", err());
        assertEquals("", out());
    }

    @Test
    void shouldExitOneWhenTheDaemonIsGone() throws Exception {
        jvhost = resources.track(InProcessJvhost.start(dir, new Port("a", "default")));
        jvhost.startControl(null).close();

        assertEquals(Main.EXIT_FAILURE, jvhost("port", "list"));
        assertTrue(err().startsWith("jvhost: cannot reach the daemon at " + jvhost.controlSocket() + ": "), err());
    }
}

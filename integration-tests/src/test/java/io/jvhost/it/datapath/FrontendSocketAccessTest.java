package io.jvhost.it.datapath;

import io.jvhost.backend.testing.Resources;
import io.jvhost.backend.linux.SocketAccess;
import io.jvhost.backend.management.PortStatus;
import io.jvhost.it.datapath.InProcessJvhost.Port;
import io.jvhost.it.frontend.VhostUserFrontend;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
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
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * {@code socket-mode}, {@code socket-group} and {@code allowed-uids} through the daemon: the socket
 * files get the mode and group, a peer outside a port's allowed uids is closed before its first
 * message, and the ports it may use forward as before.
 */
class FrontendSocketAccessTest {

    @TempDir
    Path dir;

    @RegisterExtension
    final Resources resources = new Resources();

    @Test
    void shouldApplyModeAndGroupAndRefuseUidsOutsideAllowedUids() throws Exception {
        long uid = ((Integer) Files.getAttribute(Path.of("/proc/self"), "unix:uid")).longValue();
        int ownGid = (Integer) Files.getAttribute(dir, "unix:gid");
        String[] group = Files.readAllLines(Path.of("/etc/group")).stream().map(line -> line.split(":"))
                .filter(f -> f.length > 2 && !f[2].equals(String.valueOf(ownGid))).findFirst().orElseThrow();
        InProcessJvhost jvhost = resources.track(InProcessJvhost.start(dir,
                new Port("a", "lan").withAccess(new SocketAccess(0660, group[0], List.of(uid))),
                new Port("b", "lan"),
                new Port("c", "lan").withAccess(new SocketAccess(0666, null, List.of(uid + 1)))));

        assertEquals(0660, (Integer) Files.getAttribute(jvhost.socket("a"), "unix:mode") & 0777);
        assertEquals(Integer.parseInt(group[2]), (Integer) Files.getAttribute(jvhost.socket("a"), "unix:gid"));
        assertEquals(0666, (Integer) Files.getAttribute(jvhost.socket("c"), "unix:mode") & 0777);

        // Our uid is not c's: the handshake's first reply never comes, and c stays unconnected.
        assertThrows(IOException.class, () -> VhostUserFrontend.connect(jvhost.socket("c")).close());
        assertFalse(jvhost.port("c").connected());

        VhostUserFrontend a = resources.track(VhostUserFrontend.connect(jvhost.socket("a")));
        VhostUserFrontend b = resources.track(VhostUserFrontend.connect(jvhost.socket("b")));
        jvhost.awaitPort("a", PortStatus::connected, "connected");
        byte[] out = frame(BROADCAST, mac(0xa), 1, 200);
        a.send(out);
        assertFrames(List.of(out), b.receive(TIMEOUT), "b");
        byte[] back = frame(mac(0xa), mac(0xb), 2, 300);
        b.send(back);
        assertFrames(List.of(back), a.receive(TIMEOUT), "a");
        assertFalse(jvhost.port("c").connected(), "c never connected");
    }
}

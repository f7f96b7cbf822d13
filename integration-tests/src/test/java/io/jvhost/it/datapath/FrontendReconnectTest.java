package io.jvhost.it.datapath;

import io.jvhost.backend.testing.Resources;
import io.jvhost.backend.management.PortStatus;
import io.jvhost.it.datapath.InProcessJvhost.Port;
import io.jvhost.it.frontend.VhostUserFrontend;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

import static io.jvhost.it.datapath.Frames.BROADCAST;
import static io.jvhost.it.datapath.Frames.TIMEOUT;
import static io.jvhost.it.datapath.Frames.assertFrames;
import static io.jvhost.it.datapath.Frames.frame;
import static io.jvhost.it.datapath.Frames.mac;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * A front-end goes away (abruptly, or after stopping its rings as QEMU does) and a new one connects to
 * the same socket: the port forwards again, and the peer never notices more than lost frames.
 */
class FrontendReconnectTest {

    private static final byte[] MAC_A = mac(0xa);
    private static final byte[] MAC_B = mac(0xb);

    @TempDir
    Path dir;

    private final Resources resources = new Resources();
    private int seq;

    @AfterEach
    void closeAll() throws Exception {
        resources.close();
    }

    private <T extends AutoCloseable> T track(T resource) {
        return resources.track(resource);
    }

    @Test
    void shouldForwardThroughANewFrontendAfterDisconnect() throws Exception {
        InProcessJvhost jvhost = track(InProcessJvhost.start(dir, new Port("a", "lan"), new Port("b", "lan")));
        VhostUserFrontend b = track(VhostUserFrontend.connect(jvhost.socket("b")));
        VhostUserFrontend a = track(VhostUserFrontend.connect(jvhost.socket("a")));
        assertForwards(a, b);

        a.close(); // no GET_VRING_BASE: the guest vanished
        jvhost.awaitPort("a", p -> !p.connected(), "disconnected");
        VhostUserFrontend again = track(VhostUserFrontend.connect(jvhost.socket("a")));
        jvhost.awaitPort("a", PortStatus::connected, "connected again");
        assertForwards(again, b);
        FrontendForwardingTest.awaitPortCounters(jvhost, "a", 2, 2 * 200, 2, 2 * 300);
        FrontendForwardingTest.awaitPortCounters(jvhost, "b", 2, 2 * 300, 2, 2 * 200);
    }

    @Test
    void shouldReportRingBasesOnStopAndServeTheNextFrontend() throws Exception {
        InProcessJvhost jvhost = track(InProcessJvhost.start(dir, new Port("a", "lan"), new Port("b", "lan")));
        VhostUserFrontend b = track(VhostUserFrontend.connect(jvhost.socket("b")));
        VhostUserFrontend a = track(VhostUserFrontend.connect(jvhost.socket("a")));
        for (int i = 0; i < 3; i++) {
            assertForwards(a, b);
        }

        // The device popped 3 TX chains and 3 RX buffers (one per frame): the next avail indexes.
        assertArrayEquals(new int[] {3, 3}, a.stop(), "GET_VRING_BASE {rx, tx}");
        a.close();
        VhostUserFrontend again = track(VhostUserFrontend.connect(jvhost.socket("a")));
        assertForwards(again, b);
    }

    @Test
    void shouldNotLeakFileDescriptorsAcrossReconnects() throws Exception {
        InProcessJvhost jvhost = track(InProcessJvhost.start(dir, new Port("a", "lan"), new Port("b", "lan")));
        VhostUserFrontend b = track(VhostUserFrontend.connect(jvhost.socket("b")));
        // One full cycle first, so lazily opened files (class loading, the JIT) are already counted.
        try (VhostUserFrontend a = VhostUserFrontend.connect(jvhost.socket("a"))) {
            assertForwards(a, b);
        }
        // Counted while a front-end is connected: the control thread accepts a connection only after the
        // previous session closed its fds and unmapped its memory, so a completed negotiation proves it.
        long baseline;
        try (VhostUserFrontend a = VhostUserFrontend.connect(jvhost.socket("a"))) {
            assertForwards(a, b);
            baseline = openFds();
        }

        for (int i = 0; i < 10; i++) {
            try (VhostUserFrontend a = VhostUserFrontend.connect(jvhost.socket("a"))) {
                assertForwards(a, b);
                a.stop(); // every other way out: GET_VRING_BASE first, as QEMU does on guest shutdown
            }
            try (VhostUserFrontend a = VhostUserFrontend.connect(jvhost.socket("a"))) {
                assertForwards(a, b);
            }
        }
        try (VhostUserFrontend a = VhostUserFrontend.connect(jvhost.socket("a"))) {
            assertForwards(a, b);
            assertEquals(baseline, openFds(), "open fds after 20 more connect/disconnect cycles");
        }
    }

    /** A broadcast from {@code a} to {@code b}, and a unicast back. */
    private void assertForwards(VhostUserFrontend a, VhostUserFrontend b) throws Exception {
        byte[] out = frame(BROADCAST, MAC_A, ++seq, 200);
        a.send(out);
        assertFrames(List.of(out), b.receive(TIMEOUT), "b");
        byte[] back = frame(MAC_A, MAC_B, ++seq, 300);
        b.send(back);
        assertFrames(List.of(back), a.receive(TIMEOUT), "a");
    }

    private static long openFds() {
        try (Stream<Path> fds = Files.list(Path.of("/proc/self/fd"))) {
            return fds.count();
        } catch (IOException e) {
            throw new IllegalStateException("cannot list /proc/self/fd", e);
        }
    }
}

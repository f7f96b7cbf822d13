package io.jvhost.it.datapath;

import io.jvhost.backend.testing.Resources;
import io.jvhost.backend.management.PortStatus;
import io.jvhost.it.datapath.InProcessJvhost.Port;
import io.jvhost.it.frontend.VhostUserFrontend;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static io.jvhost.it.datapath.Frames.TIMEOUT;
import static io.jvhost.it.datapath.Frames.frame;
import static io.jvhost.it.datapath.Frames.mac;
import static io.jvhost.it.datapath.InProcessJvhost.awaitEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Per-port CPU accounting in the shared worker pool: two senders with very different traffic, the
 * busy one is charged the larger share, and what the ports are charged adds up to the workers' busy
 * time (the per-device model got this for free: one thread per device, charged to its cgroup).
 */
class FrontendCpuAccountingTest {

    private static final int BATCH = 64;

    @TempDir
    Path dir;

    @RegisterExtension
    final Resources resources = new Resources();

    @Test
    void shouldChargeEachPortItsWorkAndAddUpToTheWorkersBusyTime() throws Exception {
        InProcessJvhost jvhost = resources.track(InProcessJvhost.start(dir,
                new Port("busy", "red"), new Port("busy-peer", "red"),
                new Port("quiet", "blue"), new Port("quiet-peer", "blue")));
        VhostUserFrontend busyPeer = resources.track(VhostUserFrontend.connect(jvhost.socket("busy-peer")));
        VhostUserFrontend busy = resources.track(VhostUserFrontend.connect(jvhost.socket("busy")));
        VhostUserFrontend quietPeer = resources.track(VhostUserFrontend.connect(jvhost.socket("quiet-peer")));
        VhostUserFrontend quiet = resources.track(VhostUserFrontend.connect(jvhost.socket("quiet")));

        int busyFrames = forward(busy, mac(0x1), busyPeer, mac(0x2), 312 * BATCH, 1400);
        int quietFrames = forward(quiet, mac(0x3), quietPeer, mac(0x4), 2 * BATCH, 64);

        // A worker counts a batch after it published it: the last frames may arrive before their count.
        awaitEquals((long) busyFrames, () -> jvhost.port("busy").rxPackets(), "busy port's packets");
        awaitEquals((long) quietFrames, () -> jvhost.port("quiet").rxPackets(), "quiet port's packets");
        PortStatus busyPort = jvhost.port("busy");
        PortStatus quietPort = jvhost.port("quiet");
        assertTrue(busyPort.cpuSeconds() > 5 * quietPort.cpuSeconds(),
                "100x the frames, 20x the bytes: the larger share; " + busyPort + " / " + quietPort);
        // The receivers pay for their part of the copies into them (half, the sender the rest), besides
        // their own kicks (buffers posted; a full ring's kick wakes the waiting sender).
        PortStatus busyPeerPort = jvhost.port("busy-peer");
        assertTrue(busyPeerPort.cpuSeconds() > 0, "busy-peer received 20,000 frames: " + busyPeerPort);
        assertTrue(busyPeerPort.cpuSeconds() > 5 * jvhost.port("quiet-peer").cpuSeconds(),
                "the busier receiver pays more: " + busyPeerPort + " / " + jvhost.port("quiet-peer"));
        double[] sums = CpuShares.assertPortsAddUpToWorkersBusyTime(jvhost.view());
        System.out.printf("cpu seconds: busy %.6f, busy-peer %.6f, quiet %.6f, all ports %.6f, workers busy %.6f%n",
                busyPort.cpuSeconds(), busyPeerPort.cpuSeconds(), quietPort.cpuSeconds(), sums[0], sums[1]);
    }

    /** Sends {@code count} unicast frames from {@code sender} to {@code receiver} in batches; returns how many arrived. */
    private static int forward(VhostUserFrontend sender, byte[] from, VhostUserFrontend receiver, byte[] to,
                               int count, int length) throws Exception {
        // The receiver speaks first so that the switch has learned it: frames to it are then unicast.
        receiver.send(frame(from, to, 0, 60));
        sender.receive(TIMEOUT);
        int arrived = 0;
        for (int sent = 0; sent < count; sent += BATCH) { // count is a multiple of BATCH
            List<byte[]> batch = new ArrayList<>(BATCH);
            for (int i = 0; i < BATCH; i++) {
                batch.add(frame(to, from, sent + i, length));
            }
            sender.sendBatch(batch);
            arrived += receiver.receiveFrames(BATCH, TIMEOUT).size();
        }
        assertEquals(count, arrived, "every frame arrived");
        return arrived;
    }
}

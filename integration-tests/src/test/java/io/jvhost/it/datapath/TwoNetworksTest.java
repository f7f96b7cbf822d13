package io.jvhost.it.datapath;

import io.jvhost.backend.testing.Resources;
import io.jvhost.backend.config.WorkersConfig;
import io.jvhost.backend.management.PortStatus;
import io.jvhost.it.datapath.InProcessJvhost.Port;
import io.jvhost.it.frontend.VhostUserFrontend;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.TestInfo;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

import static io.jvhost.it.datapath.Frames.BROADCAST;
import static io.jvhost.it.datapath.Frames.TIMEOUT;
import static io.jvhost.it.datapath.Frames.assertFrames;
import static io.jvhost.it.datapath.Frames.frame;
import static io.jvhost.it.datapath.Frames.mac;

/**
 * One jvhost, two networks, for tests in which one front-end misbehaves: port {@code victim} with
 * {@code peer} in network {@code red}, {@code blue1} with {@code blue2} in {@code blue}. Each test
 * starts with the four front-ends connected and both pairs forwarding, and with jvhost's log captured
 * ({@link #logs}) from before the daemon started. Two pinned workers, or one for a test tagged
 * {@link #ONE_WORKER}.
 */
abstract class TwoNetworksTest {

    static final byte[] MAC_VICTIM = mac(1);
    static final byte[] MAC_PEER = mac(2);
    static final byte[] MAC_BLUE1 = mac(3);
    static final byte[] MAC_BLUE2 = mac(4);
    /** A test tagged so runs on one worker: every queue of both networks shares its time. */
    static final String ONE_WORKER = "one-worker";

    @TempDir
    Path dir;

    final Resources resources = new Resources();
    LogCapture logs;
    InProcessJvhost jvhost;
    VhostUserFrontend victim;
    VhostUserFrontend peer;
    VhostUserFrontend blue1;
    VhostUserFrontend blue2;
    /** Numbers the test frames, so that none is mistaken for another. */
    int seq;

    @BeforeEach
    void startAndForward(TestInfo test) throws Exception {
        logs = track(new LogCapture());
        List<Integer> cpus = test.getTags().contains(ONE_WORKER) ? List.of(0) : InProcessJvhost.WORKER_CPUS;
        jvhost = track(InProcessJvhost.start(dir, cpus, WorkersConfig.Model.PER_CPU, new Port("victim", "red"),
                new Port("peer", "red"), new Port("blue1", "blue"), new Port("blue2", "blue")));
        victim = connect("victim");
        peer = connect("peer");
        blue1 = connect("blue1");
        blue2 = connect("blue2");
        assertRedForwards(victim);
        assertBlueForwards();
    }

    @AfterEach
    void closeAll() throws Exception {
        resources.close();
    }

    <T extends AutoCloseable> T track(T resource) {
        return resources.track(resource);
    }

    VhostUserFrontend connect(String port) throws Exception {
        return connect(port, VhostUserFrontend.Options.defaults());
    }

    VhostUserFrontend connect(String port, VhostUserFrontend.Options options) throws Exception {
        return track(VhostUserFrontend.connect(jvhost.socket(port), options));
    }

    /** Closes the victim's front-end; a new one on the same socket forwards again, and so does blue. */
    void reconnectVictimAndForward() throws Exception {
        victim.close();
        victim = connect("victim");
        jvhost.awaitPort("victim", PortStatus::connected, "connected again");
        assertRedForwards(victim);
        assertBlueForwards();
    }

    /** A broadcast from {@code red} (the victim's front-end) to the peer, and a unicast back. */
    void assertRedForwards(VhostUserFrontend red) throws Exception {
        assertForwards(red, MAC_VICTIM, "victim", peer, MAC_PEER, "peer", 200, 300, TIMEOUT);
    }

    void assertBlueForwards() throws Exception {
        assertBlueForwards(TIMEOUT);
    }

    /** A broadcast from blue1 to blue2 and a full-size unicast back, each arriving within {@code within}. */
    void assertBlueForwards(Duration within) throws Exception {
        assertForwards(blue1, MAC_BLUE1, "blue1", blue2, MAC_BLUE2, "blue2", 100, 1514, within);
    }

    /** A broadcast of {@code outLength} bytes from {@code a} reaches {@code b}, a unicast of {@code backLength} back reaches {@code a}. */
    private void assertForwards(VhostUserFrontend a, byte[] macA, String nameA, VhostUserFrontend b, byte[] macB,
                                String nameB, int outLength, int backLength, Duration within) throws Exception {
        byte[] out = frame(BROADCAST, macA, ++seq, outLength);
        a.send(out);
        assertFrames(List.of(out), b.receive(within), nameB);
        byte[] back = frame(macA, macB, ++seq, backLength);
        b.send(back);
        assertFrames(List.of(back), a.receive(within), nameA);
    }
}

package io.jvhost.it.datapath;

import io.jvhost.backend.testing.Resources;
import io.jvhost.it.datapath.InProcessJvhost.Port;
import io.jvhost.it.frontend.VhostUserFrontend;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static io.jvhost.it.datapath.Frames.BROADCAST;
import static io.jvhost.it.datapath.Frames.QUIET;
import static io.jvhost.it.datapath.Frames.TIMEOUT;
import static io.jvhost.it.datapath.Frames.assertFrames;
import static io.jvhost.it.datapath.Frames.frame;
import static io.jvhost.it.datapath.Frames.mac;
import static io.jvhost.it.datapath.InProcessJvhost.awaitEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Back-pressure ({@code workers.backpressure-timeout-us}): a unicast frame for a receiver without RX
 * buffers waits, uncompleted in its sender's ring, until the receiver posts buffers, instead of being
 * dropped; a receiver that stays full costs its senders one bounded wait and then only its own frames.
 */
class FrontendBackpressureTest {

    private static final byte[] A = mac(0xA);
    private static final byte[] B = mac(0xB);
    private static final byte[] C = mac(0xC);
    private static final int RX = VhostUserFrontend.RX_QUEUE;
    private static final int TX = VhostUserFrontend.TX_QUEUE;

    @TempDir
    Path dir;

    @RegisterExtension
    final Resources resources = new Resources();

    private VhostUserFrontend connect(InProcessJvhost jvhost, String port, int rxBuffers) throws Exception {
        return resources.track(VhostUserFrontend.connect(jvhost.socket(port),
                VhostUserFrontend.Options.defaults().withRxBuffers(rxBuffers, 2048)));
    }

    /** Makes the switch learn {@code mac} on {@code from}'s port: a frame to a MAC nobody has. */
    private static void announce(VhostUserFrontend from, byte[] mac) throws Exception {
        from.send(frame(mac(0xEE), mac, 0));
        from.flushTx();
    }

    @Test
    void shouldHoldFramesForAFullReceiverUntilItPostsBuffersAndDropNone() throws Exception {
        // A bound far beyond the test's pauses: every wait here must end with the receiver's kick.
        InProcessJvhost jvhost = resources.track(InProcessJvhost.startWithBackpressure(dir, 30_000_000,
                new Port("a", "lan"), new Port("b", "lan")));
        VhostUserFrontend a = connect(jvhost, "a", 256);
        VhostUserFrontend b = connect(jvhost, "b", 8); // room for 8 frames
        announce(b, B);
        awaitEquals(1L, () -> jvhost.queue("a", RX).packets(), "a got b's announcement (flooded)");

        List<byte[]> sent = new ArrayList<>();
        for (int seq = 1; seq <= 64; seq++) {
            byte[] f = frame(B, A, seq, 60 + seq * 20);
            sent.add(f);
            a.send(f);
        }
        a.flushTx();
        // b's ring is full after 8: the 9th waits at the head of a's ring, nothing is dropped.
        awaitEquals(8L, () -> jvhost.queue("b", RX).packets(), "frames that fit b's buffers");
        awaitEquals(1L, () -> jvhost.queue("a", TX).waits(), "a's TX queue waiting for b");
        Thread.sleep(QUIET.toMillis());
        assertEquals(8L, jvhost.queue("b", RX).packets(), "nothing more for b while it posts nothing");
        assertEquals(0L, jvhost.queue("b", RX).drops());
        assertEquals(56, (a.txRing().availIdx() - a.txRing().usedIdx()) & 0xFFFF,
                "the waiting frame and those behind it stay uncompleted in a's ring");

        // b takes its frames and re-posts the buffers, kicking: each kick lets the next 8 through.
        List<VhostUserFrontend.ReceivedFrame> got = b.receiveFrames(64, TIMEOUT);
        assertFrames(sent, got.stream().map(VhostUserFrontend.ReceivedFrame::bytes).toList(), "b, in order");
        assertEquals(0L, jvhost.queue("b", RX).drops(), "back-pressure instead of drops");
        assertEquals(0L, jvhost.queue("a", TX).drops());
        assertTrue(jvhost.queue("a", TX).waits() >= 1);
        awaitEquals(64L, () -> jvhost.queue("a", TX).packets(), "every frame of a forwarded");
        awaitEquals(0, () -> (a.txRing().availIdx() - a.txRing().usedIdx()) & 0xFFFF, "every chain of a completed");
    }

    @Test
    void shouldGiveUpOnAReceiverThatStaysFullAfterOneBoundedWaitAndKeepForwardingToOthers() throws Exception {
        InProcessJvhost jvhost = resources.track(InProcessJvhost.startWithBackpressure(dir, 100_000, // 100 ms
                new Port("a", "lan"), new Port("b", "lan"), new Port("c", "lan")));
        VhostUserFrontend a = connect(jvhost, "a", 256);
        VhostUserFrontend b = connect(jvhost, "b", 0); // posts no buffer at all
        VhostUserFrontend c = connect(jvhost, "c", 256);
        announce(b, B);
        announce(c, C);
        assertEquals(2, a.receiveFrames(2, TIMEOUT).size(), "both announcements flooded to a");
        assertEquals(1, c.receiveFrames(1, TIMEOUT).size(), "b's announcement flooded to c");
        awaitEquals(1L, () -> jvhost.queue("b", RX).drops(), "c's announcement, flooded to b: no room");

        // Frames for b and c interleaved: the first for b waits its 100 ms bound, then b is given up
        // on and every later frame for it is dropped at once; c gets all of its frames, in order.
        List<byte[]> forC = new ArrayList<>();
        for (int seq = 1; seq <= 40; seq++) {
            boolean toB = seq % 2 == 1;
            byte[] f = frame(toB ? B : C, A, seq);
            if (!toB) {
                forC.add(f);
            }
            a.send(f);
        }
        a.flushTx();
        List<byte[]> atC = c.receiveFrames(forC.size(), TIMEOUT).stream()
                .map(VhostUserFrontend.ReceivedFrame::bytes).toList();
        assertFrames(forC, atC, "c, behind b's bounded wait");
        assertEquals(1L, jvhost.queue("a", TX).waits(), "one wait for the stuck receiver, not one per frame");
        awaitEquals(1L + 20, () -> jvhost.queue("b", RX).drops(), "b's frames dropped (counted)");
        assertEquals(0L, jvhost.queue("c", RX).drops());

        // Once b posts buffers it gets frames again, and waits are back for it.
        b.postRxBuffers(4);
        byte[] late = frame(B, A, 100);
        a.send(late);
        a.flushTx();
        assertFrames(List.of(late), b.receive(TIMEOUT), "b after it posted buffers");
        assertEquals(1L + 20, jvhost.queue("b", RX).drops());
    }

    @Test
    void shouldNeverHoldAFloodedFrameForAFullReceiver() throws Exception {
        InProcessJvhost jvhost = resources.track(InProcessJvhost.startWithBackpressure(dir, 30_000_000,
                new Port("a", "lan"), new Port("b", "lan"), new Port("c", "lan")));
        VhostUserFrontend a = connect(jvhost, "a", 256);
        VhostUserFrontend b = connect(jvhost, "b", 0);
        VhostUserFrontend c = connect(jvhost, "c", 256);
        byte[] broadcast = frame(BROADCAST, A, 1);
        a.send(broadcast);
        a.flushTx();
        assertFrames(List.of(broadcast), c.receive(TIMEOUT), "c gets the broadcast at once");
        awaitEquals(1L, () -> jvhost.queue("b", RX).drops(), "b, without buffers, drops its copy");
        assertEquals(0L, jvhost.queue("a", TX).waits(), "a flood never waits: the other ports would wait too");
        assertNull(b.receiveOne(QUIET), "b's copy was dropped, not held");
    }
}

package io.jvhost.it.datapath;

import io.jvhost.backend.testing.Resources;
import io.jvhost.backend.config.PortConfig;
import io.jvhost.backend.config.StormControl;
import io.jvhost.backend.switching.MacTable;
import io.jvhost.it.datapath.InProcessJvhost.Port;
import io.jvhost.it.frontend.VhostUserFrontend;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static io.jvhost.it.datapath.Frames.BROADCAST;
import static io.jvhost.it.datapath.Frames.QUIET;
import static io.jvhost.it.datapath.Frames.TIMEOUT;
import static io.jvhost.it.datapath.Frames.assertFrames;
import static io.jvhost.it.datapath.Frames.frame;
import static io.jvhost.it.datapath.Frames.mac;
import static io.jvhost.it.datapath.InProcessJvhost.awaitEquals;
import static io.jvhost.it.frontend.VhostUserFrontend.RX_QUEUE;
import static io.jvhost.it.frontend.VhostUserFrontend.TX_QUEUE;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Issue 12 class 6, floods: a hostile front-end on port {@code hostile} (storm control of
 * {@value #LIMIT} pps on every flooded class, no port security) shares network {@code lan} with the
 * secured pair {@code a} and {@code b} ({@code mac:} set) and the unsecured pair {@code c} and
 * {@code d}. It storms, spoofs {@code a}'s MAC and fills the MAC table; each case checks that the
 * attack is limited with a counted reason and that the pairs keep forwarding.
 */
class FrontendFloodTest {

    private static final long LIMIT = 100;
    private static final byte[] MAC_HOSTILE = mac(0x66);
    private static final byte[] MAC_A = mac(0xa);
    private static final byte[] MAC_B = mac(0xb);
    private static final byte[] MAC_C = mac(0xc);
    private static final byte[] MAC_D = mac(0xd);

    @TempDir
    Path dir;

    private final Resources resources = new Resources();
    private InProcessJvhost jvhost;
    private VhostUserFrontend hostile;
    private VhostUserFrontend a;
    private VhostUserFrontend b;
    private VhostUserFrontend c;
    private VhostUserFrontend d;
    private int seq;

    private static long macValue(byte[] mac) {
        long v = 0;
        for (byte octet : mac) {
            v = (v << 8) | (octet & 0xFF);
        }
        return v;
    }

    @BeforeEach
    void start() throws Exception {
        StormControl limits = new StormControl(LIMIT, LIMIT, LIMIT);
        jvhost = resources.track(InProcessJvhost.start(dir,
                new Port("hostile", "lan").with(p -> p.withStormControl(limits)),
                new Port("a", "lan").with(p -> p.withPortSecurity(macValue(MAC_A), List.of())),
                new Port("b", "lan").with(p -> p.withPortSecurity(macValue(MAC_B), List.of())),
                new Port("c", "lan"), new Port("d", "lan")));
        hostile = connect("hostile");
        a = connect("a");
        b = connect("b");
        c = connect("c");
        d = connect("d");
        // c and d announce themselves (a and b are pinned from the start), then each pair talks.
        c.send(frame(BROADCAST, MAC_C, ++seq));
        d.send(frame(BROADCAST, MAC_D, ++seq));
        awaitEquals(2L, () -> jvhost.view().extraCounters().get("learned"), "c and d learned (a and b are pinned)");
        for (VhostUserFrontend f : List.of(hostile, a, b)) {
            assertEquals(2, receive(f, 2).size(), "the two announcements"); // both, however late the second
        }
        assertEquals(1, receive(c, 1).size(), "d's announcement");
        assertEquals(1, receive(d, 1).size(), "c's announcement");
        assertPairsForward();
    }

    @AfterEach
    void closeAll() throws Exception {
        resources.close();
    }

    private VhostUserFrontend connect(String port) throws Exception {
        VhostUserFrontend f = resources.track(VhostUserFrontend.connect(jvhost.socket(port)));
        jvhost.awaitPort(port, io.jvhost.backend.management.PortStatus::connected, "connected");
        return f;
    }

    /** a and b, c and d exchange unicast both ways; each frame reaches its port and no other. */
    private void assertPairsForward() throws Exception {
        assertUnicast(a, MAC_A, b, MAC_B);
        assertUnicast(c, MAC_C, d, MAC_D);
    }

    private void assertUnicast(VhostUserFrontend x, byte[] macX, VhostUserFrontend y, byte[] macY) throws Exception {
        byte[] there = frame(macY, macX, ++seq, 200);
        x.send(there);
        assertFrames(List.of(there), receiveGood(y, 1), "unicast " + Arrays.toString(macX));
        byte[] back = frame(macX, macY, ++seq, 1514);
        y.send(back);
        assertFrames(List.of(back), receiveGood(x, 1), "unicast back");
    }

    /** The next {@code count} frames on {@code f}, waiting up to {@link Frames#TIMEOUT} for them. */
    private static List<byte[]> receive(VhostUserFrontend f, int count) throws Exception {
        return f.receiveFrames(count, TIMEOUT).stream().map(VhostUserFrontend.ReceivedFrame::bytes).toList();
    }

    /** Frames on {@code f} until {@code count} not from the hostile port's MAC came (or the timeout); those. */
    private List<byte[]> receiveGood(VhostUserFrontend f, int count) throws Exception {
        long deadline = System.nanoTime() + TIMEOUT.toNanos();
        List<byte[]> good = new ArrayList<>();
        while (good.size() < count && System.nanoTime() < deadline) {
            good.addAll(withoutHostile(receive(f, 1)));
        }
        return good;
    }

    /** The frames not from the hostile port's MAC (storm frames that came through may be mixed in). */
    private List<byte[]> withoutHostile(List<byte[]> frames) {
        List<byte[]> out = new ArrayList<>();
        for (byte[] f : frames) {
            if (!Arrays.equals(Arrays.copyOfRange(f, 6, 12), MAC_HOSTILE)) {
                out.add(f);
            }
        }
        return out;
    }

    private void assertNoDropsOnTheGoodPorts() {
        for (String port : List.of("a", "b", "c", "d")) {
            assertEquals(0, jvhost.queue(port, RX_QUEUE).drops(), port + " RX drops");
            assertEquals(0, jvhost.queue(port, TX_QUEUE).drops(), port + " TX drops");
            assertEquals(0, jvhost.port(port).stormDrops(), port + " storm drops");
            assertEquals(0, jvhost.port(port).spoofDrops(), port + " spoof drops");
        }
    }

    /**
     * (a) 10 000 broadcast frames, as fast as the ring takes them, in five bursts with the pairs
     * talking in between: storm control lets through one burst and then {@value #LIMIT} a second,
     * drops and counts the rest, and every frame sent is either delivered to each other port or
     * counted. Without it each good port would have been handed 10 000 frames for its 256 buffers.
     */
    @Test
    void shouldLimitABroadcastStormAndKeepThePairsForwarding() throws Exception {
        int sent = 0;
        long start = System.nanoTime();
        for (int round = 0; round < 5; round++) {
            List<byte[]> storm = new ArrayList<>();
            for (int i = 0; i < 2000; i++) {
                storm.add(frame(BROADCAST, MAC_HOSTILE, ++seq, 60));
            }
            hostile.sendBatch(storm);
            sent += storm.size();
            assertPairsForward();
        }
        int total = sent;
        awaitEquals((long) total, () -> jvhost.queue("hostile", TX_QUEUE).packets(), "hostile TX packets");
        double seconds = (System.nanoTime() - start) / 1e9;
        long stormDrops = jvhost.port("hostile").stormDrops();
        long passed = total - stormDrops;
        assertTrue(stormDrops > 0, "storm drops counted");
        assertTrue(passed >= 16 && passed <= 16 + LIMIT * seconds + 1,
                passed + " storm frames passed in " + seconds + " s at " + LIMIT + " pps with a burst of 16");
        assertEquals(0, jvhost.port("hostile").spoofDrops(), "hostile spoof drops");
        // d got exactly the storm frames that passed, besides c's announcement and six unicasts from c.
        awaitEquals(passed, () -> jvhost.queue("d", RX_QUEUE).packets() - 2 - 5L, "d RX: storm frames");
        assertNoDropsOnTheGoodPorts();
        assertPairsForward();
    }

    /**
     * (b) The hostile port sends from a's MAC, to b and to everyone: a's MAC is pinned to a (port
     * security), so none of it is forwarded or learned, each frame is a counted spoof drop, and b's
     * frames to a's MAC still reach a, not the hostile port. A secured port (a) that sends from
     * another MAC is dropped and counted the same way.
     */
    @Test
    void shouldNotLetASpoofingPortTakeOverASecuredPortsMac() throws Exception {
        List<byte[]> spoofed = new ArrayList<>();
        for (int i = 0; i < 50; i++) {
            spoofed.add(frame(MAC_B, MAC_A, ++seq));
            spoofed.add(frame(BROADCAST, MAC_A, ++seq));
        }
        hostile.sendBatch(spoofed);
        byte[] marker = frame(BROADCAST, MAC_HOSTILE, ++seq);
        hostile.send(marker); // same queue, same worker: it comes after every spoofed frame
        assertFrames(List.of(marker), b.receive(TIMEOUT), "b: only the hostile port's own frame");
        assertFrames(List.of(marker), c.receive(TIMEOUT), "c: only the hostile port's own frame");
        awaitEquals(100L, () -> jvhost.port("hostile").spoofDrops(), "hostile spoof drops");

        byte[] toA = frame(MAC_A, MAC_B, ++seq, 300);
        b.send(toA);
        assertFrames(List.of(marker, toA), receive(a, 2), "a still gets its traffic");
        byte[] bMarker = frame(BROADCAST, MAC_B, ++seq);
        b.send(bMarker);
        assertFrames(List.of(bMarker), hostile.receive(TIMEOUT), "the hostile port got nothing for a");
        assertFrames(List.of(bMarker), receive(a, 1), "a: b's marker");

        // a itself, secured, sends from a MAC that is not its own.
        a.send(frame(BROADCAST, mac(0x77), ++seq));
        byte[] aMarker = frame(BROADCAST, MAC_A, ++seq);
        a.send(aMarker);
        assertFrames(List.of(bMarker, aMarker), receive(c, 2), "c: only a's own frame");
        assertFrames(List.of(aMarker), receive(b, 1), "b: only a's own frame");
        assertFrames(List.of(marker, bMarker, aMarker), receive(d, 3), "d: the three markers, nothing spoofed");
        awaitEquals(1L, () -> jvhost.port("a").spoofDrops(), "a spoof drops");
        assertEquals(0, jvhost.port("hostile").stormDrops(), "spoofed frames take no storm tokens");
        assertPairsForward();
        for (String port : List.of("b", "c", "d")) {
            assertEquals(0, jvhost.port(port).spoofDrops(), port + " spoof drops");
            assertEquals(0, jvhost.queue(port, RX_QUEUE).drops(), port + " RX drops");
        }
    }

    /**
     * (c) 6000 frames from distinct source MACs, to the hostile port's own MAC (hairpin drops, so
     * they cost the other ports nothing): the table learns the hostile port's share of it
     * ({@link MacTable#MAX_PER_PORT}) and no more, the pinned MACs of a and b stay, the learned ones
     * of c and d too, both pairs forward as unicast (not flooded to the hostile port), and a MAC new
     * to another port is still learned.
     */
    @Test
    void shouldKeepForwardingWhenAHostilePortFillsTheMacTable() throws Exception {
        hostile.send(frame(BROADCAST, MAC_HOSTILE, ++seq));
        awaitEquals(3L, () -> jvhost.view().extraCounters().get("learned"), "hostile MAC learned");
        long hairpinBefore = jvhost.view().extraCounters().get("hairpin_drops");
        int macs = 6000;
        List<byte[]> burst = new ArrayList<>();
        for (int i = 0; i < macs; i++) {
            byte[] source = {2, 1, 0, 0, (byte) (i >>> 8), (byte) i};
            burst.add(frame(MAC_HOSTILE, source, ++seq));
        }
        hostile.sendBatch(burst);
        awaitEquals(hairpinBefore + macs, () -> jvhost.view().extraCounters().get("hairpin_drops"),
                "hairpin drops: every frame went to the hostile port's own MAC");
        // c, d and the hostile MAC were learned before; the hostile port then got its share of the 6000.
        assertEquals(2L + MacTable.MAX_PER_PORT, jvhost.view().extraCounters().get("learned"),
                "learned: c, d and the hostile port's " + MacTable.MAX_PER_PORT + " (its own MAC and "
                        + (MacTable.MAX_PER_PORT - 1) + " of the 6000)");
        List<byte[]> beforeHostile = hostile.receive(QUIET);
        assertPairsForward();
        assertFrames(List.of(), hostile.receive(QUIET), "the pairs' unicast is not flooded to the hostile port");
        assertEquals(List.of(), withoutHostile(beforeHostile), "nothing for the hostile port before either");
        assertNoDropsOnTheGoodPorts();
        c.send(frame(MAC_D, mac(0xc2), ++seq)); // a second guest behind c
        awaitEquals(3L + MacTable.MAX_PER_PORT, () -> jvhost.view().extraCounters().get("learned"),
                "a new MAC on another port is learned however full the hostile port's share is");
    }
}

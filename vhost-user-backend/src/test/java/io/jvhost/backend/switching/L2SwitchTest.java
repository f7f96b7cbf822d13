package io.jvhost.backend.switching;

import io.jvhost.backend.datapath.Frame;
import io.jvhost.backend.datapath.DeliveryContext;
import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;

class L2SwitchTest {

    private static final long A = MacAddress.parse("52:54:00:00:00:0a");
    private static final long B = MacAddress.parse("52:54:00:00:00:0b");
    private static final long C = MacAddress.parse("52:54:00:00:00:0c");
    private static final long MULTICAST = MacAddress.parse("01:00:5e:00:00:01");

    /** Records what it was handed. */
    private static final class RecordingPort implements SwitchPort {
        final String name;
        final PortIngress ingress;
        final List<Long> sources = new ArrayList<>();

        RecordingPort(String name) {
            this(name, PortIngress.open());
        }

        RecordingPort(String name, PortIngress ingress) {
            this.name = name;
            this.ingress = ingress;
        }

        @Override
        public String name() {
            return name;
        }

        @Override
        public PortIngress ingress() {
            return ingress;
        }

        @Override
        public void deliver(Frame frame, DeliveryContext context) {
            sources.add(frame.source());
        }
    }

    private final L2Switch network = new L2Switch("default");
    private final RecordingPort p1 = new RecordingPort("p1");
    private final RecordingPort p2 = new RecordingPort("p2");
    private final RecordingPort p3 = new RecordingPort("p3");
    private final DeliveryContext context = new DeliveryContext();

    L2SwitchTest() {
        network.attach(p1);
        network.attach(p2);
        network.attach(p3);
        context.startBatch();
    }

    private void send(SwitchPort from, long destination, long source) {
        Frame f = context.frame();
        f.wrapSegment(MemorySegment.ofArray(new byte[64]), 0, 64, destination, source, 0);
        network.forward(f, from, context);
    }

    @Test
    void shouldFloodUnknownUnicastToEveryOtherPort() {
        send(p1, B, A);
        assertEquals(List.of(), p1.sources);
        assertEquals(List.of(A), p2.sources);
        assertEquals(List.of(A), p3.sources);
        assertEquals(1, network.flooded());
    }

    @Test
    void shouldDeliverLearnedUnicastToOnePort() {
        send(p2, MacAddress.BROADCAST, B);
        send(p1, B, A);
        assertEquals(List.of(A), p2.sources, "p2 gets only A's unicast");
        assertEquals(List.of(B), p3.sources);
        assertEquals(List.of(B), p1.sources);
        assertEquals(2, network.learned());
        assertEquals(1, network.flooded());
    }

    @Test
    void shouldFloodGroupAddressesEvenWhenLearned() {
        send(p1, MULTICAST, A);
        assertEquals(List.of(A), p2.sources);
        assertEquals(List.of(A), p3.sources);
        assertNull(network.lookup(MULTICAST));
    }

    @Test
    void shouldDropHairpinFrames() {
        send(p1, MacAddress.BROADCAST, A);
        send(p1, A, C);
        assertEquals(1, network.hairpinDrops());
    }

    @Test
    void shouldFollowAnAddressThatMoves() {
        send(p1, MacAddress.BROADCAST, A);
        assertSame(p1, network.lookup(A));
        send(p2, MacAddress.BROADCAST, A);
        assertSame(p2, network.lookup(A));
    }

    @Test
    void shouldAgeOutStaleEntriesAndForgetDetachedPorts() {
        send(p1, MacAddress.BROADCAST, A);
        send(p2, MacAddress.BROADCAST, B);
        network.age(context.nowNanos() + 10, 5);
        assertEquals(0, network.macCount());
        assertEquals(2, network.aged());
        send(p1, MacAddress.BROADCAST, A);
        network.detach(p1);
        assertNull(network.lookup(A));
        send(p2, C, B);
        assertEquals(List.of(B), p3.sources.subList(1, 2));
    }

    // ---- port security ----

    private static final long UNLIMITED = TokenBucket.UNLIMITED;

    private static PortIngress secured(long... macs) {
        return new PortIngress(macs, UNLIMITED, UNLIMITED, UNLIMITED, 0);
    }

    @Test
    void shouldDropAndCountFramesFromASourceThePortIsNotAllowed() {
        RecordingPort guarded = new RecordingPort("guarded", secured(A));
        network.attach(guarded);
        send(guarded, MacAddress.BROADCAST, C);
        send(guarded, MULTICAST, MULTICAST); // a group source is no allowed MAC either
        assertEquals(List.of(), p2.sources);
        assertEquals(2, guarded.ingress().spoofDrops());
        assertNull(network.lookup(C), "never learned on the secured port");
        send(guarded, MacAddress.BROADCAST, A);
        assertEquals(List.of(A), p2.sources);
        assertEquals(2, guarded.ingress().spoofDrops());
    }

    @Test
    void shouldNotLetAnotherPortTakeOverASecuredPortsMac() {
        RecordingPort guarded = new RecordingPort("guarded", secured(A));
        network.attach(guarded);
        assertSame(guarded, network.lookup(A), "pinned at attach, before the guest sent anything");
        send(p1, MacAddress.BROADCAST, A); // p1 spoofs A
        send(p1, B, A);
        assertSame(guarded, network.lookup(A));
        assertEquals(2, p1.ingress().spoofDrops());
        assertEquals(List.of(), p2.sources, "the spoofed frames went nowhere");
        send(p2, A, B);
        assertEquals(List.of(B), guarded.sources, "A's traffic still reaches the secured port");
        assertEquals(List.of(), p1.sources);

        network.forget(guarded); // the guest reset: its MAC stays pinned
        assertSame(guarded, network.lookup(A));
        network.detach(guarded);
        assertNull(network.lookup(A));
        send(p1, MacAddress.BROADCAST, A);
        assertSame(p1, network.lookup(A), "free to learn once the secured port left");
    }

    @Test
    void shouldRefuseToAttachAPortWhoseMacAnotherSecuredPortHas() {
        RecordingPort first = new RecordingPort("first", secured(A));
        network.attach(first);
        RecordingPort second = new RecordingPort("second", secured(B, A));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> network.attach(second));
        assertEquals("MAC 52:54:00:00:00:0a belongs to port first of network default already", e.getMessage());
        assertNull(network.lookup(B), "nothing of the refused port was pinned");
        send(p1, MacAddress.BROADCAST, C);
        assertEquals(List.of(C), first.sources);
        assertEquals(List.of(), second.sources, "not attached");
    }

    // ---- storm control ----

    @Test
    void shouldLimitEachFloodClassToItsRateAndCountTheRest() {
        long t0 = 1_000_000_000L;
        RecordingPort storm = new RecordingPort("storm", new PortIngress(new long[0], 20, 30, 40, t0));
        network.attach(storm);
        context.startBatch(t0);
        for (int i = 0; i < 100; i++) {
            send(storm, MacAddress.BROADCAST, A);
            send(storm, MULTICAST, A);
            send(storm, C, A); // unknown unicast
        }
        assertEquals(16 + 16 + 16, p1.sources.size(), "one burst of each class (16 at these rates)");
        assertEquals(300 - 48, storm.ingress().stormDrops());
        send(p1, MacAddress.BROADCAST, C); // C is known now
        for (int i = 0; i < 100; i++) {
            send(storm, C, A);
        }
        assertEquals(100, p1.sources.size() - 48, "known unicast is never limited");
        assertEquals(252, storm.ingress().stormDrops());

        context.startBatch(t0 + 1_000_000_000L / 20); // one broadcast interval later
        send(storm, MacAddress.BROADCAST, A);
        send(storm, MacAddress.BROADCAST, A);
        assertEquals(253, storm.ingress().stormDrops(), "one broadcast passed, the next is over");
        assertEquals(0, p1.ingress().stormDrops() + p2.ingress().stormDrops(), "other ports unaffected");
        send(p2, MacAddress.BROADCAST, B);
        assertEquals(List.of(B), storm.sources.subList(storm.sources.size() - 1, storm.sources.size()));
    }
}

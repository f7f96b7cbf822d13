package io.jvhost.backend.switching;

import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;

class L2SwitchTest {

    private static final long A = MacAddress.parse("52:54:00:00:00:0a");
    private static final long B = MacAddress.parse("52:54:00:00:00:0b");
    private static final long C = MacAddress.parse("52:54:00:00:00:0c");
    private static final long MULTICAST = MacAddress.parse("01:00:5e:00:00:01");

    /** Records what it was handed. */
    private static final class RecordingPort implements SwitchPort {
        final String name;
        final List<Long> sources = new ArrayList<>();

        RecordingPort(String name) {
            this.name = name;
        }

        @Override
        public String name() {
            return name;
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
}

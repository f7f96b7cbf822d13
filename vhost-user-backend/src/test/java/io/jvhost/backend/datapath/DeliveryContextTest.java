package io.jvhost.backend.datapath;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;

class DeliveryContextTest {

    /** A destination that records what its sender did with it. */
    private static final class Destination implements DeliveryContext.Claim {
        final String name;
        final List<String> log;
        boolean locked;
        RuntimeException publishFailure;

        Destination(String name, List<String> log) {
            this.name = name;
            this.log = log;
        }

        /** What {@code RxQueue.deliver} does when it is not the claim held. */
        void claimFor(DeliveryContext context) {
            if (context.held() != this) {
                context.switchClaim();
                assertNull(context.held(), "one claim at a time");
                locked = true;
                context.hold(this);
            }
        }

        @Override
        public void publishAndRelease() {
            log.add(name + ":publish");
            locked = false;
        }

        @Override
        public void release() {
            locked = false;
        }

        @Override
        public void publish() {
            log.add(name + ":publish");
            if (publishFailure != null) {
                throw publishFailure;
            }
        }
    }

    @Test
    void shouldPublishEachDestinationOncePerBatchWhateverTheInterleaving() {
        DeliveryContext context = new DeliveryContext();
        List<String> log = new ArrayList<>();
        Destination a = new Destination("a", log);
        Destination b = new Destination("b", log);
        Destination c = new Destination("c", log);
        context.startBatch();
        for (Destination d : List.of(a, b, a, b, c, a, c, b)) {
            d.claimFor(context);
        }
        assertSame(b, context.held());
        assertEquals(List.of(), log, "nothing published mid-batch");
        assertEquals(false, a.locked || c.locked, "only the claim held is locked");

        context.releaseHeld();
        assertEquals(List.of("b:publish", "a:publish", "c:publish"), log);
        assertEquals(false, b.locked);

        log.clear();
        context.releaseHeld();
        assertEquals(List.of(), log, "a new batch starts with nothing to publish");
    }

    @Test
    void shouldPublishEveryOtherDestinationWhenOneFailsAndThenThrowTheFailure() {
        DeliveryContext context = new DeliveryContext();
        List<String> log = new ArrayList<>();
        Destination a = new Destination("a", log);
        Destination b = new Destination("b", log);
        Destination c = new Destination("c", log);
        a.publishFailure = new IllegalStateException("a's used ring faulted");
        a.claimFor(context);
        b.claimFor(context);
        c.claimFor(context);

        IllegalStateException thrown = assertThrows(IllegalStateException.class, context::releaseHeld);
        assertSame(a.publishFailure, thrown);
        assertEquals(List.of("c:publish", "a:publish", "b:publish"), log);
        assertNull(context.held());
    }

    @Test
    void shouldChargeReceiversHalfOfAWakeupByTheBytesCopiedIntoEachAndKeepTheRestForTheSender() {
        DeliveryContext context = new DeliveryContext();
        long[] charged = new long[2];
        DeliveryContext.Receiver b = n -> charged[0] += n;
        DeliveryContext.Receiver c = n -> charged[1] += n;
        context.copied(b, 1000);
        context.copied(c, 500);
        context.copied(b, 2000);
        context.copied(c, 500);

        long senders = context.settleCopies(10_000);
        assertEquals(3750, charged[0], "b got 3/4 of the bytes: 3/4 of half the time");
        assertEquals(1250, charged[1]);
        assertEquals(10_000, senders + charged[0] + charged[1], "nothing lost or made up");
        assertEquals(5000, senders);

        assertEquals(700, context.settleCopies(700), "no copies since: all the sender's");
        assertEquals(3750, charged[0]);
    }

    @Test
    void shouldCountBatchesSoADestinationKnowsANewOneStarted() {
        DeliveryContext context = new DeliveryContext();
        long before = context.batch();
        context.startBatch();
        context.startBatch();
        assertEquals(before + 2, context.batch());
    }
}

package io.jvhost.virtio.ring;

import io.jvhost.virtio.VirtioFeatures;
import io.jvhost.virtio.driver.DriverVirtqueue;
import io.jvhost.virtio.driver.DriverVirtqueue.Used;
import io.jvhost.virtio.driver.GuestRam;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class SplitVirtqueueUsedTest {

    static final long EVENT_IDX = VirtioFeatures.mask(VirtioFeatures.RING_EVENT_IDX);

    private final GuestRam ram = GuestRam.allocate(0x10_0000, 0x10_0000, 0x7F00_0010_0000L);
    private final DriverVirtqueue driver = new DriverVirtqueue(ram, 8);
    private final SplitVirtqueue queue = new SplitVirtqueue(0);
    private final DescriptorChain chain = new DescriptorChain();

    private int completed;

    /**
     * The driver collects what was published so far (freeing descriptors), posts {@code n} TX chains;
     * the device pops them and pushes each with len 0.
     */
    private void roundTrip(int n) {
        completed += driver.pollUsed().size();
        for (int i = 0; i < n; i++) {
            driver.addTx(new byte[]{(byte) i});
        }
        driver.publishAvail();
        for (int i = 0; i < n; i++) {
            assertEquals(RingStatus.OK, queue.pop(chain));
            queue.pushUsed(chain.head(), 0);
        }
    }

    @Test
    void shouldPublishPushedEntriesInOrderWithTheirLengths() {
        driver.configure(queue, 0);
        int a = driver.addRx(100);
        int b = driver.addRx(100);
        int c = driver.addRx(100);
        driver.publishAvail();
        for (int i = 0; i < 3; i++) {
            assertEquals(RingStatus.OK, queue.pop(chain));
        }
        queue.pushUsed(c, 30);
        queue.pushUsed(a, 10);
        assertEquals(2, queue.pendingUsedCount());
        assertEquals(List.of(), driver.pollUsed(), "nothing visible before publish");
        assertEquals(0, driver.usedIdx());

        assertTrue(queue.publishUsed());
        assertEquals(2, driver.usedIdx());
        assertEquals(2, queue.usedIndex());
        assertEquals(0, queue.pendingUsedCount());
        assertEquals(List.of(new Used(c, 30), new Used(a, 10)), driver.pollUsed());

        queue.pushUsed(b, 20);
        queue.publishUsed();
        assertEquals(List.of(new Used(b, 20)), driver.pollUsed());
        assertEquals(8, driver.freeDescriptors());
    }

    @Test
    void shouldNotPublishOrNotifyWhenNothingWasPushed() {
        driver.configure(queue, 0);
        assertFalse(queue.publishUsed());
        assertEquals(0, driver.usedIdx());
    }

    @Test
    void shouldNotifyWithoutEventIdxUnlessTheDriverSetNoInterrupt() {
        driver.configure(queue, 0);
        roundTrip(2);
        assertTrue(queue.publishUsed());
        driver.setNoInterrupt(true);
        roundTrip(1);
        assertFalse(queue.publishUsed());
        driver.setNoInterrupt(false);
        roundTrip(1);
        assertTrue(queue.publishUsed());
        assertEquals(4, completed + driver.pollUsed().size());
    }

    @Test
    void shouldAlwaysNotifyOnTheFirstPublishWithEventIdx() {
        driver.configure(queue, EVENT_IDX);
        driver.setUsedEvent(100); // far away: would say "no"
        roundTrip(1);
        assertTrue(queue.publishUsed());
        roundTrip(1);
        assertFalse(queue.publishUsed());
    }

    @Test
    void shouldNotifyOnlyWhenUsedIdxPassesUsedEvent() {
        driver.configure(queue, EVENT_IDX);
        roundTrip(1);
        queue.publishUsed();                    // used idx 1 (first publish)
        driver.setUsedEvent(3);                 // interrupt once entry 3 is used (idx goes past 3)
        roundTrip(2);
        assertFalse(queue.publishUsed(), "1 -> 3 does not pass 3");
        roundTrip(1);
        assertTrue(queue.publishUsed(), "3 -> 4 passes 3");
        roundTrip(3);
        assertFalse(queue.publishUsed(), "4 -> 7: event 3 already passed");
        driver.setUsedEvent(7);
        roundTrip(3);
        assertTrue(queue.publishUsed(), "7 -> 10 passes 7");
        assertEquals(10, driver.usedIdx());
    }

    @Test
    void shouldWrapUsedIdxAt65535AndStillAnswerNotifyCorrectly() {
        driver.startAt(65533);
        driver.configure(queue, EVENT_IDX);
        roundTrip(1);
        assertTrue(queue.publishUsed());        // first publish; used idx 65534
        driver.setUsedEvent(65535);
        roundTrip(3);
        assertTrue(queue.publishUsed(), "65534 -> 1 passes 65535");
        assertEquals(1, driver.usedIdx());
        assertEquals(1, queue.usedIndex());
        driver.setUsedEvent(1);
        roundTrip(1);
        assertTrue(queue.publishUsed(), "1 -> 2 passes 1");
        driver.setUsedEvent(65534);
        roundTrip(2);
        assertFalse(queue.publishUsed(), "2 -> 4: 65534 is behind");
        assertEquals(7, completed + driver.pollUsed().size());
    }

    @Test
    void shouldComputeNeedEventModulo65536() {
        assertTrue(SplitVirtqueue.needEvent(5, 6, 5));
        assertFalse(SplitVirtqueue.needEvent(6, 6, 5));
        assertTrue(SplitVirtqueue.needEvent(65535, 0, 65535));
        assertTrue(SplitVirtqueue.needEvent(65535, 3, 65530));
        assertFalse(SplitVirtqueue.needEvent(3, 3, 65530));
        assertTrue(SplitVirtqueue.needEvent(2, 3, 65530));
        assertFalse(SplitVirtqueue.needEvent(10, 3, 65530));
    }

    @Test
    void shouldToggleNoNotifyWithoutEventIdx() {
        driver.configure(queue, 0);
        queue.disableNotifications();
        assertEquals(UsedRing.F_NO_NOTIFY, driver.usedFlags());
        assertFalse(queue.notificationsEnabled());
        assertFalse(queue.enableNotifications());
        assertEquals(0, driver.usedFlags());
        assertTrue(queue.notificationsEnabled());
    }

    @Test
    void shouldMoveAvailEventOnlyWhenEnablingWithEventIdx() {
        driver.configure(queue, EVENT_IDX);
        assertEquals(0, driver.availEvent());
        queue.disableNotifications();
        roundTrip(3);
        assertEquals(0, driver.availEvent(), "disabled: avail_event stays behind");
        assertEquals(0, driver.usedFlags(), "flags are not used with EVENT_IDX");
        assertFalse(queue.enableNotifications());
        assertEquals(3, driver.availEvent());
    }

    @Test
    void shouldTellTheCallerToLoopWhenChainsArrivedBeforeReenabling() {
        driver.configure(queue, EVENT_IDX);
        queue.disableNotifications();
        roundTrip(1);
        driver.addTx(new byte[]{9});
        driver.publishAvail();                  // the driver saw notifications disabled: no kick
        assertTrue(queue.enableNotifications(), "a chain is waiting");
        assertEquals(RingStatus.OK, queue.pop(chain));
        assertFalse(queue.enableNotifications());
    }

    @Test
    void shouldLetTheDriverSeeWhetherAKickIsNeeded() {
        driver.configure(queue, EVENT_IDX);
        driver.addTx(new byte[]{1});
        driver.publishAvail();
        assertTrue(driver.needsKick(true), "avail_event 0 is passed by 0 -> 1");
        queue.disableNotifications();
        assertEquals(RingStatus.OK, queue.pop(chain));
        driver.addTx(new byte[]{2});
        driver.publishAvail();
        assertFalse(driver.needsKick(true), "device is polling");
        assertTrue(queue.enableNotifications());
        assertEquals(RingStatus.OK, queue.pop(chain));
        assertFalse(queue.enableNotifications());
        driver.addTx(new byte[]{3});
        driver.publishAvail();
        assertTrue(driver.needsKick(true));
    }

    @Test
    void shouldRejectMorePushesThanTheQueueSizeAndHeadsOutOfRange() {
        driver.configure(queue, 0);
        for (int i = 0; i < 8; i++) {
            queue.pushUsed(i, 0);
        }
        IllegalStateException full = assertThrows(IllegalStateException.class, () -> queue.pushUsed(0, 0));
        assertEquals("queue 0: more than 8 used entries pushed without publishUsed", full.getMessage());
        queue.publishUsed();
        IllegalArgumentException range = assertThrows(IllegalArgumentException.class, () -> queue.pushUsed(8, 0));
        assertEquals("queue 0: head 8 outside queue size 8", range.getMessage());
    }

    @Test
    void shouldNotRewindPastAPublish() {
        driver.configure(queue, 0);
        roundTrip(1);
        queue.publishUsed();
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> queue.rewind(1));
        assertEquals("queue 0: cannot rewind 1 chains, 0 popped since the last publish", e.getMessage());
    }
}

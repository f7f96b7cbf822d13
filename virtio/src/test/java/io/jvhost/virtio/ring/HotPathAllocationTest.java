package io.jvhost.virtio.ring;

import com.sun.management.ThreadMXBean;
import io.jvhost.virtio.VirtioFeatures;
import io.jvhost.virtio.driver.DriverVirtqueue;
import io.jvhost.virtio.driver.GuestRam;
import io.jvhost.virtio.net.RxFrameWriter;
import io.jvhost.virtio.net.VirtioNetFeatures;
import org.junit.jupiter.api.Test;

import java.lang.management.ManagementFactory;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The data path allocates nothing once warm: pop, push, publish, notification toggles and the RX
 * writer, measured with the JVM's per-thread allocation counter.
 *
 * <p>The JDK itself allocates now and then on the calling thread during warm-up (method-handle and
 * var-handle linkage, re-interning weakly cached method types after a GC), a few hundred bytes in
 * rare bursts. So the test asks for a streak of {@value #STREAK} consecutive bursts (each 64 TX
 * frames into 128 RX buffers) with exactly zero bytes: any allocation on our path would show in
 * every burst and never let the streak form.
 */
class HotPathAllocationTest {

    private static final int STREAK = 300;
    private static final int MAX_ROUNDS = 5000;
    private static final ThreadMXBean THREADS = (ThreadMXBean) ManagementFactory.getThreadMXBean();

    private final GuestRam ram = GuestRam.allocate(0x40_0000, 0x10_0000, 0x7F00_0010_0000L);
    private final DriverVirtqueue txDriver = new DriverVirtqueue(ram, 256);
    private final DriverVirtqueue rxDriver = new DriverVirtqueue(ram, 256);
    private final SplitVirtqueue tx = new SplitVirtqueue(1);
    private final SplitVirtqueue rx = new SplitVirtqueue(0);
    private final DescriptorChain chain = new DescriptorChain();
    private final RxFrameWriter writer = new RxFrameWriter();

    @Test
    void shouldNotAllocateOnTheDataPath() {
        long features = VirtioNetFeatures.mask(VirtioNetFeatures.VERSION_1) | VirtioNetFeatures.mask(VirtioNetFeatures.MRG_RXBUF)
                | VirtioFeatures.mask(VirtioFeatures.RING_EVENT_IDX);
        txDriver.configure(tx, features);
        rxDriver.configure(rx, features);
        byte[] frame = new byte[1000];

        int streak = 0;
        long lastAllocation = 0;
        for (int round = 0; round < MAX_ROUNDS && streak < STREAK; round++) {
            // Driver side (allocates: test fixture).
            for (int i = 0; i < 64; i++) {
                txDriver.addTx(frame);
                rxDriver.addRx(512);
                rxDriver.addRx(512);
            }
            txDriver.publishAvail();
            rxDriver.publishAvail();

            long before = THREADS.getCurrentThreadAllocatedBytes();
            deviceBurst();
            long allocated = THREADS.getCurrentThreadAllocatedBytes() - before;
            if (allocated == 0) {
                streak++;
            } else {
                streak = 0;
                lastAllocation = allocated;
            }

            assertEquals(64, txDriver.pollUsed().size());
            assertEquals(128, rxDriver.pollUsed().size());
        }
        assertEquals(STREAK, streak, "consecutive allocation-free bursts (last allocation: " + lastAllocation + " bytes)");
    }

    private void deviceBurst() {
        tx.disableNotifications();
        int status;
        while ((status = tx.pop(chain)) == RingStatus.OK) {
            int written = writer.write(rx, chain, 12, chain.readableLength() - 12);
            if (written != RingStatus.OK) {
                throw new IllegalStateException(RingStatus.name(written));
            }
            tx.pushUsed(chain.head(), 0);
        }
        if (status != RingStatus.EMPTY) {
            throw new IllegalStateException(RingStatus.name(status));
        }
        tx.publishUsed();
        rx.publishUsed();
        tx.enableNotifications();
    }
}

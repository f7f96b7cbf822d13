package io.jvhost.benchmarks;

import io.jvhost.virtio.driver.DriverVirtqueue;
import io.jvhost.virtio.driver.GuestRam;
import io.jvhost.virtio.net.NetHeader;
import io.jvhost.virtio.ring.Descriptor;
import io.jvhost.virtio.ring.SplitVirtqueue;

/**
 * A guest ring built once and then replayed: every descriptor and every avail ring slot is written at
 * set-up, so "refilling" the ring between batches is a single release store of the avail idx
 * ({@link #offer(int)}), a cost that does not dominate what is measured.
 *
 * <p>Slot {@code s} of the avail ring always names the same head. The device never checks that a head
 * is outstanding only once (it cannot), so a ring of {@code size} slots over {@code size / 2}
 * two-descriptor chains is fine: each chain is simply offered twice per lap.
 *
 * <p>The device side ({@link #queue}) starts at avail index 0 and the driver never reads the used ring:
 * used entries just overwrite each other, as they would with a driver that recycles buffers at once.
 */
final class StaticRing {

    /** Queue size of every benchmark ring (the default of QEMU and DPDK's virtio-user). */
    static final int SIZE = 256;
    /** Bytes per RX buffer (one mbuf's data room in DPDK's virtio-user; Linux's mergeable buffers are similar). */
    static final int RX_BUFFER = 2048;

    final DriverVirtqueue driver;
    final SplitVirtqueue queue;
    private int availIdx;

    private StaticRing(DriverVirtqueue driver, SplitVirtqueue queue) {
        this.driver = driver;
        this.queue = queue;
    }

    /**
     * A TX ring of frames of {@code frameLength} bytes (after a 12-byte virtio-net header).
     *
     * @param twoDescriptors header and frame in two chained descriptors (Linux without ANY_LAYOUT); otherwise
     *                       one descriptor holding both (what DPDK's virtio-user and Linux send with VERSION_1)
     */
    static StaticRing tx(GuestRam ram, int queueIndex, boolean twoDescriptors, int frameLength, long features) {
        DriverVirtqueue driver = new DriverVirtqueue(ram, SIZE, DriverVirtqueue.DEFAULT_SLOT_SIZE);
        byte[] frame = Frames.ethernet(frameLength, Frames.MAC_B, Frames.MAC_A);
        int chains;
        if (twoDescriptors) {
            chains = SIZE / 2;
            for (int c = 0; c < chains; c++) {
                int headerId = 2 * c;
                int frameId = headerId + 1;
                ram.write(driver.slotGpa(headerId), new byte[NetHeader.LENGTH]);
                ram.write(driver.slotGpa(frameId), frame);
                driver.writeDescriptor(headerId, driver.slotGpa(headerId), NetHeader.LENGTH, Descriptor.F_NEXT, frameId);
                driver.writeDescriptor(frameId, driver.slotGpa(frameId), frameLength, 0, 0);
            }
        } else {
            chains = SIZE;
            byte[] both = new byte[NetHeader.LENGTH + frameLength];
            System.arraycopy(frame, 0, both, NetHeader.LENGTH, frameLength);
            for (int c = 0; c < chains; c++) {
                ram.write(driver.slotGpa(c), both);
                driver.writeDescriptor(c, driver.slotGpa(c), both.length, 0, 0);
            }
        }
        int step = twoDescriptors ? 2 : 1;
        for (int slot = 0; slot < SIZE; slot++) {
            driver.pushAvailRaw(step * (slot % chains));
        }
        SplitVirtqueue queue = new SplitVirtqueue(queueIndex);
        driver.configure(queue, features);
        return new StaticRing(driver, queue);
    }

    /** An RX ring of one-descriptor chains of {@link #RX_BUFFER} device-writable bytes. */
    static StaticRing rx(GuestRam ram, int queueIndex, long features) {
        DriverVirtqueue driver = new DriverVirtqueue(ram, SIZE, RX_BUFFER);
        for (int id = 0; id < SIZE; id++) {
            driver.writeDescriptor(id, driver.slotGpa(id), RX_BUFFER, Descriptor.F_WRITE, 0);
            driver.pushAvailRaw(id);
        }
        SplitVirtqueue queue = new SplitVirtqueue(queueIndex);
        driver.configure(queue, features);
        return new StaticRing(driver, queue);
    }

    /** The driver makes {@code n} more chains available (one release store of avail idx). */
    void offer(int n) {
        availIdx = (availIdx + n) & 0xFFFF;
        driver.setAvailIdxRaw(availIdx);
    }
}

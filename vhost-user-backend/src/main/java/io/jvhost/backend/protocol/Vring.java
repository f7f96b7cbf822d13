package io.jvhost.backend.protocol;

import io.jvhost.backend.linux.Fds;
import io.jvhost.virtio.memory.GuestMemory;
import io.jvhost.virtio.ring.AvailRing;
import io.jvhost.virtio.ring.Descriptor;
import io.jvhost.virtio.ring.UsedRing;

/**
 * What the session knows about one virtqueue, and the fds it owns for it.
 *
 * <p>Ring states (vhost-user.rst, "Ring states"): <em>started</em> from SET_VRING_KICK until
 * GET_VRING_BASE; <em>enabled</em> by SET_VRING_ENABLE, or always when VHOST_USER_F_PROTOCOL_FEATURES
 * was not negotiated. {@code running} mirrors what the device was told: startQueue without a
 * stopQueue since.
 *
 * <p>Confined to the control thread.
 */
final class Vring {

    final int index;
    /** Descriptors (SET_VRING_NUM), 0 until set. */
    int size;
    /** Next avail index to process: SET_VRING_BASE, then whatever stopQueue last returned. */
    int nextAvail;
    boolean addressesSet;
    long descFrontendVa;
    long availFrontendVa;
    long usedFrontendVa;
    /** log_guest_addr of SET_VRING_ADDR with VHOST_VRING_F_LOG, or -1: used-ring writes are not logged. */
    long usedLogGpa = -1;
    int kickFd = -1;
    int callFd = -1;
    int errFd = -1;
    boolean started;
    /** SET_VRING_ENABLE's last value; only consulted once protocol features are negotiated. */
    boolean enableRequested;
    boolean running;

    Vring(int index) {
        this.index = index;
    }

    VringConfig config() {
        return new VringConfig(index, size, nextAvail, descFrontendVa, availFrontendVa, usedFrontendVa,
                kickFd, callFd, errFd, usedLogGpa);
    }

    /** Whether {@code memory} maps each of the ring's three areas whole (each within one region). */
    boolean mappedBy(GuestMemory memory) {
        return memory.sliceAtFrontendVa(descFrontendVa, (long) Descriptor.SIZE * size) != null
                && memory.sliceAtFrontendVa(availFrontendVa, AvailRing.byteSize(size)) != null
                && memory.sliceAtFrontendVa(usedFrontendVa, UsedRing.byteSize(size)) != null;
    }

    /** Closes every fd this ring owns; the device must not be running it. */
    void closeFds() {
        Fds.closeQuietly(kickFd);
        Fds.closeQuietly(callFd);
        Fds.closeQuietly(errFd);
        kickFd = -1;
        callFd = -1;
        errFd = -1;
    }

    @Override
    public String toString() {
        return "vring " + index + " (size " + size + ", next avail " + nextAvail + (started ? ", started" : "")
                + (running ? ", running" : "") + ")";
    }
}

package io.jvhost.backend.protocol;

/**
 * Everything the front-end said about one virtqueue, as the device needs it to run the ring.
 * Immutable snapshot, taken by the protocol state machine when it starts a queue.
 *
 * <p>Ring areas are front-end (QEMU) virtual addresses, as VHOST_USER_SET_VRING_ADDR gives them
 * (vhost-user.rst: "the addresses are in the front-end's address space" when no IOMMU is used).
 * File descriptors belong to the state machine: the device must not close them, and must stop using
 * them before {@link VhostUserDevice#stopQueue(int)} or {@link VhostUserDevice#setCallFd(int, int)}
 * returns.
 *
 * @param index           virtqueue index (even: RX of pair index/2, odd: TX)
 * @param size            number of descriptors (SET_VRING_NUM), a power of two up to 32768
 * @param nextAvail       index of the next avail entry to process (SET_VRING_BASE)
 * @param descFrontendVa  descriptor table
 * @param availFrontendVa driver area (avail ring)
 * @param usedFrontendVa  device area (used ring)
 * @param kickFd          eventfd the driver kicks, or -1 when the front-end asked for polling
 * @param callFd          eventfd to signal the driver, or -1 when none was given
 * @param errFd           eventfd to signal an error on this queue, or -1
 * @param usedLogGpa      guest-physical address the used ring's writes are logged at while dirty
 *                        logging is on (SET_VRING_ADDR with VHOST_VRING_F_LOG: {@code log_guest_addr}),
 *                        or -1 when the front-end did not ask for used-ring logging
 */
public record VringConfig(int index, int size, int nextAvail, long descFrontendVa, long availFrontendVa,
                          long usedFrontendVa, int kickFd, int callFd, int errFd, long usedLogGpa) {

    /** A ring whose used ring is not logged. */
    public VringConfig(int index, int size, int nextAvail, long descFrontendVa, long availFrontendVa,
                       long usedFrontendVa, int kickFd, int callFd, int errFd) {
        this(index, size, nextAvail, descFrontendVa, availFrontendVa, usedFrontendVa, kickFd, callFd, errFd, -1);
    }
}

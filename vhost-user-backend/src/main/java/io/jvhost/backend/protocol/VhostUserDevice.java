package io.jvhost.backend.protocol;

import io.jvhost.virtio.memory.DirtyLog;
import io.jvhost.virtio.memory.GuestMemory;

/**
 * The device behind one vhost-user connection, as the protocol state machine sees it. Device code
 * never sees a raw message; the state machine never touches a ring.
 *
 * <p>Threading: every method is called from the connection's control thread, one at a time. Methods
 * that change what the data path uses ({@link #setMemory}, {@link #startQueue}, {@link #stopQueue},
 * {@link #setCallFd}, {@link #disconnected}) return only once no worker uses the old value any more,
 * so the caller may then unmap old memory or close old file descriptors.
 */
public interface VhostUserDevice {

    /** Virtio feature bits offered in GET_FEATURES (including VHOST_USER_F_PROTOCOL_FEATURES). */
    long offeredFeatures();

    /** Protocol feature bits offered in GET_PROTOCOL_FEATURES. */
    long offeredProtocolFeatures();

    /** Queue pairs offered in GET_QUEUE_NUM. */
    int maxQueuePairs();

    /** A front-end connected; {@code peerPid} from SO_PEERCRED, or -1 when unknown. */
    void connected(int peerPid);

    /** SET_FEATURES: the virtio features the driver acked (a subset of the offered ones). */
    void setFeatures(long ackedFeatures);

    /** A new memory table. Running queues switch to it (re-translating their ring addresses). */
    void setMemory(GuestMemory memory);

    /**
     * The queue is started and enabled: process it from now on.
     *
     * @throws IllegalArgumentException with a message for the log when the ring does not fit in the
     *                                  memory table (the caller then stops the connection)
     */
    void startQueue(VringConfig config);

    /** Stop processing the queue. Returns the next avail index to process (GET_VRING_BASE). */
    int stopQueue(int index);

    /** SET_VRING_CALL on a running queue: signal {@code callFd} (or nothing, when -1) from now on. */
    void setCallFd(int index, int callFd);

    /**
     * NET_SET_MTU: the MTU the front-end gives the guest (68..65535).
     *
     * @throws IllegalArgumentException with a message for the log when the device cannot take it; the
     *                                  front-end is told (REPLY_ACK) and nothing changes
     */
    void setMtu(int mtu);

    /**
     * SET_LOG_BASE: the dirty-page log to write into while VHOST_F_LOG_ALL is acked (null: none any
     * more). Returns once no worker writes into the previous log, whose pending bits it got first, so
     * that the caller may unmap it.
     */
    void setLog(DirtyLog log);

    /**
     * SET_VRING_ADDR on a running queue that changes only VHOST_VRING_F_LOG or {@code log_guest_addr}:
     * log its used ring at {@code usedLogGpa} from now on (-1: stop logging it), without a restart.
     */
    void setUsedLog(int index, long usedLogGpa);

    /**
     * SEND_RARP: announce {@code mac} (48 bits, first byte highest) in the device's network, as a guest
     * without VIRTIO_NET_F_GUEST_ANNOUNCE cannot after a migration.
     */
    void sendRarp(long mac);

    /** The connection closed (or RESET_OWNER): all queues are already stopped; forget the session. */
    void disconnected();
}

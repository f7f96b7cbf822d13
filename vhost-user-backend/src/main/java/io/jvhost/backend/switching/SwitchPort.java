package io.jvhost.backend.switching;

import io.jvhost.backend.datapath.Frame;
import io.jvhost.backend.datapath.DeliveryContext;
/** Something a learning switch can deliver frames to: a guest's RX queues, a TAP device. */
public interface SwitchPort {

    String name();

    /**
     * What this port may send into its network and the drops that caused ({@link PortIngress}): one
     * instance per port, for the port's lifetime. Any worker, per frame.
     */
    PortIngress ingress();

    /**
     * Copies {@code frame} into this port (the one copy of the frame's way), or counts a drop.
     * Called on the sending worker's thread; implementations serialise concurrent senders themselves
     * and record what needs a flush in {@code context}.
     */
    void deliver(Frame frame, DeliveryContext context);

    /**
     * The offloads frames to this port may use as they are ({@code io.jvhost.backend.offload.Offloads}
     * bits): a guest's negotiated GUEST_* features, everything for the host kernel behind a TAP; none
     * unless a port says otherwise.
     */
    default int receivableOffloads() {
        return 0;
    }

    /** What another port of the network can take changed ({@link L2Switch#receivableOffloads}). Control threads. */
    default void networkOffloadsChanged() {
    }
}

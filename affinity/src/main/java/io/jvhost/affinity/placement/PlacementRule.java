package io.jvhost.affinity.placement;

/** Which rule of {@link QueuePlacement} produced a choice, in the order they are tried. */
public enum PlacementRule {
    /** The design: a usable worker on the vCPU's socket, not on the vCPU's core. */
    SAME_SOCKET_OTHER_CORE,
    /** Fallback (a): the vCPU's socket has usable workers only on the vCPU's own core. */
    SAME_SOCKET_SAME_CORE,
    /** Fallback (b): no usable worker on the vCPU's socket; least-loaded anywhere. */
    OTHER_SOCKET,
    /** Fallback (c): the vCPU's CPU is unknown; least-loaded anywhere. */
    VCPU_UNKNOWN,
    /** Fallback (d): no usable worker at all; the queue keeps its current worker (or stays unassigned). */
    NO_USABLE_WORKER,
    /** {@link PlacementMode#ROUND_ROBIN}: any usable worker, in turn. */
    ROUND_ROBIN
}

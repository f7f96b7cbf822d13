package io.jvhost.it.bench;

/** What forwards the packets under test: jvhost in one of its threading models, or DPDK. */
enum Backend {
    /** jvhost, {@code workers.model: per-cpu}: one pinned worker per CPU serves every queue (the design). */
    JVHOST_PER_CPU("jvhost per-cpu", "per-cpu"),
    /** jvhost, {@code workers.model: per-device}: one thread per device (the classic vhost model). */
    JVHOST_PER_DEVICE("jvhost per-device", "per-device"),
    /** DPDK testpmd with {@code net_vhost} ports, io forwarding, one busy-polling lcore: the reference. */
    DPDK("DPDK testpmd", null),
    /** Case 4: jvhost per-cpu with {@code offloads: false} on every port (no checksum offload, no TSO). */
    JVHOST_OFFLOADS_OFF("jvhost offloads off", "per-cpu"),
    /** Case 4: no vhost backend, QEMU's own virtio-net on a TAP device in a Linux bridge, QEMU's default offloads. */
    BRIDGE("TAP+bridge", null),
    /** Case 4: as {@link #BRIDGE} with checksum and TSO offloads off on the device ({@code csum=off,...}). */
    BRIDGE_OFFLOADS_OFF("TAP+bridge offloads off", null),
    /** Case 4: DPDK testpmd with {@code net_vhost} ports with {@code tso=1}, io forwarding. */
    DPDK_TSO("DPDK testpmd tso=1", null);

    private final String label;
    private final String model;

    Backend(String label, String model) {
        this.label = label;
        this.model = model;
    }

    /** For tables and plots. */
    String label() {
        return label;
    }

    /** jvhost's {@code workers.model}; null for DPDK. */
    String model() {
        return model;
    }

    boolean isJvhost() {
        return model != null;
    }

    /** A short word for file names and prefixes. */
    String tag() {
        return switch (this) {
            case JVHOST_PER_CPU -> "percpu";
            case JVHOST_PER_DEVICE -> "perdev";
            case DPDK -> "dpdk";
            case JVHOST_OFFLOADS_OFF -> "jvoff";
            case BRIDGE -> "bridge";
            case BRIDGE_OFFLOADS_OFF -> "bridgeoff";
            case DPDK_TSO -> "dpdktso";
        };
    }
}

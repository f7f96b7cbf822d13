package io.jvhost.it.bench;

/** What forwards the packets under test: jvhost in one of its threading models, or DPDK. */
enum Backend {
    /** jvhost, {@code workers.model: per-cpu}: one pinned worker per CPU serves every queue (the design). */
    JVHOST_PER_CPU("jvhost per-cpu", "per-cpu"),
    /** jvhost, {@code workers.model: per-device}: one thread per device (the classic vhost model). */
    JVHOST_PER_DEVICE("jvhost per-device", "per-device"),
    /** DPDK testpmd with {@code net_vhost} ports, io forwarding, one busy-polling lcore: the reference. */
    DPDK("DPDK testpmd", null);

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
        };
    }
}

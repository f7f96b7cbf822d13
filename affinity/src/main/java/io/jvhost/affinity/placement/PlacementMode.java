package io.jvhost.affinity.placement;

/** {@code workers.placement}: which workers a queue may go to. */
public enum PlacementMode {
    /** Same socket as the vCPU that kicks the queue, not that vCPU's core; see {@link QueuePlacement}. */
    SOCKET_AFFINE("socket-affine"),
    /** Ignores vCPUs and load: new queues go to the usable workers in turn. */
    ROUND_ROBIN("round-robin");

    private final String configName;

    PlacementMode(String configName) {
        this.configName = configName;
    }

    /** The spelling in the config file. */
    public String configName() {
        return configName;
    }

    /** @throws IllegalArgumentException naming the accepted values */
    public static PlacementMode fromConfigName(String name) {
        for (PlacementMode m : values()) {
            if (m.configName.equals(name)) {
                return m;
            }
        }
        throw new IllegalArgumentException("'" + name + "' is not socket-affine or round-robin");
    }
}

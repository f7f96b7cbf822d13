package io.jvhost.affinity.placement;

/** {@code workers.balance}: how one worker is chosen among the allowed ones. */
public enum BalanceMode {
    /** The lowest decaying busy ratio; ties: fewest queues, then lowest CPU. Rebalances with hysteresis. */
    LEAST_LOADED("least-loaded"),
    /** Uniformly at random; a queue on an allowed worker stays there (never moved for load). */
    RANDOM("random");

    private final String configName;

    BalanceMode(String configName) {
        this.configName = configName;
    }

    /** The spelling in the config file. */
    public String configName() {
        return configName;
    }

    /** @throws IllegalArgumentException naming the accepted values */
    public static BalanceMode fromConfigName(String name) {
        for (BalanceMode m : values()) {
            if (m.configName.equals(name)) {
                return m;
            }
        }
        throw new IllegalArgumentException("'" + name + "' is not least-loaded or random");
    }
}

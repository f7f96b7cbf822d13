package io.jvhost.backend.config;

import java.util.List;
import java.util.Objects;

/**
 * The whole configuration of one jvhost process, validated (see {@link ConfigLoader}).
 *
 * @param workers    the worker pool
 * @param topology   the CPU topology override, or {@code null} to use the detected one
 * @param ports      at least one port; names, socket paths and TAP names are unique
 * @param management where the management endpoint listens
 */
public record JvhostConfig(WorkersConfig workers, TopologyConfig topology, List<PortConfig> ports,
                           ManagementConfig management) {

    public JvhostConfig {
        Objects.requireNonNull(workers, "workers");
        ports = List.copyOf(ports);
        Objects.requireNonNull(management, "management");
    }
}

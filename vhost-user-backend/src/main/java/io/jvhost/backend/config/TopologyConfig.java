package io.jvhost.backend.config;

import java.util.List;

/**
 * {@code topology}: an override of the detected CPU topology, for tests and odd hosts.
 *
 * @param sockets one entry per socket, each the sorted CPU ids of that socket; no CPU is in two sockets
 */
public record TopologyConfig(List<List<Integer>> sockets) {

    public TopologyConfig {
        sockets = sockets.stream().map(List::copyOf).toList();
    }

    /** The index of the socket holding {@code cpu}, or -1 when no socket lists it. */
    public int socketOf(int cpu) {
        for (int i = 0; i < sockets.size(); i++) {
            if (sockets.get(i).contains(cpu)) {
                return i;
            }
        }
        return -1;
    }
}

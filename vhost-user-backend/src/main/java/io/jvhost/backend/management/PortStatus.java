package io.jvhost.backend.management;

import java.util.List;

/**
 * One port as the management endpoint reports it. Counters are totals since start; {@code rx} is what
 * the switch received from the port (the guest transmitted), {@code tx} what it delivered to the port.
 *
 * @param name      the port name from the config
 * @param kind      {@code "vhost-user"} or {@code "tap"}
 * @param socket    the socket path as configured, or {@code null} for a TAP port
 * @param mode      {@code "server"} or {@code "client"}, or {@code null} for a TAP port
 * @param network   the L2 network the port is in
 * @param connected a front-end is connected and the device is running (a TAP port: the device is open)
 * @param features  the virtio features the driver acked (0 while not connected)
 * @param queues    the queue pairs in use (the configured maximum while not negotiated)
 * @param rxPackets packets received from the port
 * @param rxBytes   bytes received from the port
 * @param txPackets packets delivered to the port
 * @param txBytes   bytes delivered to the port
 * @param drops     packets dropped (no buffer in the guest, full queue)
 * @param errors    malformed descriptor chains and other errors
 * @param mtu       the MTU in use (the configured one, or the smaller one the front-end set)
 * @param offloads  the offloads frames to the port may use as they are ({@code Offloads} names:
 *                  CSUM, TSO4 ...); a TAP port: those it accepts from the kernel
 * @param cpuSeconds worker CPU time spent for this port since start: its queues' kicks and polls, less
 *                   the receivers' half of its copies into them, plus its half of the copies into it
 * @param stormDrops frames from the port dropped at ingress for a storm-control limit
 *                   ({@code storm-control}: broadcast, multicast, unknown unicast)
 * @param spoofDrops frames from the port dropped at ingress for their source MAC: one port security
 *                   ({@code mac}, {@code allowed-macs}) does not allow, or another secured port's
 */
public record PortStatus(String name, String kind, String socket, String mode, String network, boolean connected,
                         long features, int queues, long rxPackets, long rxBytes, long txPackets, long txBytes,
                         long drops, long errors, int mtu, List<String> offloads, double cpuSeconds,
                         long stormDrops, long spoofDrops) {

    public PortStatus {
        offloads = List.copyOf(offloads);
    }
}

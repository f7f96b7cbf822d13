package io.jvhost.backend.config;

import io.jvhost.backend.linux.SocketAccess;
import java.nio.file.Path;
import java.util.List;
import java.util.Objects;

/**
 * One entry of {@code ports}: a vhost-user socket (when {@link #socket()} is set) or a host TAP device
 * (when {@link #tap()} is set), never both.
 *
 * @param name    unique port name (letters, digits, '.', '_', '-')
 * @param socket  the vhost-user socket path as written in the file (relative paths are relative to the
 *                working directory of the process), or {@code null} for a TAP port
 * @param mode    who listens on the socket, or {@code null} for a TAP port
 * @param queues  the queue pairs offered, 1..16
 * @param network the isolated L2 network (one learning switch each) this port belongs to
 * @param tap     the TAP interface name, or {@code null} for a vhost-user port
 * @param vcpus    optional: queue pair {@code i} is kicked by guest vCPU {@code vcpus[i]} (exactly
 *                 {@code queues} entries); {@code null} means the default {@code i mod nvcpus}
 * @param offloads checksum and segmentation offloads offered to the guest (a TAP port: taken from the
 *                 kernel); false: none
 * @param mtu      the port's MTU, {@link #MIN_MTU}..{@link #MAX_MTU}: frames without GSO to it carry at
 *                 most this many bytes of IP; a TAP port's interface gets this MTU
 * @param access   {@code socket-mode}, {@code socket-group} and {@code allowed-uids} of a vhost-user port
 *                 ({@link SocketAccess#ANY} for a TAP port)
 * @param mac      port security, vhost-user ports: the guest's MAC (a unicast 48-bit value), or {@code null}
 * @param allowedMacs port security: further source MACs allowed (with {@code mac}, the only ones);
 *                 empty with {@code mac} null: any source (no port security)
 * @param stormControl limits on the broadcast, multicast and unknown-unicast frames the port sends
 */
public record PortConfig(String name, Path socket, Mode mode, int queues, String network, String tap,
                         List<Integer> vcpus, boolean offloads, int mtu, SocketAccess access, Long mac,
                         List<Long> allowedMacs, StormControl stormControl) {

    public static final int MIN_QUEUES = 1;
    public static final int MAX_QUEUES = 16;
    public static final String DEFAULT_NETWORK = "default";
    public static final int MIN_MTU = 68;
    public static final int MAX_MTU = 65535;
    public static final int DEFAULT_MTU = 1500;
    /** {@code mac} and {@code allowed-macs} together allow at most this many source MACs. */
    public static final int MAX_ALLOWED_MACS = 64;

    public PortConfig {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(network, "network");
        if ((socket == null) == (tap == null)) {
            throw new IllegalArgumentException("port " + name + ": exactly one of socket or tap");
        }
        if ((socket == null) != (mode == null)) {
            throw new IllegalArgumentException("port " + name + ": mode goes with socket");
        }
        if (queues < MIN_QUEUES || queues > MAX_QUEUES) {
            throw new IllegalArgumentException("port " + name + ": queues out of range: " + queues);
        }
        if (mtu < MIN_MTU || mtu > MAX_MTU) {
            throw new IllegalArgumentException("port " + name + ": mtu out of range: " + mtu);
        }
        Objects.requireNonNull(access, "access");
        if (access.changesFile() && mode != Mode.SERVER) {
            throw new IllegalArgumentException("port " + name + ": socket-mode and socket-group go with a server-mode socket");
        }
        if (access.allowedUids() != null && socket == null) {
            throw new IllegalArgumentException("port " + name + ": allowed-uids goes with socket");
        }
        if (mac != null && tap != null) {
            throw new IllegalArgumentException("port " + name + ": mac goes with socket");
        }
        allowedMacs = List.copyOf(allowedMacs);
        if (allowedMacs.size() + (mac == null ? 0 : 1) > MAX_ALLOWED_MACS) {
            throw new IllegalArgumentException("port " + name + ": more than " + MAX_ALLOWED_MACS + " MACs");
        }
        Objects.requireNonNull(stormControl, "stormControl");
        vcpus = vcpus == null ? null : List.copyOf(vcpus);
    }

    /** The port with its earlier components, no port security and no storm control. */
    public PortConfig(String name, Path socket, Mode mode, int queues, String network, String tap,
                      List<Integer> vcpus, boolean offloads, int mtu, SocketAccess access) {
        this(name, socket, mode, queues, network, tap, vcpus, offloads, mtu, access, null, List.of(),
                StormControl.NONE);
    }

    /** The port with its earlier components and {@link SocketAccess#ANY}. */
    public PortConfig(String name, Path socket, Mode mode, int queues, String network, String tap,
                      List<Integer> vcpus, boolean offloads, int mtu) {
        this(name, socket, mode, queues, network, tap, vcpus, offloads, mtu, SocketAccess.ANY);
    }

    /** A vhost-user port with the default queue-to-vCPU mapping, offloads and MTU. */
    public static PortConfig vhostUser(String name, Path socket, Mode mode, int queues, String network) {
        return new PortConfig(name, socket, mode, queues, network, null, null, true, DEFAULT_MTU);
    }

    /** A TAP port with offloads and the default MTU. */
    public static PortConfig tap(String name, String tap, int queues, String network) {
        return new PortConfig(name, null, null, queues, network, tap, null, true, DEFAULT_MTU);
    }

    /** This port with {@code offloads} set. */
    public PortConfig withOffloads(boolean on) {
        return new PortConfig(name, socket, mode, queues, network, tap, vcpus, on, mtu, access, mac, allowedMacs,
                stormControl);
    }

    /** This port with {@code mtu} set. */
    public PortConfig withMtu(int newMtu) {
        return new PortConfig(name, socket, mode, queues, network, tap, vcpus, offloads, newMtu, access, mac,
                allowedMacs, stormControl);
    }

    /** This port with {@code access} set. */
    public PortConfig withAccess(SocketAccess newAccess) {
        return new PortConfig(name, socket, mode, queues, network, tap, vcpus, offloads, mtu, newAccess, mac,
                allowedMacs, stormControl);
    }

    /** This port with port security: {@code newMac} (or null) and {@code newAllowed}. */
    public PortConfig withPortSecurity(Long newMac, List<Long> newAllowed) {
        return new PortConfig(name, socket, mode, queues, network, tap, vcpus, offloads, mtu, access, newMac,
                newAllowed, stormControl);
    }

    /** This port with {@code storm-control} set. */
    public PortConfig withStormControl(StormControl newStormControl) {
        return new PortConfig(name, socket, mode, queues, network, tap, vcpus, offloads, mtu, access, mac,
                allowedMacs, newStormControl);
    }

    /** The source MACs port security allows, {@code mac} first; empty: any. */
    public long[] securedMacs() {
        long[] macs = new long[allowedMacs.size() + (mac == null ? 0 : 1)];
        int i = 0;
        if (mac != null) {
            macs[i++] = mac;
        }
        for (long m : allowedMacs) {
            macs[i++] = m;
        }
        return macs;
    }

    public boolean isTap() {
        return tap != null;
    }

    /** {@code "vhost-user"} or {@code "tap"}, as the management endpoint reports it. */
    public String kind() {
        return isTap() ? "tap" : "vhost-user";
    }

    /** {@code ports[].mode}. */
    public enum Mode implements ConfigEnum {
        /** jvhost creates and listens on the socket; QEMU connects ({@code server=off} on QEMU's side). */
        SERVER("server"),
        /** QEMU listens; jvhost connects and reconnects ({@code server=on} on QEMU's side). */
        CLIENT("client");

        private final String configName;

        Mode(String configName) {
            this.configName = configName;
        }

        @Override
        public String configName() {
            return configName;
        }
    }
}

package io.jvhost.virtio.net;

import io.jvhost.virtio.VirtioFeatures;

import java.util.ArrayList;
import java.util.List;

/**
 * Feature bit numbers of a virtio-net device (virtio 1.2 §5.1.3 "Feature bits"), the
 * device-independent bits it uses (§6) and vhost-user's protocol-features bit, with
 * {@link #describe(long)} for logs.
 */
public final class VirtioNetFeatures {

    /** Device handles packets with partial checksum (TX offload). */
    public static final int CSUM = 0;
    /** Driver handles packets with partial checksum (RX). */
    public static final int GUEST_CSUM = 1;
    public static final int CTRL_GUEST_OFFLOADS = 2;
    public static final int MTU = 3;
    /** Device has a MAC address in its config space. */
    public static final int MAC = 5;
    public static final int GUEST_TSO4 = 7;
    public static final int GUEST_TSO6 = 8;
    public static final int GUEST_ECN = 9;
    public static final int GUEST_UFO = 10;
    public static final int HOST_TSO4 = 11;
    public static final int HOST_TSO6 = 12;
    public static final int HOST_ECN = 13;
    public static final int HOST_UFO = 14;
    /** Driver can merge receive buffers (num_buffers in the header, §5.1.6.4). */
    public static final int MRG_RXBUF = 15;
    /** Link status in config space. */
    public static final int STATUS = 16;
    /** Control virtqueue. */
    public static final int CTRL_VQ = 17;
    public static final int CTRL_RX = 18;
    public static final int CTRL_VLAN = 19;
    public static final int GUEST_ANNOUNCE = 21;
    /** Multiqueue with automatic receive steering. */
    public static final int MQ = 22;
    public static final int CTRL_MAC_ADDR = 23;
    /** Driver accepts UDP segmentation offload over IPv4 (virtio 1.3 §5.1.3). */
    public static final int GUEST_USO4 = 54;
    /** Driver accepts UDP segmentation offload over IPv6. */
    public static final int GUEST_USO6 = 55;
    /** Device accepts UDP segmentation offload (gso_type GSO_UDP_L4). */
    public static final int HOST_USO = 56;

    public static final int VIRTIO_F_NOTIFY_ON_EMPTY = VirtioFeatures.NOTIFY_ON_EMPTY;
    public static final int ANY_LAYOUT = VirtioFeatures.ANY_LAYOUT;
    public static final int RING_INDIRECT_DESC = VirtioFeatures.RING_INDIRECT_DESC;
    public static final int RING_EVENT_IDX = VirtioFeatures.RING_EVENT_IDX;
    /** vhost-user: GET/SET_PROTOCOL_FEATURES are supported (vhost-user.rst, not a virtio bit). */
    public static final int VHOST_USER_F_PROTOCOL_FEATURES = 30;
    public static final int VERSION_1 = VirtioFeatures.VERSION_1;

    private static final String[] NAMES = new String[64];

    static {
        NAMES[CSUM] = "CSUM";
        NAMES[GUEST_CSUM] = "GUEST_CSUM";
        NAMES[CTRL_GUEST_OFFLOADS] = "CTRL_GUEST_OFFLOADS";
        NAMES[MTU] = "MTU";
        NAMES[MAC] = "MAC";
        NAMES[GUEST_TSO4] = "GUEST_TSO4";
        NAMES[GUEST_TSO6] = "GUEST_TSO6";
        NAMES[GUEST_ECN] = "GUEST_ECN";
        NAMES[GUEST_UFO] = "GUEST_UFO";
        NAMES[HOST_TSO4] = "HOST_TSO4";
        NAMES[HOST_TSO6] = "HOST_TSO6";
        NAMES[HOST_ECN] = "HOST_ECN";
        NAMES[HOST_UFO] = "HOST_UFO";
        NAMES[MRG_RXBUF] = "MRG_RXBUF";
        NAMES[STATUS] = "STATUS";
        NAMES[CTRL_VQ] = "CTRL_VQ";
        NAMES[CTRL_RX] = "CTRL_RX";
        NAMES[CTRL_VLAN] = "CTRL_VLAN";
        NAMES[GUEST_ANNOUNCE] = "GUEST_ANNOUNCE";
        NAMES[MQ] = "MQ";
        NAMES[CTRL_MAC_ADDR] = "CTRL_MAC_ADDR";
        NAMES[GUEST_USO4] = "GUEST_USO4";
        NAMES[GUEST_USO6] = "GUEST_USO6";
        NAMES[HOST_USO] = "HOST_USO";
        NAMES[VIRTIO_F_NOTIFY_ON_EMPTY] = "NOTIFY_ON_EMPTY";
        NAMES[ANY_LAYOUT] = "ANY_LAYOUT";
        NAMES[RING_INDIRECT_DESC] = "RING_INDIRECT_DESC";
        NAMES[RING_EVENT_IDX] = "RING_EVENT_IDX";
        NAMES[VHOST_USER_F_PROTOCOL_FEATURES] = "PROTOCOL_FEATURES";
        NAMES[VERSION_1] = "VERSION_1";
        NAMES[VirtioFeatures.ACCESS_PLATFORM] = "ACCESS_PLATFORM";
        NAMES[VirtioFeatures.RING_PACKED] = "RING_PACKED";
        NAMES[VirtioFeatures.IN_ORDER] = "IN_ORDER";
    }

    private VirtioNetFeatures() {
    }

    /** The mask of bit number {@code bit}. */
    public static long mask(int bit) {
        return 1L << bit;
    }

    public static boolean has(long features, int bit) {
        return (features & (1L << bit)) != 0;
    }

    /** The names of the set bits, lowest first ({@code "MAC"}, {@code "bit40"} for unknown ones). Not for the hot path. */
    public static List<String> names(long features) {
        List<String> out = new ArrayList<>();
        for (int bit = 0; bit < 64; bit++) {
            if ((features & (1L << bit)) != 0) {
                out.add(NAMES[bit] != null ? NAMES[bit] : "bit" + bit);
            }
        }
        return out;
    }

    /**
     * Names of the set bits, lowest first, joined by {@code |}; unknown bits as {@code bit<n>}:
     * {@code "0x100008020 MAC|MRG_RXBUF|VERSION_1"}. Not for the hot path.
     */
    public static String describe(long features) {
        return "0x" + Long.toHexString(features) + ' ' + (features == 0 ? "none" : String.join("|", names(features)));
    }
}

package io.jvhost.backend.offload;

import io.jvhost.virtio.net.VirtioNetFeatures;

import java.util.ArrayList;
import java.util.List;

/**
 * Offload capabilities as one small bit set: what a receiver can take (its GUEST_* features, or a TAP
 * device: everything), what a sender may hand over (its HOST_* features), and what a frame needs.
 *
 * <p>The bits are those of Linux's {@code TUN_F_*} flags ({@code <linux/if_tun.h>}), so the set a TAP
 * device should accept is passed to TUNSETOFFLOAD as it is.
 */
public final class Offloads {

    /** Partial checksums (VIRTIO_NET_HDR_F_NEEDS_CSUM). TUN_F_CSUM. */
    public static final int CSUM = 0x01;
    /** TCP segmentation over IPv4. TUN_F_TSO4. */
    public static final int TSO4 = 0x02;
    /** TCP segmentation over IPv6. TUN_F_TSO6. */
    public static final int TSO6 = 0x04;
    /** TSO frames with the CWR bit (gso_type | VIRTIO_NET_HDR_GSO_ECN). TUN_F_TSO_ECN. */
    public static final int ECN = 0x08;
    /** UDP fragmentation offload (gso_type UDP). TUN_F_UFO. */
    public static final int UFO = 0x10;
    /** UDP segmentation over IPv4 (gso_type UDP_L4). TUN_F_USO4. */
    public static final int USO4 = 0x20;
    /** UDP segmentation over IPv6. TUN_F_USO6. */
    public static final int USO6 = 0x40;
    public static final int ALL = CSUM | TSO4 | TSO6 | ECN | UFO | USO4 | USO6;

    /** The virtio-net feature bits jvhost offers for offloads (both directions). */
    public static final long FEATURES = mask(VirtioNetFeatures.CSUM, VirtioNetFeatures.GUEST_CSUM,
            VirtioNetFeatures.HOST_TSO4, VirtioNetFeatures.HOST_TSO6, VirtioNetFeatures.HOST_ECN,
            VirtioNetFeatures.HOST_UFO, VirtioNetFeatures.HOST_USO,
            VirtioNetFeatures.GUEST_TSO4, VirtioNetFeatures.GUEST_TSO6, VirtioNetFeatures.GUEST_ECN,
            VirtioNetFeatures.GUEST_UFO, VirtioNetFeatures.GUEST_USO4, VirtioNetFeatures.GUEST_USO6);

    private Offloads() {
    }

    /**
     * What a guest can receive: its acked GUEST_* features. A segmentation bit counts only with
     * GUEST_CSUM (virtio 1.2 §5.1.3.1: GUEST_TSO4 and the others require GUEST_CSUM), and ECN only
     * with TSO.
     */
    public static int receivable(long ackedFeatures) {
        if (!VirtioNetFeatures.has(ackedFeatures, VirtioNetFeatures.GUEST_CSUM)) {
            return 0;
        }
        int caps = CSUM;
        caps |= bit(ackedFeatures, VirtioNetFeatures.GUEST_TSO4, TSO4);
        caps |= bit(ackedFeatures, VirtioNetFeatures.GUEST_TSO6, TSO6);
        caps |= bit(ackedFeatures, VirtioNetFeatures.GUEST_UFO, UFO);
        caps |= bit(ackedFeatures, VirtioNetFeatures.GUEST_USO4, USO4);
        caps |= bit(ackedFeatures, VirtioNetFeatures.GUEST_USO6, USO6);
        if ((caps & (TSO4 | TSO6)) != 0) {
            caps |= bit(ackedFeatures, VirtioNetFeatures.GUEST_ECN, ECN);
        }
        return caps;
    }

    /**
     * What a guest may send: its acked CSUM and HOST_* features (§5.1.3.1: HOST_TSO4 and the others
     * require CSUM; HOST_ECN requires TSO).
     */
    public static int sendable(long ackedFeatures) {
        if (!VirtioNetFeatures.has(ackedFeatures, VirtioNetFeatures.CSUM)) {
            return 0;
        }
        int caps = CSUM;
        caps |= bit(ackedFeatures, VirtioNetFeatures.HOST_TSO4, TSO4);
        caps |= bit(ackedFeatures, VirtioNetFeatures.HOST_TSO6, TSO6);
        caps |= bit(ackedFeatures, VirtioNetFeatures.HOST_UFO, UFO);
        if (VirtioNetFeatures.has(ackedFeatures, VirtioNetFeatures.HOST_USO)) {
            caps |= USO4 | USO6;
        }
        if ((caps & (TSO4 | TSO6)) != 0) {
            caps |= bit(ackedFeatures, VirtioNetFeatures.HOST_ECN, ECN);
        }
        return caps;
    }

    /** Names of the bits, for logs and management ({@code ["CSUM", "TSO4"]}). */
    public static List<String> names(int caps) {
        String[] all = {"CSUM", "TSO4", "TSO6", "ECN", "UFO", "USO4", "USO6"};
        List<String> out = new ArrayList<>();
        for (int i = 0; i < all.length; i++) {
            if ((caps & (1 << i)) != 0) {
                out.add(all[i]);
            }
        }
        return out;
    }

    private static int bit(long features, int feature, int cap) {
        return VirtioNetFeatures.has(features, feature) ? cap : 0;
    }

    private static long mask(int... bits) {
        long m = 0;
        for (int b : bits) {
            m |= VirtioNetFeatures.mask(b);
        }
        return m;
    }
}

package io.jvhost.it.harness;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;

/**
 * A virtio-net-pci NIC that QEMU emulates itself on a TAP device ({@code -netdev tap}): what a user
 * gets without any vhost backend. QEMU opens the TAP by name in its own network namespace, so the
 * guest must run where the TAP is ({@link QemuGuest.Builder#networkNamespace}); {@link NetNamespace#addTap}
 * creates one attached to a bridge. Immutable; the {@code with...} methods return copies.
 *
 * <p>No {@code vectors=0} here: the crash of QEMU 7.2 under TCG needs vhost-user and MSI-X together,
 * and QEMU's own device runs with MSI-X. {@code vhost} stays off (QEMU's default): vhost-net would
 * move the datapath into the kernel, which is another setup than QEMU's own device. {@code script=no}
 * and {@code downscript=no}: the TAP is configured by the test, not by {@code /etc/qemu-ifup}.
 *
 * @param ifname        the TAP interface, at most 15 bytes (IFNAMSIZ - 1)
 * @param mac           the guest MAC, or null for QEMU's default
 * @param offloads      false turns off every checksum and TSO offload of the device in both
 *                      directions ({@link #OFFLOADS_OFF}); true keeps QEMU's defaults (all on)
 * @param deviceOptions extra raw {@code virtio-net-pci} options
 */
public record TapNic(String ifname, String mac, boolean offloads, List<String> deviceOptions) implements GuestNic {

    /** The device options that turn the offloads off: checksum and TCP segmentation, host and guest side. */
    public static final List<String> OFFLOADS_OFF = List.of("csum=off", "guest_csum=off", "host_tso4=off",
            "host_tso6=off", "guest_tso4=off", "guest_tso6=off");

    static final int IFNAME_MAX = 15;
    private static final Pattern MAC = Pattern.compile("[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}");
    private static final Pattern IFNAME = Pattern.compile("[A-Za-z0-9_.-]+");

    public TapNic {
        if (!IFNAME.matcher(ifname).matches() || ifname.getBytes(StandardCharsets.UTF_8).length > IFNAME_MAX) {
            throw new IllegalArgumentException("not an interface name of at most " + IFNAME_MAX + " bytes: " + ifname);
        }
        if (mac != null && !MAC.matcher(mac).matches()) {
            throw new IllegalArgumentException("not a MAC: " + mac);
        }
        deviceOptions = List.copyOf(deviceOptions);
    }

    /** QEMU's virtio-net on TAP {@code ifname}, offloads on. */
    public static TapNic of(String ifname) {
        return new TapNic(ifname, null, true, List.of());
    }

    public TapNic withMac(String newMac) {
        return new TapNic(ifname, newMac, offloads, deviceOptions);
    }

    public TapNic withOffloads(boolean on) {
        return new TapNic(ifname, mac, on, deviceOptions);
    }

    public TapNic withDeviceOption(String option) {
        List<String> options = new ArrayList<>(deviceOptions);
        options.add(option);
        return new TapNic(ifname, mac, offloads, options);
    }

    @Override
    public List<String> qemuArgs(int index) {
        String netdev = "n" + index;
        String net = "tap,id=" + netdev + ",ifname=" + ifname + ",script=no,downscript=no";
        StringBuilder dev = new StringBuilder("virtio-net-pci,netdev=").append(netdev);
        if (mac != null) {
            dev.append(",mac=").append(mac);
        }
        dev.append(",romfile=");
        if (!offloads) {
            for (String option : OFFLOADS_OFF) {
                dev.append(',').append(option);
            }
        }
        for (String option : deviceOptions) {
            dev.append(',').append(option);
        }
        return List.of("-netdev", net, "-device", dev.toString());
    }
}

package io.jvhost.it.harness;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;

/**
 * One virtio-net-pci NIC of a {@link QemuGuest} backed by a vhost-user socket. Immutable; the
 * {@code with...} methods return copies.
 *
 * <p>QEMU's side of the socket:
 * <ul>
 *   <li>{@link Mode#CLIENT}: QEMU connects to a backend that listens ({@code -chardev socket,path=P});
 *       with {@code reconnect=N} it retries every N seconds, also at start-up, so QEMU may be started
 *       before the backend and survives a backend restart;</li>
 *   <li>{@link Mode#SERVER}: QEMU listens ({@code server=on,wait=off}) and the backend connects.
 *       QEMU 7.2 still blocks in vhost-user netdev init until the backend has connected, so the guest
 *       does not boot before that.</li>
 * </ul>
 *
 * <p>{@code vectors=0} is always passed: QEMU 7.2 under TCG crashes when vhost-user meets MSI-X,
 * so the device uses INTx. {@code romfile=} (empty) drops the iPXE option ROM (faster boot).
 *
 * @param socket           the vhost-user UNIX socket; at most 107 bytes (sun_path)
 * @param mode             which side listens
 * @param reconnectSeconds client mode only: {@code reconnect=N}, 0 for none
 * @param queues           queue pairs; above 1 adds {@code queues=N} to the netdev and {@code mq=on}
 *                         to the device (the guest enables min(queues, vCPUs) pairs by itself)
 * @param mac              the guest MAC, or null for QEMU's default
 * @param deviceOptions    extra raw {@code virtio-net-pci} options, e.g. {@code mrg_rxbuf=off}
 */
public record VhostUserNic(Path socket, Mode mode, int reconnectSeconds, int queues, String mac,
                           List<String> deviceOptions) implements GuestNic {

    /** Which side of the vhost-user socket QEMU is. */
    public enum Mode { CLIENT, SERVER }

    static final int SUN_PATH_MAX = 107;
    private static final Pattern MAC = Pattern.compile("[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}");

    public VhostUserNic {
        int length = socket.toString().getBytes(StandardCharsets.UTF_8).length;
        if (length > SUN_PATH_MAX) {
            throw new IllegalArgumentException("socket path is " + length + " bytes, sun_path holds "
                    + SUN_PATH_MAX + ": " + socket);
        }
        if (queues < 1 || queues > 256) {
            throw new IllegalArgumentException("queues must be 1..256: " + queues);
        }
        if (reconnectSeconds < 0 || (reconnectSeconds > 0 && mode != Mode.CLIENT)) {
            throw new IllegalArgumentException("reconnect=" + reconnectSeconds + " needs client mode and >= 0");
        }
        if (mac != null && !MAC.matcher(mac).matches()) {
            throw new IllegalArgumentException("not a MAC: " + mac);
        }
        deviceOptions = List.copyOf(deviceOptions);
    }

    /** QEMU connects to {@code socket} (the backend listens). */
    public static VhostUserNic client(Path socket) {
        return new VhostUserNic(socket, Mode.CLIENT, 0, 1, null, List.of());
    }

    /** QEMU listens on {@code socket} (the backend connects). */
    public static VhostUserNic server(Path socket) {
        return new VhostUserNic(socket, Mode.SERVER, 0, 1, null, List.of());
    }

    public VhostUserNic withReconnect(int seconds) {
        return new VhostUserNic(socket, mode, seconds, queues, mac, deviceOptions);
    }

    public VhostUserNic withQueues(int n) {
        return new VhostUserNic(socket, mode, reconnectSeconds, n, mac, deviceOptions);
    }

    public VhostUserNic withMac(String newMac) {
        return new VhostUserNic(socket, mode, reconnectSeconds, queues, newMac, deviceOptions);
    }

    public VhostUserNic withDeviceOption(String option) {
        List<String> options = new ArrayList<>(deviceOptions);
        options.add(option);
        return new VhostUserNic(socket, mode, reconnectSeconds, queues, mac, options);
    }

    /** The {@code -chardev}, {@code -netdev} and {@code -device} arguments for NIC number {@code index}. */
    @Override
    public List<String> qemuArgs(int index) {
        String chardev = "c" + index;
        String netdev = "n" + index;
        StringBuilder chr = new StringBuilder("socket,id=").append(chardev).append(",path=")
                .append(QemuGuest.escapeOption(socket.toString()));
        if (mode == Mode.SERVER) {
            chr.append(",server=on,wait=off");
        } else if (reconnectSeconds > 0) {
            chr.append(",reconnect=").append(reconnectSeconds);
        }
        StringBuilder net = new StringBuilder("vhost-user,id=").append(netdev).append(",chardev=").append(chardev);
        if (queues > 1) {
            net.append(",queues=").append(queues);
        }
        StringBuilder dev = new StringBuilder("virtio-net-pci,netdev=").append(netdev);
        if (mac != null) {
            dev.append(",mac=").append(mac);
        }
        if (queues > 1) {
            dev.append(",mq=on");
        }
        dev.append(",vectors=0,romfile=");
        for (String option : deviceOptions) {
            dev.append(',').append(option);
        }
        return List.of("-chardev", chr.toString(), "-netdev", net.toString(), "-device", dev.toString());
    }
}

package io.jvhost.it.harness;

import java.util.List;

/**
 * One virtio-net-pci NIC of a {@link QemuGuest}: served over vhost-user by a backend
 * ({@link VhostUserNic}) or by QEMU's own virtio-net on a TAP device ({@link TapNic}).
 */
public sealed interface GuestNic permits VhostUserNic, TapNic {

    /** The {@code -netdev} and {@code -device} arguments (and a {@code -chardev} if any) of NIC number {@code index}. */
    List<String> qemuArgs(int index);
}

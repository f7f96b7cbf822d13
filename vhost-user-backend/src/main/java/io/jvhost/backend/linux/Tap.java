package io.jvhost.backend.linux;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;

/**
 * A TAP interface opened through /dev/net/tun (TUNSETIFF), for {@link Fds#readv}/{@link Fds#writev}.
 *
 * @param fd   the tun file descriptor (owned; {@link #close()} closes it)
 * @param name the interface name the kernel chose or confirmed
 */
public record Tap(int fd, String name) implements AutoCloseable {

    /** {@code <linux/if_tun.h>}: a TAP (Ethernet) device. */
    public static final short IFF_TAP = 0x0002;
    /** No packet-information prefix on each frame. */
    public static final short IFF_NO_PI = 0x1000;
    /** Each frame is preceded by a {@code virtio_net_hdr}. */
    public static final short IFF_VNET_HDR = 0x4000;

    private static final long TUNSETIFF = 0x400454caL;      // _IOW('T', 202, int)
    private static final long TUNSETVNETHDRSZ = 0x400454d8L; // _IOW('T', 216, int)
    private static final long TUNSETOFFLOAD = 0x400454d0L;   // _IOW('T', 208, unsigned int)
    private static final long SIOCGIFMTU = 0x8921L;
    private static final long SIOCSIFMTU = 0x8922L;

    /** TUNSETOFFLOAD bits ({@code TUN_F_*}) a kernel before 6.2 does not know: UDP segmentation. */
    public static final int TUN_F_USO = 0x20 | 0x40;

    /**
     * Opens (creating if needed) TAP interface {@code name} with IFF_TAP|IFF_NO_PI, plus IFF_VNET_HDR
     * when {@code vnetHeader}.
     *
     * @param name up to 15 bytes; empty lets the kernel choose ({@code tapN})
     */
    public static Tap open(String name, boolean vnetHeader, boolean nonBlocking) throws LinuxException {
        byte[] nameBytes = name.getBytes(StandardCharsets.US_ASCII);
        if (nameBytes.length >= NativeLayouts.IFNAMSIZ) {
            throw new IllegalArgumentException("interface name longer than 15 bytes: " + name);
        }
        int flags = Libc.O_RDWR | Libc.O_CLOEXEC | (nonBlocking ? Libc.O_NONBLOCK : 0);
        int fd = Errors.check("open(/dev/net/tun)", Libc.open("/dev/net/tun", flags));
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment ifreq = arena.allocate(NativeLayouts.IFREQ_SIZE, 8);
            MemorySegment.copy(nameBytes, 0, ifreq, ValueLayout.JAVA_BYTE, NativeLayouts.IFR_NAME, nameBytes.length);
            short ifFlags = (short) (IFF_TAP | IFF_NO_PI | (vnetHeader ? IFF_VNET_HDR : 0));
            ifreq.set(ValueLayout.JAVA_SHORT, NativeLayouts.IFR_FLAGS, ifFlags);
            Errors.check("ioctl(TUNSETIFF, " + name + ")", Libc.ioctl(fd, TUNSETIFF, ifreq.address()));
            String actual = ifreq.asSlice(NativeLayouts.IFR_NAME, NativeLayouts.IFNAMSIZ).getString(0, StandardCharsets.US_ASCII);
            return new Tap(fd, actual);
        } catch (LinuxException | RuntimeException e) {
            Fds.closeQuietly(fd);
            throw e;
        }
    }

    /** TUNSETVNETHDRSZ: 10 (legacy header) or 12 (with num_buffers, virtio 1.0 / mergeable buffers). */
    public void setVnetHeaderSize(int bytes) throws LinuxException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment value = arena.allocate(ValueLayout.JAVA_INT);
            value.set(ValueLayout.JAVA_INT, 0, bytes);
            Errors.check("ioctl(TUNSETVNETHDRSZ)", Libc.ioctl(fd, TUNSETVNETHDRSZ, value.address()));
        }
    }

    /**
     * TUNSETOFFLOAD: which offloaded frames ({@code TUN_F_*}: CSUM 0x1, TSO4 0x2, TSO6 0x4, TSO_ECN 0x8,
     * UFO 0x10, USO4 0x20, USO6 0x40) the kernel may hand this reader; it segments and checksums the
     * rest itself. A kernel that does not know the USO bits refuses them (EINVAL): they are then
     * dropped and the call repeated.
     *
     * @return the flags the kernel took
     */
    public int setOffload(int flags) throws LinuxException {
        int rc = Libc.ioctl(fd, TUNSETOFFLOAD, Integer.toUnsignedLong(flags));
        if (rc < 0 && (flags & TUN_F_USO) != 0) {
            flags &= ~TUN_F_USO;
            rc = Libc.ioctl(fd, TUNSETOFFLOAD, Integer.toUnsignedLong(flags));
        }
        Errors.check("ioctl(TUNSETOFFLOAD, 0x" + Integer.toHexString(flags) + ")", rc);
        return flags;
    }

    /** SIOCSIFMTU on the interface, in the network namespace of this process (where it was created). */
    public void setMtu(int mtu) throws LinuxException {
        interfaceIoctl(SIOCSIFMTU, mtu);
    }

    /** SIOCGIFMTU: the interface's MTU. */
    public int mtu() throws LinuxException {
        return interfaceIoctl(SIOCGIFMTU, 0);
    }

    private int interfaceIoctl(long request, int mtu) throws LinuxException {
        int sock = Errors.check("socket(AF_INET, SOCK_DGRAM)", Libc.socket(Libc.AF_INET,
                Libc.SOCK_DGRAM | Libc.SOCK_CLOEXEC, 0));
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment ifreq = arena.allocate(NativeLayouts.IFREQ_SIZE, 8);
            byte[] nameBytes = name.getBytes(StandardCharsets.US_ASCII);
            MemorySegment.copy(nameBytes, 0, ifreq, ValueLayout.JAVA_BYTE, NativeLayouts.IFR_NAME, nameBytes.length);
            ifreq.set(ValueLayout.JAVA_INT, NativeLayouts.IFR_MTU, mtu);
            Errors.check("ioctl(" + (request == SIOCSIFMTU ? "SIOCSIFMTU " + mtu : "SIOCGIFMTU") + ", " + name + ")",
                    Libc.ioctl(sock, request, ifreq.address()));
            return ifreq.get(ValueLayout.JAVA_INT, NativeLayouts.IFR_MTU);
        } finally {
            Fds.closeQuietly(sock);
        }
    }

    @Override
    public void close() {
        Fds.closeQuietly(fd);
    }
}

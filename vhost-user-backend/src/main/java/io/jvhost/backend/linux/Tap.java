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

    @Override
    public void close() {
        Fds.closeQuietly(fd);
    }
}

package io.jvhost.backend.linux;

import com.sun.jna.Native;

import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemoryLayout.PathElement;
import java.lang.foreign.StructLayout;
import java.lang.foreign.ValueLayout;
import java.util.Locale;

/**
 * Sizes and offsets of the kernel/glibc structures the bindings fill in by hand, for x86_64 Linux
 * (LP64: pointers, {@code size_t} and {@code long} are 8 bytes).
 *
 * <p>The constants are what the code uses; {@link #verify()} runs once, when {@link Libc} loads, and
 * checks them against naturally aligned {@link StructLayout}s built from the C declarations (the
 * layout API refuses a misaligned member, so a wrong padding guess fails there) and checks that the
 * platform is the one they were written for.
 */
final class NativeLayouts {

    // struct sockaddr_un { sa_family_t sun_family; char sun_path[108]; }        <sys/un.h>
    static final int SOCKADDR_UN_SIZE = 110;
    static final int SUN_FAMILY = 0;
    static final int SUN_PATH = 2;
    static final int SUN_PATH_CAPACITY = 108;

    // struct iovec { void *iov_base; size_t iov_len; }                          <sys/uio.h>
    static final int IOVEC_SIZE = 16;
    static final int IOV_BASE = 0;
    static final int IOV_LEN = 8;

    // struct msghdr { void *msg_name; socklen_t msg_namelen; struct iovec *msg_iov; size_t msg_iovlen;
    //                 void *msg_control; size_t msg_controllen; int msg_flags; }  <sys/socket.h>
    static final int MSGHDR_SIZE = 56;
    static final int MSG_NAME = 0;
    static final int MSG_NAMELEN = 8;
    static final int MSG_IOV = 16;
    static final int MSG_IOVLEN = 24;
    static final int MSG_CONTROL = 32;
    static final int MSG_CONTROLLEN = 40;
    static final int MSG_FLAGS = 48;

    // struct cmsghdr { size_t cmsg_len; int cmsg_level; int cmsg_type; unsigned char data[]; }
    static final int CMSGHDR_SIZE = 16;
    static final int CMSG_LEN = 0;
    static final int CMSG_LEVEL = 8;
    static final int CMSG_TYPE = 12;
    static final int CMSG_DATA = 16;
    /** CMSG_ALIGN: control messages are padded to {@code sizeof(size_t)}. */
    static final int CMSG_ALIGNMENT = 8;

    // struct ucred { pid_t pid; uid_t uid; gid_t gid; }
    static final int UCRED_SIZE = 12;
    static final int UCRED_PID = 0;
    static final int UCRED_UID = 4;
    static final int UCRED_GID = 8;

    // struct pollfd { int fd; short events; short revents; }                     <poll.h>
    static final int POLLFD_SIZE = 8;
    static final int POLLFD_FD = 0;
    static final int POLLFD_EVENTS = 4;
    static final int POLLFD_REVENTS = 6;

    // struct stat, x86_64 kernel/glibc layout                                   <bits/struct_stat.h>
    static final int STAT_SIZE = 144;
    static final int ST_MODE = 24;
    static final int ST_SIZE = 48;
    static final int ST_BLKSIZE = 56;

    // struct ifreq { char ifr_name[IFNAMSIZ]; union { short ifr_flags; ... 24 bytes }; } <net/if.h>
    static final int IFREQ_SIZE = 40;
    static final int IFR_NAME = 0;
    static final int IFR_FLAGS = 16;
    /** {@code ifr_mtu}, an int in the same union as {@code ifr_flags}. */
    static final int IFR_MTU = 16;
    static final int IFNAMSIZ = 16;

    private NativeLayouts() {
    }

    /** CMSG_LEN(n): header plus {@code n} data bytes, unpadded. */
    static int cmsgLen(int dataBytes) {
        return CMSGHDR_SIZE + dataBytes;
    }

    /** CMSG_SPACE(n): header plus {@code n} data bytes, padded to the control-message alignment. */
    static int cmsgSpace(int dataBytes) {
        return CMSGHDR_SIZE + cmsgAlign(dataBytes);
    }

    static int cmsgAlign(int length) {
        return (length + CMSG_ALIGNMENT - 1) & -CMSG_ALIGNMENT;
    }

    /** Fails when the platform or any constant above disagrees with the C declarations. */
    static void verify() {
        String os = System.getProperty("os.name", "");
        String arch = System.getProperty("os.arch", "").toLowerCase(Locale.ROOT);
        require(os.startsWith("Linux"), "jvhost needs Linux, not " + os);
        require(arch.equals("amd64") || arch.equals("x86_64"), "struct layouts are for x86_64, not " + arch);
        require(Native.POINTER_SIZE == 8 && Native.SIZE_T_SIZE == 8 && Native.LONG_SIZE == 8,
                "expected LP64 (8-byte pointer, size_t, long)");

        ValueLayout ptr = ValueLayout.ADDRESS;
        ValueLayout sizeT = ValueLayout.JAVA_LONG;
        ValueLayout cInt = ValueLayout.JAVA_INT;
        ValueLayout cShort = ValueLayout.JAVA_SHORT;

        StructLayout sockaddrUn = MemoryLayout.structLayout(
                cShort.withName("sun_family"),
                MemoryLayout.sequenceLayout(SUN_PATH_CAPACITY, ValueLayout.JAVA_BYTE).withName("sun_path"));
        check(sockaddrUn, SOCKADDR_UN_SIZE, "sun_family", SUN_FAMILY, "sun_path", SUN_PATH);

        StructLayout iovec = MemoryLayout.structLayout(ptr.withName("iov_base"), sizeT.withName("iov_len"));
        check(iovec, IOVEC_SIZE, "iov_base", IOV_BASE, "iov_len", IOV_LEN);

        StructLayout msghdr = MemoryLayout.structLayout(
                ptr.withName("msg_name"),
                cInt.withName("msg_namelen"),
                MemoryLayout.paddingLayout(4),
                ptr.withName("msg_iov"),
                sizeT.withName("msg_iovlen"),
                ptr.withName("msg_control"),
                sizeT.withName("msg_controllen"),
                cInt.withName("msg_flags"),
                MemoryLayout.paddingLayout(4));
        check(msghdr, MSGHDR_SIZE, "msg_name", MSG_NAME, "msg_namelen", MSG_NAMELEN, "msg_iov", MSG_IOV,
                "msg_iovlen", MSG_IOVLEN, "msg_control", MSG_CONTROL, "msg_controllen", MSG_CONTROLLEN,
                "msg_flags", MSG_FLAGS);

        StructLayout cmsghdr = MemoryLayout.structLayout(
                sizeT.withName("cmsg_len"), cInt.withName("cmsg_level"), cInt.withName("cmsg_type"));
        check(cmsghdr, CMSGHDR_SIZE, "cmsg_len", CMSG_LEN, "cmsg_level", CMSG_LEVEL, "cmsg_type", CMSG_TYPE);
        require(CMSG_DATA == cmsgAlign(CMSGHDR_SIZE), "CMSG_DATA must follow the aligned header");

        StructLayout ucred = MemoryLayout.structLayout(
                cInt.withName("pid"), cInt.withName("uid"), cInt.withName("gid"));
        check(ucred, UCRED_SIZE, "pid", UCRED_PID, "uid", UCRED_UID, "gid", UCRED_GID);

        StructLayout pollfd = MemoryLayout.structLayout(
                cInt.withName("fd"), cShort.withName("events"), cShort.withName("revents"));
        check(pollfd, POLLFD_SIZE, "fd", POLLFD_FD, "events", POLLFD_EVENTS, "revents", POLLFD_REVENTS);

        ValueLayout u64 = ValueLayout.JAVA_LONG;
        StructLayout stat = MemoryLayout.structLayout(
                u64.withName("st_dev"), u64.withName("st_ino"), u64.withName("st_nlink"),
                cInt.withName("st_mode"), cInt.withName("st_uid"), cInt.withName("st_gid"),
                cInt.withName("__pad0"), u64.withName("st_rdev"), u64.withName("st_size"),
                u64.withName("st_blksize"), u64.withName("st_blocks"),
                MemoryLayout.sequenceLayout(3 * 2, u64).withName("st_times"),
                MemoryLayout.sequenceLayout(3, u64).withName("__unused"));
        check(stat, STAT_SIZE, "st_mode", ST_MODE, "st_size", ST_SIZE, "st_blksize", ST_BLKSIZE);

        StructLayout ifreq = MemoryLayout.structLayout(
                MemoryLayout.sequenceLayout(IFNAMSIZ, ValueLayout.JAVA_BYTE).withName("ifr_name"),
                // the union's largest members are struct sockaddr (16) and struct ifmap (24, 8-aligned)
                MemoryLayout.unionLayout(cShort.withName("ifr_flags"),
                        MemoryLayout.structLayout(u64, u64, u64).withName("ifr_map")).withName("ifr_ifru"));
        check(ifreq, IFREQ_SIZE, "ifr_name", IFR_NAME, "ifr_ifru", IFR_FLAGS);
    }

    private static void check(StructLayout layout, long size, Object... namesAndOffsets) {
        require(layout.byteSize() == size, "sizeof " + layout + " is " + layout.byteSize() + ", constant says " + size);
        for (int i = 0; i < namesAndOffsets.length; i += 2) {
            String name = (String) namesAndOffsets[i];
            long expected = ((Number) namesAndOffsets[i + 1]).longValue();
            long actual = layout.byteOffset(PathElement.groupElement(name));
            require(actual == expected, "offsetof " + name + " is " + actual + ", constant says " + expected);
        }
    }

    private static void require(boolean condition, String message) {
        if (!condition) {
            throw new UnsupportedOperationException("native layout check failed: " + message);
        }
    }
}

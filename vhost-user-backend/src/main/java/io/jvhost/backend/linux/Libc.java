package io.jvhost.backend.linux;

import com.sun.jna.Native;
import com.sun.jna.NativeLibrary;
import com.sun.jna.Platform;

/**
 * JNA direct-mapped libc functions and the constants they take. Nothing else in jvhost calls native
 * code; the public classes of this package wrap these with errno checks ({@link Errors}) and
 * EINTR/EAGAIN handling.
 *
 * <p>Pointers are passed as {@code long} addresses of {@link java.lang.foreign.MemorySegment}s, so the
 * structures are plain segments laid out by {@link NativeLayouts}, not JNA {@code Structure}s.
 * Variadic functions ({@code open}, {@code ioctl}) are bound with fixed arguments, which the x86_64
 * calling convention allows.
 */
final class Libc {

    static {
        NativeLayouts.verify();
        Native.register(Libc.class, NativeLibrary.getInstance(Platform.C_LIBRARY_NAME));
    }

    // <sys/socket.h>
    static final int AF_UNIX = 1;
    static final int AF_INET = 2;
    static final int SOCK_DGRAM = 2;
    static final int SOCK_STREAM = 1;
    static final int SOCK_NONBLOCK = 0x800;
    static final int SOCK_CLOEXEC = 0x80000;
    static final int SOL_SOCKET = 1;
    static final int SO_PEERCRED = 17;
    static final int SCM_RIGHTS = 1;
    static final int MSG_CTRUNC = 0x8;
    static final int MSG_NOSIGNAL = 0x4000;
    static final int MSG_CMSG_CLOEXEC = 0x40000000;
    static final int SHUT_RDWR = 2;

    // <poll.h>
    static final short POLLIN = 0x1;
    static final short POLLOUT = 0x4;
    static final short POLLERR = 0x8;
    static final short POLLHUP = 0x10;
    static final short POLLNVAL = 0x20;

    // <sys/mman.h>
    static final int PROT_READ = 0x1;
    static final int PROT_WRITE = 0x2;
    static final int MAP_SHARED = 0x1;
    static final long MAP_FAILED = -1L;
    static final int MFD_CLOEXEC = 0x1;

    // <sys/eventfd.h>
    static final int EFD_CLOEXEC = 0x80000;
    static final int EFD_NONBLOCK = 0x800;

    // <fcntl.h>
    static final int O_RDWR = 0x2;
    static final int O_NONBLOCK = 0x800;
    static final int O_CLOEXEC = 0x80000;
    static final int F_GETFL = 3;
    static final int F_SETFL = 4;
    /** F_LINUX_SPECIFIC_BASE (1024) + 10. */
    static final int F_GET_SEALS = 1034;
    static final int F_SEAL_SHRINK = 0x2;

    // <sys/stat.h>
    static final int S_IFMT = 0xF000;
    static final int S_IFSOCK = 0xC000;
    static final int S_IFLNK = 0xA000;
    static final int S_IFREG = 0x8000;
    static final int S_IFBLK = 0x6000;
    static final int S_IFDIR = 0x4000;
    static final int S_IFCHR = 0x2000;
    static final int S_IFIFO = 0x1000;

    private Libc() {
    }

    static native String strerror(int errnum);

    static native int socket(int domain, int type, int protocol);

    static native int socketpair(int domain, int type, int protocol, int[] sv);

    static native int bind(int fd, long sockaddr, int addrlen);

    static native int listen(int fd, int backlog);

    static native int chmod(String path, int mode);

    static native int accept4(int fd, long sockaddr, long addrlen, int flags);

    static native int connect(int fd, long sockaddr, int addrlen);

    static native int shutdown(int fd, int how);

    static native int close(int fd);

    static native long recvmsg(int fd, long msghdr, int flags);

    static native long sendmsg(int fd, long msghdr, int flags);

    static native int getsockopt(int fd, int level, int optname, long optval, long optlen);

    static native int poll(long fds, long nfds, int timeoutMillis);

    static native long mmap(long address, long length, int prot, int flags, int fd, long offset);

    static native int munmap(long address, long length);

    static native int memfd_create(String name, int flags);

    // <unistd.h> syscall(2), bound with four fixed arguments: sched_getattr and sched_setattr have no libc wrapper
    static final long SYS_SCHED_SETATTR = 314;
    static final long SYS_SCHED_GETATTR = 315;

    static native long syscall(long number, long a1, long a2, long a3, long a4);

    static native int ftruncate(int fd, long length);

    static native int fstat(int fd, long statbuf);

    static native int eventfd(int initval, int flags);

    static native int eventfd_read(int fd, long[] value);

    static native int eventfd_write(int fd, long value);

    static native long readv(int fd, long iov, int iovcnt);

    static native long writev(int fd, long iov, int iovcnt);

    static native int open(String path, int flags);

    static native int fcntl(int fd, int cmd, long arg);

    static native int pipe2(int[] fds, int flags);

    static native long write(int fd, long buf, long count);

    static native int ioctl(int fd, long request, long argp);
}

package io.jvhost.backend.linux;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.EOFException;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.channels.AsynchronousCloseException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

@Timeout(20)
class LinuxLayerTest {

    @TempDir
    Path dir;

    private static MemorySegment bytes(String text) {
        return MemorySegment.ofArray(text.getBytes(StandardCharsets.US_ASCII));
    }

    @Test
    void shouldPassPlatformAndLayoutChecks() {
        Linux.ensureAvailable();
        assertEquals(48, NativeLayouts.cmsgSpace(8 * Integer.BYTES), "CMSG_SPACE(8 fds)");
        assertEquals(20, NativeLayouts.cmsgLen(Integer.BYTES), "CMSG_LEN(1 fd)");
    }

    @Test
    void shouldTurnErrnoIntoExceptionWithCallNameAndStrerror() {
        LinuxException e = assertThrows(LinuxException.class, () -> Fds.close(999_999));
        assertEquals(LinuxException.EBADF, e.errno());
        assertEquals("close", e.call());
        assertEquals("close failed: Bad file descriptor (errno 9)", e.getMessage());
    }

    @Test
    void shouldPassFileDescriptorsAndReportPeerPid() throws Exception {
        long before = OpenFds.count();
        UnixSocket[] pair = UnixSocket.pair();
        int memfd = Fds.memfdCreate("jvhost-test");
        Fds.ftruncate(memfd, 8192);
        try (UnixSocket a = pair[0]; UnixSocket b = pair[1]; FdList fds = new FdList()) {
            assertEquals(ProcessHandle.current().pid(), a.peerPid());

            a.writeFully(bytes("hello"), memfd);
            MemorySegment buffer = MemorySegment.ofArray(new byte[5]);
            assertTrue(b.readFully(buffer, fds));
            assertEquals("hello", new String(buffer.toArray(ValueLayout.JAVA_BYTE), StandardCharsets.US_ASCII));
            assertEquals(1, fds.size());
            int received = fds.get(0);
            assertNotEquals(memfd, received);
            assertEquals(8192, Fds.fstat(received).size());

            // Both descriptors name the same file: a write through one mapping shows in the other.
            try (Mapping sent = Mapping.map(memfd, 8192, 0); Mapping got = Mapping.map(received, 8192, 0)) {
                sent.segment().set(ValueLayout.JAVA_LONG, 4096, 0x1122334455667788L);
                assertEquals(0x1122334455667788L, got.segment().get(ValueLayout.JAVA_LONG, 4096));
            }
        } finally {
            Fds.close(memfd);
        }
        assertEquals(before, OpenFds.count());
    }

    @Test
    void shouldRejectMoreThanEightDescriptorsAndCloseThemAll() throws Exception {
        long before = OpenFds.count();
        UnixSocket[] pair = UnixSocket.pair();
        int[] many = new int[8];
        for (int i = 0; i < many.length; i++) {
            many[i] = EventFd.create();
        }
        try (UnixSocket a = pair[0]; UnixSocket b = pair[1]) {
            // Two messages of 8 fds arrive as one read's worth of control data at most 8: the second
            // message's fds stay queued with its bytes, so send 8 + 1 via two writes and read them at once.
            a.writeFully(bytes("a"), many);
            a.writeFully(bytes("b"), many[0]);
            FdList fds = new FdList();
            MemorySegment two = MemorySegment.ofArray(new byte[2]);
            IOException e = assertThrows(IOException.class, () -> b.readFully(two, fds));
            assertTrue(e.getMessage().contains("file descriptors lost"), e.getMessage());
            fds.close();
        } finally {
            for (int fd : many) {
                Fds.close(fd);
            }
        }
        assertEquals(before, OpenFds.count());
    }

    @Test
    void shouldReportTruncationAsEofAndOrderlyCloseAsFalse() throws Exception {
        UnixSocket[] pair = UnixSocket.pair();
        try (UnixSocket a = pair[0]; UnixSocket b = pair[1]; FdList fds = new FdList()) {
            a.writeFully(bytes("abc"));
            a.shutdown();
            EOFException e = assertThrows(EOFException.class, () -> b.readFully(MemorySegment.ofArray(new byte[8]), fds));
            assertEquals("peer closed after 3 of 8 bytes", e.getMessage());
            assertFalse(b.readFully(MemorySegment.ofArray(new byte[8]), fds));
        }
    }

    @Test
    void shouldListenAcceptAndRemoveItsSocketFile() throws Exception {
        Path path = dir.resolve("p0.sock");
        int wakeup = EventFd.create();
        try (UnixServerSocket server = UnixServerSocket.listen(path, 1, wakeup)) {
            assertTrue(Files.exists(path));
            CompletableFuture<UnixSocket> accepted = CompletableFuture.supplyAsync(() -> {
                try {
                    return server.accept();
                } catch (IOException e) {
                    throw new RuntimeException(e);
                }
            });
            try (UnixSocket client = UnixSocket.connect(path, -1); UnixSocket conn = accepted.get(5, TimeUnit.SECONDS);
                 FdList fds = new FdList()) {
                conn.writeFully(bytes("x"));
                MemorySegment one = MemorySegment.ofArray(new byte[1]);
                assertTrue(client.readFully(one, fds));
                assertEquals('x', one.get(ValueLayout.JAVA_BYTE, 0));
            }
        } finally {
            Fds.close(wakeup);
        }
        assertFalse(Files.exists(path));
    }

    @Test
    void shouldWakeBlockedAcceptAndReceive() throws Exception {
        Path path = dir.resolve("wake.sock");
        int wakeup = EventFd.create();
        UnixSocket[] pair = UnixSocket.pair();
        try (UnixServerSocket server = UnixServerSocket.listen(path, 1, wakeup);
             UnixSocket a = pair[0]; UnixSocket b = pair[1]; FdList fds = new FdList()) {
            CompletableFuture<Throwable> blocked = CompletableFuture.supplyAsync(() -> {
                try {
                    server.accept();
                    return null;
                } catch (IOException e) {
                    return e;
                }
            });
            Thread.sleep(50);
            EventFd.write(wakeup, 1);
            assertTrue(blocked.get(5, TimeUnit.SECONDS) instanceof AsynchronousCloseException);
            try (UnixSocket woken = UnixSocket.connect(path, wakeup)) {
                assertThrows(AsynchronousCloseException.class, () -> woken.readFully(MemorySegment.ofArray(new byte[1]), fds));
            }
        } finally {
            Fds.close(wakeup);
        }
    }

    @Test
    void shouldReplaceStaleSocketButRefuseLiveOneOrOtherFile() throws Exception {
        Path path = dir.resolve("stale.sock");
        UnixServerSocket first = UnixServerSocket.listen(path, 1, -1);
        IOException live = assertThrows(IOException.class, () -> UnixServerSocket.listen(path, 1, -1));
        assertTrue(live.getMessage().contains("another process is listening"), live.getMessage());

        // Simulate a crashed owner: the fd is closed but the file stays.
        Path copy = dir.resolve("kept.sock");
        Files.createLink(copy, path);
        first.close();
        Files.move(copy, path);
        try (UnixServerSocket second = UnixServerSocket.listen(path, 1, -1)) {
            assertTrue(Files.exists(path));
        }

        Path regular = dir.resolve("regular");
        Files.writeString(regular, "data");
        IOException notSocket = assertThrows(IOException.class, () -> UnixServerSocket.listen(regular, 1, -1));
        assertTrue(notSocket.getMessage().contains("not a socket"), notSocket.getMessage());
        assertEquals("data", Files.readString(regular));
    }

    @Test
    void shouldSignalAndDrainEventFd() throws Exception {
        int fd = EventFd.create();
        try {
            assertEquals(0, EventFd.read(fd));
            assertTrue(EventFd.write(fd, 2));
            assertTrue(EventFd.write(fd, 3));
            assertEquals(5, EventFd.read(fd));
            assertEquals(0, EventFd.read(fd));
        } finally {
            Fds.close(fd);
        }
    }

    @Test
    void shouldAcceptOnlyEventFdsAndMakeThemNonBlocking() throws Exception {
        int eventFd = EventFd.create();
        int memfd = Fds.memfdCreate("jvhost-test");
        int[] pipe = Fds.pipe();
        UnixSocket[] pair = UnixSocket.pair();
        try (UnixSocket a = pair[0]; UnixSocket b = pair[1]) {
            Fds.setNonBlocking(eventFd, false);
            assertFalse(Fds.isNonBlocking(eventFd));
            assertEquals(null, EventFd.acceptReceived(eventFd));
            assertTrue(Fds.isNonBlocking(eventFd), "made non-blocking");
            assertEquals(0, EventFd.read(eventFd), "a drained counter reads as 0 instead of blocking");

            assertEquals("a regular file (/memfd:jvhost-test (deleted))", EventFd.acceptReceived(memfd));
            assertTrue(EventFd.acceptReceived(pipe[0]).startsWith("a pipe (pipe:["), EventFd.acceptReceived(pipe[0]));
            assertTrue(EventFd.acceptReceived(a.fd()).startsWith("a socket (socket:["), EventFd.acceptReceived(a.fd()));
            assertFalse(Fds.isNonBlocking(pipe[0]), "a refused fd is left as it was");
        } finally {
            Fds.close(eventFd);
            Fds.close(memfd);
            Fds.close(pipe[0]);
            Fds.close(pipe[1]);
        }
    }

    @Test
    void shouldTellWithoutFaultingThatMemoryBeyondAShrunkFileIsGone() throws Exception {
        int memfd = Fds.memfdCreate("jvhost-test");
        try {
            Fds.ftruncate(memfd, 8192);
            try (Mapping mapping = Mapping.map(memfd, 8192, 0)) {
                assertTrue(Mapping.readable(mapping.segment(), 8191));
                Fds.ftruncate(memfd, 4096);
                assertTrue(Mapping.readable(mapping.segment(), 4095));
                assertFalse(Mapping.readable(mapping.segment(), 4096), "the page past the new end");
                assertFalse(Mapping.readable(mapping.segment(), 8191));
            }
        } finally {
            Fds.close(memfd);
        }
    }

    @Test
    void shouldReadMemfdSealsAndSayWhenAFileTakesNone() throws Exception {
        int memfd = Fds.memfdCreate("jvhost-test");
        int eventFd = EventFd.create();
        try {
            // memfd_create without MFD_ALLOW_SEALING: only F_SEAL_SEAL, so it can shrink.
            assertEquals(0, Fds.seals(memfd) & Fds.SEAL_SHRINK);
            assertEquals(Fds.SEALS_UNSUPPORTED, Fds.seals(eventFd));
        } finally {
            Fds.close(memfd);
            Fds.close(eventFd);
        }
    }

    @Test
    void shouldMoveBytesWithReadvAndWritevFromNativeAddresses() throws Exception {
        UnixSocket[] pair = UnixSocket.pair();
        try (UnixSocket a = pair[0]; UnixSocket b = pair[1]; Arena arena = Arena.ofConfined();
             IoVecArray out = new IoVecArray(2); IoVecArray in = new IoVecArray(2)) {
            MemorySegment head = arena.allocate(3);
            MemorySegment tail = arena.allocate(4);
            head.copyFrom(bytes("abc"));
            tail.copyFrom(bytes("defg"));
            out.set(0, head);
            out.set(1, tail);
            assertEquals(7, Fds.writev(a.fd(), out, 2));

            MemorySegment first = arena.allocate(5);
            MemorySegment second = arena.allocate(5);
            in.set(0, first);
            in.set(1, second.address(), second.byteSize());
            assertEquals(7, Fds.readv(b.fd(), in, 2));
            assertArrayEquals("abcde".getBytes(StandardCharsets.US_ASCII), first.toArray(ValueLayout.JAVA_BYTE));
            assertEquals('g', second.get(ValueLayout.JAVA_BYTE, 1));
            assertEquals(Fds.WOULD_BLOCK, Fds.readv(b.fd(), in, 1));
        }
    }

    @Test
    void shouldInvalidateSegmentWhenMappingIsClosed() throws Exception {
        int memfd = Fds.memfdCreate("unmap");
        try {
            Fds.ftruncate(memfd, 4096);
            Mapping mapping = Mapping.map(memfd, 4096, 0);
            MemorySegment segment = mapping.segment();
            segment.set(ValueLayout.JAVA_INT, 0, 7);
            mapping.close();
            mapping.close();
            assertFalse(mapping.isMapped());
            assertThrows(IllegalStateException.class, () -> segment.get(ValueLayout.JAVA_INT, 0));
        } finally {
            Fds.close(memfd);
        }
    }

    @Test
    void shouldOpenTapDeviceWithVnetHeader() throws Exception {
        // Needs CAP_NET_ADMIN and /dev/net/tun, as jvhost's TAP ports do; the tests run as root.
        Tap tap = Tap.open("jvtest%d", true, true);
        try (tap) {
            assertTrue(tap.name().startsWith("jvtest"), tap.name());
            tap.setVnetHeaderSize(12);
        }
    }
}

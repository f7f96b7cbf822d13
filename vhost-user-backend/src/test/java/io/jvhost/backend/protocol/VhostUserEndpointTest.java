package io.jvhost.backend.protocol;

import io.jvhost.backend.linux.EventFd;
import io.jvhost.backend.linux.Fds;
import io.jvhost.backend.linux.OpenFds;
import io.jvhost.backend.linux.SocketAccess;
import io.jvhost.backend.linux.UnixServerSocket;
import io.jvhost.backend.protocol.VhostUserRequest.RegionDescriptor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

import static io.jvhost.backend.protocol.RequestType.GET_FEATURES;
import static io.jvhost.backend.protocol.RequestType.SET_FEATURES;
import static io.jvhost.backend.protocol.RequestType.SET_MEM_TABLE;
import static io.jvhost.backend.protocol.RequestType.SET_VRING_ADDR;
import static io.jvhost.backend.protocol.RequestType.SET_VRING_KICK;
import static io.jvhost.backend.protocol.RequestType.SET_VRING_NUM;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Endpoints over real listening sockets in a temporary directory. */
@Timeout(30)
class VhostUserEndpointTest {

    private static final long PID = ProcessHandle.current().pid();

    @TempDir
    Path dir;

    private final RecordingDevice device = new RecordingDevice();
    private final Events events = new Events();

    /** Records listener calls as text, in order. */
    static final class Events implements EndpointListener {
        final BlockingQueue<String> queue = new LinkedBlockingQueue<>();

        @Override
        public void connected(String port, int peerPid) {
            queue.add(port + " connected " + (peerPid == PID ? "self" : peerPid));
        }

        @Override
        public void disconnected(String port, VhostUserException cause) {
            queue.add(port + " disconnected" + (cause == null ? "" : ": " + cause.getMessage()));
        }

        @Override
        public void failed(String port, VhostUserException error) {
            queue.add(port + " failed: " + error.getMessage());
        }

        String next() throws InterruptedException {
            String event = queue.poll(TestFrontend.TIMEOUT_MILLIS, TimeUnit.MILLISECONDS);
            if (event == null) {
                throw new AssertionError("no endpoint event within the timeout");
            }
            return event;
        }
    }

    private static boolean controlThreadAlive(String port) {
        return Thread.getAllStackTraces().keySet().stream()
                .anyMatch(t -> t.getName().equals("jvhost-control-" + port) && t.isAlive());
    }

    @Test
    void shouldServeFrontEndsOneAfterAnotherSurvivingTruncatedMessage() throws Exception {
        Path path = dir.resolve("p0.sock");
        try (VhostUserEndpoint endpoint = VhostUserEndpoint.server("p0", path, device, events)) {
            assertTrue(Files.exists(path));
            try (TestFrontend first = TestFrontend.connect(path)) {
                assertEquals("p0 connected self", events.next());
                first.sendBytes(new byte[] {1, 0, 0, 0, 1});
            }
            assertEquals("p0 disconnected: truncated message: header: peer closed after 5 of 12 bytes", events.next());
            assertEquals("truncated message: header: peer closed after 5 of 12 bytes", endpoint.lastError().getMessage());

            try (TestFrontend second = TestFrontend.connect(path)) {
                assertEquals(device.offeredFeatures, second.get(GET_FEATURES));
                assertEquals("p0 connected self", events.next());
                assertTrue(endpoint.isConnected());
            }
            assertEquals("p0 disconnected", events.next());
            assertEquals(List.of("connected(" + PID + ")", "disconnected()", "connected(" + PID + ")", "disconnected()"),
                    device.calls());
        }
        assertFalse(Files.exists(path), "socket file removed on close");
    }

    @Test
    void shouldReportProtocolErrorAndAcceptTheNextFrontEnd() throws Exception {
        Path path = dir.resolve("p1.sock");
        try (VhostUserEndpoint endpoint = VhostUserEndpoint.server("p1", path, device, events)) {
            try (TestFrontend fe = TestFrontend.connect(path)) {
                fe.sendRaw(99, MessageHeader.VERSION, MemorySegment.ofArray(new byte[0]));
                assertTrue(fe.isClosedByBackend());
            }
            assertEquals("p1 connected self", events.next());
            assertEquals("p1 disconnected: unsupported vhost-user request 99", events.next());
            assertTrue(endpoint.lastError().shouldReconnect());
            try (TestFrontend fe = TestFrontend.connect(path)) {
                assertEquals(device.offeredFeatures, fe.get(GET_FEATURES));
            }
        }
    }

    @Test
    void shouldConnectInClientModeAndReconnectAfterClose() throws Exception {
        Path path = dir.resolve("qemu.sock");
        try (UnixServerSocket qemu = UnixServerSocket.listen(path, 1, -1);
             VhostUserEndpoint endpoint = VhostUserEndpoint.client("c0", path, device, events, Duration.ofMillis(50))) {
            assertEquals(VhostUserEndpoint.Mode.CLIENT, endpoint.mode());
            try (TestFrontend fe = new TestFrontend(qemu.accept())) {
                assertEquals(device.offeredFeatures, fe.get(GET_FEATURES));
            }
            assertEquals("c0 connected self", events.next());
            assertEquals("c0 disconnected", events.next());

            try (TestFrontend fe = new TestFrontend(qemu.accept())) {
                assertEquals(device.offeredFeatures, fe.get(GET_FEATURES));
                assertEquals("c0 connected self", events.next());
                endpoint.close();
                assertTrue(fe.isClosedByBackend(), "close() drops the connection");
            }
            assertEquals("c0 disconnected", events.next());
        }
        assertEquals(List.of("connected(" + PID + ")", "disconnected()", "connected(" + PID + ")", "disconnected()"),
                device.calls());
        assertFalse(controlThreadAlive("c0"));
    }

    @Test
    void shouldRetryUntilTheFrontEndListens() throws Exception {
        Path path = dir.resolve("late.sock");
        try (VhostUserEndpoint endpoint = VhostUserEndpoint.client("c1", path, device, events, Duration.ofMillis(20))) {
            Thread.sleep(100); // a few failed attempts: ENOENT
            assertFalse(endpoint.isConnected());
            try (UnixServerSocket qemu = UnixServerSocket.listen(path, 1, -1);
                 TestFrontend fe = new TestFrontend(qemu.accept())) {
                assertEquals(device.offeredFeatures, fe.get(GET_FEATURES));
            }
        }
    }

    @Test
    void shouldStopPromptlyMidSessionAndLeakNothing() throws Exception {
        Path path = dir.resolve("p2.sock");
        // Warm-up: the same steps once, so lazily opened jars and classes do not count.
        runSessionAndClose(path);
        device.drain();
        long before = OpenFds.count();

        long elapsedNanos = runSessionAndClose(path);

        assertTrue(elapsedNanos < TimeUnit.SECONDS.toNanos(2), "close took " + elapsedNanos / 1_000_000 + " ms");
        assertEquals(List.of("connected(" + PID + ")", "setFeatures(0x100000000)",
                "setMemory(gpa=0x0 size=0x100000 va=0x7f0000000000)",
                "startQueue(index=0 size=256 nextAvail=0 desc=0x7f0000001000 avail=0x7f0000002000 used=0x7f0000003000"
                        + " kick=fd call=none err=none)", "stopQueue(0)=0", "disconnected()"), device.calls());
        assertFalse(controlThreadAlive("p2"), "control thread ended");
        assertFalse(Files.exists(path), "socket file removed");
        assertEquals(before, OpenFds.count(), () -> "open fds after close: " + OpenFds.describe());
    }

    /** Runs a ring in a session, closes the endpoint while connected; returns how long close() took. */
    private long runSessionAndClose(Path path) throws Exception {
        device.offeredFeatures = RecordingDevice.VIRTIO_F_VERSION_1;
        int kick = EventFd.create();
        try (GuestRam ram = new GuestRam(0x10_0000)) {
            VhostUserEndpoint endpoint = VhostUserEndpoint.server("p2", path, device, EndpointListener.NONE);
            long elapsed;
            try (TestFrontend fe = TestFrontend.connect(path)) {
                fe.send(SET_FEATURES, U64Payload.of(RecordingDevice.VIRTIO_F_VERSION_1));
                fe.send(SET_MEM_TABLE, MemoryTablePayload.of(new RegionDescriptor(0, 0x10_0000, 0x7f00_0000_0000L, 0)), ram.fd);
                fe.send(SET_VRING_NUM, VringStatePayload.of(0, 256));
                fe.send(SET_VRING_ADDR, VringAddrPayload.of(0, 0, 0x7f00_0000_1000L, 0x7f00_0000_3000L, 0x7f00_0000_2000L, 0));
                fe.send(SET_VRING_KICK, VringFdPayload.of(0, false), kick);
                fe.get(GET_FEATURES);
                assertTrue(endpoint.isConnected());
                long start = System.nanoTime();
                endpoint.close();
                elapsed = System.nanoTime() - start;
                endpoint.close(); // idempotent
                assertFalse(endpoint.isRunning());
                assertTrue(fe.isClosedByBackend());
            }
            return elapsed;
        } finally {
            Fds.close(kick);
        }
    }

    /** This test process's uid (the owner of {@code /proc/self}). */
    private static long ownUid() throws Exception {
        return ((Integer) Files.getAttribute(Path.of("/proc/self"), "unix:uid")).longValue();
    }

    @Test
    void shouldCreateTheSocketWithTheConfiguredModeAndGroupBeforeAnyoneConnects() throws Exception {
        Path path = dir.resolve("access.sock");
        // Some group other than the one the file would get anyway (this directory's creator's).
        int ownGid = (Integer) Files.getAttribute(dir, "unix:gid");
        String[] other = Files.readAllLines(Path.of("/etc/group")).stream().map(line -> line.split(":"))
                .filter(f -> f.length > 2 && !f[2].equals(String.valueOf(ownGid))).findFirst().orElseThrow();
        SocketAccess access = new SocketAccess(0660, other[0], null);
        try (VhostUserEndpoint endpoint = VhostUserEndpoint.server("a0", path, device, events, access)) {
            assertEquals(0660, (Integer) Files.getAttribute(path, "unix:mode") & 0777);
            assertEquals(Integer.parseInt(other[2]), (Integer) Files.getAttribute(path, "unix:gid"));
            try (TestFrontend fe = TestFrontend.connect(path)) {
                assertEquals(device.offeredFeatures, fe.get(GET_FEATURES));
            }
        }
        SocketAccess numeric = new SocketAccess(0600, other[2], null);
        try (VhostUserEndpoint endpoint = VhostUserEndpoint.server("a1", path, device, events, numeric)) {
            assertEquals(0600, (Integer) Files.getAttribute(path, "unix:mode") & 0777);
            assertEquals(Integer.parseInt(other[2]), (Integer) Files.getAttribute(path, "unix:gid"));
        }
    }

    @Test
    void shouldFailFatallyForAGroupThatDoesNotExistAndLeaveNoSocket() throws Exception {
        Path path = dir.resolve("nogroup.sock");
        VhostUserException e = assertThrows(VhostUserException.class, () -> VhostUserEndpoint.server("a2", path,
                device, events, new SocketAccess(0660, "jvhost-no-such-group", null)));
        assertFalse(e.shouldReconnect());
        assertTrue(e.getMessage().endsWith("no such group: jvhost-no-such-group"), e.getMessage());
        assertFalse(Files.exists(path));
        assertFalse(controlThreadAlive("a2"));
    }

    @Test
    void shouldRefusePeersOutsideAllowedUidsBeforeReadingAMessage() throws Exception {
        Path path = dir.resolve("uids.sock");
        long uid = ownUid();
        SocketAccess others = new SocketAccess(-1, null, List.of(uid + 1, uid + 2));
        try (VhostUserEndpoint endpoint = VhostUserEndpoint.server("a3", path, device, events, others)) {
            for (int i = 0; i < 3; i++) { // refused every time, and the endpoint keeps accepting
                try (TestFrontend fe = TestFrontend.connect(path)) {
                    assertTrue(fe.isClosedByBackend());
                }
            }
            assertTrue(endpoint.isRunning());
            assertFalse(endpoint.isConnected());
            assertEquals(List.of(), device.calls(), "the device never saw the refused peers");
            assertEquals(null, events.queue.poll(), "no connect event for a refused peer");
        }
        SocketAccess self = new SocketAccess(-1, null, List.of(uid));
        try (VhostUserEndpoint endpoint = VhostUserEndpoint.server("a4", path, device, events, self);
             TestFrontend fe = TestFrontend.connect(path)) {
            assertEquals(device.offeredFeatures, fe.get(GET_FEATURES));
            assertEquals("a4 connected self", events.next());
        }
    }

    @Test
    void shouldFailFatallyWhenThePathIsTaken() throws Exception {
        Path path = dir.resolve("taken");
        Files.writeString(path, "not a socket");
        VhostUserException e = assertThrows(VhostUserException.class,
                () -> VhostUserEndpoint.server("p3", path, device, events));
        assertFalse(e.shouldReconnect());
        assertEquals("port p3: cannot listen on " + path + ": cannot listen on " + path
                + ": a file that is not a socket is in the way", e.getMessage());
        assertFalse(controlThreadAlive("p3"));
        assertEquals("not a socket", Files.readString(path));
    }

    @Test
    void shouldRefuseToStealALiveEndpointsSocket() throws Exception {
        Path path = dir.resolve("p4.sock");
        try (VhostUserEndpoint first = VhostUserEndpoint.server("p4", path, device, events)) {
            VhostUserException e = assertThrows(VhostUserException.class,
                    () -> VhostUserEndpoint.server("p4b", path, new RecordingDevice(), EndpointListener.NONE));
            assertTrue(e.getMessage().endsWith("another process is listening there"), e.getMessage());
            assertTrue(first.isRunning());
        }
    }

    @Test
    void shouldAllowCloseFromTheControlThreadWithoutLeaks() throws Exception {
        Path path = dir.resolve("p5.sock");
        AtomicReference<VhostUserEndpoint> self = new AtomicReference<>();
        EndpointListener closeOnDisconnect = new EndpointListener() {
            @Override
            public void disconnected(String port, VhostUserException cause) {
                self.get().close(); // e.g. a device deciding to shut its port down
                events.disconnected(port, cause);
            }
        };
        // Warm-up so lazily opened jars do not count.
        VhostUserEndpoint.server("warm", dir.resolve("warm.sock"), new RecordingDevice(), EndpointListener.NONE).close();
        long before = OpenFds.count();

        VhostUserEndpoint endpoint = VhostUserEndpoint.server("p5", path, device, closeOnDisconnect);
        self.set(endpoint);
        try (TestFrontend fe = TestFrontend.connect(path)) {
            fe.get(GET_FEATURES);
        }
        assertEquals("p5 disconnected", events.next());
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        while (endpoint.isRunning() && System.nanoTime() < deadline) {
            Thread.sleep(10);
        }
        assertFalse(endpoint.isRunning());
        endpoint.close();
        assertFalse(Files.exists(path));
        assertEquals(before, OpenFds.count(), () -> "open fds after close: " + OpenFds.describe());
    }
}

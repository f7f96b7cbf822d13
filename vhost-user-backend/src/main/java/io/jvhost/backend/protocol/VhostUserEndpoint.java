package io.jvhost.backend.protocol;

import io.jvhost.backend.linux.EventFd;
import io.jvhost.backend.linux.Fds;
import io.jvhost.backend.linux.LinuxException;
import io.jvhost.backend.linux.SocketAccess;
import io.jvhost.backend.linux.UnixServerSocket;
import io.jvhost.backend.linux.UnixSocket;

import java.io.IOException;
import java.lang.System.Logger.Level;
import java.nio.channels.AsynchronousCloseException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * The vhost-user socket of one port, serving one front-end at a time.
 *
 * <ul>
 *   <li><b>Server mode</b> ({@link #server}): binds and listens on a path (QEMU connects with
 *       {@code -chardev socket,path=...}); after a front-end disconnects, accepts the next. Removes
 *       the socket file on {@link #close()}.</li>
 *   <li><b>Client mode</b> ({@link #client}): connects to a path QEMU listens on
 *       ({@code server=on}), retrying every {@code retryInterval} until it succeeds; after a
 *       disconnect, connects again.</li>
 * </ul>
 *
 * <p>Each endpoint has one platform thread, {@code jvhost-control-<port>}, that does blocking I/O on
 * the socket and calls the device. A thread per port is cheap because control messages are rare
 * (a burst at start-up, a few on guest reboot or queue changes) and the data path never runs here:
 * workers own the rings. The thread blocks in poll(2) on the socket and on a wake-up eventfd, so
 * {@link #close()} stops it promptly without closing an fd under it.
 *
 * <p>On connect the front-end's pid (SO_PEERCRED) goes to {@link VhostUserDevice#connected}. On any
 * disconnect or protocol error the session stops every running queue, calls
 * {@link VhostUserDevice#disconnected}, unmaps guest memory and closes its fds; the reason is logged,
 * kept as {@link #lastError()} and passed to the {@link EndpointListener}.
 *
 * <p>Thread-safe: {@link #close()} and the accessors may be called from any thread.
 */
public final class VhostUserEndpoint implements AutoCloseable {

    private static final System.Logger LOG = System.getLogger(VhostUserEndpoint.class.getName());

    /** Client mode's default pause between connection attempts. */
    public static final Duration DEFAULT_RETRY_INTERVAL = Duration.ofSeconds(1);
    /** How long {@link #close()} waits for the control thread (it returns promptly unless the device hangs). */
    private static final long JOIN_TIMEOUT_MILLIS = 10_000;

    public enum Mode { SERVER, CLIENT }

    private final String port;
    private final Path socketPath;
    private final Mode mode;
    private final VhostUserDevice device;
    private final EndpointListener listener;
    private final int retryMillis;
    private final int wakeupFd;
    private final UnixServerSocket serverSocket;
    private final SocketAccess access;
    private final Thread thread;
    private final AtomicBoolean closed = new AtomicBoolean();
    /** Guards the wake-up eventfd's close against a concurrent wake-up write (fd numbers get reused). */
    private final Object wakeupLock = new Object();
    private boolean wakeupFdClosed;
    private volatile boolean connected;
    private volatile VhostUserException lastError;

    private VhostUserEndpoint(String port, Path socketPath, Mode mode, VhostUserDevice device,
                              EndpointListener listener, Duration retryInterval, int wakeupFd,
                              UnixServerSocket serverSocket, SocketAccess access) {
        this.port = port;
        this.socketPath = socketPath;
        this.mode = mode;
        this.device = device;
        this.listener = listener;
        this.retryMillis = (int) Math.clamp(retryInterval.toMillis(), 1, Integer.MAX_VALUE);
        this.wakeupFd = wakeupFd;
        this.serverSocket = serverSocket;
        this.access = Objects.requireNonNull(access, "access");
        this.thread = Thread.ofPlatform().name("jvhost-control-" + port).daemon(true).unstarted(this::run);
    }

    /**
     * Listens on {@code socketPath} (removing a stale socket file nobody listens on) and starts the
     * control thread.
     *
     * @throws VhostUserException (not {@linkplain VhostUserException#shouldReconnect() reconnectable})
     *                            when the socket cannot be created, e.g. the path is in use
     */
    public static VhostUserEndpoint server(String port, Path socketPath, VhostUserDevice device,
                                           EndpointListener listener) throws VhostUserException {
        return server(port, socketPath, device, listener, SocketAccess.ANY);
    }

    /**
     * {@link #server(String, Path, VhostUserDevice, EndpointListener)} with the socket file's mode and
     * group, and the peers accepted, as {@code access} says.
     */
    public static VhostUserEndpoint server(String port, Path socketPath, VhostUserDevice device,
                                           EndpointListener listener, SocketAccess access) throws VhostUserException {
        int wakeupFd = newWakeupFd(port);
        UnixServerSocket serverSocket;
        try {
            serverSocket = UnixServerSocket.listen(socketPath, 1, wakeupFd, access);
        } catch (IOException | RuntimeException e) {
            Fds.closeQuietly(wakeupFd);
            throw VhostUserException.fatal("port " + port + ": cannot listen on " + socketPath + ": " + e.getMessage(), e);
        }
        return start(new VhostUserEndpoint(port, socketPath, Mode.SERVER, device, listener, DEFAULT_RETRY_INTERVAL,
                wakeupFd, serverSocket, access));
    }

    /** Connects to {@code socketPath} from the control thread, retrying every {@code retryInterval}. */
    public static VhostUserEndpoint client(String port, Path socketPath, VhostUserDevice device,
                                           EndpointListener listener, Duration retryInterval)
            throws VhostUserException {
        return client(port, socketPath, device, listener, retryInterval, SocketAccess.ANY);
    }

    /** {@link #client(String, Path, VhostUserDevice, EndpointListener, Duration)} talking only to the peers {@code access} allows. */
    public static VhostUserEndpoint client(String port, Path socketPath, VhostUserDevice device,
                                           EndpointListener listener, Duration retryInterval, SocketAccess access)
            throws VhostUserException {
        int wakeupFd = newWakeupFd(port);
        return start(new VhostUserEndpoint(port, socketPath, Mode.CLIENT, device, listener, retryInterval,
                wakeupFd, null, access));
    }

    /** {@link #client(String, Path, VhostUserDevice, EndpointListener, Duration)} retrying every second. */
    public static VhostUserEndpoint client(String port, Path socketPath, VhostUserDevice device,
                                           EndpointListener listener) throws VhostUserException {
        return client(port, socketPath, device, listener, DEFAULT_RETRY_INTERVAL);
    }

    private static int newWakeupFd(String port) throws VhostUserException {
        Objects.requireNonNull(port, "port");
        try {
            return EventFd.create();
        } catch (LinuxException e) {
            throw VhostUserException.fatal("port " + port + ": " + e.getMessage(), e);
        }
    }

    private static VhostUserEndpoint start(VhostUserEndpoint endpoint) {
        endpoint.thread.start();
        return endpoint;
    }

    public String port() {
        return port;
    }

    public Path socketPath() {
        return socketPath;
    }

    public Mode mode() {
        return mode;
    }

    /** Whether a front-end is connected right now. */
    public boolean isConnected() {
        return connected;
    }

    /** Why the last connection was dropped by this side (or the endpoint failed), or null. */
    public VhostUserException lastError() {
        return lastError;
    }

    /** Whether the control thread is still running (false after {@link #close()} or a fatal error). */
    public boolean isRunning() {
        return thread.isAlive();
    }

    private void run() {
        try {
            while (!closed.get()) {
                UnixSocket socket = mode == Mode.SERVER ? accept() : connectWithRetry();
                serve(socket);
            }
        } catch (AsynchronousCloseException e) {
            // close() woke us up
        } catch (VhostUserException e) {
            lastError = e;
            LOG.log(Level.ERROR, "port " + port + ": endpoint stopped: " + e.getMessage(), e);
            notifyListener(() -> listener.failed(port, e));
        } finally {
            if (serverSocket != null) {
                serverSocket.close();
            }
            if (closed.get()) {
                closeWakeupFd(); // after a fatal error the fd stays open until close() is called
            }
        }
    }

    private UnixSocket accept() throws VhostUserException, AsynchronousCloseException {
        try {
            return serverSocket.accept();
        } catch (AsynchronousCloseException e) {
            throw e;
        } catch (IOException e) {
            throw VhostUserException.fatal("port " + port + ": accept on " + socketPath + " failed: " + e.getMessage(), e);
        }
    }

    private UnixSocket connectWithRetry() throws AsynchronousCloseException {
        int lastErrno = 0;
        while (true) {
            try {
                return UnixSocket.connect(socketPath, wakeupFd);
            } catch (LinuxException e) {
                if (e.errno() != lastErrno) { // log each new reason once, not every second
                    lastErrno = e.errno();
                    LOG.log(Level.INFO, "port " + port + ": waiting for the front-end: " + e.getMessage());
                }
            }
            pause(retryMillis);
        }
    }

    /** Waits {@code millis}, or throws as soon as {@link #close()} signals. */
    private void pause(int millis) throws AsynchronousCloseException {
        try {
            short[] revents = new short[1];
            if (Fds.poll(new int[] {wakeupFd}, new short[] {Fds.POLLIN}, revents, millis) > 0) {
                throw new AsynchronousCloseException();
            }
        } catch (LinuxException e) {
            throw new IllegalStateException("poll on the wake-up eventfd failed", e);
        }
    }

    private void serve(UnixSocket socket) throws VhostUserException, AsynchronousCloseException {
        int peerPid;
        long peerUid;
        try {
            UnixSocket.PeerCredentials peer = socket.peerCredentials();
            peerPid = peer.pid();
            peerUid = peer.uid();
        } catch (LinuxException e) {
            peerPid = -1;
            peerUid = -1;
        }
        if (!access.allows(peerUid)) {
            // Refused before a single message is read: a peer that may not talk to us learns nothing.
            LOG.log(Level.WARNING, "port " + port + ": refused a front-end with uid " + peerUid + " (pid " + peerPid
                    + "): not in allowed-uids " + access.allowedUids());
            socket.close();
            if (mode == Mode.CLIENT) {
                pause(retryMillis); // the listener at the path is not ours to talk to: do not spin on it
            }
            return;
        }
        LOG.log(Level.INFO, "port " + port + ": front-end connected (pid " + peerPid + ")");
        connected = true;
        int pid = peerPid;
        notifyListener(() -> listener.connected(port, pid));
        VhostUserException cause = null;
        try {
            new VhostUserConnection(port, socket, device, peerPid).run();
            LOG.log(Level.INFO, "port " + port + ": front-end disconnected");
        } catch (AsynchronousCloseException e) {
            LOG.log(Level.INFO, "port " + port + ": endpoint closed, front-end disconnected");
            throw e;
        } catch (VhostUserException e) {
            cause = e;
            lastError = e;
            LOG.log(Level.ERROR, "port " + port + ": closing the connection: " + e.getMessage());
        } catch (RuntimeException | InternalError e) {
            // A bug, or a fault on guest memory the session did not catch: this connection ends, the
            // port keeps listening (InternalError is how the JVM reports a SIGBUS on a shrunk memfd).
            cause = VhostUserException.connection("connection failed: " + e, e);
            lastError = cause;
            LOG.log(Level.ERROR, "port " + port + ": closing the connection: " + cause.getMessage(), e);
        } finally {
            connected = false;
            VhostUserException reason = cause;
            notifyListener(() -> listener.disconnected(port, reason));
        }
        if (cause != null && !cause.shouldReconnect()) {
            throw cause;
        }
    }

    private void notifyListener(Runnable call) {
        try {
            call.run();
        } catch (RuntimeException e) {
            LOG.log(Level.WARNING, "port " + port + ": endpoint listener failed", e);
        }
    }

    /**
     * Stops the control thread (disconnecting the front-end, which tears the device session down),
     * closes the socket and, in server mode, removes the socket file. Returns once the thread ended
     * (or at once when called on the control thread itself, e.g. from the device). Idempotent.
     */
    @Override
    public void close() {
        if (!closed.compareAndSet(false, true)) {
            return;
        }
        wakeUp();
        if (Thread.currentThread() == thread) {
            return; // called back from the device or listener: the loop ends when the call returns
        }
        boolean interrupted = false;
        try {
            thread.join(JOIN_TIMEOUT_MILLIS);
        } catch (InterruptedException e) {
            interrupted = true;
        }
        if (thread.isAlive()) {
            // The thread still polls the eventfd; it closes it when it gets there.
            LOG.log(Level.WARNING, "port " + port + ": control thread did not stop within " + JOIN_TIMEOUT_MILLIS + " ms");
        } else {
            closeWakeupFd();
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }

    private void wakeUp() {
        synchronized (wakeupLock) {
            if (!wakeupFdClosed) {
                try {
                    EventFd.write(wakeupFd, 1);
                } catch (LinuxException e) {
                    throw new IllegalStateException("port " + port + ": cannot wake the control thread", e);
                }
            }
        }
    }

    private void closeWakeupFd() {
        synchronized (wakeupLock) {
            if (!wakeupFdClosed) {
                wakeupFdClosed = true;
                Fds.closeQuietly(wakeupFd);
            }
        }
    }

    @Override
    public String toString() {
        return "VhostUserEndpoint[" + port + ", " + mode + " " + socketPath + (connected ? ", connected]" : "]");
    }
}

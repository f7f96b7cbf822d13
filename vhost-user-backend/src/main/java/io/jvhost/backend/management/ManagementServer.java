package io.jvhost.backend.management;

import io.jvhost.backend.config.ManagementConfig;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.IoHandlerFactory;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.ServerChannel;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.epoll.EpollServerDomainSocketChannel;
import io.netty.channel.unix.DomainSocketAddress;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.timeout.ReadTimeoutHandler;
import io.netty.util.concurrent.FastThreadLocalThread;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.nio.file.Path;
import java.util.Objects;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;

/**
 * The HTTP management endpoint: {@code GET /metrics} (Prometheus text format 0.0.4) and
 * {@code GET /api/ports}, {@code /api/workers}, {@code /api/queues} (JSON), served from one event loop
 * thread named {@value #THREAD_NAME} (epoll when available, else NIO) on a TCP address, read-only; or
 * the same API with {@code POST /api/ports} and {@code DELETE /api/ports/NAME} on the control socket,
 * a Unix socket served by its own thread, {@value #CONTROL_THREAD_NAME} (epoll only).
 *
 * <p>Threading: {@link #start} and {@link #close} may be called from any thread; the
 * {@link ManagementView} (and the {@link PortControl}) is called on the server's own thread only.
 */
public final class ManagementServer implements AutoCloseable {

    public static final String THREAD_NAME = "jvhost-management";
    public static final String CONTROL_THREAD_NAME = "jvhost-control";
    /** The control socket's mode without a group: the owner only. */
    public static final int CONTROL_MODE = 0600;
    /** The control socket's mode with {@code management.control-group}. */
    public static final int CONTROL_GROUP_MODE = 0660;

    /** Requests are small: a GET, or one port object; anything bigger is refused by the aggregator (413). */
    private static final int MAX_REQUEST_BYTES = 64 * 1024;
    /** Closes connections a client abandoned; Prometheus scrapes far more often than this. */
    private static final int IDLE_SECONDS = 300;

    private final EventLoopGroup group;
    private final Thread thread;
    private final Channel channel;
    private final SocketAddress address;
    /** The control socket's file, removed on close; null for TCP. */
    private final ControlSocketFile controlFile;
    private final AtomicBoolean closed = new AtomicBoolean();

    private ManagementServer(EventLoopGroup group, Thread thread, Channel channel, SocketAddress address,
                             ControlSocketFile controlFile) {
        this.group = group;
        this.thread = thread;
        this.channel = channel;
        this.address = address;
        this.controlFile = controlFile;
    }

    /** Starts serving {@code view} read-only on {@code config}'s host and port. */
    public static ManagementServer start(ManagementConfig config, ManagementView view) throws IOException {
        return start(config.host(), config.port(), view, config.controlSocket().toString());
    }

    /**
     * Starts serving {@code view} read-only on {@code host:port}; port 0 picks a free port (see
     * {@link #port()}). Changes get 403, naming the default control socket.
     *
     * @throws IOException the address cannot be resolved or bound (in use, not local, no permission)
     */
    public static ManagementServer start(String host, int port, ManagementView view) throws IOException {
        return start(host, port, view, ManagementConfig.DEFAULT_CONTROL_SOCKET.toString());
    }

    private static ManagementServer start(String host, int port, ManagementView view, String controlSocket)
            throws IOException {
        Objects.requireNonNull(view, "view");
        String listen = new ManagementConfig(host, port).listen();
        InetSocketAddress bindAddress = new InetSocketAddress(host, port);
        if (bindAddress.isUnresolved()) {
            throw new IOException("management: cannot listen on " + listen + ": unknown host '" + host + "'");
        }
        boolean epoll = Epoll.isAvailable();
        IoHandlerFactory ioHandlerFactory = epoll ? EpollIoHandler.newFactory() : NioIoHandler.newFactory();
        Class<? extends ServerChannel> channelType =
                epoll ? EpollServerSocketChannel.class : NioServerSocketChannel.class;
        ServerBootstrap bootstrap = new ServerBootstrap().channel(channelType).option(ChannelOption.SO_REUSEADDR, true);
        Started started = bind(bootstrap, ioHandlerFactory, THREAD_NAME, new ManagementHandler(view, controlSocket),
                bindAddress, "management: cannot listen on " + listen);
        return new ManagementServer(started.group, started.thread, started.channel, started.channel.localAddress(),
                null);
    }

    /**
     * Starts the control socket at {@code config}'s {@code control-socket}: mode {@value #CONTROL_MODE},
     * or {@value #CONTROL_GROUP_MODE} with group {@code control-group}, in place before anyone can
     * connect. A leftover socket nobody listens on is replaced; {@link #close()} removes the file.
     *
     * @throws IOException epoll is not available, the group does not exist, or the socket cannot be
     *                     created (a live listener in the way, no such directory, no permission)
     */
    public static ManagementServer startControl(ManagementConfig config, ManagementView view, PortControl control)
            throws IOException {
        return startControl(config, view, control, null);
    }

    /**
     * {@link #startControl(ManagementConfig, ManagementView, PortControl)}, answering
     * {@code POST /api/reload} with {@code reloader} (null: 404).
     */
    public static ManagementServer startControl(ManagementConfig config, ManagementView view, PortControl control,
                                                PortControl.Reloader reloader) throws IOException {
        Objects.requireNonNull(view, "view");
        Objects.requireNonNull(control, "control");
        Path socket = config.controlSocket();
        String what = "management: cannot create the control socket " + socket;
        if (!Epoll.isAvailable()) {
            throw new IOException(what + ": epoll is not available: " + Epoll.unavailabilityCause());
        }
        ControlSocketFile file = ControlSocketFile.prepare(socket, what);
        ServerBootstrap bootstrap = new ServerBootstrap().channel(EpollServerDomainSocketChannel.class);
        Started started;
        try {
            started = bind(bootstrap, EpollIoHandler.newFactory(), CONTROL_THREAD_NAME,
                    new ManagementHandler(view, control, reloader), new DomainSocketAddress(file.bindPath().toString()), what);
        } catch (IOException e) {
            file.abandon();
            throw e;
        }
        try {
            file.publish(config.controlGroup() == null ? CONTROL_MODE : CONTROL_GROUP_MODE, config.controlGroup());
        } catch (IOException e) {
            started.channel.close().syncUninterruptibly();
            shutdown(started.group, started.thread);
            file.abandon();
            throw new IOException(what + ": " + e.getMessage(), e);
        }
        return new ManagementServer(started.group, started.thread, started.channel,
                new DomainSocketAddress(socket.toString()), file);
    }

    private record Started(EventLoopGroup group, Thread thread, Channel channel) {
    }

    /** One event loop thread named {@code threadName}, serving HTTP with {@code handler} on {@code address}. */
    private static Started bind(ServerBootstrap bootstrap, IoHandlerFactory ioHandlerFactory, String threadName,
                                ManagementHandler handler, SocketAddress address, String what) throws IOException {
        AtomicReference<Thread> loopThread = new AtomicReference<>();
        ThreadFactory threads = task -> {
            Thread thread = new FastThreadLocalThread(task, threadName);
            // The owner closes the server; a daemon thread cannot keep a failed process alive.
            thread.setDaemon(true);
            loopThread.set(thread);
            return thread;
        };
        EventLoopGroup group = new MultiThreadIoEventLoopGroup(1, threads, ioHandlerFactory);
        try {
            Channel channel = bootstrap
                    .group(group)
                    .childHandler(new ChannelInitializer<Channel>() {
                        @Override
                        protected void initChannel(Channel ch) {
                            ch.pipeline()
                                    .addLast(new ReadTimeoutHandler(IDLE_SECONDS))
                                    .addLast(new HttpServerCodec())
                                    .addLast(new HttpObjectAggregator(MAX_REQUEST_BYTES))
                                    .addLast(handler);
                        }
                    })
                    .bind(address)
                    .syncUninterruptibly()
                    .channel();
            return new Started(group, loopThread.get(), channel);
        } catch (Exception e) {
            // Netty rethrows the bind failure (an IOException subtype, often undeclared) as is.
            shutdown(group, loopThread.get());
            throw new IOException(what + ": " + e.getMessage(), e);
        }
    }

    /** The bound address: an {@link InetSocketAddress}, or the control socket's {@link DomainSocketAddress}. */
    public SocketAddress address() {
        return address;
    }

    /** The bound TCP port (the chosen one when started with port 0); -1 for the control socket. */
    public int port() {
        return address instanceof InetSocketAddress inet ? inet.getPort() : -1;
    }

    /**
     * Stops listening, closes open connections, ends the event loop thread and removes the control
     * socket's file; idempotent.
     */
    @Override
    public void close() {
        if (!closed.compareAndSet(false, true)) {
            return;
        }
        channel.close().syncUninterruptibly();
        shutdown(group, thread);
        if (controlFile != null) {
            controlFile.remove();
        }
    }

    /** Ends the event loop and waits for its thread to end (the termination future fires just before). */
    private static void shutdown(EventLoopGroup group, Thread thread) {
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
        if (thread != null) {
            boolean interrupted = false;
            while (true) {
                try {
                    thread.join(TimeUnit.SECONDS.toMillis(5));
                    break;
                } catch (InterruptedException e) {
                    interrupted = true;
                }
            }
            if (interrupted) {
                Thread.currentThread().interrupt();
            }
        }
    }
}

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
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.timeout.ReadTimeoutHandler;
import io.netty.util.concurrent.FastThreadLocalThread;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.util.Objects;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;

/**
 * The HTTP management endpoint: {@code GET /metrics} (Prometheus text format 0.0.4) and
 * {@code GET /api/ports}, {@code /api/workers}, {@code /api/queues} (JSON), served from one event loop
 * thread named {@value #THREAD_NAME} (epoll when available, else NIO).
 *
 * <p>Threading: {@link #start} and {@link #close} may be called from any thread; the
 * {@link ManagementView} is called on the {@value #THREAD_NAME} thread only.
 */
public final class ManagementServer implements AutoCloseable {

    public static final String THREAD_NAME = "jvhost-management";

    /** Requests are small GETs; anything bigger is refused by the aggregator (413). */
    private static final int MAX_REQUEST_BYTES = 64 * 1024;
    /** Closes connections a client abandoned; Prometheus scrapes far more often than this. */
    private static final int IDLE_SECONDS = 300;

    private final EventLoopGroup group;
    private final Thread thread;
    private final Channel channel;
    private final InetSocketAddress address;
    private final AtomicBoolean closed = new AtomicBoolean();

    private ManagementServer(EventLoopGroup group, Thread thread, Channel channel) {
        this.group = group;
        this.thread = thread;
        this.channel = channel;
        this.address = (InetSocketAddress) channel.localAddress();
    }

    /** Starts serving {@code view} on {@code config}'s host and port. */
    public static ManagementServer start(ManagementConfig config, ManagementView view) throws IOException {
        return start(config.host(), config.port(), view);
    }

    /**
     * Starts serving {@code view} on {@code host:port}; port 0 picks a free port (see {@link #port()}).
     *
     * @throws IOException the address cannot be resolved or bound (in use, not local, no permission)
     */
    public static ManagementServer start(String host, int port, ManagementView view) throws IOException {
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
        AtomicReference<Thread> loopThread = new AtomicReference<>();
        ThreadFactory threads = task -> {
            Thread thread = new FastThreadLocalThread(task, THREAD_NAME);
            // The owner closes the server; a daemon thread cannot keep a failed process alive.
            thread.setDaemon(true);
            loopThread.set(thread);
            return thread;
        };
        EventLoopGroup group = new MultiThreadIoEventLoopGroup(1, threads, ioHandlerFactory);
        ManagementHandler handler = new ManagementHandler(view);
        try {
            Channel channel = new ServerBootstrap()
                    .group(group)
                    .channel(channelType)
                    .option(ChannelOption.SO_REUSEADDR, true)
                    .childHandler(new ChannelInitializer<SocketChannel>() {
                        @Override
                        protected void initChannel(SocketChannel ch) {
                            ch.pipeline()
                                    .addLast(new ReadTimeoutHandler(IDLE_SECONDS))
                                    .addLast(new HttpServerCodec())
                                    .addLast(new HttpObjectAggregator(MAX_REQUEST_BYTES))
                                    .addLast(handler);
                        }
                    })
                    .bind(bindAddress)
                    .syncUninterruptibly()
                    .channel();
            return new ManagementServer(group, loopThread.get(), channel);
        } catch (Exception e) {
            // Netty rethrows the bind failure (an IOException subtype, often undeclared) as is.
            shutdown(group, loopThread.get());
            throw new IOException("management: cannot listen on " + listen + ": " + e.getMessage(), e);
        }
    }

    /** The bound address. */
    public InetSocketAddress address() {
        return address;
    }

    /** The bound port (the chosen one when started with port 0). */
    public int port() {
        return address.getPort();
    }

    /** Stops listening, closes open connections and ends the event loop thread; idempotent. */
    @Override
    public void close() {
        if (!closed.compareAndSet(false, true)) {
            return;
        }
        channel.close().syncUninterruptibly();
        shutdown(group, thread);
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

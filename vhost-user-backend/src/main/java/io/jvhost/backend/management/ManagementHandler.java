package io.jvhost.backend.management;

import io.jvhost.backend.config.ConfigException;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.QueryStringDecoder;
import io.netty.handler.timeout.ReadTimeoutException;
import java.lang.System.Logger;
import java.lang.System.Logger.Level;
import java.nio.charset.StandardCharsets;

/**
 * Answers one HTTP request at a time on the management event loop: {@code GET} of {@code /metrics},
 * {@code /api/ports}, {@code /api/workers} or {@code /api/queues}; on the control socket (a handler
 * with a {@link PortControl}) also {@code POST /api/ports}, {@code DELETE /api/ports/NAME} and
 * {@code POST /api/reload}. A change
 * sent to the read-only listener gets 403 naming the control socket. 404 for any other path, 405 for
 * another method on one of these paths. The query string is ignored.
 */
@ChannelHandler.Sharable
final class ManagementHandler extends SimpleChannelInboundHandler<FullHttpRequest> {

    private static final Logger LOG = System.getLogger(ManagementHandler.class.getName());
    private static final String JSON = "application/json; charset=utf-8";
    private static final String TEXT = "text/plain; charset=utf-8";
    private static final String PORTS = "/api/ports";
    private static final String PORT_PREFIX = PORTS + "/";
    private static final String RELOAD = "/api/reload";

    private final ManagementView view;
    /** Null on the read-only listener. */
    private final PortControl control;
    /** {@code POST /api/reload}; null: not served. */
    private final PortControl.Reloader reloader;
    /** The 403 answer's text on the read-only listener (names the control socket). */
    private final String readOnlyMessage;

    /** A read-only handler; {@code controlSocket} is where changes go instead. */
    ManagementHandler(ManagementView view, String controlSocket) {
        this(view, null, null, "read-only listener: send changes to the control socket " + controlSocket
                + " (management.control-socket)\n");
    }

    /** The control socket's handler: reads and changes; {@code reloader} may be null. */
    ManagementHandler(ManagementView view, PortControl control, PortControl.Reloader reloader) {
        this(view, control, reloader, null);
    }

    private ManagementHandler(ManagementView view, PortControl control, PortControl.Reloader reloader,
                              String readOnlyMessage) {
        this.view = view;
        this.control = control;
        this.reloader = reloader;
        this.readOnlyMessage = readOnlyMessage;
    }

    @Override
    protected void channelRead0(ChannelHandlerContext ctx, FullHttpRequest request) {
        if (!request.decoderResult().isSuccess()) {
            respond(ctx, request, text(HttpResponseStatus.BAD_REQUEST, "bad request\n"), false);
            return;
        }
        String path = new QueryStringDecoder(request.uri()).path();
        HttpMethod method = request.method();
        boolean onePort = path.startsWith(PORT_PREFIX) && path.length() > PORT_PREFIX.length();
        boolean known = onePort || switch (path) {
            case "/metrics", PORTS, "/api/workers", "/api/queues" -> true;
            case RELOAD -> control == null || reloader != null;
            default -> false;
        };
        if (!known) {
            respond(ctx, request, text(HttpResponseStatus.NOT_FOUND, "not found: " + path + "\n"), true);
            return;
        }
        boolean change = (onePort && HttpMethod.DELETE.equals(method))
                || ((path.equals(PORTS) || path.equals(RELOAD)) && HttpMethod.POST.equals(method));
        if (change && control == null) {
            respond(ctx, request, text(HttpResponseStatus.FORBIDDEN, readOnlyMessage), true);
            return;
        }
        if (!change && !(HttpMethod.GET.equals(method) && !onePort)) {
            FullHttpResponse response = text(HttpResponseStatus.METHOD_NOT_ALLOWED,
                    "method not allowed: " + method + "\n");
            response.headers().set(HttpHeaderNames.ALLOW, allowed(path, onePort));
            respond(ctx, request, response, true);
            return;
        }
        FullHttpResponse response;
        try {
            response = change ? change(request, path, onePort) : switch (path) {
                case "/metrics" -> ok(PrometheusText.CONTENT_TYPE,
                        PrometheusText.render(view).getBytes(StandardCharsets.UTF_8));
                case PORTS -> ok(JSON, ManagementJson.ports(view.ports()));
                case "/api/workers" -> ok(JSON, ManagementJson.workers(view.workers()));
                default -> ok(JSON, ManagementJson.queues(view.queues()));
            };
        } catch (RuntimeException e) {
            // A bug in the view must not take the endpoint down; say so in the log and to the client.
            LOG.log(Level.WARNING, "management: " + method + " " + path + " failed", e);
            response = text(HttpResponseStatus.INTERNAL_SERVER_ERROR, "internal error: " + e + "\n");
        }
        respond(ctx, request, response, true);
    }

    private String allowed(String path, boolean onePort) {
        if (onePort) {
            return "DELETE";
        }
        return switch (path) {
            case PORTS -> "GET, POST";
            case RELOAD -> "POST";
            default -> "GET";
        };
    }

    /** {@code POST /api/ports}, {@code DELETE /api/ports/NAME} or {@code POST /api/reload}, on the control socket. */
    private FullHttpResponse change(FullHttpRequest request, String path, boolean onePort) {
        if (path.equals(RELOAD)) {
            try {
                return response(HttpResponseStatus.OK, JSON, Unpooled.wrappedBuffer(ManagementJson.reload(reloader.reload())));
            } catch (ConfigException e) {
                return refused(e);
            }
        }
        if (onePort) {
            String name = path.substring(PORT_PREFIX.length());
            if (!control.removePort(name)) {
                return text(HttpResponseStatus.NOT_FOUND, "no such port: " + name + "\n");
            }
            return response(HttpResponseStatus.NO_CONTENT, TEXT, Unpooled.EMPTY_BUFFER);
        }
        try {
            PortStatus port = control.addPort(request.content().toString(StandardCharsets.UTF_8));
            return response(HttpResponseStatus.CREATED, JSON, Unpooled.wrappedBuffer(ManagementJson.port(port)));
        } catch (ConfigException e) {
            return refused(e);
        }
    }

    /** 400 with the config's message, or 409 for a name, socket or TAP device in use. */
    private static FullHttpResponse refused(ConfigException e) {
        return text(e.isDuplicate() ? HttpResponseStatus.CONFLICT : HttpResponseStatus.BAD_REQUEST, e.getMessage() + "\n");
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        if (!(cause instanceof ReadTimeoutException)) {
            LOG.log(Level.DEBUG, "management: connection from " + ctx.channel().remoteAddress() + " failed", cause);
        }
        ctx.close();
    }

    private static FullHttpResponse ok(String contentType, byte[] body) {
        return response(HttpResponseStatus.OK, contentType, Unpooled.wrappedBuffer(body));
    }

    private static FullHttpResponse text(HttpResponseStatus status, String body) {
        return response(status, TEXT, Unpooled.copiedBuffer(body, StandardCharsets.UTF_8));
    }

    private static FullHttpResponse response(HttpResponseStatus status, String contentType, ByteBuf body) {
        FullHttpResponse response = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, status, body);
        response.headers()
                .set(HttpHeaderNames.CONTENT_TYPE, contentType)
                .setInt(HttpHeaderNames.CONTENT_LENGTH, body.readableBytes());
        return response;
    }

    private static void respond(ChannelHandlerContext ctx, FullHttpRequest request, FullHttpResponse response,
                                boolean mayKeepAlive) {
        boolean keepAlive = mayKeepAlive && HttpUtil.isKeepAlive(request);
        HttpUtil.setKeepAlive(response, keepAlive);
        if (keepAlive) {
            ctx.writeAndFlush(response, ctx.voidPromise());
        } else {
            ctx.writeAndFlush(response).addListener(ChannelFutureListener.CLOSE);
        }
    }
}

package io.jvhost.backend.management;

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
 * {@code /api/ports}, {@code /api/workers} or {@code /api/queues}; 404 for any other path, 405 for
 * another method on one of these paths. The query string is ignored.
 */
@ChannelHandler.Sharable
final class ManagementHandler extends SimpleChannelInboundHandler<FullHttpRequest> {

    private static final Logger LOG = System.getLogger(ManagementHandler.class.getName());
    private static final String JSON = "application/json; charset=utf-8";
    private static final String TEXT = "text/plain; charset=utf-8";

    private final ManagementView view;

    ManagementHandler(ManagementView view) {
        this.view = view;
    }

    @Override
    protected void channelRead0(ChannelHandlerContext ctx, FullHttpRequest request) {
        if (!request.decoderResult().isSuccess()) {
            respond(ctx, request, text(HttpResponseStatus.BAD_REQUEST, "bad request\n"), false);
            return;
        }
        String path = new QueryStringDecoder(request.uri()).path();
        boolean known = switch (path) {
            case "/metrics", "/api/ports", "/api/workers", "/api/queues" -> true;
            default -> false;
        };
        if (!known) {
            respond(ctx, request, text(HttpResponseStatus.NOT_FOUND, "not found: " + path + "\n"), true);
            return;
        }
        if (!HttpMethod.GET.equals(request.method())) {
            FullHttpResponse response = text(HttpResponseStatus.METHOD_NOT_ALLOWED,
                    "method not allowed: " + request.method() + "\n");
            response.headers().set(HttpHeaderNames.ALLOW, "GET");
            respond(ctx, request, response, true);
            return;
        }
        FullHttpResponse response;
        try {
            response = switch (path) {
                case "/metrics" -> ok(PrometheusText.CONTENT_TYPE,
                        PrometheusText.render(view).getBytes(StandardCharsets.UTF_8));
                case "/api/ports" -> ok(JSON, ManagementJson.ports(view.ports()));
                case "/api/workers" -> ok(JSON, ManagementJson.workers(view.workers()));
                default -> ok(JSON, ManagementJson.queues(view.queues()));
            };
        } catch (RuntimeException e) {
            // A bug in the view must not take the endpoint down; say so in the log and to the client.
            LOG.log(Level.WARNING, "management: GET " + path + " failed", e);
            response = text(HttpResponseStatus.INTERNAL_SERVER_ERROR, "internal error: " + e + "\n");
        }
        respond(ctx, request, response, true);
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

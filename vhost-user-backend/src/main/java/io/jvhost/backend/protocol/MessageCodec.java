package io.jvhost.backend.protocol;

import io.jvhost.backend.linux.EventFd;
import io.jvhost.backend.linux.FdList;
import io.jvhost.backend.linux.LinuxException;
import io.jvhost.backend.linux.UnixSocket;
import io.jvhost.backend.protocol.VhostUserRequest.AddMemReg;
import io.jvhost.backend.protocol.VhostUserRequest.GetFeatures;
import io.jvhost.backend.protocol.VhostUserRequest.GetMaxMemSlots;
import io.jvhost.backend.protocol.VhostUserRequest.GetProtocolFeatures;
import io.jvhost.backend.protocol.VhostUserRequest.GetQueueNum;
import io.jvhost.backend.protocol.VhostUserRequest.GetVringBase;
import io.jvhost.backend.protocol.VhostUserRequest.NetSetMtu;
import io.jvhost.backend.protocol.VhostUserRequest.RegionDescriptor;
import io.jvhost.backend.protocol.VhostUserRequest.RemMemReg;
import io.jvhost.backend.protocol.VhostUserRequest.ResetOwner;
import io.jvhost.backend.protocol.VhostUserRequest.SendRarp;
import io.jvhost.backend.protocol.VhostUserRequest.SetFeatures;
import io.jvhost.backend.protocol.VhostUserRequest.SetLogBase;
import io.jvhost.backend.protocol.VhostUserRequest.SetLogFd;
import io.jvhost.backend.protocol.VhostUserRequest.SetMemTable;
import io.jvhost.backend.protocol.VhostUserRequest.SetOwner;
import io.jvhost.backend.protocol.VhostUserRequest.SetProtocolFeatures;
import io.jvhost.backend.protocol.VhostUserRequest.SetVringAddr;
import io.jvhost.backend.protocol.VhostUserRequest.SetVringBase;
import io.jvhost.backend.protocol.VhostUserRequest.SetVringCall;
import io.jvhost.backend.protocol.VhostUserRequest.SetVringEnable;
import io.jvhost.backend.protocol.VhostUserRequest.SetVringErr;
import io.jvhost.backend.protocol.VhostUserRequest.SetVringKick;
import io.jvhost.backend.protocol.VhostUserRequest.SetVringNum;

import java.io.EOFException;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.net.SocketTimeoutException;
import java.nio.channels.AsynchronousCloseException;
import java.util.ArrayList;
import java.util.List;

/**
 * The wire layer: bytes and fds in, a {@link VhostUserMessage} out; replies back out.
 *
 * <p>{@link #read} checks, in this order, before anything acts on the message: the header (version
 * bits, unknown or REPLY flags), the payload size (at most {@link MessageHeader#MAX_PAYLOAD_SIZE}),
 * the request code, the exact size for that request, whether it may carry fds and how many, and then
 * the request's structural rules while decoding. Any failure closes every received fd and throws a
 * {@link VhostUserException} naming the request and the reason.
 *
 * <p>Stateless; called from the connection's control thread.
 */
public final class MessageCodec {

    /** Virtqueue sizes are powers of two up to this (virtio 1.x, 2.7 "Split Virtqueues"). */
    public static final int MAX_QUEUE_SIZE = 32768;
    /** NET_SET_MTU bounds: IPv4's minimum MTU (RFC 791) and the largest an IP datagram allows. */
    public static final int MIN_MTU = 68;
    public static final int MAX_MTU = 65535;
    /**
     * How long the rest of a message may take once its first byte arrived. A front-end writes each
     * message with one sendmsg (QEMU, DPDK), so the rest is there at once; one that stops part-way
     * would otherwise hold its port's control thread, and with it the port, forever.
     */
    public static final long MESSAGE_TIMEOUT_NANOS = 5_000_000_000L;

    private MessageCodec() {
    }

    /**
     * Reads the next request.
     *
     * @return the message (close it when done), or null when the front-end closed the connection
     *         between messages
     * @throws VhostUserException       malformed, unsupported or truncated message
     * @throws AsynchronousCloseException the socket's wake-up fd fired (the endpoint is closing)
     */
    public static VhostUserMessage read(UnixSocket socket) throws IOException {
        try {
            return readMessage(socket);
        } finally {
            socket.setDeadlineNanos(0);
        }
    }

    private static VhostUserMessage readMessage(UnixSocket socket) throws IOException {
        FdList fds = new FdList();
        try {
            MemorySegment header = MemorySegment.ofArray(new byte[MessageHeader.LENGTH]);
            if (!readPart(socket, header, fds, "header")) {
                fds.close();
                return null;
            }
            int code = MessageHeader.request(header);
            int flags = MessageHeader.flags(header);
            long size = MessageHeader.size(header);
            RequestType type = RequestType.of(code);
            if ((flags & MessageHeader.VERSION_MASK) != MessageHeader.VERSION) {
                throw VhostUserException.protocol(type, "bad version bits in flags 0x" + Integer.toHexString(flags)
                        + " (expected version " + MessageHeader.VERSION + ")");
            }
            if ((flags & ~MessageHeader.KNOWN_FLAGS) != 0 || (flags & MessageHeader.FLAG_REPLY) != 0) {
                throw VhostUserException.protocol(type, "invalid flags 0x" + Integer.toHexString(flags) + " on a request");
            }
            if (size > MessageHeader.MAX_PAYLOAD_SIZE) {
                throw VhostUserException.protocol(type, "payload size " + size + " exceeds "
                        + MessageHeader.MAX_PAYLOAD_SIZE);
            }
            MemorySegment payload = MemorySegment.ofArray(new byte[(int) size]);
            if (size > 0 && !readPart(socket, payload, fds, "payload")) {
                throw VhostUserException.protocol(type, "truncated message: peer closed after the header, before "
                        + size + " payload bytes");
            }
            if (type == null) {
                throw VhostUserException.unsupported(code);
            }
            try {
                if (size < type.minPayload() || size > type.maxPayload()) {
                    throw VhostUserException.protocol(type, "payload size " + size + ", expected "
                            + (type.minPayload() == type.maxPayload() ? String.valueOf(type.minPayload())
                            : type.minPayload() + ".." + type.maxPayload()));
                }
                if (fds.size() > type.maxFds()) {
                    throw VhostUserException.protocol(type, fds.size() + " fds attached, "
                            + (type.maxFds() == 0 ? "none allowed" : "at most " + type.maxFds() + " allowed"));
                }
                VhostUserRequest request = decode(type, payload, fds);
                return new VhostUserMessage(flags, request, fds);
            } catch (VhostUserException e) {
                // The whole message was read, so the stream is still in step: the caller may nack it.
                throw (flags & MessageHeader.FLAG_NEED_REPLY) != 0 ? e.awaitingReply() : e;
            }
        } catch (IOException | RuntimeException e) {
            fds.close();
            throw e;
        }
    }

    /**
     * Reads one part fully; false at an orderly end before the part's first byte. The message's first
     * byte starts its deadline ({@link #MESSAGE_TIMEOUT_NANOS}).
     */
    private static boolean readPart(UnixSocket socket, MemorySegment part, FdList fds, String what) throws IOException {
        try {
            return socket.readFully(part, fds, MESSAGE_TIMEOUT_NANOS);
        } catch (SocketTimeoutException e) {
            throw VhostUserException.connection("stalled message: " + what + ": " + e.getMessage() + " ("
                    + MESSAGE_TIMEOUT_NANOS / 1_000_000 + " ms after its first byte)", e);
        } catch (EOFException e) {
            throw VhostUserException.protocol(null, "truncated message: " + what + ": " + e.getMessage());
        } catch (AsynchronousCloseException e) {
            throw e;
        } catch (IOException e) {
            throw VhostUserException.connection("receive failed: " + e.getMessage(), e);
        }
    }

    private static VhostUserRequest decode(RequestType type, MemorySegment payload, FdList fds)
            throws VhostUserException {
        return switch (type) {
            case GET_FEATURES -> new GetFeatures();
            case SET_FEATURES -> new SetFeatures(U64Payload.value(payload));
            case SET_OWNER -> new SetOwner();
            case RESET_OWNER -> new ResetOwner();
            case SET_MEM_TABLE -> decodeMemTable(payload, fds);
            case SET_LOG_BASE -> {
                if (fds.size() != 1) {
                    throw VhostUserException.protocol(type, "no log fd attached (the back-end offers only LOG_SHMFD)");
                }
                yield new SetLogBase(LogPayload.mmapSize(payload), LogPayload.mmapOffset(payload), fds.get(0));
            }
            case SET_LOG_FD -> new SetLogFd(fds.size() == 1 ? fds.get(0) : -1);
            case SEND_RARP -> new SendRarp(Wire.mac(payload, 0));
            case SET_VRING_NUM -> {
                long size = VringStatePayload.num(payload);
                if (size == 0 || size > MAX_QUEUE_SIZE || (size & (size - 1)) != 0) {
                    throw VhostUserException.protocol(type, "queue size " + size + " is not a power of two in 1.."
                            + MAX_QUEUE_SIZE);
                }
                yield new SetVringNum(VringStatePayload.index(payload), (int) size);
            }
            case SET_VRING_ADDR -> {
                int flags = VringAddrPayload.flags(payload);
                if ((flags & ~VringAddrPayload.VHOST_VRING_F_LOG) != 0) {
                    throw VhostUserException.protocol(type, "vring flags 0x" + Integer.toHexString(flags)
                            + " not supported (only VHOST_VRING_F_LOG, 0x1)");
                }
                yield new SetVringAddr(VringAddrPayload.index(payload), flags, VringAddrPayload.descFrontendVa(payload),
                        VringAddrPayload.usedFrontendVa(payload), VringAddrPayload.availFrontendVa(payload),
                        VringAddrPayload.logGpa(payload));
            }
            case SET_VRING_BASE -> {
                long base = VringStatePayload.num(payload);
                if (base > 0xffff) { // split rings: a 16-bit avail index
                    throw VhostUserException.protocol(type, "base " + base + " exceeds the 16-bit avail index");
                }
                yield new SetVringBase(VringStatePayload.index(payload), (int) base);
            }
            case GET_VRING_BASE -> new GetVringBase(VringStatePayload.index(payload));
            case SET_VRING_KICK, SET_VRING_CALL, SET_VRING_ERR -> decodeVringFd(type, payload, fds);
            case GET_PROTOCOL_FEATURES -> new GetProtocolFeatures();
            case SET_PROTOCOL_FEATURES -> new SetProtocolFeatures(U64Payload.value(payload));
            case GET_QUEUE_NUM -> new GetQueueNum();
            case SET_VRING_ENABLE -> {
                long enable = VringStatePayload.num(payload);
                if (enable > 1) {
                    throw VhostUserException.protocol(type, "enable must be 0 or 1, got " + enable);
                }
                yield new SetVringEnable(VringStatePayload.index(payload), enable == 1);
            }
            case NET_SET_MTU -> {
                long mtu = U64Payload.value(payload);
                if (mtu < MIN_MTU || mtu > MAX_MTU) {
                    throw VhostUserException.protocol(type, "MTU " + Long.toUnsignedString(mtu) + " is not in "
                            + MIN_MTU + ".." + MAX_MTU);
                }
                yield new NetSetMtu((int) mtu);
            }
            case GET_MAX_MEM_SLOTS -> new GetMaxMemSlots();
            case ADD_MEM_REG -> {
                if (fds.size() != 1) {
                    throw VhostUserException.protocol(type, "no fd attached for the region");
                }
                yield new AddMemReg(MemoryRegionPayload.region(payload));
            }
            case REM_MEM_REG -> new RemMemReg(MemoryRegionPayload.region(payload));
        };
    }

    private static SetMemTable decodeMemTable(MemorySegment payload, FdList fds) throws VhostUserException {
        RequestType type = RequestType.SET_MEM_TABLE;
        long count = MemoryTablePayload.regionCount(payload);
        if (count == 0 || count > MemoryTablePayload.MAX_REGIONS) {
            throw VhostUserException.protocol(type, count + " regions, expected 1.." + MemoryTablePayload.MAX_REGIONS);
        }
        int regions = (int) count;
        if (payload.byteSize() != MemoryTablePayload.sizeFor(regions)) {
            throw VhostUserException.protocol(type, "payload size " + payload.byteSize() + " does not match "
                    + regions + " regions (expected " + MemoryTablePayload.sizeFor(regions) + ")");
        }
        if (fds.size() != regions) {
            throw VhostUserException.protocol(type, regions + " regions but " + fds.size() + " fds attached");
        }
        List<RegionDescriptor> list = new ArrayList<>(regions);
        for (int i = 0; i < regions; i++) {
            list.add(MemoryTablePayload.region(payload, i));
        }
        return new SetMemTable(list);
    }

    private static VhostUserRequest decodeVringFd(RequestType type, MemorySegment payload, FdList fds)
            throws VhostUserException {
        long value = VringFdPayload.value(payload);
        if (VringFdPayload.reservedBits(value) != 0) {
            throw VhostUserException.protocol(type, "reserved bits set in 0x" + Long.toHexString(value));
        }
        boolean noFd = VringFdPayload.noFd(value);
        if (noFd && fds.size() != 0) {
            throw VhostUserException.protocol(type, "NOFD flag set but an fd is attached");
        }
        if (!noFd && fds.size() != 1) {
            throw VhostUserException.protocol(type, "no fd attached and NOFD flag not set");
        }
        int index = VringFdPayload.index(value);
        int fd = noFd ? -1 : fds.get(0);
        if (fd >= 0) {
            requireEventFd(type, index, fd);
        }
        return switch (type) {
            case SET_VRING_KICK -> new SetVringKick(index, fd);
            case SET_VRING_CALL -> new SetVringCall(index, fd);
            default -> new SetVringErr(index, fd);
        };
    }

    /**
     * Kick, call and error fds are eventfds (vhost-user.rst, "VHOST_USER_SET_VRING_KICK"): a worker reads
     * and writes them with eventfd_read/eventfd_write and polls them in its epoll, and any other kind
     * breaks that (a regular file cannot be polled, a pipe or socket never reads as an eventfd, a
     * blocking fd stops the worker). Accepted ones are made non-blocking here.
     */
    private static void requireEventFd(RequestType type, int index, int fd) throws VhostUserException {
        String problem;
        try {
            problem = EventFd.acceptReceived(fd);
        } catch (LinuxException e) {
            throw VhostUserException.protocol(type, "vring " + index + ": the eventfd cannot be made non-blocking: "
                    + e.getMessage());
        }
        if (problem != null) {
            throw VhostUserException.protocol(type, "vring " + index + ": the fd is " + problem + ", not an eventfd");
        }
    }

    /** Header plus payload, as one buffer ready to send. */
    public static MemorySegment encode(int request, int flags, MemorySegment payload) {
        int size = (int) payload.byteSize();
        MemorySegment message = MemorySegment.ofArray(new byte[MessageHeader.LENGTH + size]);
        MessageHeader.write(message, request, flags, size);
        MemorySegment.copy(payload, 0, message, MessageHeader.LENGTH, size);
        return message;
    }

    /** Sends the reply to {@code type}: version 1 with the REPLY flag. */
    public static void writeReply(UnixSocket socket, RequestType type, MemorySegment payload) throws VhostUserException {
        // A front-end that stops reading its replies must not hold the port either.
        socket.setDeadlineNanos(System.nanoTime() + MESSAGE_TIMEOUT_NANOS);
        try {
            socket.writeFully(encode(type.code(), MessageHeader.VERSION | MessageHeader.FLAG_REPLY, payload));
        } catch (IOException e) {
            throw VhostUserException.connection(type.name() + ": sending the reply failed: " + e.getMessage(), e);
        } finally {
            socket.setDeadlineNanos(0);
        }
    }
}

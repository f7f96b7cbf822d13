package io.jvhost.it.frontend;

import io.jvhost.backend.linux.EventFd;
import io.jvhost.backend.linux.FdList;
import io.jvhost.backend.linux.Fds;
import io.jvhost.backend.linux.LinuxException;
import io.jvhost.backend.linux.Mapping;
import io.jvhost.backend.linux.UnixSocket;
import io.jvhost.backend.protocol.MemoryRegionPayload;
import io.jvhost.backend.protocol.LogPayload;
import io.jvhost.backend.protocol.MemoryTablePayload;
import io.jvhost.backend.protocol.MessageCodec;
import io.jvhost.backend.protocol.MessageHeader;
import io.jvhost.backend.protocol.RequestType;
import io.jvhost.backend.protocol.U64Payload;
import io.jvhost.backend.protocol.VhostUserRequest.RegionDescriptor;
import io.jvhost.backend.protocol.VringAddrPayload;
import io.jvhost.backend.protocol.VringFdPayload;
import io.jvhost.backend.protocol.VringStatePayload;
import io.jvhost.virtio.driver.DriverVirtqueue;
import io.jvhost.virtio.driver.GuestRam;
import io.jvhost.virtio.memory.MemoryRegion;
import io.jvhost.virtio.net.NetHeader;
import io.jvhost.virtio.net.VirtioNetFeatures;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.VarHandle;
import java.net.SocketTimeoutException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The guest's side of one single-queue-pair vhost-user-net device, over real kernel objects: guest RAM
 * is a memfd mapped into this process (gpa 0, front-end VA = the real mmap address), kick, call and
 * error notifiers are eventfds, and the control channel is an AF_UNIX connection carrying fds.
 *
 * <p>{@link #connect} negotiates as QEMU does (vhost-user.rst, "Starting the device"): GET_FEATURES,
 * GET_PROTOCOL_FEATURES, SET_PROTOCOL_FEATURES (MQ, REPLY_ACK, NET_MTU, CONFIGURE_MEM_SLOTS), GET_QUEUE_NUM,
 * GET_MAX_MEM_SLOTS, SET_OWNER, SET_FEATURES, SET_MEM_TABLE (one region; QEMU with CONFIGURE_MEM_SLOTS
 * sends ADD_MEM_REG instead, which {@link #addMemory} uses for regions added later), and per
 * virtqueue SET_VRING_NUM / BASE / ADDR / KICK / CALL (/ ERR); it posts the
 * receive buffers, then sends SET_VRING_ENABLE 1 for both queues. Once REPLY_ACK is negotiated every
 * request without a reply of its own carries NEED_REPLY and a non-zero status fails the call.
 *
 * <p>Data path: virtqueue 0 is RX, 1 is TX (virtio 1.x §5.1.2). {@link #send} prepends a zeroed
 * 12-byte virtio-net header (VERSION_1 is required), splits header + frame into descriptors of at most
 * {@link Options#txSlotSize()} bytes, publishes the avail idx and kicks when the device asks for it
 * (EVENT_IDX or NO_NOTIFY, §2.7.10). {@link #receive} waits on the RX call eventfd, reassembles
 * mergeable frames ({@code num_buffers} chains, §5.1.6.4) and posts a fresh buffer for each one used.
 * A device that publishes used entries but never signals the call eventfd fails the wait with an
 * {@link AssertionError}, since a real guest would hang there.
 *
 * <p>Raw access for malformed-input tests: {@link #txRing()} / {@link #rxRing()} (the
 * {@link DriverVirtqueue} fixtures with their bad-ring builders), {@link #kick}, {@link #sendRaw},
 * {@link #sendRequest}, {@link #awaitClosedByBackend} and {@link #awaitQueueError}.
 *
 * <p>Not thread-safe: one test thread drives it (the "guest"). Every control-channel wait times out
 * after {@link #REPLY_TIMEOUT} so a broken back-end fails a test instead of hanging it.
 */
public final class VhostUserFrontend implements AutoCloseable {

    public static final int RX_QUEUE = 0;
    public static final int TX_QUEUE = 1;
    public static final int NET_HEADER_LENGTH = NetHeader.LENGTH;
    public static final Duration REPLY_TIMEOUT = Duration.ofSeconds(5);

    /** Feature bits this driver implements; it acks the offered ones among them. */
    public static final long DRIVER_FEATURES = VirtioNetFeatures.mask(VirtioNetFeatures.VERSION_1)
            | VirtioNetFeatures.mask(VirtioNetFeatures.MRG_RXBUF)
            | VirtioNetFeatures.mask(VirtioNetFeatures.RING_INDIRECT_DESC)
            | VirtioNetFeatures.mask(VirtioNetFeatures.RING_EVENT_IDX)
            | VirtioNetFeatures.mask(VirtioNetFeatures.VHOST_USER_F_PROTOCOL_FEATURES);
    /** The offload feature bits a driver acks to hand over and take offloaded frames (as Linux does). */
    public static final long OFFLOAD_FEATURES = VirtioNetFeatures.mask(VirtioNetFeatures.CSUM)
            | VirtioNetFeatures.mask(VirtioNetFeatures.GUEST_CSUM)
            | VirtioNetFeatures.mask(VirtioNetFeatures.HOST_TSO4) | VirtioNetFeatures.mask(VirtioNetFeatures.HOST_TSO6)
            | VirtioNetFeatures.mask(VirtioNetFeatures.HOST_ECN) | VirtioNetFeatures.mask(VirtioNetFeatures.HOST_UFO)
            | VirtioNetFeatures.mask(VirtioNetFeatures.HOST_USO)
            | VirtioNetFeatures.mask(VirtioNetFeatures.GUEST_TSO4) | VirtioNetFeatures.mask(VirtioNetFeatures.GUEST_TSO6)
            | VirtioNetFeatures.mask(VirtioNetFeatures.GUEST_ECN) | VirtioNetFeatures.mask(VirtioNetFeatures.GUEST_UFO)
            | VirtioNetFeatures.mask(VirtioNetFeatures.GUEST_USO4) | VirtioNetFeatures.mask(VirtioNetFeatures.GUEST_USO6);
    public static final int PROTOCOL_F_MQ = 0;
    public static final int PROTOCOL_F_LOG_SHMFD = 1;
    public static final int PROTOCOL_F_REPLY_ACK = 3;
    public static final int PROTOCOL_F_NET_MTU = 4;
    public static final int PROTOCOL_F_CONFIGURE_MEM_SLOTS = 15;
    /** Protocol features this front-end implements. */
    public static final long DRIVER_PROTOCOL_FEATURES = (1L << PROTOCOL_F_MQ) | (1L << PROTOCOL_F_LOG_SHMFD)
            | (1L << PROTOCOL_F_REPLY_ACK) | (1L << PROTOCOL_F_NET_MTU) | (1L << PROTOCOL_F_CONFIGURE_MEM_SLOTS);
    /** VHOST_F_LOG_ALL: the device logs every write into guest memory (migration). */
    public static final long LOG_ALL = 1L << 26;
    /** SET_VRING_ADDR's flag: log the used ring's writes at its log_guest_addr. */
    private static final int VRING_F_LOG = 1;

    /** How long a device may take to signal after publishing, before a missed notification is reported. */
    private static final long NOTIFY_GRACE_MILLIS = 200;
    private static final int QUEUES = 2;

    /**
     * @param memoryBytes  guest RAM (one memfd region at gpa 0)
     * @param queueSize    descriptors per virtqueue, a power of two
     * @param rxBufferSize bytes per posted receive buffer (one descriptor each)
     * @param rxBuffers    receive buffers kept posted, at most {@code queueSize}
     * @param txSlotSize   largest TX descriptor; longer header + frame bytes use several descriptors
     * @param features     feature bits the driver is willing to ack (masked with the offer)
     * @param errorFds     whether to give the device a SET_VRING_ERR eventfd per queue
     */
    public record Options(long memoryBytes, int queueSize, int rxBufferSize, int rxBuffers, int txSlotSize,
                          long features, boolean errorFds) {

        public Options {
            if (queueSize <= 0 || Integer.bitCount(queueSize) != 1 || queueSize > 32768) {
                throw new IllegalArgumentException("queue size must be a power of two up to 32768: " + queueSize);
            }
            if (rxBuffers < 0 || rxBuffers > queueSize) {
                throw new IllegalArgumentException("rxBuffers must be 0.." + queueSize + ": " + rxBuffers);
            }
            if (rxBufferSize < NET_HEADER_LENGTH || txSlotSize <= 0) {
                throw new IllegalArgumentException("buffer sizes too small: rx " + rxBufferSize + ", tx " + txSlotSize);
            }
        }

        /** 16 MiB, 256-entry queues, 256 receive buffers of 2 KiB, all driver features, error fds on. */
        public static Options defaults() {
            return new Options(16L << 20, 256, 2048, 256, 2048, DRIVER_FEATURES, true);
        }

        public Options withRxBuffers(int count, int size) {
            return new Options(memoryBytes, queueSize, size, count, txSlotSize, features, errorFds);
        }

        public Options withFeatures(long driverFeatures) {
            return new Options(memoryBytes, queueSize, rxBufferSize, rxBuffers, txSlotSize, driverFeatures, errorFds);
        }
    }

    /** A received frame (virtio-net header stripped), how many RX chains it arrived in, and its header. */
    public record ReceivedFrame(byte[] bytes, int numBuffers, byte[] header) {

        public int flags() {
            return header[0] & 0xFF;
        }

        public int gsoType() {
            return header[1] & 0xFF;
        }

        /** Bytes 2-9 (hdr_len, gso_size, csum_start, csum_offset) as little-endian numbers. */
        public int field(int offset) {
            return (header[offset] & 0xFF) | (header[offset + 1] & 0xFF) << 8;
        }
    }

    private final Options options;
    private final int memfd;
    private final Mapping mapping;
    private final GuestRam ram;
    private final DriverVirtqueue rx;
    private final DriverVirtqueue tx;
    private final int[] kickFds = {-1, -1};
    private final int[] callFds = {-1, -1};
    private final int[] errFds = {-1, -1};
    private UnixSocket socket;
    private long offeredFeatures;
    private long ackedFeatures;
    private long offeredProtocolFeatures;
    private long ackedProtocolFeatures;
    private long queueNum = -1;
    private long maxMemSlots = -1;
    private final List<HotRegion> hotRegions = new ArrayList<>();
    private boolean eventIdx;
    private boolean mergeable;
    private int rxUsedSeen;
    private int txUsedSeen;
    private int txPublished;
    private final ArrayDeque<ReceivedFrame> received = new ArrayDeque<>();
    private ByteArrayOutputStream partial;
    private byte[] partialHeader;
    private int partialBuffers;
    private int partialSeen;
    private boolean closed;

    private VhostUserFrontend(Options options) throws LinuxException {
        this.options = options;
        int fd = Fds.memfdCreate("jvhost-it-guest-ram");
        Mapping m = null;
        try {
            Fds.ftruncate(fd, options.memoryBytes());
            m = Mapping.map(fd, options.memoryBytes(), 0);
            for (int q = 0; q < QUEUES; q++) {
                kickFds[q] = EventFd.create();
                callFds[q] = EventFd.create();
                errFds[q] = EventFd.create();
            }
            MemorySegment memory = m.segment();
            // frontendVa = where this process really mapped the memfd, as QEMU passes its own addresses.
            this.ram = GuestRam.of(memory, 0, memory.address());
            this.rx = new DriverVirtqueue(ram, options.queueSize(), options.rxBufferSize());
            this.tx = new DriverVirtqueue(ram, options.queueSize(), options.txSlotSize());
        } catch (LinuxException | RuntimeException e) {
            if (m != null) {
                m.close();
            }
            Fds.closeQuietly(fd);
            closeEventFds();
            throw e;
        }
        this.memfd = fd;
        this.mapping = m;
    }

    /** Connects to {@code socketPath} and brings the device up with {@link Options#defaults()}. */
    public static VhostUserFrontend connect(Path socketPath) throws IOException {
        return connect(socketPath, Options.defaults());
    }

    /**
     * Connects (retrying while the back-end's backlog is full or it is not listening yet, up to
     * {@link #REPLY_TIMEOUT}), negotiates, sets both virtqueues up and posts the receive buffers.
     */
    public static VhostUserFrontend connect(Path socketPath, Options options) throws IOException {
        VhostUserFrontend frontend = new VhostUserFrontend(options);
        try {
            frontend.socket = connectWithRetry(socketPath);
            frontend.socket.setTimeoutMillis((int) REPLY_TIMEOUT.toMillis());
            frontend.negotiate();
            frontend.startQueues();
            return frontend;
        } catch (IOException | RuntimeException | Error e) {
            frontend.close();
            throw e;
        }
    }

    private static UnixSocket connectWithRetry(Path socketPath) throws LinuxException {
        long deadline = System.nanoTime() + REPLY_TIMEOUT.toNanos();
        while (true) {
            try {
                return UnixSocket.connect(socketPath, -1);
            } catch (LinuxException e) {
                boolean retryable = e.errno() == LinuxException.EAGAIN || e.errno() == LinuxException.ECONNREFUSED
                        || e.errno() == LinuxException.ENOENT;
                if (!retryable || System.nanoTime() > deadline) {
                    throw e;
                }
            }
            sleepMillis(5);
        }
    }

    // ---------------------------------------------------------------------------------------------
    // Control channel

    private void negotiate() throws IOException {
        offeredFeatures = get(RequestType.GET_FEATURES);
        if (has(offeredFeatures, VirtioNetFeatures.VHOST_USER_F_PROTOCOL_FEATURES)) {
            offeredProtocolFeatures = get(RequestType.GET_PROTOCOL_FEATURES);
            // Sent without NEED_REPLY: REPLY_ACK is in force only once this request is applied.
            sendRequest(RequestType.SET_PROTOCOL_FEATURES.code(), MessageHeader.VERSION,
                    u64(offeredProtocolFeatures & DRIVER_PROTOCOL_FEATURES));
            ackedProtocolFeatures = offeredProtocolFeatures & DRIVER_PROTOCOL_FEATURES;
            if ((ackedProtocolFeatures & (1L << PROTOCOL_F_MQ)) != 0) {
                queueNum = get(RequestType.GET_QUEUE_NUM);
                if (queueNum < 1) {
                    throw new IllegalStateException("GET_QUEUE_NUM answered " + queueNum);
                }
            }
            if ((ackedProtocolFeatures & (1L << PROTOCOL_F_CONFIGURE_MEM_SLOTS)) != 0) {
                maxMemSlots = get(RequestType.GET_MAX_MEM_SLOTS); // as QEMU asks, right after negotiating
            }
        }
        request(RequestType.SET_OWNER, new byte[0]);
        ackedFeatures = offeredFeatures & options.features();
        if (!has(ackedFeatures, VirtioNetFeatures.VERSION_1)) {
            throw new IllegalStateException("this front-end needs VIRTIO_F_VERSION_1 (12-byte header); offered 0x"
                    + Long.toHexString(offeredFeatures));
        }
        eventIdx = has(ackedFeatures, VirtioNetFeatures.RING_EVENT_IDX);
        mergeable = has(ackedFeatures, VirtioNetFeatures.MRG_RXBUF);
        request(RequestType.SET_FEATURES, u64(ackedFeatures));
        MemorySegment table = MemoryTablePayload.of(
                new RegionDescriptor(0, options.memoryBytes(), mapping.segment().address(), 0));
        request(RequestType.SET_MEM_TABLE, table.toArray(ValueLayout.JAVA_BYTE), memfd);
    }

    private void startQueues() throws IOException {
        for (int q = 0; q < QUEUES; q++) {
            DriverVirtqueue ring = ring(q);
            request(RequestType.SET_VRING_NUM, bytes(VringStatePayload.of(q, ring.size())));
            request(RequestType.SET_VRING_BASE, bytes(VringStatePayload.of(q, 0)));
            request(RequestType.SET_VRING_ADDR, bytes(VringAddrPayload.of(q, 0, ring.descFrontendVa(),
                    ring.usedFrontendVa(), ring.availFrontendVa(), 0)));
            request(RequestType.SET_VRING_KICK, bytes(VringFdPayload.of(q, false)), kickFds[q]);
            request(RequestType.SET_VRING_CALL, bytes(VringFdPayload.of(q, false)), callFds[q]);
            if (options.errorFds()) {
                request(RequestType.SET_VRING_ERR, bytes(VringFdPayload.of(q, false)), errFds[q]);
            }
        }
        for (int i = 0; i < options.rxBuffers(); i++) {
            rx.addRx(options.rxBufferSize());
        }
        rx.publishAvail();
        if (has(ackedFeatures, VirtioNetFeatures.VHOST_USER_F_PROTOCOL_FEATURES)) {
            for (int q = 0; q < QUEUES; q++) {
                request(RequestType.SET_VRING_ENABLE, bytes(VringStatePayload.of(q, 1)));
            }
        }
        if (rx.needsKick(eventIdx)) {
            kick(RX_QUEUE);
        }
    }

    /** Sends a request that has no reply of its own; with REPLY_ACK, waits for a zero status. */
    private void request(RequestType type, byte[] payload, int... fds) throws IOException {
        boolean ack = replyAck();
        sendRequest(type.code(), MessageHeader.VERSION | (ack ? MessageHeader.FLAG_NEED_REPLY : 0), payload, fds);
        if (ack) {
            long status = U64Payload.value(MemorySegment.ofArray(readReply(type, U64Payload.SIZE)));
            if (status != 0) {
                throw new IllegalStateException(type + " rejected by the back-end: status " + status);
            }
        }
    }

    /** Sends a GET_* request without payload and returns its u64 reply. */
    private long get(RequestType type) throws IOException {
        sendRequest(type.code(), MessageHeader.VERSION, new byte[0]);
        return U64Payload.value(MemorySegment.ofArray(readReply(type, U64Payload.SIZE)));
    }

    /** Reads one reply to {@code type} and checks its header; returns the payload. */
    private byte[] readReply(RequestType type, int expectedSize) throws IOException {
        try (FdList fds = new FdList()) {
            MemorySegment header = MemorySegment.ofArray(new byte[MessageHeader.LENGTH]);
            if (!socket.readFully(header, fds)) {
                throw new IOException(type + ": the back-end closed the connection instead of replying");
            }
            int request = MessageHeader.request(header);
            int flags = MessageHeader.flags(header);
            long size = MessageHeader.size(header);
            if (request != type.code() || flags != (MessageHeader.VERSION | MessageHeader.FLAG_REPLY)
                    || size != expectedSize) {
                throw new IllegalStateException(type + ": unexpected reply header: request " + request + ", flags 0x"
                        + Integer.toHexString(flags) + ", size " + size);
            }
            byte[] payload = new byte[expectedSize];
            if (expectedSize > 0 && !socket.readFully(MemorySegment.ofArray(payload), fds)) {
                throw new IOException(type + ": reply truncated");
            }
            if (fds.size() != 0) {
                throw new IllegalStateException(type + ": reply carried " + fds.size() + " fds");
            }
            return payload;
        }
    }

    /**
     * NET_SET_MTU with NEED_REPLY (REPLY_ACK and NET_MTU must be negotiated).
     *
     * @return the back-end's status: 0 taken, nonzero refused
     */
    public long setMtu(int mtu) throws IOException {
        if ((ackedProtocolFeatures & (1L << PROTOCOL_F_NET_MTU)) == 0) {
            throw new IllegalStateException("NET_MTU was not negotiated");
        }
        return requestStatus(RequestType.NET_SET_MTU, u64(mtu));
    }

    /**
     * Sends {@code type} with NEED_REPLY (REPLY_ACK must be negotiated) and returns the back-end's
     * status: 0 applied, nonzero rejected (the back-end then usually closes the connection).
     */
    public long requestStatus(RequestType type, byte[] payload, int... fds) throws IOException {
        if (!replyAck()) {
            throw new IllegalStateException("REPLY_ACK was not negotiated");
        }
        sendRequest(type.code(), MessageHeader.VERSION | MessageHeader.FLAG_NEED_REPLY, payload, fds);
        return U64Payload.value(MemorySegment.ofArray(readReply(type, U64Payload.SIZE)));
    }

    /**
     * SET_VRING_KICK, SET_VRING_CALL or SET_VRING_ERR of {@code queue} with {@code fd}; returns the
     * back-end's status. When it took the fd (status 0) this front-end owns the fd from now on and uses
     * it for that queue ({@link #kick}, receive waits, {@link #awaitQueueError}); otherwise the caller
     * still owns it.
     */
    public long setVringFd(RequestType type, int queue, int fd) throws IOException {
        int[] fds = switch (type) {
            case SET_VRING_KICK -> kickFds;
            case SET_VRING_CALL -> callFds;
            case SET_VRING_ERR -> errFds;
            default -> throw new IllegalArgumentException("not a vring fd request: " + type);
        };
        long status = requestStatus(type, bytes(VringFdPayload.of(queue, false)), fd);
        if (status == 0) {
            Fds.closeQuietly(fds[queue]);
            fds[queue] = fd;
        }
        return status;
    }

    /**
     * A DIMM plugged in at runtime: its own memfd of {@code size} bytes at {@code gpa}, mapped here
     * (front-end VA = the mapping's address), announced with ADD_MEM_REG (CONFIGURE_MEM_SLOTS must be
     * negotiated) and part of {@link #ram()} from then on. The memfd is named {@code memfdName}.
     */
    public record HotRegion(long gpa, long size, int memfd, Mapping mapping, String memfdName) {

        public RegionDescriptor descriptor() {
            return new RegionDescriptor(gpa, size, mapping.segment().address(), 0);
        }
    }

    /**
     * Hot-adds a region (see {@link HotRegion}).
     *
     * @throws IllegalStateException when the back-end refused it (it then closes the connection)
     */
    public HotRegion addMemory(long gpa, long size) throws IOException {
        if ((ackedProtocolFeatures & (1L << PROTOCOL_F_CONFIGURE_MEM_SLOTS)) == 0) {
            throw new IllegalStateException("CONFIGURE_MEM_SLOTS was not negotiated");
        }
        String name = "jvhost-it-dimm-" + Long.toHexString(gpa);
        int fd = Fds.memfdCreate(name);
        Mapping m = null;
        try {
            Fds.ftruncate(fd, size);
            m = Mapping.map(fd, size, 0);
            HotRegion region = new HotRegion(gpa, size, fd, m, name);
            request(RequestType.ADD_MEM_REG, bytes(MemoryRegionPayload.of(region.descriptor())), fd);
            ram.addRegion(new MemoryRegion(gpa, size, m.segment().address(), m.segment()));
            hotRegions.add(region);
            return region;
        } catch (IOException | RuntimeException e) {
            if (m != null) {
                m.close();
            }
            Fds.closeQuietly(fd);
            throw e;
        }
    }

    /** Hot-removes {@code region} (REM_MEM_REG, no fd); no buffer posted in it may be outstanding. */
    public void removeMemory(HotRegion region) throws IOException {
        request(RequestType.REM_MEM_REG, bytes(MemoryRegionPayload.of(region.descriptor())));
        ram.removeRegion(region.gpa());
        hotRegions.remove(region);
        region.mapping().close();
        Fds.closeQuietly(region.memfd());
    }

    /** Posts a receive buffer of {@code length} bytes at {@code gpa} (e.g. in a {@link HotRegion}) and publishes it. */
    public void postRxBufferAt(long gpa, int length) throws LinuxException {
        rx.chain().writableAt(gpa, length).add();
        rx.publishAvail();
        if (rx.needsKick(eventIdx)) {
            kick(RX_QUEUE);
        }
    }

    /** GET_MAX_MEM_SLOTS's answer, or -1 when CONFIGURE_MEM_SLOTS was not negotiated. */
    public long maxMemSlots() {
        return maxMemSlots;
    }

    /** The memfd behind guest RAM (region 0 of the memory table). */
    /**
     * Turns dirty-page logging on, as QEMU does when a migration starts: SET_LOG_BASE with a log memfd
     * of one bit per 4 KiB page of this guest's RAM (jvhost replies), SET_FEATURES with LOG_ALL added,
     * and SET_VRING_ADDR with the LOG flag for both rings, their used rings logged at their own GPAs.
     *
     * @return the log memfd and its size (the caller closes it after {@link #close()})
     */
    public DirtyLogFile startDirtyLog() throws IOException {
        if ((ackedProtocolFeatures & (1L << PROTOCOL_F_LOG_SHMFD)) == 0 || (offeredFeatures & LOG_ALL) == 0) {
            throw new IllegalStateException("the back-end offers no dirty-page logging");
        }
        long pages = (options.memoryBytes() + 4095) / 4096;
        long size = Math.max(4096, ((pages + 7) / 8 + 4095) & ~4095L);
        int log = Fds.memfdCreate("jvhost-it-dirty-log");
        Fds.ftruncate(log, size);
        sendRequest(RequestType.SET_LOG_BASE.code(), MessageHeader.VERSION, bytes(LogPayload.of(size, 0)), log);
        readReply(RequestType.SET_LOG_BASE, U64Payload.SIZE);
        ackedFeatures |= LOG_ALL;
        request(RequestType.SET_FEATURES, u64(ackedFeatures));
        DriverVirtqueue[] rings = {rx, tx};
        for (int q = 0; q < QUEUES; q++) {
            DriverVirtqueue ring = rings[q];
            request(RequestType.SET_VRING_ADDR, bytes(VringAddrPayload.of(q, VRING_F_LOG, ring.descFrontendVa(),
                    ring.usedFrontendVa(), ring.availFrontendVa(), ring.usedGpa())));
        }
        return new DirtyLogFile(log, size);
    }

    /** A dirty-page log the front-end handed over: one bit per 4 KiB page, set by the back-end. */
    public record DirtyLogFile(int fd, long size) {

        /** Pages logged as written so far (maps the log for a moment). */
        public long dirtyPages() throws LinuxException {
            try (Mapping m = Mapping.map(fd, size, 0)) {
                MemorySegment bits = m.segment();
                long n = 0;
                for (long i = 0; i < size; i += 8) {
                    n += Long.bitCount(bits.get(ValueLayout.JAVA_LONG_UNALIGNED, i));
                }
                return n;
            }
        }
    }

    public int memfd() {
        return memfd;
    }

    /** GET_FEATURES once more: proves the control connection is still served. */
    public long getFeatures() throws IOException {
        return get(RequestType.GET_FEATURES);
    }

    /** GET_VRING_BASE: stops virtqueue {@code queue} and returns the device's next avail index. */
    public int getVringBase(int queue) throws IOException {
        sendRequest(RequestType.GET_VRING_BASE.code(), MessageHeader.VERSION, bytes(VringStatePayload.of(queue, 0)));
        MemorySegment reply = MemorySegment.ofArray(readReply(RequestType.GET_VRING_BASE, VringStatePayload.SIZE));
        if (VringStatePayload.index(reply) != queue) {
            throw new IllegalStateException("GET_VRING_BASE reply for queue " + VringStatePayload.index(reply)
                    + ", asked for " + queue);
        }
        return (int) VringStatePayload.num(reply);
    }

    /** Stops both virtqueues (GET_VRING_BASE), as QEMU does when the guest stops the device: {rx, tx}. */
    public int[] stop() throws IOException {
        return new int[] {getVringBase(RX_QUEUE), getVringBase(TX_QUEUE)};
    }

    // ---------------------------------------------------------------------------------------------
    // Raw control access (malformed input)

    /** Sends one message: a 12-byte header with {@code code}, {@code flags} and the payload size, then the payload. */
    public void sendRequest(int code, int flags, byte[] payload, int... fds) throws IOException {
        socket.writeFully(MessageCodec.encode(code, flags, MemorySegment.ofArray(payload)), fds);
    }

    /** Sends arbitrary bytes (a truncated message, garbage). */
    public void sendRaw(byte[] bytes, int... fds) throws IOException {
        socket.writeFully(MemorySegment.ofArray(bytes), fds);
    }

    /**
     * Waits until the back-end closes the connection. True on end-of-file or reset; false when nothing
     * happened within {@code timeout}.
     *
     * @throws IllegalStateException when the back-end sent data instead
     */
    public boolean awaitClosedByBackend(Duration timeout) throws IOException {
        socket.setTimeoutMillis((int) Math.max(1, timeout.toMillis()));
        try (FdList fds = new FdList()) {
            byte[] one = new byte[1];
            if (socket.readFully(MemorySegment.ofArray(one), fds)) {
                throw new IllegalStateException("the back-end sent data (first byte 0x"
                        + Integer.toHexString(one[0] & 0xff) + ") instead of closing");
            }
            return true;
        } catch (SocketTimeoutException e) {
            return false;
        } catch (LinuxException e) {
            if (e.errno() == LinuxException.ECONNRESET) {
                return true;
            }
            throw e;
        } finally {
            socket.setTimeoutMillis((int) REPLY_TIMEOUT.toMillis());
        }
    }

    /**
     * Waits for the device to signal the SET_VRING_ERR eventfd of {@code queue}; returns the eventfd
     * counter (how many times it was signalled), or 0 when it was not within {@code timeout}.
     */
    public long awaitQueueError(int queue, Duration timeout) throws LinuxException {
        if (!awaitReadable(errFds[queue], timeout.toMillis())) {
            return 0;
        }
        return EventFd.read(errFds[queue]);
    }

    /** The errors signalled on {@code queue}'s error eventfd since the last read, without waiting. */
    public long queueErrors(int queue) throws LinuxException {
        return EventFd.read(errFds[queue]);
    }

    /** Signals {@code queue}'s kick eventfd. */
    public void kick(int queue) throws LinuxException {
        EventFd.write(kickFds[queue], 1);
    }

    public DriverVirtqueue rxRing() {
        return rx;
    }

    public DriverVirtqueue txRing() {
        return tx;
    }

    public GuestRam ram() {
        return ram;
    }

    public Options options() {
        return options;
    }

    public long offeredFeatures() {
        return offeredFeatures;
    }

    public long ackedFeatures() {
        return ackedFeatures;
    }

    public long offeredProtocolFeatures() {
        return offeredProtocolFeatures;
    }

    public long ackedProtocolFeatures() {
        return ackedProtocolFeatures;
    }

    /** Whether RING_EVENT_IDX was negotiated (what {@link DriverVirtqueue#needsKick} needs to know). */
    public boolean eventIdx() {
        return eventIdx;
    }

    /** GET_QUEUE_NUM's answer, or -1 when MQ was not negotiated. */
    public long queueNum() {
        return queueNum;
    }

    // ---------------------------------------------------------------------------------------------
    // Data path

    /** Transmits one Ethernet frame (no virtio-net header: this adds it). */
    public void send(byte[] frame) throws IOException {
        sendBatch(List.of(frame));
    }

    /**
     * Adds every frame to the TX ring, then publishes the avail idx once and kicks if the device asks
     * for it. Waits for completions (the TX call eventfd) whenever the ring is full.
     *
     * @throws IllegalStateException when the ring stays full for {@link #REPLY_TIMEOUT}
     */
    public void sendBatch(List<byte[]> frames) throws IOException {
        for (byte[] frame : frames) {
            add(new byte[NET_HEADER_LENGTH], frame); // zeroed header: no offloads
        }
        flushTx();
    }

    /**
     * Transmits one frame behind {@code header}, a virtio-net header of {@link #NET_HEADER_LENGTH}
     * bytes as the driver fills it (offload fields, num_buffers ignored on TX).
     */
    public void sendWithHeader(byte[] header, byte[] frame) throws IOException {
        if (header.length != NET_HEADER_LENGTH) {
            throw new IllegalArgumentException("a virtio-net header is " + NET_HEADER_LENGTH + " bytes: " + header.length);
        }
        add(header, frame);
        flushTx();
    }

    /** Adds header and frame to the TX ring in descriptors of at most the TX slot size. Not published. */
    private void add(byte[] header, byte[] frame) throws IOException {
        final int slot = options.txSlotSize();
        byte[] bytes = new byte[NET_HEADER_LENGTH + frame.length];
        System.arraycopy(header, 0, bytes, 0, NET_HEADER_LENGTH);
        System.arraycopy(frame, 0, bytes, NET_HEADER_LENGTH, frame.length);
        int pieces = (bytes.length + slot - 1) / slot;
        ensureTxRoom(pieces);
        DriverVirtqueue.ChainBuilder chain = tx.chain();
        for (int offset = 0; offset < bytes.length; offset += slot) {
            chain.readable(Arrays.copyOfRange(bytes, offset, Math.min(bytes.length, offset + slot)));
        }
        chain.add();
    }

    /** Publishes what was added to the TX ring and kicks when the device asks for it. */
    public void flushTx() throws LinuxException {
        if (tx.availIdx() == txPublished) {
            return;
        }
        txPublished = tx.publishAvail();
        if (tx.needsKick(eventIdx)) {
            kick(TX_QUEUE);
        }
    }

    /** TX chains the device completed so far (returns their descriptors to the free list). */
    public int reclaimTx() {
        int n = tx.pollUsed().size();
        txUsedSeen = (txUsedSeen + n) & 0xFFFF;
        return n;
    }

    private void ensureTxRoom(int descriptors) throws IOException {
        if (descriptors > tx.size()) {
            throw new IllegalArgumentException(descriptors + " descriptors needed, queue size is " + tx.size());
        }
        reclaimTx();
        if (tx.freeDescriptors() >= descriptors) {
            return;
        }
        flushTx(); // the device must see what is queued before we wait for it to complete
        long deadline = System.nanoTime() + REPLY_TIMEOUT.toNanos();
        while (true) {
            reclaimTx();
            if (tx.freeDescriptors() >= descriptors) {
                return;
            }
            armUsedEvent(tx, txUsedSeen);
            reclaimTx();
            if (tx.freeDescriptors() >= descriptors) {
                return;
            }
            long remaining = remainingMillis(deadline);
            if (remaining <= 0) {
                throw new IllegalStateException("TX ring full for " + REPLY_TIMEOUT.toMillis() + " ms: the device "
                        + "completed nothing (used idx " + tx.usedIdx() + ", avail idx " + tx.availIdx() + ")");
            }
            awaitUsed(TX_QUEUE, remaining);
        }
    }

    /**
     * Waits up to {@code timeout} for at least one frame, then returns every frame received so far
     * (empty on timeout).
     */
    public List<byte[]> receive(Duration timeout) throws IOException {
        List<ReceivedFrame> first = receiveFrames(1, timeout);
        if (first.isEmpty()) {
            return List.of();
        }
        List<byte[]> out = new ArrayList<>();
        out.add(first.getFirst().bytes());
        collectRx();
        while (!received.isEmpty()) {
            out.add(received.poll().bytes());
        }
        return out;
    }

    /** The next frame, or null when none arrives within {@code timeout}. */
    public byte[] receiveOne(Duration timeout) throws IOException {
        List<ReceivedFrame> frames = receiveFrames(1, timeout);
        return frames.isEmpty() ? null : frames.getFirst().bytes();
    }

    /**
     * Waits until {@code count} frames arrived or {@code timeout} passed; returns at most {@code count}
     * frames in arrival order (later ones stay queued for the next call).
     *
     * @throws AssertionError when the device published used entries but did not signal the call
     *                        eventfd although the driver asked for it (used_event, §2.7.10)
     */
    public List<ReceivedFrame> receiveFrames(int count, Duration timeout) throws IOException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (received.size() < count) {
            if (collectRx()) {
                continue;
            }
            armUsedEvent(rx, rxUsedSeen);
            if (collectRx()) {
                continue;
            }
            long remaining = remainingMillis(deadline);
            if (remaining <= 0) {
                break;
            }
            awaitUsed(RX_QUEUE, remaining);
        }
        List<ReceivedFrame> out = new ArrayList<>();
        while (out.size() < count && !received.isEmpty()) {
            out.add(received.poll());
        }
        return out;
    }

    /**
     * Posts {@code count} more receive buffers of the configured size and kicks if the device asked
     * for it, as a driver refilling its ring does.
     */
    public void postRxBuffers(int count) throws LinuxException {
        for (int i = 0; i < count; i++) {
            rx.addRx(options.rxBufferSize());
        }
        rx.publishAvail();
        if (rx.needsKick(eventIdx)) {
            kick(RX_QUEUE);
        }
    }

    /** Takes the used RX chains, reassembles frames, re-posts as many buffers. True when any was used. */
    private boolean collectRx() throws LinuxException {
        List<DriverVirtqueue.Used> used = rx.pollUsed();
        if (used.isEmpty()) {
            return false;
        }
        rxUsedSeen = (rxUsedSeen + used.size()) & 0xFFFF;
        for (DriverVirtqueue.Used u : used) {
            consumeRx(rx.written(u)); // before the descriptor id is reused below
        }
        for (int i = 0; i < used.size(); i++) {
            rx.addRx(options.rxBufferSize());
        }
        rx.publishAvail();
        if (rx.needsKick(eventIdx)) {
            kick(RX_QUEUE);
        }
        return true;
    }

    private void consumeRx(byte[] bytes) {
        if (partial == null) {
            if (bytes.length < NET_HEADER_LENGTH) {
                throw new AssertionError("RX chain holds " + bytes.length + " bytes, less than the virtio-net header");
            }
            MemorySegment header = MemorySegment.ofArray(bytes);
            checkOffloadsAgreed(header, bytes);
            int numBuffers = NetHeader.numBuffers(header, 0);
            if (numBuffers < 1 || (!mergeable && numBuffers != 1)) {
                throw new AssertionError("num_buffers " + numBuffers + (mergeable ? "" : " without MRG_RXBUF"));
            }
            partial = new ByteArrayOutputStream();
            partialHeader = Arrays.copyOf(bytes, NET_HEADER_LENGTH);
            partial.write(bytes, NET_HEADER_LENGTH, bytes.length - NET_HEADER_LENGTH);
            partialBuffers = numBuffers;
            partialSeen = 1;
        } else {
            partial.write(bytes, 0, bytes.length);
            partialSeen++;
        }
        if (partialSeen == partialBuffers) {
            received.add(new ReceivedFrame(partial.toByteArray(), partialBuffers, partialHeader));
            partial = null;
        }
    }

    /**
     * The device must never hand a driver an offload it did not ack (virtio 1.2 §5.1.6.4.1): without
     * GUEST_CSUM the header is all zero; with it, only NEEDS_CSUM and DATA_VALID, and a gso type only
     * as GUEST_TSO4/TSO6/UFO/ECN allow.
     */
    private void checkOffloadsAgreed(MemorySegment header, byte[] bytes) {
        int flags = NetHeader.flags(header, 0);
        int gsoType = NetHeader.gsoType(header, 0);
        int type = gsoType & ~NetHeader.GSO_ECN;
        boolean csum = has(ackedFeatures, VirtioNetFeatures.GUEST_CSUM);
        boolean agreed;
        if (!csum) {
            agreed = flags == 0 && gsoType == 0 && NetHeader.hdrLen(header, 0) == 0 && NetHeader.gsoSize(header, 0) == 0
                    && NetHeader.csumStart(header, 0) == 0 && NetHeader.csumOffset(header, 0) == 0;
        } else {
            agreed = (flags & ~(NetHeader.F_NEEDS_CSUM | NetHeader.F_DATA_VALID)) == 0
                    && (type == NetHeader.GSO_NONE
                    || (type == NetHeader.GSO_TCPV4 && has(ackedFeatures, VirtioNetFeatures.GUEST_TSO4))
                    || (type == NetHeader.GSO_TCPV6 && has(ackedFeatures, VirtioNetFeatures.GUEST_TSO6))
                    || (type == NetHeader.GSO_UDP && has(ackedFeatures, VirtioNetFeatures.GUEST_UFO))
                    || (type == NetHeader.GSO_UDP_L4 && (has(ackedFeatures, VirtioNetFeatures.GUEST_USO4)
                    || has(ackedFeatures, VirtioNetFeatures.GUEST_USO6))))
                    && ((gsoType & NetHeader.GSO_ECN) == 0 || has(ackedFeatures, VirtioNetFeatures.GUEST_ECN))
                    && (type == NetHeader.GSO_NONE || (flags & NetHeader.F_NEEDS_CSUM) != 0);
        }
        if (!agreed) {
            throw new AssertionError("virtio-net header carries offloads the driver did not ack (features 0x"
                    + Long.toHexString(ackedFeatures) + "): " + Arrays.toString(Arrays.copyOf(bytes, NET_HEADER_LENGTH)));
        }
    }

    /**
     * Asks for a used-buffer notification as soon as the used idx passes {@code seen} (EVENT_IDX's
     * used_event; without EVENT_IDX the driver never sets NO_INTERRUPT, so every publish notifies),
     * then fences: the caller re-checks the used ring before it sleeps (§2.7.10).
     */
    private static void armUsedEvent(DriverVirtqueue ring, int seen) {
        ring.setUsedEvent(seen);
        VarHandle.fullFence();
    }

    /**
     * Waits for the call eventfd after {@link #armUsedEvent}. When it stays silent although the used
     * idx moved, the device published without notifying: a real guest would sleep on; fail.
     */
    private void awaitUsed(int queue, long millis) throws LinuxException {
        if (awaitCall(queue, millis)) {
            return;
        }
        int seen = queue == RX_QUEUE ? rxUsedSeen : txUsedSeen;
        int now = ring(queue).usedIdx();
        // A publish racing with the timeout gets a moment to signal.
        if (now != seen && !awaitCall(queue, NOTIFY_GRACE_MILLIS)) {
            throw new AssertionError("queue " + queue + ": used idx moved from " + seen + " to " + now
                    + " but the call eventfd was not signalled (used_event " + seen + ")");
        }
    }

    /** Waits for the call eventfd of {@code queue} and resets it. False on timeout. */
    private boolean awaitCall(int queue, long millis) throws LinuxException {
        if (!awaitReadable(callFds[queue], millis)) {
            return false;
        }
        EventFd.read(callFds[queue]);
        return true;
    }

    private static boolean awaitReadable(int fd, long millis) throws LinuxException {
        short[] revents = new short[1];
        int timeout = Math.clamp(millis, 0, Integer.MAX_VALUE);
        return Fds.poll(new int[] {fd}, new short[] {Fds.POLLIN}, revents, timeout) > 0;
    }

    // ---------------------------------------------------------------------------------------------

    private DriverVirtqueue ring(int queue) {
        return queue == RX_QUEUE ? rx : tx;
    }

    private boolean replyAck() {
        return (ackedProtocolFeatures & (1L << PROTOCOL_F_REPLY_ACK)) != 0;
    }

    private static boolean has(long features, int bit) {
        return (features & (1L << bit)) != 0;
    }

    private static byte[] u64(long value) {
        return bytes(U64Payload.of(value));
    }

    private static byte[] bytes(MemorySegment payload) {
        return payload.toArray(ValueLayout.JAVA_BYTE);
    }

    private static long remainingMillis(long deadlineNanos) {
        long nanos = deadlineNanos - System.nanoTime();
        return nanos <= 0 ? 0 : Math.max(1, nanos / 1_000_000);
    }

    private static void sleepMillis(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted", e);
        }
    }

    private void closeEventFds() {
        for (int q = 0; q < QUEUES; q++) {
            Fds.closeQuietly(kickFds[q]);
            Fds.closeQuietly(callFds[q]);
            Fds.closeQuietly(errFds[q]);
            kickFds[q] = -1;
            callFds[q] = -1;
            errFds[q] = -1;
        }
    }

    /**
     * Disconnects (the back-end sees end-of-file and tears its session down), then unmaps guest RAM and
     * closes the memfd and eventfds; the back-end keeps its own mapping and fd copies until it is done.
     * Idempotent.
     */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        if (socket != null) {
            socket.close();
        }
        mapping.close();
        Fds.closeQuietly(memfd);
        for (HotRegion region : hotRegions) {
            region.mapping().close();
            Fds.closeQuietly(region.memfd());
        }
        closeEventFds();
    }
}

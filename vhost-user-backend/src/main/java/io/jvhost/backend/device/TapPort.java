package io.jvhost.backend.device;

import io.jvhost.backend.linux.Fds;
import io.jvhost.backend.linux.IoVecArray;
import io.jvhost.backend.linux.LinuxException;
import io.jvhost.backend.linux.Tap;
import io.jvhost.backend.management.QueueStatus;
import io.jvhost.backend.offload.FrameOffload;
import io.jvhost.backend.offload.Offloads;
import io.jvhost.backend.datapath.DeliveryContext;
import io.jvhost.backend.datapath.Frame;
import io.jvhost.backend.switching.L2Switch;
import io.jvhost.backend.switching.PortIngress;
import io.jvhost.backend.switching.MacAddress;
import io.jvhost.backend.switching.SwitchPort;
import io.jvhost.backend.datapath.DataWorker;
import io.jvhost.backend.scheduling.QueueScheduler;
import io.jvhost.backend.scheduling.ServedQueue;
import io.jvhost.backend.datapath.WorkerBinding;
import io.jvhost.virtio.LittleEndian;
import io.jvhost.virtio.net.FrameSource;
import io.jvhost.virtio.net.NetHeader;
import io.jvhost.virtio.ring.DescriptorChain;
import io.netty.channel.IoEvent;
import io.netty.channel.IoRegistration;
import io.netty.channel.epoll.EpollIoHandle;
import io.netty.channel.unix.FileDescriptor;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.atomic.LongAdder;

/**
 * A host TAP device switched like any guest: frames the host sends on the TAP interface enter the
 * port's network, frames for it are written to the TAP.
 *
 * <p>The TAP is opened with IFF_VNET_HDR and a 12-byte header, the virtio-net header layout, so a
 * frame from a guest goes to the kernel with one {@code writev} straight from the guest's TX buffers
 * (one copy, by the kernel), behind the sender's offload header (a checked copy of it): the kernel
 * takes partial checksums and GSO frames of every kind and completes them itself. Reads land in a
 * buffer owned by the serving worker and are copied once more into the destination guest's RX
 * buffers; the kernel's header on them is checked like a guest's and applied as for a guest's frame.
 *
 * <p>Which offloaded frames the kernel may hand jvhost (TUNSETOFFLOAD) follows what the other ports
 * of the network take: the union of their offloads, so a guest that takes 64 KiB TCP frames gets them
 * in one read, and one that does not gets them segmented by jvhost on the way. With
 * {@code offloads: false} the kernel hands over only complete, checksummed frames. The interface's
 * MTU is set to the port's {@code mtu}.
 *
 * <p>Threads: the TAP fd is registered with one worker (placement as for a queue whose vCPU is
 * unknown); {@link #deliver} runs on any sending worker and uses that thread's own iovec array.
 */
public final class TapPort implements SwitchPort, DeliveryContext.Receiver, ServedQueue, EpollIoHandle, AutoCloseable {

    private static final System.Logger LOG = System.getLogger(TapPort.class.getName());
    /** virtio_net_hdr_v1 size, set with TUNSETVNETHDRSZ. */
    static final int VNET_HEADER = 12;
    /** Read buffer: the header and the largest frame accepted; a read that fills it was cut short. */
    private static final int READ_BUFFER = VNET_HEADER + (int) FrameOffload.MAX_FRAME + 1;
    /** Offload header flags the kernel sets on frames it hands over. */
    private static final int KERNEL_FLAGS = NetHeader.F_NEEDS_CSUM | NetHeader.F_DATA_VALID;
    /** Frames read per wakeup before the worker turns to its other work (epoll is level-triggered). */
    private static final int READ_BUDGET = 64;
    private static final int ETHERNET_HEADER = 14;
    private static final int MAX_IOV = 64;

    private final String name;
    private final PortIngress ingress;
    private final L2Switch network;
    private final QueueScheduler scheduler;
    private final Tap tap;
    private final boolean offloads;
    private final int mtu;
    private final FileDescriptor fd;
    private final Arena arena = Arena.ofShared();
    private final MemorySegment readBuffer;
    private final IoVecArray readIov = new IoVecArray(1);
    /** Per sending thread: the iovecs of one frame, plus a bounce buffer for non-native (test) memory. */
    private final ThreadLocal<WriteScratch> writeScratch = ThreadLocal.withInitial(WriteScratch::new);
    private final LongAdder toHostPackets = new LongAdder();
    private final LongAdder toHostBytes = new LongAdder();
    private final LongAdder toHostDrops = new LongAdder();
    /** Senders' worker time spent writing frames into the TAP (their share, {@link DeliveryContext#settleCopies}). */
    private final LongAdder toHostCpuNanos = new LongAdder();
    private final LongAdder toHostPassedThrough = new LongAdder();
    /** What TUNSETOFFLOAD last set. */
    private volatile int acceptedOffloads;
    private final LongAdder errors = new LongAdder();
    private final QueueCounters fromHost = new QueueCounters();
    /** Which worker serves the TAP fd, as the virtqueues' kicks are served. */
    private final WorkerBinding binding = new WorkerBinding(this, new WorkerBinding.Served() {
        @Override
        public void attached(DataWorker worker) {
            // Level-triggered: frames the kernel queued meanwhile make the fd readable on the new worker.
        }

        @Override
        public void detached(DataWorker worker) {
        }
    });

    private static final class WriteScratch {
        final IoVecArray iov = new IoVecArray(MAX_IOV + 1);
        final MemorySegment header = Arena.ofAuto().allocate(VNET_HEADER, 8);
        final MemorySegment bounce = Arena.ofAuto().allocate(READ_BUFFER, 64);
    }

    /** Opens (or creates) TAP interface {@code tapName} with offloads and the default MTU. */
    public TapPort(String name, String tapName, L2Switch network, QueueScheduler scheduler) throws LinuxException {
        this(name, tapName, network, scheduler, true, VirtioNetPort.DEFAULT_MTU);
    }

    /**
     * Opens (or creates) TAP interface {@code tapName} and sets its MTU. The host brings the link up
     * and addresses it.
     *
     * @param offloads whether the kernel may hand over offloaded frames (partial checksums, GSO)
     */
    public TapPort(String name, String tapName, L2Switch network, QueueScheduler scheduler, boolean offloads, int mtu)
            throws LinuxException {
        this(name, tapName, network, scheduler, offloads, mtu, PortIngress.open());
    }

    /** @param ingress port security and storm control of what the host sends */
    public TapPort(String name, String tapName, L2Switch network, QueueScheduler scheduler, boolean offloads, int mtu,
                   PortIngress ingress) throws LinuxException {
        this.name = name;
        this.ingress = ingress;
        this.network = network;
        this.scheduler = scheduler;
        this.offloads = offloads;
        this.mtu = mtu;
        this.tap = Tap.open(tapName, true, true);
        try {
            tap.setVnetHeaderSize(VNET_HEADER);
            tap.setOffload(0);
            if (tap.mtu() != mtu) {
                tap.setMtu(mtu);
            }
        } catch (LinuxException e) {
            tap.close();
            throw e;
        }
        this.fd = new FileDescriptor(tap.fd());
        this.readBuffer = arena.allocate(READ_BUFFER, 64);
        readIov.set(0, readBuffer);
    }

    @Override
    public PortIngress ingress() {
        return ingress;
    }

    /** The host kernel takes every offload: it completes and segments what its own stack needs. */
    @Override
    public int receivableOffloads() {
        return Offloads.ALL;
    }

    /**
     * The guests of the network changed what they take: let the kernel hand over that much. Control
     * threads, several at once (guests connecting together): serialised, so the last union wins.
     */
    @Override
    public synchronized void networkOffloadsChanged() {
        int wanted = offloads ? network.receivableOffloads(this) : 0;
        if (wanted == acceptedOffloads) {
            return;
        }
        try {
            acceptedOffloads = tap.setOffload(wanted);
            LOG.log(System.Logger.Level.INFO, "port " + name + ": TAP " + tap.name() + " offloads "
                    + Offloads.names(acceptedOffloads));
        } catch (LinuxException e) {
            errors.increment();
            LOG.log(System.Logger.Level.WARNING, "port " + name + ": TAP " + tap.name() + ": " + e.getMessage());
        }
    }

    /** The offloads the kernel may hand over now (TUNSETOFFLOAD). */
    public int acceptedOffloads() {
        return acceptedOffloads;
    }

    public int mtu() {
        return mtu;
    }

    /** Starts serving the TAP on a worker chosen by the scheduler. */
    public void start() {
        DataWorker w = scheduler.assign(this);
        binding.start(w);
        LOG.log(System.Logger.Level.INFO, "port " + name + ": TAP " + tap.name() + " served by " + w);
    }

    @Override
    public String name() {
        return name;
    }

    public String tapName() {
        return tap.name();
    }

    // ---- ServedQueue ----

    @Override
    public String port() {
        return name;
    }

    @Override
    public int index() {
        return 0;
    }

    @Override
    public int vcpuCpu() {
        return -1;
    }

    @Override
    public DataWorker owner() {
        return binding.assigned();
    }

    @Override
    public void moveTo(DataWorker target) {
        binding.moveTo(target);
    }

    // ---- host -> network (serving worker) ----

    @Override
    public FileDescriptor fd() {
        return fd;
    }

    @Override
    public void handle(IoRegistration registration, IoEvent event) {
        DataWorker w = binding.serving();
        if (!binding.servedHere(w)) {
            return; // a readiness reported just before a move; the new worker has the fd now
        }
        long started = w.worker().workStarted();
        DeliveryContext context = w.context();
        context.startBatch();
        Frame frame = context.frame();
        final MemorySegment buffer = readBuffer;
        final FrameOffload offload = frame.offload();
        long packets = 0;
        long bytes = 0;
        long drops = 0;
        long badOffloads = 0;
        try {
            for (int i = 0; i < READ_BUDGET; i++) {
                long n = Fds.readv(fd.intValue(), readIov, 1);
                if (n == Fds.WOULD_BLOCK || n == 0) {
                    break;
                }
                long frameLength = n - VNET_HEADER;
                if (frameLength < ETHERNET_HEADER || n == READ_BUFFER) {
                    drops++; // a runt, or a frame cut short by the buffer
                    continue;
                }
                long destination = MacAddress.read(buffer, VNET_HEADER);
                long source = MacAddress.read(buffer, VNET_HEADER + 6);
                frame.wrapSegment(buffer, VNET_HEADER, frameLength, destination, source, 0);
                long vnetHeader = buffer.get(LittleEndian.U64, 0);
                if (vnetHeader == 0) {
                    offload.clear();
                } else if (offload.parse(vnetHeader, LittleEndian.u16(buffer, NetHeader.CSUM_OFFSET_OFFSET),
                        Offloads.ALL, KERNEL_FLAGS, frame.bytes()) != FrameOffload.OK) {
                    drops++;
                    badOffloads++;
                    continue;
                }
                network.forward(frame, this, context);
                // Each frame is delivered before the buffer is reused: destinations copy synchronously.
                packets++;
                bytes += frameLength;
            }
        } catch (LinuxException e) {
            errors.increment();
            LOG.log(System.Logger.Level.WARNING, "port " + name + ": reading TAP " + tap.name() + ": " + e.getMessage());
        } finally {
            context.releaseHeld();
            fromHost.addPackets(packets, bytes);
            if (drops > 0) {
                fromHost.addDrops(drops);
            }
            if (badOffloads > 0) {
                fromHost.addBadOffloads(badOffloads);
            }
            fromHost.addCpuNanos(context.settleCopies(w.worker().workEnded(started)));
        }
    }

    // ---- network -> host (any sending worker) ----

    @Override
    public void deliver(Frame frame, DeliveryContext context) {
        final FrameOffload offload = frame.offload();
        final long length = frame.length();
        if (offload.gsoType() == NetHeader.GSO_NONE && length > mtu + VirtioNetPort.FRAME_OVERHEAD) {
            toHostDrops.increment(); // larger than the interface's MTU allows
            return;
        }
        WriteScratch scratch = writeScratch.get();
        IoVecArray iov = scratch.iov;
        // The checked copy of the sender's header, never the guest's bytes: they could change under us.
        boolean offloaded = offload.needs() != 0;
        NetHeader.write(scratch.header, 0, VNET_HEADER, offloaded ? offload.header() : 0L, offload.csumOffset(), 0);
        iov.set(0, scratch.header.address(), VNET_HEADER);
        int count = 1;
        FrameSource bytes = frame.bytes();
        DescriptorChain chain = bytes.chain();
        if (chain == null) {
            count = addSegment(iov, count, bytes.segment(), bytes.segmentOffset(), length, scratch);
        } else {
            long skip = bytes.chainOffset();
            long remaining = length;
            for (int i = 0, n = chain.readableCount(); i < n && remaining > 0; i++) {
                long bufferLength = chain.length(i);
                if (skip >= bufferLength) {
                    skip -= bufferLength;
                    continue;
                }
                long take = Math.min(bufferLength - skip, remaining);
                MemorySegment region = chain.segmentOf(i);
                if (!region.isNative() || count == MAX_IOV + 1) {
                    // Heap memory (tests) or a pathological chain: one bounce copy of the whole frame.
                    chain.readBytes(bytes.chainOffset(), scratch.bounce, 0, (int) length);
                    iov.set(1, scratch.bounce.address(), length);
                    count = 2;
                    remaining = 0;
                    break;
                }
                // Bounds hold: the chain walker checked offset + length inside this region.
                iov.set(count++, region.address() + chain.offset(i) + skip, take);
                remaining -= take;
                skip = 0;
            }
        }
        try {
            long written = Fds.writev(fd.intValue(), iov, count);
            if (written == Fds.WOULD_BLOCK) {
                toHostDrops.increment(); // the TAP's queue is full (or the link is down)
                return;
            }
            toHostPackets.increment();
            toHostBytes.add(length);
            context.copied(this, length);
            if (offloaded) {
                toHostPassedThrough.increment();
            }
        } catch (LinuxException e) {
            // EIO: the interface is down. Count it as a drop, like a NIC with no carrier.
            toHostDrops.increment();
        }
    }

    private static int addSegment(IoVecArray iov, int count, MemorySegment segment, long offset, long length,
                                  WriteScratch scratch) {
        if (segment.isNative()) {
            iov.set(count, segment.address() + offset, length);
        } else {
            MemorySegment.copy(segment, offset, scratch.bounce, 0, length);
            iov.set(count, scratch.bounce.address(), length);
        }
        return count + 1;
    }

    // ---- management ----

    /** Worker time spent reading the TAP and forwarding what it gave, and its share of writing frames into it. */
    public long cpuNanos() {
        return fromHost.cpuNanos() + toHostCpuNanos.sum();
    }

    @Override
    public void chargeCopies(long nanos) {
        toHostCpuNanos.add(nanos);
    }

    public long fromHostPackets() {
        return fromHost.packets();
    }

    public long fromHostBytes() {
        return fromHost.bytes();
    }

    public long fromHostDrops() {
        return fromHost.drops();
    }

    public long toHostPackets() {
        return toHostPackets.sum();
    }

    public long toHostBytes() {
        return toHostBytes.sum();
    }

    public long toHostDrops() {
        return toHostDrops.sum();
    }

    public long errors() {
        return errors.sum();
    }

    /** Offload counters of frames from the host (bad headers) and to it (passed on as they were). */
    public QueueStatus.OffloadCounts fromHostOffloads() {
        return fromHost.offloadCounts();
    }

    public QueueStatus.OffloadCounts toHostOffloads() {
        return new QueueStatus.OffloadCounts(0, 0, toHostPassedThrough.sum(), 0);
    }

    public long migrations() {
        return binding.moves();
    }

    @Override
    public void close() {
        DataWorker w = binding.stop();
        if (w != null) {
            scheduler.release(this, w);
        }
        tap.close();
        readIov.close();
        arena.close();
    }
}

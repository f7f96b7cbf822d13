package io.jvhost.backend.device;

import io.jvhost.backend.linux.Fds;
import io.jvhost.backend.linux.IoVecArray;
import io.jvhost.backend.linux.LinuxException;
import io.jvhost.backend.linux.Tap;
import io.jvhost.backend.switching.DeliveryContext;
import io.jvhost.backend.switching.Frame;
import io.jvhost.backend.switching.L2Switch;
import io.jvhost.backend.switching.MacAddress;
import io.jvhost.backend.switching.SwitchPort;
import io.jvhost.backend.worker.DataWorker;
import io.jvhost.backend.worker.QueueScheduler;
import io.jvhost.backend.worker.ServedQueue;
import io.jvhost.virtio.ring.DescriptorChain;
import io.netty.channel.IoEvent;
import io.netty.channel.IoRegistration;
import io.netty.channel.epoll.EpollIoHandle;
import io.netty.channel.epoll.EpollIoOps;
import io.netty.channel.unix.FileDescriptor;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.concurrent.atomic.LongAdder;

/**
 * A host TAP device switched like any guest: frames the host sends on the TAP interface enter the
 * port's network, frames for it are written to the TAP.
 *
 * <p>The TAP is opened with IFF_VNET_HDR and a 12-byte header, the virtio-net header layout, so a
 * frame from a guest goes to the kernel with one {@code writev} straight from the guest's TX buffers
 * (one copy, by the kernel), behind a shared zeroed header. Reads land in a buffer owned by the
 * serving worker and are copied once more into the destination guest's RX buffers.
 *
 * <p>Threads: the TAP fd is registered with one worker (placement as for a queue whose vCPU is
 * unknown); {@link #deliver} runs on any sending worker and uses that thread's own iovec array.
 */
public final class TapPort implements SwitchPort, ServedQueue, EpollIoHandle, AutoCloseable {

    private static final System.Logger LOG = System.getLogger(TapPort.class.getName());
    /** virtio_net_hdr_v1 size, set with TUNSETVNETHDRSZ. */
    static final int VNET_HEADER = 12;
    /** Largest frame read: 64 KiB plus the header. */
    private static final int READ_BUFFER = 65536 + VNET_HEADER;
    /** Frames read per wakeup before the worker turns to its other work (epoll is level-triggered). */
    private static final int READ_BUDGET = 64;
    private static final int ETHERNET_HEADER = 14;
    private static final int MAX_IOV = 64;

    private final String name;
    private final L2Switch network;
    private final QueueScheduler scheduler;
    private final Tap tap;
    private final FileDescriptor fd;
    private final Arena arena = Arena.ofShared();
    private final MemorySegment zeroHeader;
    private final MemorySegment readBuffer;
    private final IoVecArray readIov = new IoVecArray(1);
    /** Per sending thread: the iovecs of one frame, plus a bounce buffer for non-native (test) memory. */
    private final ThreadLocal<WriteScratch> writeScratch = ThreadLocal.withInitial(WriteScratch::new);
    private final LongAdder toHostPackets = new LongAdder();
    private final LongAdder toHostBytes = new LongAdder();
    private final LongAdder toHostDrops = new LongAdder();
    private final LongAdder errors = new LongAdder();
    private final QueueCounters fromHost = new QueueCounters();
    private volatile DataWorker owner;
    private IoRegistration registration;
    private volatile long migrations;

    private static final class WriteScratch {
        final IoVecArray iov = new IoVecArray(MAX_IOV + 1);
        final MemorySegment bounce = Arena.ofAuto().allocate(READ_BUFFER, 64);
    }

    /** Opens (or creates) TAP interface {@code tapName}. The host brings the link up and addresses it. */
    public TapPort(String name, String tapName, L2Switch network, QueueScheduler scheduler) throws LinuxException {
        this.name = name;
        this.network = network;
        this.scheduler = scheduler;
        this.tap = Tap.open(tapName, true, true);
        try {
            tap.setVnetHeaderSize(VNET_HEADER);
        } catch (LinuxException e) {
            tap.close();
            throw e;
        }
        this.fd = new FileDescriptor(tap.fd());
        this.zeroHeader = arena.allocate(VNET_HEADER, 8);
        this.readBuffer = arena.allocate(READ_BUFFER, 64);
        readIov.set(0, readBuffer);
    }

    /** Starts serving the TAP on a worker chosen by the scheduler. */
    public void start() {
        DataWorker w = scheduler.assign(this);
        register(w);
        LOG.log(System.Logger.Level.INFO, "port " + name + ": TAP " + tap.name() + " served by " + w);
    }

    private synchronized void register(DataWorker worker) {
        owner = worker;
        IoRegistration r = worker.worker().register(this).syncUninterruptibly().getNow();
        worker.worker().call(() -> {
            registration = r;
            r.submit(EpollIoOps.EPOLLIN);
            return null;
        });
    }

    private synchronized void deregister() {
        DataWorker w = owner;
        if (w == null) {
            return;
        }
        w.worker().call(() -> {
            if (registration != null) {
                registration.cancel();
                registration = null;
            }
            return null;
        });
        owner = null;
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
        return owner;
    }

    @Override
    public synchronized void moveTo(DataWorker target) {
        if (owner == null || owner == target) {
            return;
        }
        deregister();
        migrations++;
        register(target);
    }

    // ---- host -> network (serving worker) ----

    @Override
    public FileDescriptor fd() {
        return fd;
    }

    @Override
    public void handle(IoRegistration registration, IoEvent event) {
        DataWorker w = owner;
        if (w == null) {
            return;
        }
        long started = w.worker().workStarted();
        DeliveryContext context = w.context();
        context.startBatch();
        Frame frame = context.frame();
        final MemorySegment buffer = readBuffer;
        long packets = 0;
        long bytes = 0;
        long drops = 0;
        try {
            for (int i = 0; i < READ_BUDGET; i++) {
                long n = Fds.readv(fd.intValue(), readIov, 1);
                if (n == Fds.WOULD_BLOCK || n == 0) {
                    break;
                }
                long frameLength = n - VNET_HEADER;
                if (frameLength < ETHERNET_HEADER) {
                    drops++;
                    continue;
                }
                long destination = MacAddress.read(buffer, VNET_HEADER);
                long source = MacAddress.read(buffer, VNET_HEADER + 6);
                frame.wrapSegment(buffer, VNET_HEADER, frameLength, destination, source, 0);
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
            w.worker().workEnded(started);
        }
    }

    // ---- network -> host (any sending worker) ----

    @Override
    public void deliver(Frame frame, DeliveryContext context) {
        WriteScratch scratch = writeScratch.get();
        IoVecArray iov = scratch.iov;
        iov.set(0, zeroHeader.address(), VNET_HEADER);
        int count = 1;
        long length = frame.length();
        DescriptorChain chain = frame.chain();
        if (chain == null) {
            count = addSegment(iov, count, frame.segment(), frame.segmentOffset(), length, scratch);
        } else {
            long skip = frame.chainOffset();
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
                    chain.readBytes(frame.chainOffset(), scratch.bounce, 0, (int) length);
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

    public long migrations() {
        return migrations;
    }

    @Override
    public void close() {
        DataWorker w = owner;
        deregister();
        if (w != null) {
            scheduler.release(this, w);
        }
        tap.close();
        readIov.close();
        arena.close();
    }
}

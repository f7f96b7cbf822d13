package io.jvhost.backend.device;

import io.jvhost.backend.management.QueueStatus;
import io.jvhost.backend.offload.Offloads;
import io.jvhost.backend.protocol.VhostUserDevice;
import io.jvhost.backend.protocol.VringConfig;
import io.jvhost.backend.datapath.DeliveryContext;
import io.jvhost.backend.datapath.Frame;
import io.jvhost.backend.switching.L2Switch;
import io.jvhost.backend.switching.MacAddress;
import io.jvhost.backend.switching.PortIngress;
import io.jvhost.backend.switching.Rarp;
import io.jvhost.backend.switching.SwitchPort;
import io.jvhost.backend.vcpu.VcpuLocator;
import io.jvhost.backend.vcpu.WatchedPort;
import io.jvhost.backend.datapath.DataWorker;
import io.jvhost.backend.scheduling.QueueScheduler;
import io.jvhost.virtio.VirtioFeatures;
import io.jvhost.virtio.memory.DirtyLog;
import io.jvhost.virtio.memory.GuestMemory;
import io.jvhost.virtio.net.NetHeader;
import io.jvhost.virtio.net.VirtioNetFeatures;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A guest's virtio-net device behind one vhost-user connection, and its port on the L2 switch.
 *
 * <p>Virtqueue 2k is the RX queue of pair k, 2k+1 its TX queue (virtio 1.x §5.1.2). TX queues forward
 * into {@link #network()}; other ports' senders deliver into this port's RX queues.
 *
 * <p>Threads: the {@link VhostUserDevice} methods come from this port's control thread;
 * {@link #deliver} from any worker.
 */
public final class VirtioNetPort implements VhostUserDevice, SwitchPort, WatchedPort {

    private static final System.Logger LOG = System.getLogger(VirtioNetPort.class.getName());

    /**
     * vhost-user protocol features offered: MQ (bit 0), LOG_SHMFD (1) and RARP (2) for live migration,
     * REPLY_ACK (3), NET_MTU (4) and CONFIGURE_MEM_SLOTS (15: memory hotplug beyond SET_MEM_TABLE's 8
     * regions).
     */
    static final long PROTOCOL_FEATURES = (1L << 0) | (1L << 1) | (1L << 2) | (1L << 3) | (1L << 4) | (1L << 15);
    /** VHOST_F_LOG_ALL (vhost-user.rst "Migration", linux/vhost.h): log every write into guest memory. */
    public static final int VHOST_F_LOG_ALL = 26;
    /** The default MTU of a port (as a Linux Ethernet device). */
    public static final int DEFAULT_MTU = 1500;
    /** What a frame without GSO may carry beyond the MTU: the Ethernet header and one VLAN tag. */
    public static final int FRAME_OVERHEAD = 18;

    private final String name;
    private final PortIngress ingress;
    private final L2Switch network;
    private final QueueScheduler scheduler;
    private final int maxQueuePairs;
    private final boolean offloads;
    private final int configuredMtu;
    /** What the guest receives ({@link Offloads#receivable}): read by every sender. */
    private volatile int receivable;
    /** What the guest may send ({@link Offloads#sendable}): read by this port's TX queues. */
    private volatile int sendable;
    /** The MTU in use: the configured one, or the smaller one the front-end set (NET_SET_MTU). */
    private volatile int mtu;
    private final RxQueue[] rx;
    private final TxQueue[] tx;
    /** Running RX queues, swapped whole when one starts or stops (read by every sender). */
    private volatile RxQueue[] activeRx = new RxQueue[0];
    private volatile int headerLength = 12;
    private volatile long features;
    private volatile boolean connected;
    private volatile int peerPid = -1;
    private final AtomicLong errors = new AtomicLong();
    private GuestMemory memory = GuestMemory.empty();
    /** The dirty-page log of SET_LOG_BASE, or null (control thread). */
    private DirtyLog log;
    /** VHOST_F_LOG_ALL acked: queues write into {@link #log} (control thread). */
    private boolean logAll;
    /** Per virtqueue: the used ring's log_guest_addr (VHOST_VRING_F_LOG), or -1 (control thread). */
    private final long[] usedLogGpas;
    private final int[] errFds;
    private volatile VcpuLocator vcpuLocator;

    public VirtioNetPort(String name, L2Switch network, QueueScheduler scheduler, int maxQueuePairs) {
        this(name, network, scheduler, maxQueuePairs, true, DEFAULT_MTU);
    }

    /**
     * @param offloads whether checksum and segmentation offloads are offered to the guest
     * @param mtu      the largest MTU the port takes (68..65535): frames without GSO to this guest are
     *                 at most that plus {@link #FRAME_OVERHEAD} bytes; the front-end may set a smaller one
     */
    public VirtioNetPort(String name, L2Switch network, QueueScheduler scheduler, int maxQueuePairs, boolean offloads,
                         int mtu) {
        this(name, network, scheduler, maxQueuePairs, offloads, mtu, PortIngress.open());
    }

    /** @param ingress port security and storm control of what the guest sends */
    public VirtioNetPort(String name, L2Switch network, QueueScheduler scheduler, int maxQueuePairs, boolean offloads,
                         int mtu, PortIngress ingress) {
        this.name = name;
        this.ingress = ingress;
        this.network = network;
        this.scheduler = scheduler;
        this.maxQueuePairs = maxQueuePairs;
        this.offloads = offloads;
        this.configuredMtu = mtu;
        this.mtu = mtu;
        this.rx = new RxQueue[maxQueuePairs];
        this.tx = new TxQueue[maxQueuePairs];
        this.errFds = new int[2 * maxQueuePairs];
        Arrays.fill(errFds, -1);
        this.usedLogGpas = new long[2 * maxQueuePairs];
        Arrays.fill(usedLogGpas, -1);
        for (int i = 0; i < maxQueuePairs; i++) {
            rx[i] = new RxQueue(this, 2 * i);
            tx[i] = new TxQueue(this, 2 * i + 1);
        }
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public PortIngress ingress() {
        return ingress;
    }

    public L2Switch network() {
        return network;
    }

    int headerLength() {
        return headerLength;
    }

    /** What the guest takes on receive ({@link Offloads} bits). Any sending worker. */
    @Override
    public int receivableOffloads() {
        return receivable;
    }

    /** What the guest may hand over on transmit ({@link Offloads} bits). */
    int sendableOffloads() {
        return sendable;
    }

    /** The MTU in use. */
    public int mtu() {
        return mtu;
    }

    // ---- VhostUserDevice (control thread) ----

    @Override
    public long offeredFeatures() {
        long f = VirtioNetFeatures.mask(VirtioNetFeatures.VERSION_1)
                | VirtioNetFeatures.mask(VirtioNetFeatures.MRG_RXBUF)
                | VirtioNetFeatures.mask(VirtioNetFeatures.RING_INDIRECT_DESC)
                | VirtioNetFeatures.mask(VirtioNetFeatures.RING_EVENT_IDX)
                | VirtioNetFeatures.mask(VirtioNetFeatures.VHOST_USER_F_PROTOCOL_FEATURES)
                | VirtioNetFeatures.mask(VirtioNetFeatures.MTU)
                // Live migration: dirty logging, and the guest announcing itself on the new host.
                | (1L << VHOST_F_LOG_ALL)
                | VirtioNetFeatures.mask(VirtioNetFeatures.GUEST_ANNOUNCE);
        if (offloads) {
            f |= Offloads.FEATURES;
        }
        if (maxQueuePairs > 1) {
            f |= VirtioNetFeatures.mask(VirtioNetFeatures.MQ) | VirtioNetFeatures.mask(VirtioNetFeatures.CTRL_VQ);
        }
        return f;
    }

    @Override
    public long offeredProtocolFeatures() {
        return PROTOCOL_FEATURES;
    }

    @Override
    public int maxQueuePairs() {
        return maxQueuePairs;
    }

    @Override
    public void connected(int peerPid) {
        this.peerPid = peerPid;
        this.connected = true;
    }

    @Override
    public void setFeatures(long ackedFeatures) {
        features = ackedFeatures;
        headerLength = NetHeader.length(ackedFeatures);
        receivable = Offloads.receivable(ackedFeatures);
        sendable = Offloads.sendable(ackedFeatures);
        LOG.log(System.Logger.Level.INFO, "port " + name + ": features " + VirtioNetFeatures.describe(ackedFeatures));
        network.offloadsChanged();
        boolean nowLogAll = VirtioFeatures.has(ackedFeatures, VHOST_F_LOG_ALL);
        if (nowLogAll != logAll) {
            // A migration starts or ends: the front-end toggles LOG_ALL on the running device.
            logAll = nowLogAll;
            LOG.log(System.Logger.Level.INFO, "port " + name + ": dirty-page logging " + (nowLogAll ? "on" : "off"));
            for (int i = 0; i < 2 * maxQueuePairs; i++) {
                applyLog(i);
            }
        }
    }

    @Override
    public void setLog(DirtyLog newLog) {
        log = newLog;
        for (int i = 0; i < 2 * maxQueuePairs; i++) {
            applyLog(i);
        }
    }

    @Override
    public void setUsedLog(int index, long usedLogGpa) {
        usedLogGpas[index] = usedLogGpa;
        applyLog(index);
    }

    /** The log queues write into now: only while LOG_ALL is acked and a log is set. */
    private DirtyLog effectiveLog() {
        return logAll ? log : null;
    }

    /**
     * Hands the current log to queue {@code index} the way memory tables are handed over: an RX ring
     * under its claim (senders write it from any worker), a TX ring on its worker. Once this returns no
     * worker writes into the log the queue had.
     */
    private void applyLog(int index) {
        DirtyLog next = effectiveLog();
        long usedLogGpa = usedLogGpas[index];
        NetQueue q = queue(index);
        if (q instanceof RxQueue r) {
            r.setDirtyLog(next, usedLogGpa);
        } else if (!q.onOwner(() -> q.ring.setDirtyLog(next, usedLogGpa))) {
            q.ring.setDirtyLog(next, usedLogGpa); // stopped: no worker touches the ring
        }
    }

    /**
     * SEND_RARP: the frame goes into the network as if the guest had sent it, from this control
     * thread with a context of its own (receivers' claims make any thread a valid sender): the switch
     * learns the MAC on this port and floods the broadcast to every other port, TAP uplinks included.
     */
    @Override
    public void sendRarp(long mac) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment bytes = arena.allocate(Rarp.LENGTH, 8); // native: a TAP writes it with writev
            Rarp.write(bytes, mac);
            DeliveryContext context = new DeliveryContext();
            context.startBatch();
            context.sendFrom(null, false); // a control thread cannot wait for a full receiver
            Frame frame = context.frame();
            frame.wrapSegment(bytes, 0, Rarp.LENGTH, MacAddress.BROADCAST, mac, 0);
            frame.offload().clear();
            try {
                network.forward(frame, this, context);
            } finally {
                context.releaseHeld();
                context.settleCopies(0);
            }
        }
        LOG.log(System.Logger.Level.INFO, "port " + name + ": announced "
                + MacAddress.format(mac) + " (SEND_RARP)");
    }

    @Override
    public void setMtu(int newMtu) {
        if (newMtu > configuredMtu) {
            throw new IllegalArgumentException("port " + name + ": MTU " + newMtu + " is above the port's mtu "
                    + configuredMtu + " (raise ports[].mtu in jvhost's config)");
        }
        mtu = newMtu;
        LOG.log(System.Logger.Level.INFO, "port " + name + ": MTU " + newMtu);
    }

    @Override
    public void setMemory(GuestMemory newMemory) {
        memory = newMemory;
        for (int i = 0; i < maxQueuePairs; i++) {
            RxQueue r = rx[i];
            r.updateMemory(newMemory);
            TxQueue t = tx[i];
            t.onOwner(() -> {
                try {
                    t.ring.updateMemory(newMemory);
                } catch (RuntimeException e) {
                    // Stopped for real: the old table is unmapped once this returns.
                    t.halt();
                    t.broken("ring no longer mapped after a memory table change: " + e.getMessage());
                }
            });
        }
    }

    @Override
    public void startQueue(VringConfig c) {
        if (c.index() >= 2 * maxQueuePairs) {
            throw new IllegalArgumentException("queue " + c.index() + " out of range");
        }
        if (c.kickFd() < 0) {
            throw new IllegalArgumentException("queue " + c.index() + ": no kick eventfd (polling is not supported)");
        }
        NetQueue q = queue(c.index());
        try {
            q.ring.configure(memory, c.size(), c.descFrontendVa(), c.availFrontendVa(), c.usedFrontendVa(),
                    c.nextAvail(), features);
        } catch (RuntimeException e) {
            throw new IllegalArgumentException("queue " + c.index() + ": " + e.getMessage(), e);
        }
        usedLogGpas[c.index()] = c.usedLogGpa();
        q.ring.setDirtyLog(effectiveLog(), c.usedLogGpa()); // not served yet: no other thread has the ring
        errFds[c.index()] = c.errFd();
        DataWorker worker = scheduler.assign(q);
        try {
            if (q instanceof RxQueue r) {
                r.start(worker, c.kickFd(), c.callFd());
                refreshActiveRx();
            } else {
                ((TxQueue) q).start(worker, c.kickFd(), c.callFd());
            }
        } catch (RuntimeException e) {
            // Nothing was registered (the queue rolled its own start back): no worker keeps a queue that
            // the session does not count as running.
            scheduler.release(q, worker);
            errFds[c.index()] = -1;
            throw new IllegalArgumentException("queue " + c.index() + ": cannot serve its kick fd: " + e.getMessage(), e);
        }
        LOG.log(c.nextAvail() != 0 ? System.Logger.Level.INFO : System.Logger.Level.DEBUG,
                "port {0}: queue {1} started on {2} (size {3}, base {4}, used idx {5})",
                name, c.index(), worker, c.size(), c.nextAvail(), q.ring.usedIndex());
    }

    @Override
    public int stopQueue(int index) {
        NetQueue q = queue(index);
        // The worker released is the one the queue was assigned to when it stopped (a move reassigns at once).
        DataWorker worker = q instanceof RxQueue r ? r.stop() : ((TxQueue) q).stop();
        int nextAvail = q.ring.nextAvail();
        DirtyLog stoppedLog = q.ring.dirtyLog();
        if (stoppedLog != null) {
            // The end of a migration's source side (GET_VRING_BASE while logging): where the ring stands.
            // No scan of the log here: this runs inside the migration's downtime.
            LOG.log(System.Logger.Level.INFO, "port " + name + ": queue " + index + " stopped while logging: next avail "
                    + nextAvail + ", used idx " + q.ring.usedIndex()
                    + (stoppedLog.outOfRange() > 0 ? ", " + stoppedLog.outOfRange() + " pages past the log's end not logged" : ""));
        }
        if (q instanceof RxQueue) {
            refreshActiveRx();
        }
        if (worker != null) {
            scheduler.release(q, worker);
        }
        errFds[index] = -1;
        return nextAvail;
    }

    @Override
    public void setCallFd(int index, int callFd) {
        NetQueue q = queue(index);
        if (q instanceof RxQueue r) {
            r.setCallFd(callFd);
        } else {
            ((TxQueue) q).setCallFd(callFd);
        }
    }

    @Override
    public void disconnected() {
        connected = false;
        features = 0;
        receivable = 0;
        sendable = 0;
        mtu = configuredMtu;
        memory = GuestMemory.empty();
        log = null;
        logAll = false;
        Arrays.fill(usedLogGpas, -1);
        for (int i = 0; i < 2 * maxQueuePairs; i++) {
            queue(i).ring.setDirtyLog(null, -1); // all stopped: the session unmaps the log next
        }
        network.forget(this);
        network.offloadsChanged();
    }

    /** The host CPU last running the vCPU that kicks virtqueue {@code index}, or -1 when unknown. */
    int vcpuCpuOfQueue(int index) {
        VcpuLocator l = vcpuLocator;
        return l == null ? -1 : l.lastCpuOfQueuePair(index >>> 1);
    }

    /** Queue pairs with a running TX or RX queue (the pairs the guest uses). */
    public int activeQueuePairs() {
        int n = 0;
        for (int i = 0; i < maxQueuePairs; i++) {
            if (tx[i].running() || rx[i].owner() != null) {
                n++;
            }
        }
        return n;
    }

    /** Where this port's vCPUs run; set by the daemon while a front-end is connected. */
    public void setVcpuLocator(VcpuLocator locator) {
        vcpuLocator = locator;
    }

    NetQueue queue(int index) {
        return (index & 1) == 0 ? rx[index >>> 1] : tx[index >>> 1];
    }

    private synchronized void refreshActiveRx() {
        List<RxQueue> running = new ArrayList<>();
        for (RxQueue r : rx) {
            if (r.running()) {
                running.add(r);
            }
        }
        activeRx = running.toArray(new RxQueue[0]);
    }

    /** A queue broke the ring rules (it already logged why). Any thread; never blocks. */
    void queueBroken(NetQueue q) {
        errors.incrementAndGet();
        NetQueue.signal(errFds[q.index]);
    }

    // ---- SwitchPort (workers) ----

    @Override
    public void deliver(Frame frame, DeliveryContext context) {
        final RxQueue[] queues = activeRx;
        if (queues.length == 0) {
            return; // no guest listening: nothing to count against a queue
        }
        int n = queues.length;
        int hint = frame.sourceQueuePair();
        queues[hint < n ? hint : hint % n].deliver(frame, context);
    }

    // ---- management ----

    public boolean connected() {
        return connected;
    }

    public int peerPid() {
        return peerPid;
    }

    public long features() {
        return features;
    }

    /** Worker time spent on this port's queues so far, in nanoseconds (see {@link QueueCounters#addCpuNanos}). */
    public long cpuNanos() {
        long sum = 0;
        for (int i = 0; i < 2 * maxQueuePairs; i++) {
            sum += queue(i).counters.cpuNanos();
        }
        return sum;
    }

    public long errors() {
        return errors.get();
    }

    /** The worker serving virtqueue {@code index} now, or null. */
    public DataWorker queueOwner(int index) {
        return queue(index).owner();
    }

    /** One line per virtqueue: index, direction, worker CPU (or -1), packets, bytes, drops, migrations. */
    public List<QueueSnapshot> queueSnapshots() {
        List<QueueSnapshot> out = new ArrayList<>();
        for (int i = 0; i < 2 * maxQueuePairs; i++) {
            NetQueue q = queue(i);
            DataWorker w = q.owner();
            int vcpu = vcpuCpuOfQueue(i);
            out.add(new QueueSnapshot(name, i, (i & 1) == 0 ? "rx" : "tx", w == null ? null : w.cpu(),
                    vcpu < 0 ? null : vcpu,
                    q.counters.packets(), q.counters.bytes(), q.counters.drops(), q.counters.waits(),
                    q.migrations(),
                    q.brokenReason(), q.counters.offloadCounts()));
        }
        return out;
    }

    /** A management view of one virtqueue. */
    public record QueueSnapshot(String port, int index, String direction, Integer workerCpu, Integer vcpuCpu, long packets,
                                long bytes, long drops, long waits, long migrations, String error,
                                QueueStatus.OffloadCounts offloads) {
    }
}

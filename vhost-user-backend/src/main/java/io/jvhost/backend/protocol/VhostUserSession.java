package io.jvhost.backend.protocol;

import io.jvhost.backend.linux.FdList;
import io.jvhost.backend.linux.Fds;
import io.jvhost.backend.protocol.VhostUserRequest.AddMemReg;
import io.jvhost.backend.protocol.VhostUserRequest.GetFeatures;
import io.jvhost.backend.protocol.VhostUserRequest.GetMaxMemSlots;
import io.jvhost.backend.protocol.VhostUserRequest.GetProtocolFeatures;
import io.jvhost.backend.protocol.VhostUserRequest.GetQueueNum;
import io.jvhost.backend.protocol.VhostUserRequest.GetVringBase;
import io.jvhost.backend.protocol.VhostUserRequest.RegionDescriptor;
import io.jvhost.backend.protocol.VhostUserRequest.NetSetMtu;
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
import io.jvhost.virtio.memory.GuestMemory;

import java.lang.System.Logger.Level;
import java.util.HashMap;
import java.util.Map;
import java.lang.foreign.MemorySegment;

/**
 * The vhost-user protocol state machine for one connection: feature negotiation, the memory table,
 * vring setup and the ring life cycle, driving a {@link VhostUserDevice}.
 *
 * <p>Each request is checked in a fixed order before any state changes: its own rules against the
 * session state (queue index in range, features a subset of the offer, ring not started), then the
 * feature that gates it ({@link RequestType#gate()}). Header, size and fd checks already happened in
 * {@link MessageCodec}.
 *
 * <p>Ring life cycle (vhost-user.rst, "Ring states"): a ring is started by SET_VRING_KICK and stopped
 * by GET_VRING_BASE. With VHOST_USER_F_PROTOCOL_FEATURES negotiated it is enabled only by
 * SET_VRING_ENABLE 1; without, it is always enabled (SET_FEATURES never disables a ring). The device
 * runs a ring exactly while it is started, enabled and a memory table is present:
 * {@link VhostUserDevice#startQueue} when that becomes true, {@link VhostUserDevice#stopQueue} when it
 * becomes false; the next-avail index stopQueue returns is kept so a restart resumes there.
 *
 * <p>The session owns every fd it detached from a message and closes a replaced one only after the
 * device call that stopped using it returned.
 *
 * <p>Confined to the connection's control thread.
 */
public final class VhostUserSession implements AutoCloseable {

    private static final System.Logger LOG = System.getLogger(VhostUserSession.class.getName());

    /** Virtio feature bit 30, reused by vhost-user to announce protocol-feature negotiation. */
    public static final int VHOST_USER_F_PROTOCOL_FEATURES = 30;
    public static final int PROTOCOL_F_MQ = 0;
    public static final int PROTOCOL_F_LOG_SHMFD = 1;
    public static final int PROTOCOL_F_RARP = 2;
    public static final int PROTOCOL_F_REPLY_ACK = 3;
    public static final int PROTOCOL_F_NET_MTU = 4;
    public static final int PROTOCOL_F_CONFIGURE_MEM_SLOTS = 15;
    /** Protocol features this state machine implements; the device's offer is masked with them. */
    public static final long SUPPORTED_PROTOCOL_FEATURES = (1L << PROTOCOL_F_MQ) | (1L << PROTOCOL_F_LOG_SHMFD)
            | (1L << PROTOCOL_F_RARP) | (1L << PROTOCOL_F_REPLY_ACK) | (1L << PROTOCOL_F_NET_MTU)
            | (1L << PROTOCOL_F_CONFIGURE_MEM_SLOTS);
    /**
     * Regions a memory table may have with CONFIGURE_MEM_SLOTS (GET_MAX_MEM_SLOTS); SET_MEM_TABLE
     * carries at most {@link MemoryTablePayload#MAX_REGIONS}. libvhost-user also offers 32; QEMU takes
     * the smaller of this and its own limit (512 on x86) and refuses a DIMM beyond it.
     */
    public static final int MAX_MEM_SLOTS = 32;
    /** Vring fd messages carry the queue index in 8 bits: at most 256 queues. */
    public static final int MAX_QUEUE_PAIRS = 128;

    private final VhostUserDevice device;
    private final int peerPid;
    private final long offeredFeatures;
    private final long offeredProtocolFeatures;
    private final int maxQueuePairs;
    private final Vring[] vrings;
    private long ackedFeatures;
    private long ackedProtocolFeatures;
    private boolean protocolFeaturesSet;
    private MappedMemoryTable memory;
    /**
     * REM_MEM_REG still to come for regions already removed, by gpa, size and front-end address
     * (mmap_offset 0): QEMU sends a removal once per queue pair, and the first one removes the region
     * (so the next pair's ADD_MEM_REG of a region in its place does not overlap it).
     */
    private final Map<RegionDescriptor, Integer> pendingRemovals = new HashMap<>();
    /** The dirty-page log (SET_LOG_BASE), or null. */
    private MappedLog log;
    private boolean closed;

    /**
     * Starts a session: reads the device's offer once and calls {@link VhostUserDevice#connected}.
     *
     * @param peerPid the front-end's pid (SO_PEERCRED), or -1
     */
    public VhostUserSession(VhostUserDevice device, int peerPid) {
        int pairs = device.maxQueuePairs();
        if (pairs < 1 || pairs > MAX_QUEUE_PAIRS) {
            throw new IllegalArgumentException("device offers " + pairs + " queue pairs, must be 1.." + MAX_QUEUE_PAIRS);
        }
        this.device = device;
        this.peerPid = peerPid;
        this.offeredFeatures = device.offeredFeatures();
        long protocolFeatures = device.offeredProtocolFeatures();
        if ((protocolFeatures & ~SUPPORTED_PROTOCOL_FEATURES) != 0) {
            LOG.log(Level.WARNING, "device offers protocol features 0x"
                    + Long.toHexString(protocolFeatures & ~SUPPORTED_PROTOCOL_FEATURES)
                    + " that this back-end does not implement; not offering them");
        }
        this.offeredProtocolFeatures = protocolFeatures & SUPPORTED_PROTOCOL_FEATURES;
        this.maxQueuePairs = pairs;
        this.vrings = new Vring[2 * pairs];
        for (int i = 0; i < vrings.length; i++) {
            vrings[i] = new Vring(i);
        }
        device.connected(peerPid);
    }

    /**
     * Validates and applies one request.
     *
     * @return the reply payload for requests that have one, else null (REPLY_ACK is the caller's)
     * @throws VhostUserException the request broke a rule or the device refused it; nothing changed
     *                            when a rule was broken; the caller closes the connection
     */
    public MemorySegment handle(VhostUserMessage message) throws VhostUserException {
        if (closed) {
            throw new IllegalStateException("session closed");
        }
        VhostUserRequest request = message.request();
        checkRules(request);
        checkGate(request.type());
        try {
            return apply(request, message.fds());
        } catch (VhostUserException e) {
            throw e;
        } catch (RuntimeException | InternalError e) {
            // InternalError: a SIGBUS on guest memory (a front-end shrank its memfd under the mapping).
            throw VhostUserException.device(request.type(), "device failed: " + e, e);
        }
    }

    private void checkRules(VhostUserRequest request) throws VhostUserException {
        RequestType type = request.type();
        switch (request) {
            case SetFeatures(long features) when (features & ~offeredFeatures) != 0 ->
                    throw VhostUserException.protocol(type, "features 0x" + Long.toHexString(features & ~offeredFeatures)
                            + " were not offered (offered 0x" + Long.toHexString(offeredFeatures) + ")");
            case SetProtocolFeatures(long features) when (features & ~offeredProtocolFeatures) != 0 ->
                    throw VhostUserException.protocol(type, "protocol features 0x"
                            + Long.toHexString(features & ~offeredProtocolFeatures) + " were not offered (offered 0x"
                            + Long.toHexString(offeredProtocolFeatures) + ")");
            case SetVringNum(int index, int size) -> requireStopped(type, vring(type, index));
            case SetVringBase(int index, int nextAvail) -> requireStopped(type, vring(type, index));
            case SetVringAddr addr -> vring(type, addr.index());
            case GetVringBase(int index) -> vring(type, index);
            case SetVringKick(int index, int fd) -> {
                Vring vring = vring(type, index);
                if (fd < 0) {
                    throw VhostUserException.protocol(type, "vring " + index
                            + ": no kick fd (polling mode) is not supported");
                }
                if (vring.size == 0 || !vring.addressesSet) {
                    throw VhostUserException.protocol(type, "vring " + index
                            + ": SET_VRING_NUM and SET_VRING_ADDR must come before the kick fd");
                }
            }
            case SetVringCall(int index, int fd) -> vring(type, index);
            case SetVringErr(int index, int fd) -> vring(type, index);
            case SetVringEnable(int index, boolean enable) -> vring(type, index);
            default -> {
            }
        }
    }

    private Vring vring(RequestType type, int index) throws VhostUserException {
        if (index < 0 || index >= vrings.length) {
            throw VhostUserException.protocol(type, "queue index " + Integer.toUnsignedString(index)
                    + " out of range (device has " + vrings.length + " queues)");
        }
        return vrings[index];
    }

    private static void requireStopped(RequestType type, Vring vring) throws VhostUserException {
        if (vring.started) {
            throw VhostUserException.protocol(type, "vring " + vring.index + " is started; GET_VRING_BASE stops it first");
        }
    }

    private void checkGate(RequestType type) throws VhostUserException {
        String missing = switch (type.gate()) {
            case NONE -> null;
            case PROTOCOL_FEATURES_OFFERED -> (offeredFeatures & (1L << VHOST_USER_F_PROTOCOL_FEATURES)) == 0
                    ? "VHOST_USER_F_PROTOCOL_FEATURES was not offered" : null;
            case PROTOCOL_FEATURES_ACKED -> !protocolFeaturesNegotiated()
                    ? "VHOST_USER_F_PROTOCOL_FEATURES was not negotiated" : null;
            case PROTOCOL_F_MQ -> (ackedProtocolFeatures & (1L << PROTOCOL_F_MQ)) == 0
                    ? "protocol feature MQ was not negotiated" : null;
            case PROTOCOL_F_NET_MTU -> (ackedProtocolFeatures & (1L << PROTOCOL_F_NET_MTU)) == 0
                    ? "protocol feature NET_MTU was not negotiated" : null;
            case PROTOCOL_F_CONFIGURE_MEM_SLOTS -> (ackedProtocolFeatures & (1L << PROTOCOL_F_CONFIGURE_MEM_SLOTS)) == 0
                    ? "protocol feature CONFIGURE_MEM_SLOTS was not negotiated" : null;
            case PROTOCOL_F_LOG_SHMFD -> (ackedProtocolFeatures & (1L << PROTOCOL_F_LOG_SHMFD)) == 0
                    ? "protocol feature LOG_SHMFD was not negotiated" : null;
            case PROTOCOL_F_RARP -> (ackedProtocolFeatures & (1L << PROTOCOL_F_RARP)) == 0
                    ? "protocol feature RARP was not negotiated" : null;
        };
        if (missing != null) {
            throw VhostUserException.protocol(type, missing);
        }
    }

    private MemorySegment apply(VhostUserRequest request, FdList fds) throws VhostUserException {
        RequestType type = request.type();
        switch (request) {
            case GetFeatures ignored -> {
                return U64Payload.of(offeredFeatures);
            }
            case SetFeatures(long features) -> {
                ackedFeatures = features;
                device.setFeatures(features);
                reconcileAll(type);
            }
            case SetOwner ignored -> {
                // QEMU sends one per queue-pair device on a shared socket: idempotent, like DPDK.
            }
            case ResetOwner ignored -> {
                // Deprecated (vhost-user.rst): treated as the end of one device session and the start of
                // another on the same connection. Protocol features stay: QEMU does not send them again.
                reset();
                device.connected(peerPid);
            }
            case SetMemTable table -> setMemTable(table, fds);
            case SetVringNum(int index, int size) -> vrings[index].size = size;
            case SetVringAddr addr -> {
                Vring vring = vrings[addr.index()];
                long usedLogGpa = (addr.flags() & VringAddrPayload.VHOST_VRING_F_LOG) != 0 ? addr.logGpa() : -1;
                boolean onlyLogChanged = vring.addressesSet && vring.descFrontendVa == addr.descFrontendVa()
                        && vring.availFrontendVa == addr.availFrontendVa() && vring.usedFrontendVa == addr.usedFrontendVa()
                        && vring.usedLogGpa != usedLogGpa;
                vring.descFrontendVa = addr.descFrontendVa();
                vring.availFrontendVa = addr.availFrontendVa();
                vring.usedFrontendVa = addr.usedFrontendVa();
                vring.usedLogGpa = usedLogGpa;
                vring.addressesSet = true;
                if (vring.running && onlyLogChanged) {
                    // vhost-user.rst "Migration": the front-end turns used-ring logging on and off with
                    // SET_VRING_ADDR on live rings; only the log changes, so the ring keeps running. Any
                    // other SET_VRING_ADDR of a running ring restarts it, as before.
                    device.setUsedLog(vring.index, usedLogGpa);
                } else if (vring.running) {
                    restart(vring, type);
                }
            }
            case SetLogBase base -> {
                return setLogBase(base, fds);
            }
            case SetLogFd ignored -> {
                // The log-changed notification fd (for a front-end polling the log); nothing here writes it.
                Fds.closeQuietly(fds.size() == 1 ? fds.detach(0) : -1);
            }
            case SendRarp(long mac) -> device.sendRarp(mac);
            case SetVringBase(int index, int nextAvail) -> vrings[index].nextAvail = nextAvail;
            case GetVringBase(int index) -> {
                Vring vring = vrings[index];
                vring.started = false;
                reconcile(vring, type);
                int kickFd = vring.kickFd;
                vring.kickFd = -1;
                Fds.closeQuietly(kickFd); // a restart brings a new SET_VRING_KICK
                return VringStatePayload.of(index, vring.nextAvail);
            }
            case SetVringKick(int index, int fd) -> {
                Vring vring = vrings[index];
                int old = vring.kickFd;
                vring.kickFd = fds.detach(0);
                vring.started = true;
                if (vring.running) {
                    restart(vring, type);
                } else {
                    reconcile(vring, type);
                }
                Fds.closeQuietly(old);
            }
            case SetVringCall(int index, int fd) -> {
                Vring vring = vrings[index];
                int old = vring.callFd;
                vring.callFd = fd < 0 ? -1 : fds.detach(0);
                if (vring.running) {
                    device.setCallFd(index, vring.callFd);
                }
                Fds.closeQuietly(old);
            }
            case SetVringErr(int index, int fd) -> {
                Vring vring = vrings[index];
                int old = vring.errFd;
                vring.errFd = fd < 0 ? -1 : fds.detach(0);
                if (vring.running) {
                    restart(vring, type);
                }
                Fds.closeQuietly(old);
            }
            case GetProtocolFeatures ignored -> {
                return U64Payload.of(offeredProtocolFeatures);
            }
            case SetProtocolFeatures(long features) -> {
                ackedProtocolFeatures = features;
                protocolFeaturesSet = true;
            }
            case GetQueueNum ignored -> {
                // vhost-user-net counts queue pairs here (QEMU compares it with queues=N).
                return U64Payload.of(maxQueuePairs);
            }
            case SetVringEnable(int index, boolean enable) -> {
                Vring vring = vrings[index];
                vring.enableRequested = enable;
                reconcile(vring, type);
            }
            case NetSetMtu(int mtu) -> {
                try {
                    device.setMtu(mtu);
                } catch (IllegalArgumentException e) {
                    throw VhostUserException.refused(type, e.getMessage());
                }
            }
            case GetMaxMemSlots ignored -> {
                return U64Payload.of(MAX_MEM_SLOTS);
            }
            case AddMemReg(RegionDescriptor region) -> addMemRegion(region, fds.get(0));
            case RemMemReg(RegionDescriptor region) -> removeMemRegion(region);
        }
        return null;
    }

    /**
     * ADD_MEM_REG: maps the region, hands the device a table with it added, as SET_MEM_TABLE does,
     * then starts rings that waited for memory and are now mapped whole. Regions already mapped stay
     * mapped (shared with the new table), so nothing the workers still use is unmapped. The same
     * region once more (QEMU sends it once per queue pair) only counts: see
     * {@link MappedMemoryTable#withRepeatedAdd}.
     */
    private void addMemRegion(RegionDescriptor region, int fd) throws VhostUserException {
        MappedMemoryTable current = memory == null ? MappedMemoryTable.empty() : memory;
        MappedMemoryTable repeated = current.withRepeatedAdd(region);
        if (repeated != null) { // QEMU's next queue pair: nothing changes but the count
            int index = repeated.indexOf(region);
            if (repeated.adds(index) > maxQueuePairs) {
                throw VhostUserException.protocol(RequestType.ADD_MEM_REG, MappedMemoryTable.describe(region)
                        + " added more often than once per queue pair (" + maxQueuePairs + ")");
            }
            memory = repeated;
            return;
        }
        MappedMemoryTable next = current.withRegion(region, fd, MAX_MEM_SLOTS);
        try {
            device.setMemory(next.memory());
        } catch (RuntimeException e) {
            next.closeRegion(next.regionCount() - 1); // the new region only: the others are still in use
            throw e;
        }
        memory = next;
        LOG.log(Level.INFO, "ADD_MEM_REG: mapped " + MappedMemoryTable.describe(region) + " ("
                + next.regionCount() + " of " + MAX_MEM_SLOTS + " slots in use)");
        for (Vring vring : vrings) {
            // The table comes region by region: a ring that waited for memory starts once all of it
            // is mapped (DPDK, too, translates the rings again after each ADD_MEM_REG); until then it
            // waits instead of failing the connection.
            if (vring.running || vring.mappedBy(next.memory())) {
                reconcile(vring, RequestType.ADD_MEM_REG);
            }
        }
        // The fd stays in the message and is closed with it: the mapping keeps the memory.
    }

    /**
     * REM_MEM_REG: hands the device a table without the region and unmaps it only once setMemory
     * returned, when no worker can reach it any more (VhostUserDevice's contract). A region QEMU
     * added once per queue pair goes with the first removal; the other pairs' removals are acked. A running ring
     * whose areas were in it stops (the device reports it broken), as with SET_MEM_TABLE.
     */
    private void removeMemRegion(RegionDescriptor region) throws VhostUserException {
        int index = memory == null ? -1 : memory.indexOf(region);
        RegionDescriptor key = new RegionDescriptor(region.gpa(), region.size(), region.frontendVa(), 0);
        if (index < 0) {
            Integer pending = pendingRemovals.remove(key);
            if (pending == null) {
                throw VhostUserException.protocol(RequestType.REM_MEM_REG, "no mapped region matches "
                        + MappedMemoryTable.describe(region));
            }
            if (pending > 1) { // the next queue pair's copy of a removal already done
                pendingRemovals.put(key, pending - 1);
            }
            return;
        }
        if (memory.adds(index) > 1) { // QEMU's other queue pairs send this removal too: acked then
            if (pendingRemovals.size() >= MAX_MEM_SLOTS && !pendingRemovals.containsKey(key)) {
                throw VhostUserException.protocol(RequestType.REM_MEM_REG, "removals of " + MAX_MEM_SLOTS
                        + " regions added once per queue pair are still incomplete");
            }
            pendingRemovals.merge(key, memory.adds(index) - 1, Integer::sum);
        }
        MappedMemoryTable old = memory;
        MappedMemoryTable next = old.withoutRegion(index);
        device.setMemory(next.memory());
        memory = next;
        old.closeRegion(index);
        LOG.log(Level.INFO, "REM_MEM_REG: unmapped " + MappedMemoryTable.describe(region) + " ("
                + next.regionCount() + " of " + MAX_MEM_SLOTS + " slots in use)");
    }

    private void setMemTable(SetMemTable table, FdList fds) throws VhostUserException {
        int[] regionFds = new int[table.regions().size()];
        for (int i = 0; i < regionFds.length; i++) {
            regionFds[i] = fds.get(i);
        }
        MappedMemoryTable mapped = MappedMemoryTable.map(table.regions(), regionFds);
        try {
            device.setMemory(mapped.memory());
        } catch (RuntimeException e) {
            mapped.close();
            throw e;
        }
        MappedMemoryTable old = memory;
        memory = mapped;
        if (old != null) {
            old.close(); // setMemory returned: no worker uses the old table any more
        }
        pendingRemovals.clear(); // a whole new table: nothing of the old one is still to be removed
        reconcileAll(RequestType.SET_MEM_TABLE);
        // The region fds stay in the message and are closed with it: the mappings keep the memory.
    }

    /**
     * Maps the new log and hands it to the device, then unmaps the old one: once setLog returned no
     * worker writes into it, and its pending bits are in it (the front-end syncs the old log after this
     * reply). Replies with a u64 0, as libvhost-user does (QEMU checks only the reply's request code).
     */
    private MemorySegment setLogBase(SetLogBase base, FdList fds) throws VhostUserException {
        MappedLog mapped = MappedLog.map(base.fd(), base.mmapSize(), base.mmapOffset());
        try {
            device.setLog(mapped.log());
        } catch (RuntimeException e) {
            mapped.close();
            throw e;
        }
        MappedLog old = log;
        log = mapped;
        if (old != null) {
            old.close();
        }
        // The fd stays in the message and is closed with it: the mapping keeps the log.
        return U64Payload.of(0);
    }

    /**
     * Whether the front-end uses VHOST_USER_F_PROTOCOL_FEATURES: it acked the bit, or it already sent
     * SET_PROTOCOL_FEATURES (legal only once the bit was offered). QEMU sends SET_VRING_ENABLE before
     * SET_FEATURES (it checks the offered bit, vhost_user_set_vring_enable), so the acked bit alone
     * would reject QEMU's own start-up sequence; DPDK's back-end does not gate the request at all.
     */
    private boolean protocolFeaturesNegotiated() {
        return protocolFeaturesSet || (ackedFeatures & (1L << VHOST_USER_F_PROTOCOL_FEATURES)) != 0;
    }

    private boolean isEnabled(Vring vring) {
        // Rings of a front-end using protocol features start disabled (vhost-user.rst, "Ring states").
        return !protocolFeaturesNegotiated() || vring.enableRequested;
    }

    private void reconcileAll(RequestType type) throws VhostUserException {
        for (Vring vring : vrings) {
            reconcile(vring, type);
        }
    }

    /** Starts or stops the ring in the device so that it runs exactly when started, enabled and mapped. */
    private void reconcile(Vring vring, RequestType type) throws VhostUserException {
        boolean runnable = vring.started && isEnabled(vring) && memory != null;
        if (runnable && !vring.running) {
            try {
                device.startQueue(vring.config());
            } catch (IllegalArgumentException e) {
                throw VhostUserException.device(type, "vring " + vring.index + " rejected by the device: "
                        + e.getMessage(), e);
            }
            vring.running = true;
        } else if (!runnable && vring.running) {
            stop(vring);
        }
    }

    /** Stops and starts a running ring so the device picks up a changed configuration. */
    private void restart(Vring vring, RequestType type) throws VhostUserException {
        stop(vring);
        reconcile(vring, type);
    }

    private void stop(Vring vring) {
        vring.running = false;
        vring.nextAvail = device.stopQueue(vring.index) & 0xffff;
    }

    /** Stops every running ring, ends the device session, unmaps memory and closes ring fds. */
    private void reset() {
        for (Vring vring : vrings) {
            if (vring.running) {
                try {
                    stop(vring);
                } catch (RuntimeException | InternalError e) {
                    LOG.log(Level.WARNING, "device failed to stop vring " + vring.index, e);
                }
            }
        }
        try {
            device.disconnected();
        } catch (RuntimeException | InternalError e) {
            LOG.log(Level.WARNING, "device failed in disconnected()", e);
        }
        if (memory != null) {
            memory.close();
            memory = null;
        }
        pendingRemovals.clear();
        if (log != null) {
            log.close(); // disconnected() returned: no worker writes into it
            log = null;
        }
        for (int i = 0; i < vrings.length; i++) {
            vrings[i].closeFds();
            vrings[i] = new Vring(i);
        }
        ackedFeatures = 0;
    }

    /** True once REPLY_ACK was negotiated: NEED_REPLY requests then get a u64 status reply. */
    public boolean replyAckEnabled() {
        return (ackedProtocolFeatures & (1L << PROTOCOL_F_REPLY_ACK)) != 0;
    }

    public long ackedFeatures() {
        return ackedFeatures;
    }

    public long ackedProtocolFeatures() {
        return ackedProtocolFeatures;
    }

    /** The current memory table, or null before SET_MEM_TABLE. */
    public GuestMemory memory() {
        return memory == null ? null : memory.memory();
    }

    /** Whether the device is running queue {@code index}. */
    public boolean isRunning(int index) {
        return vrings[index].running;
    }

    /**
     * Ends the session (connection closed): stops running queues, {@link VhostUserDevice#disconnected},
     * unmaps memory, closes every fd. Device failures are logged, not thrown. Idempotent.
     */
    @Override
    public void close() {
        if (!closed) {
            closed = true;
            reset();
        }
    }
}

package io.jvhost.backend;

import io.jvhost.affinity.pool.Worker;
import io.jvhost.affinity.pool.WorkerPool;
import io.jvhost.affinity.topology.CpuTopology;
import io.jvhost.backend.config.ConfigException;
import io.jvhost.backend.config.ConfigLoader;
import io.jvhost.backend.config.JvhostConfig;
import io.jvhost.backend.config.PortConfig;
import io.jvhost.backend.config.StormControl;
import io.jvhost.backend.config.WorkersConfig;
import io.jvhost.backend.device.VirtioNetPort;
import io.jvhost.backend.management.ManagementView;
import io.jvhost.backend.management.PortControl;
import io.jvhost.backend.management.ReloadResult;
import io.jvhost.backend.management.PortStatus;
import io.jvhost.backend.management.QueueStatus;
import io.jvhost.backend.management.WorkerStatus;
import io.jvhost.backend.protocol.EndpointListener;
import io.jvhost.backend.protocol.VhostUserEndpoint;
import io.jvhost.backend.switching.L2Switch;
import io.jvhost.backend.switching.PortIngress;
import io.jvhost.backend.switching.SwitchPort;
import io.jvhost.backend.vcpu.VcpuWatch;
import io.jvhost.backend.datapath.DataWorker;
import io.jvhost.affinity.placement.BalanceMode;
import io.jvhost.affinity.placement.PlacementMode;
import io.jvhost.affinity.placement.QueuePlacement;
import io.jvhost.affinity.placement.Rebalancer;
import io.jvhost.affinity.topology.CpuHotplugMonitor;
import io.jvhost.backend.device.TapPort;
import io.jvhost.backend.offload.Offloads;
import io.jvhost.backend.linux.LinuxException;
import io.jvhost.backend.linux.SchedulerSlice;
import io.jvhost.backend.scheduling.PerDeviceScheduler;
import io.jvhost.backend.scheduling.QueueBalancer;
import io.jvhost.backend.scheduling.QueueScheduler;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * The running daemon: workers, networks, ports and their vhost-user endpoints, wired from a config.
 *
 * <p>Start-up order: workers, networks, ports, endpoints (so a front-end that connects at once finds
 * everything ready). Shutdown runs the other way: endpoints first (their sessions stop every queue and
 * unmap guest memory), then the workers.
 */
public final class Jvhost implements RunningDaemon, ManagementView, PortControl {

    private static final System.Logger LOG = System.getLogger(Jvhost.class.getName());
    /** How often worker busy ratios are sampled and MAC tables aged. */
    private static final long HOUSEKEEPING_MS = 1000;
    /**
     * Minimum dwell 10 periods, half-life 3 periods; up to 4 moves a period, so that both queues of a
     * pair (RX and TX follow the same vCPU) and another guest's can move in the same period.
     */
    /** Names a port object sent to the control socket in messages, as a file name does for the config. */
    static final String CONTROL_SOURCE = "POST /api/ports";
    private static final Rebalancer.Settings REBALANCE_SETTINGS = new Rebalancer.Settings(10, 4, 3);

    private final JvhostConfig config;
    private final CpuTopology topology;
    private final List<Worker> threads = new ArrayList<>();
    private final List<DataWorker> dataWorkers = new ArrayList<>();
    /** Networks by name; a port added at runtime may create one (control thread, read by housekeeping). */
    private final Map<String, L2Switch> networks = new ConcurrentHashMap<>();
    /**
     * The running ports, in config order then in the order added. Read by the management and
     * housekeeping threads while the control socket's thread adds and removes ports (under
     * {@link #changeLock}): copy on write, so every reader iterates a consistent snapshot.
     */
    private final List<PortEntry> ports = new CopyOnWriteArrayList<>();
    /**
     * The ports added at runtime, kept across restarts: {@code <control-socket>.state}, beside the
     * control socket ({@code run/jvhost.ctl.state}); restored at start after the config's ports.
     */
    private final Path stateFile;
    /** Serialises port changes (the control socket) with each other and with {@link #close()}. */
    private final Object changeLock = new Object();
    private final ScheduledExecutorService housekeeping = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "jvhost-housekeeping");
        t.setDaemon(true);
        return t;
    });
    private WorkerPool pool;
    private QueueScheduler scheduler;
    private volatile double[] busyRatios = new double[0];
    private long[] lastBusyNanos = new long[0];
    private long lastSampleNanos;

    /**
     * A port: a vhost-user device (port, vcpus, endpoint) or a TAP device (tap); {@code runtime} when it
     * was added through the control socket (and is kept in the state file).
     */
    private record PortEntry(PortConfig config, VirtioNetPort port, VcpuWatch vcpus, VhostUserEndpoint endpoint,
                             TapPort tap, boolean runtime) {
    }

    private Jvhost(JvhostConfig config) {
        this.config = config;
        Path control = config.management().controlSocket();
        this.stateFile = control.resolveSibling(control.getFileName() + ".state");
        this.topology = config.topology() != null
                ? CpuTopology.ofSockets(config.topology().sockets())
                : CpuTopology.detect();
    }

    /** Starts serving {@code config}; on failure releases what it had set up. */
    public static RunningDaemon start(JvhostConfig config) throws Exception {
        Jvhost daemon = new Jvhost(config);
        try {
            daemon.open();
            return daemon;
        } catch (Exception | Error e) {
            daemon.close();
            throw e;
        }
    }

    private void open() throws Exception {
        List<PortConfig> saved = ConfigLoader.loadState(stateFile, config.ports());
        List<PortConfig> all = new ArrayList<>(config.ports());
        all.addAll(saved);
        scheduler = startWorkers(all);
        for (int i = 0; i < config.ports().size(); i++) {
            ports.add(startPort("ports[" + i + "].", config.ports().get(i), false));
        }
        for (int i = 0; i < saved.size(); i++) {
            ports.add(startPort(stateFile + ": ports[" + i + "].", saved.get(i), true));
        }
        if (!saved.isEmpty()) {
            LOG.log(System.Logger.Level.INFO, saved.size() + " port(s) added at runtime restored from " + stateFile);
        }
        lastSampleNanos = System.nanoTime();
        housekeeping.scheduleAtFixedRate(this::housekeep, HOUSEKEEPING_MS, HOUSEKEEPING_MS, TimeUnit.MILLISECONDS);
        long interval = config.workers().rebalanceIntervalMs();
        housekeeping.scheduleWithFixedDelay(() -> rebalance(scheduler), interval, interval, TimeUnit.MILLISECONDS);
    }

    /**
     * Builds one port, attaches it to its network and starts serving it (the TAP device read, the
     * socket listened on or connected to); on failure nothing of it is left attached.
     *
     * @param keyPrefix what precedes the key in a message: {@code ports[2].} for the config file, empty
     *                  for a port sent to the control socket
     */
    private PortEntry startPort(String keyPrefix, PortConfig pc, boolean runtime) throws Exception {
        L2Switch network = networks.computeIfAbsent(pc.network(), L2Switch::new);
        if (pc.isTap()) {
            TapPort tap;
            try {
                tap = new TapPort(pc.name(), pc.tap(), network, scheduler, pc.offloads(), pc.mtu(), ingress(pc));
            } catch (LinuxException e) {
                throw new ConfigException(keyPrefix + "tap: cannot open TAP " + pc.tap() + ": " + e.getMessage(), e);
            }
            try {
                attach(keyPrefix, network, tap);
            } catch (ConfigException e) {
                tap.close();
                throw e;
            }
            tap.start();
            return new PortEntry(pc, null, null, null, tap, runtime);
        }
        VirtioNetPort port = new VirtioNetPort(pc.name(), network, scheduler, pc.queues(), pc.offloads(), pc.mtu(),
                ingress(pc));
        attach(keyPrefix, network, port);
        VcpuWatch vcpus = new VcpuWatch(port, pc.vcpus());
        port.setVcpuLocator(vcpus);
        try {
            return new PortEntry(pc, port, vcpus, openEndpoint(keyPrefix, pc, port), null, runtime);
        } catch (Exception | Error e) {
            network.detach(port);
            vcpus.close();
            throw e;
        }
    }

    /** Port security and storm control of {@code pc}, its buckets full from now. */
    private static PortIngress ingress(PortConfig pc) {
        StormControl storm = pc.stormControl();
        return new PortIngress(pc.securedMacs(), storm.broadcastPps(), storm.multicastPps(),
                storm.unknownUnicastPps(), System.nanoTime());
    }

    /** Attaches {@code port}; a MAC of its port security that another port of the network has is a config error. */
    private static void attach(String keyPrefix, L2Switch network, SwitchPort port) throws ConfigException {
        try {
            network.attach(port);
        } catch (IllegalArgumentException e) {
            throw new ConfigException(keyPrefix + "mac: " + e.getMessage(), e);
        }
    }

    // ---- PortControl (control socket thread) ----

    @Override
    public PortControl control() {
        return this;
    }

    @Override
    public PortStatus addPort(String json) throws ConfigException {
        synchronized (changeLock) {
            List<PortConfig> running = new ArrayList<>();
            for (PortEntry e : ports) {
                running.add(e.config());
            }
            PortConfig pc = ConfigLoader.parsePort(CONTROL_SOURCE, json, running);
            if (config.workers().model() == WorkersConfig.Model.PER_DEVICE) {
                throw new ConfigException(CONTROL_SOURCE + ": ports cannot be added at runtime with workers.model "
                        + WorkersConfig.Model.PER_DEVICE.configName() + " (its device threads are made at start)");
            }
            PortEntry entry;
            try {
                entry = startPort("", pc, true);
            } catch (ConfigException e) {
                throw new ConfigException(CONTROL_SOURCE + ": " + e.getMessage(), e);
            } catch (Exception e) {
                throw new ConfigException(CONTROL_SOURCE + ": cannot start port " + pc.name() + ": " + e.getMessage(), e);
            }
            ports.add(entry);
            try {
                saveState();
            } catch (IOException e) {
                // A port that would not come back after a restart is not added.
                stopPort(entry);
                throw new UncheckedIOException("cannot save " + stateFile + ": " + e.getMessage(), e);
            }
            LOG.log(System.Logger.Level.INFO, "port " + pc.name() + " added (" + describe(pc) + ")");
            return status(entry);
        }
    }

    @Override
    public boolean removePort(String name) {
        synchronized (changeLock) {
            PortEntry entry = null;
            for (PortEntry e : ports) {
                if (e.config().name().equals(name)) {
                    entry = e;
                }
            }
            if (entry == null) {
                return false;
            }
            stopPort(entry);
            LOG.log(System.Logger.Level.INFO, "port " + name + " removed");
            if (entry.runtime()) {
                try {
                    saveState();
                } catch (IOException e) {
                    throw new UncheckedIOException("port " + name + " removed, but " + stateFile
                            + " still lists it: " + e.getMessage(), e);
                }
            }
            return true;
        }
    }

    @Override
    public ReloadResult reload(String source, JvhostConfig next) throws ConfigException {
        synchronized (changeLock) {
            Map<String, PortEntry> current = new LinkedHashMap<>();
            List<PortConfig> runtime = new ArrayList<>();
            for (PortEntry e : ports) {
                if (e.runtime()) {
                    runtime.add(e.config());
                } else {
                    current.put(e.config().name(), e);
                }
            }
            ConfigLoader.requireDistinct(source, next.ports(), runtime);
            List<String> added = new ArrayList<>();
            List<String> removed = new ArrayList<>();
            List<String> changed = new ArrayList<>();
            Map<String, PortConfig> wanted = new LinkedHashMap<>();
            for (PortConfig pc : next.ports()) {
                wanted.put(pc.name(), pc);
                PortEntry e = current.get(pc.name());
                if (e == null) {
                    added.add(pc.name());
                } else if (!e.config().equals(pc)) {
                    changed.add(pc.name());
                }
            }
            for (String name : current.keySet()) {
                if (!wanted.containsKey(name)) {
                    removed.add(name);
                }
            }
            if (config.workers().model() == WorkersConfig.Model.PER_DEVICE && !(added.isEmpty() && changed.isEmpty())) {
                throw new ConfigException(source + ": ports cannot be added at runtime with workers.model "
                        + WorkersConfig.Model.PER_DEVICE.configName() + " (its device threads are made at start)");
            }
            // Stop first: a changed or new port may take over a socket or TAP device one of these frees.
            for (String name : removed) {
                stopPort(current.get(name));
            }
            for (String name : changed) {
                stopPort(current.get(name));
            }
            for (int i = 0; i < next.ports().size(); i++) {
                PortConfig pc = next.ports().get(i);
                if (added.contains(pc.name()) || changed.contains(pc.name())) {
                    PortEntry entry;
                    try {
                        entry = startPort(source + ": ports[" + i + "].", pc, false);
                    } catch (ConfigException e) {
                        throw e;
                    } catch (Exception e) {
                        throw new ConfigException(source + ": ports[" + i + "]: cannot start port " + pc.name() + ": "
                                + e.getMessage(), e);
                    }
                    ports.add(Math.min(i, configPortCount()), entry); // config ports first, in file order
                }
            }
            List<String> notApplied = new ArrayList<>();
            if (!next.workers().equals(config.workers())) {
                notApplied.add("workers");
            }
            if (!Objects.equals(next.topology(), config.topology())) {
                notApplied.add("topology");
            }
            if (!next.management().equals(config.management())) {
                notApplied.add("management");
            }
            LOG.log(System.Logger.Level.INFO, "reloaded " + source + ": added " + added + ", removed " + removed
                    + ", changed " + changed + (notApplied.isEmpty() ? "" : "; needs a restart: " + notApplied));
            return new ReloadResult(added, removed, changed, notApplied);
        }
    }

    private int configPortCount() {
        int n = 0;
        for (PortEntry e : ports) {
            if (!e.runtime()) {
                n++;
            }
        }
        return n;
    }

    /** Takes {@code entry} out of the port list and its network, then closes it. Under {@link #changeLock}. */
    private void stopPort(PortEntry entry) {
        ports.remove(entry);
        L2Switch network = networks.get(entry.config().network());
        network.detach(entry.tap() != null ? entry.tap() : entry.port());
        if (entry.tap() != null) {
            // A worker may still be writing to the TAP from the port array it read before the detach,
            // and a closed fd's number is soon another file's; once every worker has run a command
            // (drained between handler calls) none is. A guest's port needs no such wait: a sender
            // copies into an RX ring only under its claim and finds it stopped, so removing one never
            // waits for a worker that has nothing to do with it.
            for (DataWorker w : dataWorkers) {
                w.worker().call(() -> null);
            }
        }
        closePort(entry);
        if (entry.vcpus() != null) {
            // VcpuWatch is the housekeeping thread's; it no longer finds the port in the list.
            VcpuWatch vcpus = entry.vcpus();
            housekeeping.execute(vcpus::close);
        }
    }

    /**
     * Writes the ports added at runtime to the state file: a new file renamed over the old one, so a
     * crash leaves the old or the new list, never half of one; no such port, no file. Under
     * {@link #changeLock}.
     */
    private void saveState() throws IOException {
        List<PortConfig> runtime = new ArrayList<>();
        for (PortEntry e : ports) {
            if (e.runtime()) {
                runtime.add(e.config());
            }
        }
        if (runtime.isEmpty()) {
            Files.deleteIfExists(stateFile);
            return;
        }
        Path tmp = stateFile.resolveSibling(stateFile.getFileName() + ".tmp");
        try (FileChannel out = FileChannel.open(tmp, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.TRUNCATE_EXISTING)) {
            out.write(ByteBuffer.wrap(ConfigLoader.stateText(runtime).getBytes(StandardCharsets.UTF_8)));
            out.force(true);
        }
        Files.move(tmp, stateFile, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    }

    private static String describe(PortConfig pc) {
        return pc.isTap() ? "tap " + pc.tap() : pc.mode().configName() + " " + pc.socket();
    }

    private static void closePort(PortEntry e) {
        try {
            if (e.tap() != null) {
                e.tap().close();
            } else {
                e.endpoint().close();
            }
        } catch (RuntimeException ex) {
            LOG.log(System.Logger.Level.WARNING, "port " + e.config().name() + ": close failed", ex);
        }
    }

    /** @param allPorts the ports served from the start: per-device, one thread each */
    private QueueScheduler startWorkers(List<PortConfig> allPorts) {
        if (config.workers().model() == WorkersConfig.Model.PER_DEVICE) {
            Map<String, DataWorker> perPort = new LinkedHashMap<>();
            for (PortConfig pc : allPorts) {
                Worker w = new Worker("jvhost-device-" + pc.name(), -1);
                threads.add(w);
                DataWorker dw = dataWorker(w);
                dataWorkers.add(dw);
                perPort.put(pc.name(), dw);
            }
            initBusySamples();
            return new PerDeviceScheduler(perPort);
        }
        int[] cpus = config.workers().cpus().stream().mapToInt(Integer::intValue).toArray();
        pool = WorkerPool.pinned(cpus);
        for (Worker w : pool.workers()) {
            dataWorkers.add(dataWorker(w));
        }
        initBusySamples();
        WorkersConfig w = config.workers();
        QueuePlacement placement = QueuePlacement.of(PlacementMode.fromConfigName(w.placement().configName()),
                BalanceMode.fromConfigName(w.balance().configName()), System.nanoTime());
        return new QueueBalancer(topology, dataWorkers.toArray(new DataWorker[0]), placement,
                REBALANCE_SETTINGS, TimeUnit.MILLISECONDS.toNanos(w.rebalanceIntervalMs()),
                new CpuHotplugMonitor(CpuTopology.SYSFS_CPU_ROOT));
    }

    /** A worker thread as the data path uses it, with its scheduler slice asked for ({@code workers.wakeup-slice-us}). */
    private DataWorker dataWorker(Worker w) {
        long sliceUs = config.workers().wakeupSliceUs();
        if (sliceUs > 0) {
            try {
                w.call(() -> {
                    SchedulerSlice.request(TimeUnit.MICROSECONDS.toNanos(sliceUs));
                    return null;
                });
            } catch (RuntimeException e) {
                LOG.log(System.Logger.Level.WARNING, w.name() + ": scheduler slice of " + sliceUs + " us refused: "
                        + e.getMessage());
            }
        }
        return new DataWorker(w, busyPollNanos(), backpressureNanos());
    }

    private long backpressureNanos() {
        return TimeUnit.MICROSECONDS.toNanos(config.workers().backpressureTimeoutUs());
    }

    private long busyPollNanos() {
        return TimeUnit.MICROSECONDS.toNanos(config.workers().busyPollUs());
    }

    /** Housekeeping thread, each rebalance period: where do the vCPUs run now. */
    private void refreshVcpus() {
        for (PortEntry e : ports) {
            if (e.vcpus() != null) {
                e.vcpus().refresh();
            }
        }
    }

    private void rebalance(QueueScheduler scheduler) {
        try {
            refreshVcpus(); // where the vCPUs run now: placement reads it, and /api/queues shows it
            scheduler.rebalance();
        } catch (RuntimeException e) {
            LOG.log(System.Logger.Level.WARNING, "rebalance failed", e);
        }
    }

    private void initBusySamples() {
        busyRatios = new double[dataWorkers.size()];
        lastBusyNanos = new long[dataWorkers.size()];
    }

    private VhostUserEndpoint openEndpoint(String keyPrefix, PortConfig pc, VirtioNetPort port) throws Exception {
        Path socket = pc.socket();
        Path parent = socket.toAbsolutePath().getParent();
        try {
            Files.createDirectories(parent);
        } catch (IOException e) {
            throw new ConfigException(keyPrefix + "socket: cannot create directory " + parent + ": " + e.getMessage(), e);
        }
        return pc.mode() == PortConfig.Mode.SERVER
                ? VhostUserEndpoint.server(pc.name(), socket, port, EndpointListener.NONE, pc.access())
                : VhostUserEndpoint.client(pc.name(), socket, port, EndpointListener.NONE,
                        VhostUserEndpoint.DEFAULT_RETRY_INTERVAL, pc.access());
    }

    private void housekeep() {
        try {
            long now = System.nanoTime();
            long elapsed = Math.max(1, now - lastSampleNanos);
            double[] ratios = new double[dataWorkers.size()];
            for (int i = 0; i < ratios.length; i++) {
                long busy = dataWorkers.get(i).worker().busyNanos();
                ratios[i] = Math.min(1.0, (busy - lastBusyNanos[i]) / (double) elapsed);
                lastBusyNanos[i] = busy;
            }
            lastSampleNanos = now;
            busyRatios = ratios;
            for (L2Switch network : networks.values()) {
                network.age(now, L2Switch.DEFAULT_AGEING_NANOS);
            }
        } catch (RuntimeException e) {
            LOG.log(System.Logger.Level.WARNING, "housekeeping failed", e);
        }
    }

    // ---- ManagementView (management thread) ----

    @Override
    public ManagementView view() {
        return this;
    }

    @Override
    public List<PortStatus> ports() {
        List<PortStatus> out = new ArrayList<>();
        for (PortEntry e : ports) {
            out.add(status(e));
        }
        return out;
    }

    private static PortStatus status(PortEntry e) {
        PortConfig pc = e.config();
        if (e.tap() != null) {
            TapPort t = e.tap();
            return new PortStatus(pc.name(), pc.kind(), null, null, pc.network(), true, 0, 1,
                    t.fromHostPackets(), t.fromHostBytes(), t.toHostPackets(), t.toHostBytes(),
                    t.fromHostDrops() + t.toHostDrops(), t.errors(), t.mtu(), Offloads.names(t.acceptedOffloads()),
                    t.cpuNanos() / 1e9, t.ingress().stormDrops(), t.ingress().spoofDrops());
        }
        long rxPackets = 0, rxBytes = 0, txPackets = 0, txBytes = 0, drops = 0;
        for (VirtioNetPort.QueueSnapshot q : e.port().queueSnapshots()) {
            // Port counters are from the switch's side: rx = received from the guest (its TX queues).
            if (q.direction().equals("tx")) {
                rxPackets += q.packets();
                rxBytes += q.bytes();
            } else {
                txPackets += q.packets();
                txBytes += q.bytes();
            }
            drops += q.drops();
        }
        return new PortStatus(pc.name(), pc.kind(), String.valueOf(pc.socket()), pc.mode().configName(),
                pc.network(), e.port().connected(), e.port().features(), pc.queues(), rxPackets, rxBytes,
                txPackets, txBytes, drops, e.port().errors(), e.port().mtu(),
                Offloads.names(e.port().receivableOffloads()), e.port().cpuNanos() / 1e9,
                e.port().ingress().stormDrops(), e.port().ingress().spoofDrops());
    }

    @Override
    public List<WorkerStatus> workers() {
        double[] ratios = busyRatios;
        List<WorkerStatus> out = new ArrayList<>();
        for (int i = 0; i < dataWorkers.size(); i++) {
            DataWorker w = dataWorkers.get(i);
            List<String> queues = new ArrayList<>();
            for (PortEntry e : ports) {
                if (e.tap() != null) {
                    if (e.tap().owner() == w) {
                        queues.add(e.tap().id());
                    }
                    continue;
                }
                for (VirtioNetPort.QueueSnapshot q : e.port().queueSnapshots()) {
                    if (e.port().queueOwner(q.index()) == w) {
                        queues.add(q.port() + "/" + q.index());
                    }
                }
            }
            int socket = topology.socketOf(w.cpu());
            out.add(new WorkerStatus(w.cpu(), socket < 0 ? null : socket, queues, i < ratios.length ? ratios[i] : 0,
                    w.worker().wakeups(), w.migrationsIn(), w.worker().busyNanos() / 1e9));
        }
        return out;
    }

    @Override
    public List<QueueStatus> queues() {
        List<QueueStatus> out = new ArrayList<>();
        for (PortEntry e : ports) {
            if (e.tap() != null) {
                // Named as for a guest: rx carries frames to the port's owner (the host), tx from it.
                TapPort t = e.tap();
                DataWorker w = t.owner();
                Integer cpu = w == null ? null : w.cpu();
                out.add(new QueueStatus(t.name(), 0, "rx", cpu, null, t.toHostPackets(), t.toHostBytes(),
                        t.toHostDrops(), 0, t.migrations(), null, t.toHostOffloads()));
                out.add(new QueueStatus(t.name(), 1, "tx", cpu, null, t.fromHostPackets(), t.fromHostBytes(),
                        t.fromHostDrops(), 0, t.migrations(), null, t.fromHostOffloads()));
                continue;
            }
            for (VirtioNetPort.QueueSnapshot q : e.port().queueSnapshots()) {
                out.add(new QueueStatus(q.port(), q.index(), q.direction(), q.workerCpu(), q.vcpuCpu(), q.packets(),
                        q.bytes(), q.drops(), q.waits(), q.migrations(), q.error(), q.offloads()));
            }
        }
        return out;
    }

    @Override
    public Map<String, Long> extraCounters() {
        long flooded = 0, learned = 0, aged = 0, hairpin = 0;
        for (L2Switch n : networks.values()) {
            flooded += n.flooded();
            learned += n.learned();
            aged += n.aged();
            hairpin += n.hairpinDrops();
        }
        Map<String, Long> m = new LinkedHashMap<>();
        m.put("flooded", flooded);
        m.put("learned", learned);
        m.put("aged", aged);
        m.put("hairpin_drops", hairpin);
        long periods = scheduler.rebalancePeriods();
        if (periods >= 0) {
            m.put("rebalance_periods", periods);
        }
        return m;
    }

    // ---- shutdown ----

    @Override
    public void close() {
        synchronized (changeLock) {
            closeAll();
        }
    }

    private void closeAll() {
        housekeeping.shutdownNow();
        try {
            housekeeping.awaitTermination(5, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        for (PortEntry e : ports) {
            closePort(e);
        }
        for (PortEntry e : ports) {
            if (e.vcpus() != null) {
                e.vcpus().close();
            }
        }
        if (pool != null) {
            pool.close();
        }
        for (Worker w : threads) {
            w.close();
        }
    }
}

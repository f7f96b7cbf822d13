package io.jvhost.backend.vcpu;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

/**
 * Where the vCPUs of one vhost-user connection's QEMU ran last: vCPU index to TID to host CPU.
 *
 * <p>The placement policy makes one per connection, from the pid that {@code SO_PEERCRED} gives, and
 * calls {@link #refresh()} every rebalance period. A refresh re-reads the {@code processor} field of
 * each vCPU thread from a stat file kept open since the last scan ({@link LastCpuReader}); it re-scans
 * the threads ({@link VcpuThreads}) only when none are known or one has exited (vCPU unplug, QEMU
 * exit). A vCPU added later (hotplug) is not noticed until {@link #rescan()} is called.
 *
 * <p>Cost, measured on a 2-vCPU VM (Linux 6.18, JDK 25): a refresh that does not scan takes 3 to 5 us
 * per vCPU thread (2 threads: about 7 us; 64 threads: 200 to 300 us) and allocates nothing; a scan
 * takes 10 to 20 us and about 1.5 KiB per thread of the whole process, plus the opening of each vCPU's
 * stat file. While no vCPU thread is found (QEMU still building the machine, started without
 * {@code debug-threads=on}, or gone) scans back off linearly: the n-th such scan is followed by
 * min(n, {@value #MAX_SCAN_BACKOFF}) refreshes that do nothing, so a connection without vCPU threads
 * settles at about one scan a second at 10 Hz.
 *
 * <p>Holds one open file per vCPU thread until {@link #close()}.
 *
 * <p>Threads: one owner thread (the rebalancer) calls everything; nothing here is safe to share.
 */
public final class VcpuTracker implements AutoCloseable {

    /** "Not known" inside; callers pick their own with {@link #lastCpuOfVcpu(int, int)}. */
    private static final int NO_CPU = -1;

    /** The most refreshes skipped after a scan that found nothing. */
    static final int MAX_SCAN_BACKOFF = 10;

    private static final LastCpuReader.Task[] NO_TASKS = new LastCpuReader.Task[0];
    private static final int[] NO_INTS = new int[0];

    private final int pid;
    private final VcpuThreads threads;
    private final LastCpuReader reader;

    private VcpuThreadMap map = VcpuThreadMap.EMPTY;
    /** {@code tasks[k]} is the stat file of {@code map}'s thread {@code k}; null if it exited before being opened. */
    private LastCpuReader.Task[] tasks = NO_TASKS;
    /** {@code lastCpu[k]}: where thread {@code k} last ran, or {@link #NO_CPU}. */
    private int[] lastCpu = NO_INTS;
    /** vCPU index to thread {@code k}, or -1 (per-vCPU maps only). */
    private int[] threadOfVcpu = NO_INTS;

    private long scans;
    private int emptyScans;
    private int refreshesUntilScan;
    private boolean closed;

    /** Tracks {@code pid} through {@code /proc}. Finds nothing until the first {@link #refresh()}. */
    public VcpuTracker(int pid) {
        this(Path.of("/proc"), pid);
    }

    /** Tracks {@code pid} through procfs mounted at {@code procRoot}. */
    public VcpuTracker(Path procRoot, int pid) {
        if (pid <= 0) {
            // SO_PEERCRED reports 0 for a peer in a PID namespace this process cannot see.
            throw new IllegalArgumentException("pid " + pid + " (is QEMU in another PID namespace?)");
        }
        this.pid = pid;
        this.threads = new VcpuThreads(procRoot);
        this.reader = new LastCpuReader(procRoot);
    }

    public int pid() {
        return pid;
    }

    /**
     * Re-reads where each vCPU thread last ran; scans the threads first when none are known (subject
     * to the back-off), and again when one has exited. After a refresh a vCPU whose thread exited is
     * either found again under its new TID or no longer known.
     *
     * @throws IOException if procfs cannot be read for a reason that will not go away (permissions,
     *                     a stat line without field 39); the tracker stays usable and keeps what it
     *                     knew
     */
    public void refresh() throws IOException {
        checkOpen();
        if (tasks.length == 0) {
            if (refreshesUntilScan > 0) {
                refreshesUntilScan--;
                return;
            }
            rescan();
            return;
        }
        if (!readAll()) {
            rescan();
        }
    }

    /**
     * Scans the vCPU threads now, reopens their stat files and reads them once. A thread that exits
     * right now stays unknown until the next {@link #refresh()} scans again.
     */
    public void rescan() throws IOException {
        checkOpen();
        VcpuThreadMap found = threads.scan(pid);
        scans++;
        LastCpuReader.Task[] opened = new LastCpuReader.Task[found.threadCount()];
        int[] slotOfVcpu = new int[found.vcpuLimit()];
        Arrays.fill(slotOfVcpu, -1);
        try {
            for (int k = 0; k < opened.length; k++) {
                opened[k] = reader.open(pid, found.tid(k));
                if (!found.isShared()) {
                    slotOfVcpu[found.vcpu(k)] = k;
                }
            }
        } catch (IOException e) {
            throw closeAll(opened, e);
        }
        LastCpuReader.Task[] old = tasks;
        map = found;
        tasks = opened;
        threadOfVcpu = slotOfVcpu;
        lastCpu = new int[opened.length];
        if (found.isEmpty()) {
            emptyScans++;
            refreshesUntilScan = Math.min(emptyScans, MAX_SCAN_BACKOFF);
        } else {
            emptyScans = 0;
            refreshesUntilScan = 0;
        }
        IOException closeFailure = closeAll(old, null);
        readAll();
        if (closeFailure != null) {
            throw closeFailure;
        }
    }

    /** @return whether every thread was read; {@code false} if one has exited */
    private boolean readAll() throws IOException {
        final LastCpuReader.Task[] tasks = this.tasks;
        final int[] lastCpu = this.lastCpu;
        boolean all = true;
        for (int k = 0; k < tasks.length; k++) {
            int cpu = tasks[k] == null ? LastCpuReader.GONE : reader.lastCpu(tasks[k]);
            if (cpu == LastCpuReader.GONE) {
                lastCpu[k] = NO_CPU;
                all = false;
            } else {
                lastCpu[k] = cpu;
            }
        }
        return all;
    }

    /**
     * Host threads running the guest's vCPUs as of the last scan: the number of vCPUs with KVM or
     * multi-threaded TCG, 1 with round-robin TCG (one thread runs them all), 0 if none were found. This
     * is the {@code n} of the default queue-pair mapping.
     */
    public int vcpuCount() {
        return map.threadCount();
    }

    /** The host CPU {@code vcpu} last ran on, or {@code null} if not known. Boxes above CPU 127. */
    public Integer lastCpuOfVcpu(int vcpu) {
        int cpu = lastCpuOfVcpu(vcpu, NO_CPU);
        return cpu == NO_CPU ? null : cpu;
    }

    /** The host CPU {@code vcpu} last ran on, or {@code ifUnknown}. Allocates nothing. */
    public int lastCpuOfVcpu(int vcpu, int ifUnknown) {
        int k = slotOf(vcpu);
        if (k < 0 || lastCpu[k] == NO_CPU) {
            return ifUnknown;
        }
        return lastCpu[k];
    }

    /** The TID running {@code vcpu}, or {@link VcpuThreadMap#NO_TID}. */
    public int tidOfVcpu(int vcpu) {
        return map.tidOfVcpu(vcpu);
    }

    /** The vCPU threads found by the last scan. */
    public VcpuThreadMap threads() {
        return map;
    }

    /** Scans made so far, for the management view and tests. */
    public long scans() {
        return scans;
    }

    /**
     * The vCPU that kicks queue pair {@code pair}, both its RX and its TX virtqueue:
     * {@code override[pair]} if given, else {@code pair mod vcpuCount()} ({@link QueuePairVcpus#modulo}).
     *
     * @param override the port's {@code vcpus} from the config, or {@code null}
     * @return the vCPU, or {@link QueuePairVcpus#NO_VCPU} when no vCPU thread is known and there is no override
     */
    public int vcpuOfQueuePair(int pair, List<Integer> override) {
        return QueuePairVcpus.modulo(pair, vcpuCount(), override);
    }

    /**
     * Like {@link #vcpuOfQueuePair(int, List)}, but the way the Linux driver spreads {@code activePairs}
     * pairs over more vCPUs ({@link QueuePairVcpus#striped}): right also when the port has fewer queue
     * pairs than the guest has vCPUs.
     */
    public int vcpuOfQueuePair(int pair, int activePairs, List<Integer> override) {
        return QueuePairVcpus.striped(pair, activePairs, vcpuCount(), override);
    }

    /** Closes the open stat files. Idempotent; the tracker cannot be refreshed afterwards. */
    @Override
    public void close() throws IOException {
        if (closed) {
            return;
        }
        closed = true;
        map = VcpuThreadMap.EMPTY;
        threadOfVcpu = NO_INTS;
        lastCpu = NO_INTS;
        closeTasks();
    }

    @Override
    public String toString() {
        StringBuilder s = new StringBuilder("VcpuTracker[pid ").append(pid).append(':');
        for (int k = 0; k < tasks.length; k++) {
            int vcpu = map.vcpu(k);
            s.append(' ').append(vcpu == VcpuThreadMap.ALL_VCPUS ? "all" : Integer.toString(vcpu))
                    .append("=tid ").append(map.tid(k)).append(" cpu ").append(lastCpu[k]);
        }
        return s.append(']').toString();
    }

    private int slotOf(int vcpu) {
        if (vcpu < 0 || tasks.length == 0) {
            return -1;
        }
        if (map.isShared()) {
            return 0;
        }
        return vcpu < threadOfVcpu.length ? threadOfVcpu[vcpu] : -1;
    }

    private void checkOpen() {
        if (closed) {
            throw new IllegalStateException("vCPU tracker of pid " + pid + " is closed");
        }
    }

    private void closeTasks() throws IOException {
        LastCpuReader.Task[] old = tasks;
        tasks = NO_TASKS;
        IOException failure = closeAll(old, null);
        if (failure != null) {
            throw failure;
        }
    }

    /** Closes every task, returning {@code failure} with any close errors added, or the first error. */
    private static IOException closeAll(LastCpuReader.Task[] toClose, IOException failure) {
        for (LastCpuReader.Task task : toClose) {
            if (task == null) {
                continue;
            }
            try {
                task.close();
            } catch (IOException e) {
                if (failure == null) {
                    failure = e;
                } else {
                    failure.addSuppressed(e);
                }
            }
        }
        return failure;
    }
}

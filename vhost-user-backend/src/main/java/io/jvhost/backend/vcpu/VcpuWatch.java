package io.jvhost.backend.vcpu;

import java.io.IOException;
import java.util.Arrays;
import java.util.List;

/**
 * Follows where the vCPUs of one port's QEMU run, so placement can put each queue near the vCPU that
 * kicks it. Housekeeping thread only ({@link #refresh()} once per rebalance period); the port reads the
 * published result from any thread.
 */
public final class VcpuWatch implements VcpuLocator, AutoCloseable {

    private static final System.Logger LOG = System.getLogger(VcpuWatch.class.getName());

    private final WatchedPort port;
    private final List<Integer> override;
    private VcpuTracker tracker;
    private int trackedPid = -1;
    private volatile int[] lastCpuOfPair;

    /** @param override config {@code vcpus}: vCPU of each queue pair, or null for the guest default */
    public VcpuWatch(WatchedPort port, List<Integer> override) {
        this.port = port;
        this.override = override;
        this.lastCpuOfPair = unknown(port.maxQueuePairs());
    }

    private static int[] unknown(int pairs) {
        int[] cpus = new int[pairs];
        Arrays.fill(cpus, -1);
        return cpus;
    }

    /** Re-reads the vCPU threads' last CPUs (and follows a new connection's QEMU). */
    public void refresh() {
        int pid = port.connected() ? port.peerPid() : -1;
        if (pid != trackedPid) {
            closeTracker();
            trackedPid = pid;
            if (pid > 0) {
                try {
                    tracker = new VcpuTracker(pid);
                } catch (RuntimeException e) {
                    LOG.log(System.Logger.Level.WARNING, "port " + port.name() + ": cannot follow the vCPUs of pid "
                            + pid + ": " + e.getMessage());
                }
            }
        }
        if (tracker == null) {
            lastCpuOfPair = unknown(port.maxQueuePairs());
            return;
        }
        try {
            tracker.refresh();
        } catch (IOException e) {
            LOG.log(System.Logger.Level.DEBUG, () -> "port " + port.name() + ": vCPU refresh failed: " + e.getMessage());
        }
        int pairs = port.maxQueuePairs();
        int active = Math.max(1, port.activeQueuePairs());
        int[] cpus = new int[pairs];
        for (int pair = 0; pair < pairs; pair++) {
            int vcpu = tracker.vcpuOfQueuePair(pair, active, override);
            cpus[pair] = vcpu < 0 ? -1 : tracker.lastCpuOfVcpu(vcpu, -1);
        }
        lastCpuOfPair = cpus;
    }

    @Override
    public int lastCpuOfQueuePair(int pair) {
        int[] cpus = lastCpuOfPair;
        return pair < cpus.length ? cpus[pair] : -1;
    }

    private void closeTracker() {
        if (tracker != null) {
            try {
                tracker.close();
            } catch (IOException e) {
                LOG.log(System.Logger.Level.DEBUG, () -> "port " + port.name() + ": " + e.getMessage());
            }
            tracker = null;
        }
    }

    @Override
    public void close() {
        closeTracker();
    }
}

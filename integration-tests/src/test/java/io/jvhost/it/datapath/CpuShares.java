package io.jvhost.it.datapath;

import io.jvhost.backend.management.ManagementView;
import io.jvhost.backend.management.PortStatus;
import io.jvhost.backend.management.WorkerStatus;

import static org.junit.jupiter.api.Assertions.assertTrue;

/** What the accounting tests check of a daemon: the ports' CPU seconds add up to the workers' busy time. */
public final class CpuShares {

    private CpuShares() {
    }

    /**
     * Asserts that the workers did something and that the ports were charged it within 10 %.
     *
     * @return {ports' sum, workers' sum} in seconds, for the test's report
     */
    public static double[] assertPortsAddUpToWorkersBusyTime(ManagementView view) {
        double ports = view.ports().stream().mapToDouble(PortStatus::cpuSeconds).sum();
        double workers = view.workers().stream().mapToDouble(WorkerStatus::busySeconds).sum();
        assertTrue(workers > 0, "the workers did something");
        assertTrue(Math.abs(ports - workers) <= 0.1 * workers,
                "ports " + ports + " s against the workers' busy " + workers + " s");
        return new double[] {ports, workers};
    }
}

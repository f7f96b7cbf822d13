package io.jvhost.affinity.pool;

import io.jvhost.affinity.topology.CpuList;

import java.util.ArrayList;
import java.util.List;

/**
 * The fixed pool of data-path workers: one per allowed CPU, each pinned to its CPU.
 *
 * <p>Created once at start-up; {@link #workers()} is fixed for the pool's life (CPU hotplug takes a
 * worker out of placement, it does not destroy it).
 */
public final class WorkerPool implements AutoCloseable {

    private static final System.Logger LOG = System.getLogger(WorkerPool.class.getName());

    private final Worker[] workers;

    private WorkerPool(Worker[] workers) {
        this.workers = workers;
    }

    /** One pinned worker per CPU in {@code cpus}, named {@code jvhost-worker-cpuN}. */
    public static WorkerPool pinned(int[] cpus) {
        List<Worker> started = new ArrayList<>();
        try {
            for (int cpu : cpus) {
                started.add(new Worker("jvhost-worker-cpu" + cpu, cpu));
            }
        } catch (RuntimeException e) {
            started.forEach(Worker::close);
            throw e;
        }
        LOG.log(System.Logger.Level.INFO, "worker pool: {0} workers on CPUs {1}", cpus.length, CpuList.format(cpus));
        return new WorkerPool(started.toArray(new Worker[0]));
    }

    public Worker[] workers() {
        return workers.clone();
    }

    public int size() {
        return workers.length;
    }

    public Worker get(int i) {
        return workers[i];
    }

    /** The worker pinned to {@code cpu}, or null. */
    public Worker forCpu(int cpu) {
        for (Worker w : workers) {
            if (w.cpu() == cpu) {
                return w;
            }
        }
        return null;
    }

    @Override
    public void close() {
        for (Worker w : workers) {
            w.close();
        }
    }
}

package io.jvhost.backend.config;

import java.util.List;
import java.util.Objects;

/**
 * {@code workers}: the pinned worker pool and how queues are placed on it.
 *
 * @param cpus                the CPUs of the pool, sorted, distinct, all online, not empty
 * @param model               the threading model
 * @param placement           which workers a queue may go to
 * @param balance             how one worker is chosen among the allowed ones
 * @param rebalanceIntervalMs how often placement is re-evaluated, in milliseconds (at least 1)
 * @param busyPollUs          how long a transmit queue keeps polling its ring after the last frame before
 *                            it asks the driver for kicks again, in microseconds (0: kicks back on at once)
 * @param backpressureTimeoutUs how long a frame may wait, uncompleted in its sender's ring, for a receiver
 *                            without buffers before it is dropped, in microseconds (0: dropped at once)
 * @param wakeupSliceUs       the worker threads' scheduler slice (Linux 6.12+ EEVDF custom slice), in
 *                            microseconds: a woken worker preempts a thread with a longer slice sooner
 *                            (0: the kernel's default)
 */
public record WorkersConfig(List<Integer> cpus, Model model, Placement placement, Balance balance,
                            long rebalanceIntervalMs, long busyPollUs, long backpressureTimeoutUs,
                            long wakeupSliceUs) {

    public static final long DEFAULT_REBALANCE_INTERVAL_MS = 100;
    public static final long DEFAULT_BUSY_POLL_US = 50;
    /**
     * About what a Linux bridge's TAP queue buffers: 1000 frames (its txqueuelen) of 1500 bytes at 3 Gbit/s
     * are 4 ms. A guest's transmit watchdog fires only after seconds.
     */
    public static final long DEFAULT_BACKPRESSURE_TIMEOUT_US = 5000;
    /** The kernel's floor for a custom slice: a kick's worker gets the CPU about this soon. */
    public static final long DEFAULT_WAKEUP_SLICE_US = 100;

    /** With the default busy-poll window and back-pressure bound. */
    public WorkersConfig(List<Integer> cpus, Model model, Placement placement, Balance balance, long rebalanceIntervalMs) {
        this(cpus, model, placement, balance, rebalanceIntervalMs, DEFAULT_BUSY_POLL_US);
    }

    /** With the default back-pressure bound. */
    public WorkersConfig(List<Integer> cpus, Model model, Placement placement, Balance balance, long rebalanceIntervalMs,
                         long busyPollUs) {
        this(cpus, model, placement, balance, rebalanceIntervalMs, busyPollUs, DEFAULT_BACKPRESSURE_TIMEOUT_US);
    }

    /** With the default wake-up slice. */
    public WorkersConfig(List<Integer> cpus, Model model, Placement placement, Balance balance, long rebalanceIntervalMs,
                         long busyPollUs, long backpressureTimeoutUs) {
        this(cpus, model, placement, balance, rebalanceIntervalMs, busyPollUs, backpressureTimeoutUs,
                DEFAULT_WAKEUP_SLICE_US);
    }

    public WorkersConfig {
        cpus = List.copyOf(cpus);
        Objects.requireNonNull(model, "model");
        Objects.requireNonNull(placement, "placement");
        Objects.requireNonNull(balance, "balance");
        if (busyPollUs < 0) {
            throw new IllegalArgumentException("busyPollUs < 0: " + busyPollUs);
        }
        if (backpressureTimeoutUs < 0) {
            throw new IllegalArgumentException("backpressureTimeoutUs < 0: " + backpressureTimeoutUs);
        }
        if (wakeupSliceUs < 0) {
            throw new IllegalArgumentException("wakeupSliceUs < 0: " + wakeupSliceUs);
        }
    }

    /** {@code workers.model}. */
    public enum Model implements ConfigEnum {
        /** One worker thread per CPU of the pool, each serving many queues (the design). */
        PER_CPU("per-cpu"),
        /** One thread per device, the classic vhost model (a baseline to compare against). */
        PER_DEVICE("per-device");

        private final String configName;

        Model(String configName) {
            this.configName = configName;
        }

        @Override
        public String configName() {
            return configName;
        }
    }

    /** {@code workers.placement}. */
    public enum Placement implements ConfigEnum {
        /** A worker on the same socket as the kicking vCPU, on another core. */
        SOCKET_AFFINE("socket-affine"),
        /** Workers in turn, ignoring the topology. */
        ROUND_ROBIN("round-robin");

        private final String configName;

        Placement(String configName) {
            this.configName = configName;
        }

        @Override
        public String configName() {
            return configName;
        }
    }

    /** {@code workers.balance}. */
    public enum Balance implements ConfigEnum {
        /** The allowed worker with the least load. */
        LEAST_LOADED("least-loaded"),
        /** A random allowed worker. */
        RANDOM("random");

        private final String configName;

        Balance(String configName) {
            this.configName = configName;
        }

        @Override
        public String configName() {
            return configName;
        }
    }
}

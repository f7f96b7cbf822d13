package io.jvhost.backend.management;

import java.util.List;
import java.util.Map;

/**
 * What the management endpoint shows, implemented by the daemon.
 *
 * <p>Threading: every method is called on the {@code jvhost-management} thread or the
 * {@code jvhost-control} thread (the control socket), once per HTTP request, concurrently with each
 * other, with the workers and with ports being added and removed. Implementations read counters without stopping anything; a snapshot
 * need not be atomic across counters, but each value must be safely published (volatile or
 * opaque reads of fields written by their owner thread). Methods should not block.
 */
public interface ManagementView {

    /** One entry per configured port, in config order. */
    List<PortStatus> ports();

    /** One entry per worker thread, by CPU. */
    List<WorkerStatus> workers();

    /** One entry per virtqueue of every port, by port then index. */
    List<QueueStatus> queues();

    /**
     * Switch-level counters such as {@code flooded}, {@code learned} and {@code aged}, exported in
     * {@code /metrics} as {@code jvhost_switch_<name>_total}. A name is made of letters,
     * digits and '_'; other characters are replaced by '_'.
     */
    default Map<String, Long> extraCounters() {
        return Map.of();
    }
}

package io.jvhost.backend.management;

import java.util.List;
import java.util.Map;

/** A fixed view: a connected vhost-user port, a TAP port, two workers, three queues. */
class FakeView implements ManagementView {

    @Override
    public List<PortStatus> ports() {
        return List.of(
                new PortStatus("vm0", "vhost-user", "run/vm0.sock", "server", "default", true,
                        0x1_3000_0000L | (1L << 63), 2, 10, 1500, 20, 3000, 1, 0, 9000, List.of("CSUM", "TSO4"), 1.5, 7, 3),
                new PortStatus("uplink", "tap", null, null, "default", false, 0, 1, 0, 0, 0, 0, 0, 2, 1500, List.of(), 0.25, 0, 0));
    }

    @Override
    public List<WorkerStatus> workers() {
        return List.of(
                new WorkerStatus(0, 0, List.of("vm0/0", "vm0/1"), 0.25, 7, 1, 1.75),
                new WorkerStatus(1, null, List.of(), 0.0, 0, 0, 0.0));
    }

    @Override
    public List<QueueStatus> queues() {
        return List.of(
                new QueueStatus("vm0", 0, "rx", 0, 2, 20, 3000, 1, 0, 0, null, new QueueStatus.OffloadCounts(4, 5, 6, 0)),
                new QueueStatus("vm0", 1, "tx", 0, null, 10, 1500, 0, 2, 3, "queue 1: descriptor 7 loops",
                        new QueueStatus.OffloadCounts(0, 0, 0, 7)),
                new QueueStatus("uplink", 0, "rx", null, null, 0, 0, 0, 0, 0, null, QueueStatus.OffloadCounts.NONE));
    }

    @Override
    public Map<String, Long> extraCounters() {
        return Map.of("learned", 4L, "flooded", 9L);
    }
}

package io.jvhost.backend.cli;

import io.jvhost.backend.RunningDaemon;
import io.jvhost.backend.management.ManagementView;
import io.jvhost.backend.management.PortStatus;
import io.jvhost.backend.management.QueueStatus;
import io.jvhost.backend.management.WorkerStatus;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

/** A daemon that serves nothing and records what Main did with it. */
@SuppressWarnings("try")
class FakeDaemon implements RunningDaemon {

    final List<String> events = new CopyOnWriteArrayList<>();
    private final Exception closeFailure;

    FakeDaemon() {
        this(null);
    }

    FakeDaemon(Exception closeFailure) {
        this.closeFailure = closeFailure;
    }

    @Override
    public ManagementView view() {
        return new ManagementView() {
            @Override
            public List<PortStatus> ports() {
                return List.of(new PortStatus("vm0", "vhost-user", "vm0.sock", "server", "default", false, 0, 1,
                        0, 0, 0, 0, 0, 0, 1500, List.of(), 0, 0, 0));
            }

            @Override
            public List<WorkerStatus> workers() {
                return List.of();
            }

            @Override
            public List<QueueStatus> queues() {
                return List.of();
            }
        };
    }

    /** Called before close() returns; lets a test check what is still open at that point. */
    void beforeClose() {
    }

    @Override
    public void close() throws Exception {
        beforeClose();
        events.add("close");
        if (closeFailure != null) {
            throw closeFailure;
        }
    }
}

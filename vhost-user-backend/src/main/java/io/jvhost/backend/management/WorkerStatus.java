package io.jvhost.backend.management;

import java.util.List;

/**
 * One worker thread.
 *
 * @param cpu          the CPU it is pinned to
 * @param socket       the CPU socket (package) of that CPU, or {@code null} when unknown
 * @param queues       the queues it serves, each {@code "port/index"}
 * @param busy         the share of the last interval it spent working, 0..1
 * @param wakeups      times it woke up from waiting for work
 * @param migrationsIn queues moved to it from another worker
 * @param busySeconds  the time it spent working since start (what the ports' {@code cpuSeconds} add up to)
 */
public record WorkerStatus(int cpu, Integer socket, List<String> queues, double busy, long wakeups,
                           long migrationsIn, double busySeconds) {

    public WorkerStatus {
        queues = List.copyOf(queues);
    }
}

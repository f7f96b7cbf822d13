package io.jvhost.it.qemu;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.jvhost.backend.config.WorkersConfig;
import io.jvhost.backend.management.QueueStatus;
import io.jvhost.it.harness.GuestImage;
import io.jvhost.it.harness.GuestRole;
import io.jvhost.it.harness.IperfResult;
import io.jvhost.it.harness.QemuGuest;
import io.jvhost.it.harness.VcpuThread;
import io.jvhost.it.harness.VhostUserNic;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Socket-affine placement follows a guest's vCPU: with one socket of CPUs 0 and 1 and a worker on each,
 * the guest's queues go to the worker that is not on its vCPU's CPU, and move when the vCPU moves,
 * while iperf3 keeps running.
 */
class QueueMigrationTest {

    private static final Duration BOOT_AND_PING = Duration.ofSeconds(120);
    /** iperf3 reports every half second: a stall longer than a second shows as an empty report. */
    private static final double REPORT_SECONDS = 0.5;

    @Test
    @Timeout(value = 5, unit = TimeUnit.MINUTES)
    void shouldKeepQueuesOffTheVcpusCpuAndFollowItWhileTrafficFlows(@TempDir Path dir) throws Exception {
        GuestImage image = GuestImage.get();
        Path vm0 = dir.resolve("vm0.sock");
        Path vm1 = dir.resolve("vm1.sock");
        try (JvhostDaemon jvhost = JvhostDaemon.start(WorkersConfig.Model.PER_CPU, List.of(List.of(0, 1)),
                     List.of(JvhostDaemon.server("vm0", vm0, 1), JvhostDaemon.server("vm1", vm1, 1)));
             QemuGuest server = QemuGuest.builder("vm0", dir).image(image)
                     .role(GuestRole.SERVER).ip("192.0.2.1/24")
                     .nic(VhostUserNic.client(vm0).withReconnect(1).withMac("52:54:00:00:00:01"))
                     .start();
             QemuGuest client = QemuGuest.builder("vm1", dir).image(image)
                     .role(GuestRole.CLIENT).ip("192.0.2.2/24").peer("192.0.2.1")
                     .pingCount(3).pingInterval("0.2").iperfSeconds(20).iperfReportInterval("0.5")
                     .nic(VhostUserNic.client(vm1).withReconnect(1).withMac("52:54:00:00:00:02"))
                     .start()) {
            server.awaitReady(BOOT_AND_PING);
            client.awaitPingResult(BOOT_AND_PING);
            awaitTraffic(jvhost, 2_000_000);
            long vcpuTid = server.vcpuThreads(Duration.ofSeconds(5)).get(0).tid();

            Map<Integer, QueueStatus> beforeFirstPin = queuesOf(jvhost, "vm0");
            pin(vcpuTid, 0);
            long periodsToMove = awaitQueues(jvhost, "vm0", 1, 0);
            // A queue that the first placement had already put on worker 1 has nothing to move for.
            assertMovedIfItHadTo(jvhost, beforeFirstPin, 0);
            // Two periods: the one that sees the vCPU on CPU 0 may start just after the pin, then one
            // more to observe and move; the counter we read before may also be mid-period (+1).
            assertTrue(periodsToMove <= 3, "moved after " + periodsToMove + " rebalance periods");

            Thread.sleep(1500); // past the minimum dwell (10 periods) of the first move
            Map<Integer, QueueStatus> beforeSecondPin = queuesOf(jvhost, "vm0");
            pin(vcpuTid, 1);
            long periodsToMoveBack = awaitQueues(jvhost, "vm0", 0, 1);
            assertMovedIfItHadTo(jvhost, beforeSecondPin, 1); // all of them: they were on 1
            assertTrue(periodsToMoveBack <= 3, "moved back after " + periodsToMoveBack + " rebalance periods");


            IperfResult iperf = client.awaitIperfResult(Duration.ofSeconds(90));
            assertNull(iperf.error(), "iperf3 error");
            assertEquals(0, client.awaitDone(Duration.ofSeconds(30)));
            assertNoStall(iperf.json());
            System.out.printf("queue migration: moved in %d and %d periods; iperf3 %.1f Mbit/s; %s%n",
                    periodsToMove, periodsToMoveBack, iperf.receivedBitsPerSecond() / 1e6, jvhost.view().queues());
        }
    }

    private static Map<Integer, QueueStatus> queuesOf(JvhostDaemon jvhost, String port) {
        Map<Integer, QueueStatus> out = new TreeMap<>();
        for (QueueStatus q : jvhost.view().queues()) {
            if (q.port().equals(port)) {
                out.put(q.index(), q);
            }
        }
        return out;
    }

    /**
     * Every queue that was on the worker of the CPU its vCPU went to moved: its count of moves grew. A
     * move is reassigned at once and counted when the new worker took the queue over, a moment later.
     */
    private static void assertMovedIfItHadTo(JvhostDaemon jvhost, Map<Integer, QueueStatus> before, int vcpuCpu)
            throws InterruptedException {
        long deadline = System.nanoTime() + 5_000_000_000L;
        for (QueueStatus was : before.values()) {
            if (Integer.valueOf(vcpuCpu).equals(was.workerCpu())) {
                QueueStatus now = queuesOf(jvhost, "vm0").get(was.index());
                while (now.migrations() <= was.migrations() && System.nanoTime() < deadline) {
                    Thread.sleep(20);
                    now = queuesOf(jvhost, "vm0").get(was.index());
                }
                assertTrue(now.migrations() > was.migrations(), "queue " + now + " should have moved off CPU "
                        + vcpuCpu + " (before: " + was + ")");
            }
        }
    }

    private static void pin(long tid, int cpu) throws Exception {
        Process taskset = new ProcessBuilder("taskset", "-p", "-c", Integer.toString(cpu), Long.toString(tid))
                .redirectErrorStream(true).start();
        String out = new String(taskset.getInputStream().readAllBytes());
        assertEquals(0, taskset.waitFor(), out);
    }

    private static void awaitTraffic(JvhostDaemon jvhost, long bytes) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (System.nanoTime() < deadline) {
            if (jvhost.view().ports().get(1).rxBytes() > bytes) {
                return;
            }
            Thread.sleep(20);
        }
        fail("no iperf3 traffic through jvhost: " + jvhost.view().ports());
    }

    /** Waits until both queues of {@code port} run on {@code workerCpu} with their vCPU seen on {@code vcpuCpu}. */
    private static long awaitQueues(JvhostDaemon jvhost, String port, int workerCpu, int vcpuCpu) throws InterruptedException {
        long startPeriod = jvhost.rebalancePeriods();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (System.nanoTime() < deadline) {
            List<QueueStatus> mine = jvhost.view().queues().stream().filter(q -> q.port().equals(port)).toList();
            if (mine.stream().allMatch(q -> Integer.valueOf(workerCpu).equals(q.workerCpu())
                    && Integer.valueOf(vcpuCpu).equals(q.vcpuCpu()))) {
                return jvhost.rebalancePeriods() - startPeriod;
            }
            Thread.sleep(5);
        }
        fail("queues of " + port + " not on worker " + workerCpu + ": " + jvhost.view().queues());
        return -1;
    }

    /** Every half-second report of the run moved data: no stall of a second or more. */
    private static void assertNoStall(String json) throws Exception {
        JsonNode intervals = new ObjectMapper().readTree(json).path("intervals");
        assertTrue(intervals.size() >= 30, "expected ~40 half-second reports, got " + intervals.size());
        for (JsonNode interval : intervals) {
            JsonNode sum = interval.path("sum");
            assertTrue(sum.path("bytes").asLong() > 0, "stalled interval " + sum);
        }
    }
}

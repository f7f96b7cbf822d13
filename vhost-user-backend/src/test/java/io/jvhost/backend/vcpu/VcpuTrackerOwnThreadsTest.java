package io.jvhost.backend.vcpu;

import com.sun.management.ThreadMXBean;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.lang.management.ManagementFactory;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link VcpuTracker} on the real {@code /proc}, tracking this JVM: threads named like KVM vCPU threads,
 * each pinned to a CPU, which the tests end and replace as QEMU does on vCPU unplug and plug.
 */
class VcpuTrackerOwnThreadsTest {

    private static final ThreadMXBean THREADS = (ThreadMXBean) ManagementFactory.getThreadMXBean();

    @BeforeEach
    void needTwoCpus() {
        assertTrue(PinnedThread.cpusZeroAndOneAllowed(), "needs CPUs 0 and 1");
    }

    @Test
    void shouldReportTheCpuEachVcpuThreadIsPinnedTo() throws Exception {
        try (PinnedThread vcpu0 = PinnedThread.start("CPU 0/KVM", 1);
             PinnedThread vcpu1 = PinnedThread.start("CPU 1/KVM", 0);
             VcpuTracker tracker = new VcpuTracker(PinnedThread.ownPid())) {
            tracker.refresh();

            assertEquals(Map.of(0, vcpu0.tid(), 1, vcpu1.tid()), tracker.threads().asMap());
            assertEquals(2, tracker.vcpuCount());
            assertEquals(1, tracker.lastCpuOfVcpu(0));
            assertEquals(0, tracker.lastCpuOfVcpu(1));
        }
    }

    @Test
    void shouldFindTheNewThreadOfAVcpuWhoseThreadExited() throws Exception {
        try (PinnedThread vcpu0 = PinnedThread.start("CPU 0/KVM", 0);
             PinnedThread vcpu1 = PinnedThread.start("CPU 1/KVM", 1);
             VcpuTracker tracker = new VcpuTracker(PinnedThread.ownPid())) {
            tracker.refresh();
            assertEquals(1, tracker.lastCpuOfVcpu(1));
            assertEquals(1, tracker.scans());

            vcpu1.end();
            try (PinnedThread newVcpu1 = PinnedThread.start("CPU 1/KVM", 0)) {
                tracker.refresh();

                assertEquals(2, tracker.scans());
                assertEquals(Map.of(0, vcpu0.tid(), 1, newVcpu1.tid()), tracker.threads().asMap());
                assertEquals(0, tracker.lastCpuOfVcpu(1));
            }

            tracker.refresh();
            assertEquals(3, tracker.scans());
            assertEquals(Map.of(0, vcpu0.tid()), tracker.threads().asMap());
            assertEquals(1, tracker.vcpuCount());
            assertNull(tracker.lastCpuOfVcpu(1));
            assertEquals(0, tracker.lastCpuOfVcpu(0));
        }
    }

    /** A refresh that does not scan allocates nothing, once warm (see the virtio hot-path test for the streak). */
    @Test
    void shouldNotAllocateOnARefreshThatDoesNotScan() throws Exception {
        try (PinnedThread vcpu0 = PinnedThread.start("CPU 0/KVM", 0);
             PinnedThread vcpu1 = PinnedThread.start("CPU 1/KVM", 1);
             VcpuTracker tracker = new VcpuTracker(PinnedThread.ownPid())) {
            tracker.refresh();
            assertEquals(Map.of(0, vcpu0.tid(), 1, vcpu1.tid()), tracker.threads().asMap());
            int streak = 0;
            long lastAllocation = 0;
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
            while (streak < 1_000 && System.nanoTime() < deadline) {
                long before = THREADS.getCurrentThreadAllocatedBytes();
                tracker.refresh();
                int cpus = tracker.lastCpuOfVcpu(0, -1) + tracker.lastCpuOfVcpu(1, -1);
                long allocated = THREADS.getCurrentThreadAllocatedBytes() - before;
                assertEquals(1, cpus);
                if (allocated == 0) {
                    streak++;
                } else {
                    streak = 0;
                    lastAllocation = allocated;
                }
            }
            assertEquals(1_000, streak, "consecutive allocation-free refreshes (last allocation: " + lastAllocation + " bytes)");
            assertEquals(1, tracker.scans());
        }
    }
}

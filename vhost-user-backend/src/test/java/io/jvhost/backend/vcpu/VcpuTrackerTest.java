package io.jvhost.backend.vcpu;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** {@link VcpuTracker} over a fake procfs tree, refreshed by hand. */
class VcpuTrackerTest {

    private static final int PID = 4700;

    @TempDir
    Path dir;

    private FakeProcTree qemuWithTwoKvmVcpus() {
        return new FakeProcTree(dir)
                .thread(PID, PID, "qemu-system-x86", 0)
                .thread(PID, 4701, "qemu-system-x86", 1)
                .thread(PID, 4705, "CPU 0/KVM", 3)
                .thread(PID, 4706, "CPU 1/KVM", 5);
    }

    /** Open files of this process that are under the fake tree. */
    private long openFilesUnderTree() throws IOException {
        long count = 0;
        try (Stream<Path> fds = Files.list(Path.of("/proc/self/fd"))) {
            for (Path fd : fds.toList()) {
                try {
                    if (Files.readSymbolicLink(fd).startsWith(dir)) {
                        count++;
                    }
                } catch (IOException e) {
                    // the listing's own descriptor, closed by now
                }
            }
        }
        return count;
    }

    @Test
    void shouldKnowNothingBeforeTheFirstRefresh() throws IOException {
        qemuWithTwoKvmVcpus();
        try (VcpuTracker tracker = new VcpuTracker(dir, PID)) {
            assertEquals(PID, tracker.pid());
            assertEquals(0, tracker.vcpuCount());
            assertNull(tracker.lastCpuOfVcpu(0));
            assertEquals(0, tracker.scans());
        }
    }

    @Test
    void shouldReportWhereEachVcpuLastRan() throws IOException {
        qemuWithTwoKvmVcpus();
        try (VcpuTracker tracker = new VcpuTracker(dir, PID)) {
            tracker.refresh();

            assertEquals(1, tracker.scans());
            assertEquals(2, tracker.vcpuCount());
            assertEquals(Map.of(0, 4705, 1, 4706), tracker.threads().asMap());
            assertEquals(3, tracker.lastCpuOfVcpu(0));
            assertEquals(5, tracker.lastCpuOfVcpu(1));
            assertNull(tracker.lastCpuOfVcpu(2));
            assertNull(tracker.lastCpuOfVcpu(-1));
            assertEquals(5, tracker.lastCpuOfVcpu(1, -7));
            assertEquals(-7, tracker.lastCpuOfVcpu(2, -7));
            assertEquals(4706, tracker.tidOfVcpu(1));
            assertEquals("VcpuTracker[pid 4700: 0=tid 4705 cpu 3 1=tid 4706 cpu 5]", tracker.toString());
        }
    }

    @Test
    void shouldFollowTheVcpusWithoutScanningAgain() throws IOException {
        FakeProcTree proc = qemuWithTwoKvmVcpus();
        try (VcpuTracker tracker = new VcpuTracker(dir, PID)) {
            tracker.refresh();
            proc.processor(PID, 4705, 1).processor(PID, 4706, 0);
            tracker.refresh();

            assertEquals(1, tracker.lastCpuOfVcpu(0));
            assertEquals(0, tracker.lastCpuOfVcpu(1));
            assertEquals(1, tracker.scans());
        }
    }

    @Test
    void shouldScanAgainWhileAVcpuThreadIsMissing() throws IOException {
        // vCPU 1's thread is listed with its name but gone when its stat file is opened.
        FakeProcTree proc = new FakeProcTree(dir).thread(PID, 4705, "CPU 0/KVM", 3).commOnly(PID, 4706, "CPU 1/KVM");
        try (VcpuTracker tracker = new VcpuTracker(dir, PID)) {
            tracker.refresh();
            assertEquals(1, tracker.scans());
            assertEquals(3, tracker.lastCpuOfVcpu(0));
            assertNull(tracker.lastCpuOfVcpu(1));

            proc.remove(PID, 4706).thread(PID, 4709, "CPU 1/KVM", 6);
            tracker.refresh();

            assertEquals(2, tracker.scans());
            assertEquals(Map.of(0, 4705, 1, 4709), tracker.threads().asMap());
            assertEquals(3, tracker.lastCpuOfVcpu(0));
            assertEquals(6, tracker.lastCpuOfVcpu(1));

            tracker.refresh();
            assertEquals(2, tracker.scans());
        }
    }

    @Test
    void shouldBackOffWhileTheProcessHasNoVcpuThread() throws IOException {
        // QEMU connects its vhost-user netdevs before it creates its vCPU threads.
        FakeProcTree proc = new FakeProcTree(dir).thread(PID, PID, "qemu-system-x86", 0);
        try (VcpuTracker tracker = new VcpuTracker(dir, PID)) {
            long[] scansAfter = new long[12];
            for (int i = 0; i < scansAfter.length; i++) {
                tracker.refresh();
                scansAfter[i] = tracker.scans();
            }
            // Scans at refreshes 1, 3, 6 and 10: one, two, then three refreshes skipped.
            assertEquals(List.of(1L, 1L, 2L, 2L, 2L, 3L, 3L, 3L, 3L, 4L, 4L, 4L),
                    Arrays.stream(scansAfter).boxed().toList());

            proc.thread(PID, 4705, "CPU 0/KVM", 2);
            tracker.rescan();
            assertEquals(5, tracker.scans());
            assertEquals(2, tracker.lastCpuOfVcpu(0));
        }
    }

    @Test
    void shouldCapTheBackOff() throws IOException {
        new FakeProcTree(dir).thread(PID, PID, "qemu-system-x86", 0);
        try (VcpuTracker tracker = new VcpuTracker(dir, PID)) {
            // Scan n skips n refreshes after it, up to 10: the 10th scan is refresh 10 + (1 + ... + 9) = 55,
            // then one scan every 11 refreshes.
            refresh(tracker, 55);
            assertEquals(10, tracker.scans());
            refresh(tracker, 11 + 11);
            assertEquals(12, tracker.scans());
            refresh(tracker, 10);
            assertEquals(12, tracker.scans());
            refresh(tracker, 1);
            assertEquals(13, tracker.scans());
        }
    }

    private static void refresh(VcpuTracker tracker, int times) throws IOException {
        for (int i = 0; i < times; i++) {
            tracker.refresh();
        }
    }

    @Test
    void shouldFindNothingWhenTheProcessIsGone() throws IOException {
        qemuWithTwoKvmVcpus();
        try (VcpuTracker tracker = new VcpuTracker(dir, 4800)) {
            tracker.refresh();
            assertEquals(0, tracker.vcpuCount());
            assertEquals(QueuePairVcpus.NO_VCPU, tracker.vcpuOfQueuePair(0, null));
            assertNull(tracker.lastCpuOfVcpu(tracker.vcpuOfQueuePair(0, null)));
        }
    }

    @Test
    void shouldTreatTheRoundRobinTcgThreadAsEveryVcpu() throws IOException {
        new FakeProcTree(dir).thread(PID, PID, "qemu-system-x86", 0).thread(PID, 4702, "ALL CPUs/TCG", 1);
        try (VcpuTracker tracker = new VcpuTracker(dir, PID)) {
            tracker.refresh();

            assertEquals(1, tracker.vcpuCount());
            assertEquals(1, tracker.lastCpuOfVcpu(0));
            assertEquals(1, tracker.lastCpuOfVcpu(3));
            assertEquals(4702, tracker.tidOfVcpu(3));
            assertEquals(0, tracker.vcpuOfQueuePair(1, null));
            assertEquals("VcpuTracker[pid 4700: all=tid 4702 cpu 1]", tracker.toString());
        }
    }

    @Test
    void shouldMapQueuePairsOverTheVcpusFound() throws IOException {
        new FakeProcTree(dir)
                .thread(PID, 4705, "CPU 0/KVM", 0)
                .thread(PID, 4706, "CPU 1/KVM", 1)
                .thread(PID, 4707, "CPU 2/KVM", 2)
                .thread(PID, 4708, "CPU 3/KVM", 3);
        try (VcpuTracker tracker = new VcpuTracker(dir, PID)) {
            tracker.refresh();

            assertEquals(1, tracker.vcpuOfQueuePair(1, null));
            assertEquals(1, tracker.vcpuOfQueuePair(5, null));
            assertEquals(3, tracker.vcpuOfQueuePair(1, List.of(2, 3)));
            assertEquals(2, tracker.vcpuOfQueuePair(1, 2, null));
            assertEquals(3, tracker.vcpuOfQueuePair(1, 2, List.of(2, 3)));
        }
    }

    @Test
    void shouldReportAStatLineWithoutProcessor() throws IOException {
        qemuWithTwoKvmVcpus().stat(PID, 4706, "4706 (CPU 1/KVM) S 1\n");
        try (VcpuTracker tracker = new VcpuTracker(dir, PID)) {
            IOException e = assertThrows(IOException.class, tracker::refresh);
            assertEquals(dir.resolve("4700/task/4706/stat") + ": no field 39 (processor) in a 21-byte stat line:"
                    + " '4706 (CPU 1/KVM) S 1'", e.getMessage());
        }
    }

    @Test
    void shouldCloseItsFilesOnRescanAndClose() throws IOException {
        qemuWithTwoKvmVcpus();
        VcpuTracker tracker = new VcpuTracker(dir, PID);
        tracker.refresh();
        assertEquals(2, openFilesUnderTree());
        tracker.rescan();
        assertEquals(2, openFilesUnderTree());

        tracker.close();
        tracker.close();

        assertEquals(0, openFilesUnderTree());
        assertEquals(0, tracker.vcpuCount());
        assertNull(tracker.lastCpuOfVcpu(0));
        IllegalStateException e = assertThrows(IllegalStateException.class, tracker::refresh);
        assertEquals("vCPU tracker of pid 4700 is closed", e.getMessage());
    }

    @Test
    void shouldRejectTheZeroPidOfAPeerInAnotherPidNamespace() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new VcpuTracker(dir, 0));
        assertEquals("pid 0 (is QEMU in another PID namespace?)", e.getMessage());
    }
}

package io.jvhost.affinity.topology;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class CpuHotplugMonitorTest {

    @TempDir
    Path dir;

    @Test
    void shouldReportNothingWhileOnlineSetIsUnchanged() {
        FakeSysfs sys = new FakeSysfs(dir).online("0-3");
        CpuHotplugMonitor monitor = new CpuHotplugMonitor(sys.cpuRoot);

        CpuHotplugMonitor.Change change = monitor.poll();

        assertTrue(change.isEmpty());
        assertEquals(new CpuHotplugMonitor.Change(List.of(), List.of(), List.of(0, 1, 2, 3)), change);
    }

    @Test
    void shouldReportCpusThatWentOfflineThenCameBack() {
        FakeSysfs sys = new FakeSysfs(dir).online("0-7");
        CpuHotplugMonitor monitor = new CpuHotplugMonitor(sys.cpuRoot);

        sys.online("0-1,4,6-7");
        CpuHotplugMonitor.Change down = monitor.poll();
        CpuHotplugMonitor.Change quiet = monitor.poll();
        sys.online("0-4,6-7");
        CpuHotplugMonitor.Change up = monitor.poll();

        assertEquals(List.of(2, 3, 5), down.wentOffline());
        assertEquals(List.of(), down.cameOnline());
        assertArrayEquals(new int[] {0, 1, 4, 6, 7}, down.onlineArray());
        assertTrue(quiet.isEmpty());
        assertEquals(List.of(), up.wentOffline());
        assertEquals(List.of(2, 3), up.cameOnline());
        assertEquals(List.of(0, 1, 2, 3, 4, 6, 7), monitor.online());
    }

    @Test
    void shouldReportBothDirectionsInOnePoll() {
        FakeSysfs sys = new FakeSysfs(dir).online("0-3");
        CpuHotplugMonitor monitor = new CpuHotplugMonitor(sys.cpuRoot, new int[] {0, 1, 2});

        sys.online("0,2-3");

        assertEquals(new CpuHotplugMonitor.Change(List.of(1), List.of(3), List.of(0, 2, 3)), monitor.poll());
    }

    @Test
    void shouldKeepLastSeenSetWhenTheFileCannotBeRead() throws Exception {
        FakeSysfs sys = new FakeSysfs(dir).online("0-1");
        CpuHotplugMonitor monitor = new CpuHotplugMonitor(sys.cpuRoot);
        Files.delete(sys.cpuRoot.resolve("online"));

        UncheckedIOException e = assertThrows(UncheckedIOException.class, monitor::poll);

        assertEquals("cannot read the online CPUs from " + sys.cpuRoot.resolve("online"), e.getMessage());
        assertEquals(List.of(0, 1), monitor.online());
        sys.online("0");
        assertEquals(List.of(1), monitor.poll().wentOffline());
    }

    @Test
    void shouldFeedTheNewOnlineSetIntoTheTopology() {
        FakeSysfs sys = new FakeSysfs(dir).online("0-3");
        CpuTopology topology = CpuTopology.uniform(1, 4, 1);
        CpuHotplugMonitor monitor = new CpuHotplugMonitor(sys.cpuRoot, topology.online());

        sys.online("0-1,3");
        CpuTopology next = topology.withOnline(monitor.poll().onlineArray());

        assertArrayEquals(new int[] {0, 1, 3}, next.online());
    }
}

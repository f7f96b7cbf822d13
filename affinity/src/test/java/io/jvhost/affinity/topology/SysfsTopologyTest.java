package io.jvhost.affinity.topology;

import net.openhft.affinity.CpuLayout;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

class SysfsTopologyTest {

    @TempDir
    Path dir;

    /** 2 sockets × 2 cores × 2 threads, numbered like x86 Linux; core_id restarts at 0 on each socket. */
    private FakeSysfs twoSocketsWithSmt() {
        FakeSysfs sys = new FakeSysfs(dir).online("0-7").present("0-7");
        sys.cpu(0, 0, 0, "0,4").cpu(1, 0, 1, "1,5").cpu(2, 1, 0, "2,6").cpu(3, 1, 1, "3,7");
        sys.cpu(4, 0, 0, "0,4").cpu(5, 0, 1, "1,5").cpu(6, 1, 0, "2,6").cpu(7, 1, 1, "3,7");
        return sys;
    }

    private static CpuLayout noFallback() {
        fail("the OpenHFT fallback must not be used when sysfs has the topology");
        return null;
    }

    @Test
    void shouldReadSocketsCoresAndSmtSiblings() {
        FakeSysfs sys = twoSocketsWithSmt();

        CpuTopology t = SysfsTopology.read(sys.cpuRoot, SysfsTopologyTest::noFallback);

        assertEquals(Map.of(0, List.of(0, 1, 4, 5), 1, List.of(2, 3, 6, 7)), t.sockets());
        assertArrayEquals(new int[] {0, 4}, t.siblings(0));
        assertArrayEquals(new int[] {3, 7}, t.siblings(7));
        assertEquals(t.coreOf(1), t.coreOf(5));
        assertNotEquals(t.coreOf(0), t.coreOf(2), "core_id 0 on socket 0 and on socket 1 are different cores");
        assertArrayEquals(new int[] {0, 1, 2, 3, 4, 5, 6, 7}, t.online());
    }

    @Test
    void shouldReadNumaNodeFromCpuNodeLinks() {
        FakeSysfs sys = twoSocketsWithSmt();
        for (int cpu : new int[] {0, 1, 4, 5}) {
            sys.nodeLink(cpu, 0);
        }
        for (int cpu : new int[] {2, 3, 6, 7}) {
            sys.nodeLink(cpu, 1);
        }
        sys.nodeCpuList(0, "0-7"); // the links win over a (here contradictory) node list

        CpuTopology t = SysfsTopology.read(sys.cpuRoot, SysfsTopologyTest::noFallback);

        assertEquals(0, t.nodeOf(4));
        assertEquals(1, t.nodeOf(6));
    }

    @Test
    void shouldReadNumaNodeFromNodeCpuListsWithoutLinks() {
        FakeSysfs sys = twoSocketsWithSmt().nodeCpuList(0, "0-1,4-5").nodeCpuList(1, "2-3,6-7");

        CpuTopology t = SysfsTopology.read(sys.cpuRoot, SysfsTopologyTest::noFallback);

        assertEquals(0, t.nodeOf(5));
        assertEquals(1, t.nodeOf(3));
    }

    @Test
    void shouldLeaveNumaNodeUnknownWithoutNodeInformation() {
        CpuTopology t = SysfsTopology.read(twoSocketsWithSmt().cpuRoot, SysfsTopologyTest::noFallback);

        assertEquals(-1, t.nodeOf(0));
    }

    @Test
    void shouldTakeSmtSiblingsFromTheKernelListEvenWhenCoreIdsDiffer() {
        // Some platforms give every thread its own core_id; thread_siblings_list is the kernel's answer.
        FakeSysfs sys = new FakeSysfs(dir).online("0-3").present("0-3");
        sys.cpu(0, 0, 0, "0-1").cpu(1, 0, 1, "0-1").cpu(2, 0, 2, "2-3").cpu(3, 0, 3, "2-3");

        CpuTopology t = SysfsTopology.read(sys.cpuRoot, SysfsTopologyTest::noFallback);

        assertTrue(t.sameCore(0, 1));
        assertTrue(t.sameCore(3, 2));
        assertFalse(t.sameCore(1, 2));
    }

    @Test
    void shouldDeriveSiblingsFromCoreIdsWithoutSiblingLists() {
        FakeSysfs sys = new FakeSysfs(dir).online("0-3").present("0-3");
        sys.cpu(0, 0, 0, null).cpu(1, 0, 1, null).cpu(2, 0, 0, null).cpu(3, 0, 1, null);

        CpuTopology t = SysfsTopology.read(sys.cpuRoot, SysfsTopologyTest::noFallback);

        assertArrayEquals(new int[] {0, 2}, t.siblings(0));
        assertArrayEquals(new int[] {1, 3}, t.siblings(3));
    }

    @Test
    void shouldKeepOfflineCpuWithTopologyAsKnownButOffline() {
        FakeSysfs sys = twoSocketsWithSmt().online("0-2,4-7");

        CpuTopology t = SysfsTopology.read(sys.cpuRoot, SysfsTopologyTest::noFallback);

        assertArrayEquals(new int[] {0, 1, 2, 3, 4, 5, 6, 7}, t.cpus());
        assertArrayEquals(new int[] {0, 1, 2, 4, 5, 6, 7}, t.online());
        assertEquals(1, t.socketOf(3));
    }

    @Test
    void shouldLeaveOutOfflineCpuWhoseTopologyIsGone() {
        FakeSysfs sys = new FakeSysfs(dir).online("0-1").present("0-2");
        sys.cpu(0, 0, 0, "0").cpu(1, 0, 1, "1").bareCpu(2);

        CpuTopology t = SysfsTopology.read(sys.cpuRoot, SysfsTopologyTest::noFallback);

        assertArrayEquals(new int[] {0, 1}, t.cpus());
        assertFalse(t.contains(2));
    }

    @Test
    void shouldFindCpusFromDirectoriesWhenPresentIsMissing() {
        FakeSysfs sys = new FakeSysfs(dir).online("0");
        sys.cpu(0, 0, 0, "0").cpu(1, 0, 1, "1");

        CpuTopology t = SysfsTopology.read(sys.cpuRoot, SysfsTopologyTest::noFallback);

        assertArrayEquals(new int[] {0, 1}, t.cpus());
        assertArrayEquals(new int[] {0}, t.online());
    }

    @Test
    void shouldCountPackageIdMinusOneAsSocketZero() {
        FakeSysfs sys = new FakeSysfs(dir).online("0-1").present("0-1");
        sys.cpu(0, -1, 0, "0").cpu(1, -1, 1, "1");

        CpuTopology t = SysfsTopology.read(sys.cpuRoot, SysfsTopologyTest::noFallback);

        assertEquals(Map.of(0, List.of(0, 1)), t.sockets());
    }

    @Test
    void shouldFallBackToOpenHftLayoutWhenAnOnlineCpuHasNoTopologyFiles() {
        FakeSysfs sys = new FakeSysfs(dir).online("0-4").present("0-4").nodeCpuList(0, "0-1").nodeCpuList(1, "2-4");
        sys.cpu(0, 0, 0, "0").bareCpu(1).bareCpu(2).bareCpu(3).bareCpu(4);

        CpuTopology t = SysfsTopology.read(sys.cpuRoot, () -> layout(4));

        // layout(4): socket = cpu / 2, core = cpu % 2; CPU 4 is beyond it.
        assertEquals(Map.of(0, List.of(0, 1, 4), 1, List.of(2, 3)), t.sockets());
        assertNotEquals(t.coreOf(0), t.coreOf(1));
        assertNotEquals(t.coreOf(0), t.coreOf(2));
        assertArrayEquals(new int[] {4}, t.siblings(4));
        assertEquals(0, t.nodeOf(1));
        assertEquals(1, t.nodeOf(4));
    }

    @Test
    void shouldUseOpenHftLayoutOfThisHostAsLastResort() {
        FakeSysfs sys = new FakeSysfs(dir).online("0");
        sys.bareCpu(0);

        CpuTopology t = CpuTopology.detect(sys.cpuRoot);

        assertArrayEquals(new int[] {0}, t.online());
        assertTrue(t.socketOf(0) >= 0);
    }

    /** {@code cpus} CPUs, two per socket, one thread per core. */
    private static CpuLayout layout(int cpus) {
        return new CpuLayout() {
            @Override
            public int cpus() {
                return cpus;
            }

            @Override
            public int sockets() {
                return cpus / 2;
            }

            @Override
            public int coresPerSocket() {
                return 2;
            }

            @Override
            public int threadsPerCore() {
                return 1;
            }

            @Override
            public int socketId(int cpuId) {
                return cpuId / 2;
            }

            @Override
            public int coreId(int cpuId) {
                return cpuId % 2;
            }

            @Override
            public int threadId(int cpuId) {
                return 0;
            }

            @Override
            public int pair(int cpuId) {
                return cpuId;
            }
        };
    }
}

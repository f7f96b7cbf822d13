package io.jvhost.affinity.topology;

import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class CpuTopologyTest {

    @Test
    void shouldNumberUniformTopologyAsLinuxDoesOnX86() {
        CpuTopology t = CpuTopology.uniform(2, 4, 2);

        assertArrayEquals(new int[] {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}, t.cpus());
        assertEquals(Map.of(0, List.of(0, 1, 2, 3, 8, 9, 10, 11), 1, List.of(4, 5, 6, 7, 12, 13, 14, 15)), t.sockets());
        assertArrayEquals(new int[] {0, 8}, t.siblings(0));
        assertArrayEquals(new int[] {5, 13}, t.siblings(13));
        assertEquals(t.coreOf(3), t.coreOf(11));
        assertEquals(1, t.socketOf(12));
        assertEquals(1, t.nodeOf(12));
        assertEquals(0, t.nodeOf(9));
    }

    @Test
    void shouldGiveEveryCoreItsOwnIdAcrossSockets() {
        CpuTopology t = CpuTopology.uniform(2, 4, 2);

        int[] cores = new int[16];
        for (int cpu = 0; cpu < 16; cpu++) {
            cores[cpu] = t.coreOf(cpu);
        }
        assertArrayEquals(new int[] {0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 2, 3, 4, 5, 6, 7}, cores);
    }

    @Test
    void shouldTreatSmtSiblingsAndTheCpuItselfAsSameCore() {
        CpuTopology t = CpuTopology.uniform(2, 4, 2);

        assertTrue(t.sameCore(2, 10));
        assertTrue(t.sameCore(10, 2));
        assertTrue(t.sameCore(2, 2));
        assertFalse(t.sameCore(2, 3));
        assertFalse(t.sameCore(2, 99));
    }

    @Test
    void shouldBuildUnevenSocketsWithAdjacentThreads() {
        CpuTopology t = CpuTopology.builder().socket(2, 2).socket(1, 1).build();

        assertEquals(Map.of(0, List.of(0, 1, 2, 3), 1, List.of(4)), t.sockets());
        assertArrayEquals(new int[] {0, 1}, t.siblings(1));
        assertArrayEquals(new int[] {2, 3}, t.siblings(2));
        assertArrayEquals(new int[] {4}, t.siblings(4));
        assertEquals(1, t.nodeOf(4));
    }

    @Test
    void shouldMakeEveryCpuItsOwnCoreForExplicitSockets() {
        CpuTopology t = CpuTopology.ofSockets(List.of(List.of(0, 1, 2), List.of(3)));

        assertArrayEquals(new int[] {0, 1, 2, 3}, t.cpus());
        assertArrayEquals(new int[] {0, 1, 2, 3}, t.online());
        assertEquals(0, t.socketOf(2));
        assertEquals(1, t.socketOf(3));
        assertArrayEquals(new int[] {1}, t.siblings(1));
        assertEquals(-1, t.nodeOf(1));
    }

    @Test
    void shouldAnswerMinusOneAndEmptyForUnknownCpus() {
        CpuTopology t = CpuTopology.ofSockets(List.of(List.of(0, 2)));

        assertFalse(t.contains(1));
        assertFalse(t.contains(-1));
        assertEquals(-1, t.socketOf(1));
        assertEquals(-1, t.coreOf(7));
        assertEquals(-1, t.nodeOf(7));
        assertArrayEquals(new int[0], t.siblings(7));
        assertFalse(t.isOnline(1));
    }

    @Test
    void shouldRejectACpuListedTwice() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> CpuTopology.ofSockets(List.of(List.of(0, 1), List.of(1))));
        assertEquals("CPU 1 is listed twice", e.getMessage());
    }

    @Test
    void shouldKeepOfflineCpusKnownButNotOnline() {
        CpuTopology t = CpuTopology.builder().socket(2, 1).offline(1).build();

        assertArrayEquals(new int[] {0, 1}, t.cpus());
        assertArrayEquals(new int[] {0}, t.online());
        assertTrue(t.contains(1));
        assertFalse(t.isOnline(1));
    }

    @Test
    void shouldReplaceOnlineSetIgnoringUnknownCpus() {
        CpuTopology t = CpuTopology.uniform(1, 2, 1);

        CpuTopology down = t.withOnline(new int[] {1});
        CpuTopology up = down.withOnline(new int[] {0, 1, 5});

        assertArrayEquals(new int[] {1}, down.online());
        assertArrayEquals(new int[] {0, 1}, t.online());
        assertArrayEquals(new int[] {0, 1}, up.online());
        assertEquals(0, down.socketOf(0));
    }

    @Test
    void shouldDescribeSocketsAndOnlineCpus() {
        CpuTopology t = CpuTopology.builder().socket(2, 2).socket(1, 1).offline(3).build();

        assertEquals("CpuTopology[ socket0=0-3 socket1=4 online=0-2,4 ]", t.toString());
    }

    @Test
    void shouldDetectTheHostWithEveryOnlineCpuOnASocket() {
        CpuTopology t = CpuTopology.detect();

        assertArrayEquals(CpuTopology.onlineCpus(), t.online());
        for (int cpu : t.online()) {
            assertTrue(t.socketOf(cpu) >= 0, "socket of CPU " + cpu);
            assertTrue(t.sameCore(cpu, cpu), "CPU " + cpu + " is its own sibling");
        }
    }
}

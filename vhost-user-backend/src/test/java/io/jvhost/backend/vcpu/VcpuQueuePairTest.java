package io.jvhost.backend.vcpu;

import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** {@link QueuePairVcpus}: which vCPU kicks queue pair {@code i}. */
class VcpuQueuePairTest {

    private static int[] modulo(int pairs, int vcpus, List<Integer> override) {
        int[] result = new int[pairs];
        for (int i = 0; i < pairs; i++) {
            result[i] = QueuePairVcpus.modulo(i, vcpus, override);
        }
        return result;
    }

    private static int[] striped(int pairs, int activePairs, int vcpus) {
        int[] result = new int[pairs];
        for (int i = 0; i < pairs; i++) {
            result[i] = QueuePairVcpus.striped(i, activePairs, vcpus, null);
        }
        return result;
    }

    @Test
    void shouldMapPairToVcpuModuloTheVcpuCount() {
        assertEquals("[0, 1, 2, 3, 0, 1]", Arrays.toString(modulo(6, 4, null)));
        assertEquals("[0, 0, 0]", Arrays.toString(modulo(3, 1, null)));
    }

    @Test
    void shouldTakeTheOverrideOfThePort() {
        List<Integer> vcpus = List.of(3, 0);
        assertEquals("[3, 0]", Arrays.toString(modulo(2, 4, vcpus)));
        assertEquals(3, QueuePairVcpus.striped(0, 2, 4, vcpus));
        assertEquals(0, QueuePairVcpus.striped(1, 2, 4, vcpus));
        // The override is configuration: it holds before any vCPU thread has been found.
        assertEquals("[3, 0]", Arrays.toString(modulo(2, 0, vcpus)));
    }

    @Test
    void shouldFallBackToTheDefaultBeyondTheOverride() {
        assertEquals("[3, 1, 2]", Arrays.toString(modulo(3, 4, List.of(3))));
    }

    @Test
    void shouldNotKnowTheVcpuBeforeAnyVcpuThreadIsFound() {
        assertEquals(QueuePairVcpus.NO_VCPU, QueuePairVcpus.modulo(0, 0, null));
        assertEquals(QueuePairVcpus.NO_VCPU, QueuePairVcpus.striped(0, 1, 0, null));
    }

    @Test
    void shouldSpreadFewerPairsThanVcpusAsTheLinuxDriverDoes() {
        // 4 vCPUs, 2 pairs: pair 0 serves CPUs 0-1, pair 1 serves CPUs 2-3.
        assertEquals("[0, 2]", Arrays.toString(striped(2, 2, 4)));
        // 5 vCPUs, 2 pairs: the straggler goes to pair 0 (CPUs 0-2), pair 1 serves 3-4.
        assertEquals("[0, 3]", Arrays.toString(striped(2, 2, 5)));
        // 8 vCPUs, 3 pairs: 3 + 3 + 2.
        assertEquals("[0, 3, 6]", Arrays.toString(striped(3, 3, 8)));
        // As many pairs as vCPUs, or more: one each, wrapping; the same as modulo.
        assertEquals("[0, 1, 2, 3]", Arrays.toString(striped(4, 4, 4)));
        assertEquals("[0, 1, 0, 1]", Arrays.toString(striped(4, 4, 2)));
        // Pairs 2 and 3 idle (the guest uses 2 of 4): they get the modulo answer.
        assertEquals("[0, 2, 2, 3]", Arrays.toString(striped(4, 2, 4)));
    }

    @Test
    void shouldMatchVirtnetSetAffinityForEverySmallShape() {
        for (int vcpus = 1; vcpus <= 16; vcpus++) {
            for (int pairs = 1; pairs <= 16; pairs++) {
                int[] expected = firstCpuOfEachMask(vcpus, pairs);
                assertEquals(Arrays.toString(expected), Arrays.toString(striped(pairs, pairs, vcpus)),
                        vcpus + " vCPUs, " + pairs + " pairs");
            }
        }
    }

    /**
     * drivers/net/virtio_net.c {@code virtnet_set_affinity} with every CPU online, written out as the
     * kernel loops: the first CPU put in each pair's mask.
     */
    private static int[] firstCpuOfEachMask(int numCpu, int currQueuePairs) {
        int stride = Math.max(numCpu / currQueuePairs, 1);
        int stragglers = numCpu >= currQueuePairs ? numCpu % currQueuePairs : 0;
        int cpu = 0;
        int[] first = new int[currQueuePairs];
        for (int i = 0; i < currQueuePairs; i++) {
            int groupSize = stride + (i < stragglers ? 1 : 0);
            first[i] = cpu;
            for (int j = 0; j < groupSize; j++) {
                cpu = (cpu + 1) % numCpu;
            }
        }
        return first;
    }

    @Test
    void shouldRejectImpossibleArguments() {
        assertEquals("queue pair -1", assertThrows(IllegalArgumentException.class,
                () -> QueuePairVcpus.modulo(-1, 2, null)).getMessage());
        assertEquals("vCPU count -2", assertThrows(IllegalArgumentException.class,
                () -> QueuePairVcpus.modulo(0, -2, null)).getMessage());
        assertEquals("vcpus[1] = -1", assertThrows(IllegalArgumentException.class,
                () -> QueuePairVcpus.modulo(1, 2, Arrays.asList(0, -1))).getMessage());
        assertEquals("active queue pairs 0", assertThrows(IllegalArgumentException.class,
                () -> QueuePairVcpus.striped(0, 0, 2, null)).getMessage());
    }
}

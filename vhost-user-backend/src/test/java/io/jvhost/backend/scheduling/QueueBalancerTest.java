package io.jvhost.backend.scheduling;

import io.jvhost.backend.datapath.DataWorker;
import io.jvhost.affinity.placement.BalanceMode;
import io.jvhost.affinity.placement.PlacementMode;
import io.jvhost.affinity.placement.QueuePlacement;
import io.jvhost.affinity.placement.Rebalancer;
import io.jvhost.affinity.pool.Worker;
import io.jvhost.affinity.topology.CpuTopology;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;

class QueueBalancerTest {

    /** A queue that records its moves instead of touching an epoll. */
    private static final class FakeQueue implements ServedQueue {
        final String port;
        final int index;
        volatile int vcpuCpu = -1;
        DataWorker owner;
        final List<Integer> movedTo = new ArrayList<>();

        FakeQueue(String port, int index) {
            this.port = port;
            this.index = index;
        }

        @Override
        public String port() {
            return port;
        }

        @Override
        public int index() {
            return index;
        }

        @Override
        public int vcpuCpu() {
            return vcpuCpu;
        }

        @Override
        public DataWorker owner() {
            return owner;
        }

        @Override
        public void moveTo(DataWorker target) {
            owner = target;
            movedTo.add(target.cpu());
        }
    }

    private final Worker w0 = new Worker("jvhost-worker-cpu0", 0);
    private final Worker w1 = new Worker("jvhost-worker-cpu1", 1);
    private final DataWorker[] workers = {new DataWorker(w0), new DataWorker(w1)};
    private final QueueBalancer balancer = new QueueBalancer(CpuTopology.ofSockets(List.of(List.of(0, 1))), workers,
            QueuePlacement.of(PlacementMode.SOCKET_AFFINE, BalanceMode.LEAST_LOADED, 1),
            new Rebalancer.Settings(0, 2, 3), TimeUnit.MILLISECONDS.toNanos(100), null);

    @AfterEach
    void stopWorkers() {
        w0.close();
        w1.close();
    }

    private FakeQueue start(String port, int index, int vcpuCpu) {
        FakeQueue q = new FakeQueue(port, index);
        q.vcpuCpu = vcpuCpu;
        q.owner = balancer.assign(q);
        return q;
    }

    @Test
    void shouldPlaceAQueueOffItsVcpusCore() {
        assertEquals(1, start("vm0", 0, 0).owner.cpu());
        assertEquals(0, start("vm0", 1, 1).owner.cpu());
    }

    @Test
    void shouldSpreadQueuesOfAnUnknownVcpuByLoad() {
        FakeQueue a = start("vm0", 0, -1);
        FakeQueue b = start("vm0", 1, -1);
        assertEquals(List.of(0, 1), List.of(a.owner.cpu(), b.owner.cpu()).stream().sorted().toList());
        assertEquals(1, workers[0].queueCount());
        assertEquals(1, workers[1].queueCount());
    }

    @Test
    void shouldMoveQueuesWhenTheirVcpuMoves() {
        FakeQueue rx = start("vm0", 0, 0);
        FakeQueue tx = start("vm0", 1, 0);
        assertSame(workers[1], rx.owner);
        assertSame(workers[1], tx.owner);

        rx.vcpuCpu = 1;
        tx.vcpuCpu = 1;
        balancer.rebalance();

        assertEquals(List.of(0), rx.movedTo);
        assertEquals(List.of(0), tx.movedTo);
        assertEquals(2, workers[0].queueCount());
        assertEquals(0, workers[1].queueCount());
        assertEquals(2, workers[0].migrationsIn());
        assertEquals(1, balancer.rebalancePeriods());
    }

    @Test
    void shouldLeaveWellPlacedQueuesAlone() {
        FakeQueue q = start("vm0", 1, 0);
        for (int i = 0; i < 20; i++) {
            balancer.rebalance();
        }
        assertEquals(List.of(), q.movedTo);
        assertEquals(20, balancer.rebalancePeriods());
    }

    @Test
    void shouldForgetReleasedQueues() {
        FakeQueue q = start("vm0", 1, 0);
        balancer.release(q, q.owner);
        q.vcpuCpu = 1;
        balancer.rebalance();
        assertEquals(List.of(), q.movedTo);
        assertEquals(0, workers[1].queueCount());
    }
}

package io.jvhost.backend.device;

import io.jvhost.affinity.pool.Worker;
import io.jvhost.backend.linux.Fds;
import io.jvhost.backend.protocol.VringConfig;
import io.jvhost.backend.switching.L2Switch;
import io.jvhost.backend.datapath.DataWorker;
import io.jvhost.backend.scheduling.LeastQueuesScheduler;
import io.jvhost.virtio.driver.DriverVirtqueue;
import io.jvhost.virtio.driver.GuestRam;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A queue whose kick fd the worker's epoll refuses (a regular file: EPERM) does not start, and leaves
 * nothing behind: no owner, no worker counting it, no running flag a later stop would trip over.
 * The codec already refuses such fds from a front-end; this is the device's own guard.
 */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class QueueStartRollbackTest {

    @Test
    void shouldLeaveNothingRegisteredWhenEpollRefusesTheKickFd() throws Exception {
        Worker worker = new Worker("jvhost-worker-test", -1);
        int notAnEventFd = Fds.memfdCreate("jvhost-test-kick");
        try {
            DataWorker dataWorker = new DataWorker(worker);
            L2Switch network = new L2Switch("default");
            VirtioNetPort port = new VirtioNetPort("a", network, new LeastQueuesScheduler(new DataWorker[] {dataWorker}), 1);
            network.attach(port);
            GuestRam ram = GuestRam.allocate(4 << 20, 0, 0x7f00_0000_0000L);
            port.setFeatures(port.offeredFeatures());
            port.setMemory(ram.guestMemory());
            DriverVirtqueue tx = new DriverVirtqueue(ram, 256);
            VringConfig config = new VringConfig(1, 256, 0, tx.descFrontendVa(), tx.availFrontendVa(),
                    tx.usedFrontendVa(), notAnEventFd, -1, -1);

            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> port.startQueue(config));

            assertTrue(e.getMessage().startsWith("queue 1: cannot serve its kick fd: "), e.getMessage());
            assertNull(port.queueOwner(1), "owner");
            assertEquals(0, dataWorker.queueCount(), "queues counted on the worker");
            assertFalse(port.queue(1) instanceof TxQueue t && t.running(), "running");
            assertEquals(0, port.activeQueuePairs());
        } finally {
            worker.close();
            Fds.close(notAnEventFd);
        }
    }
}

package io.jvhost.backend.device;

import io.jvhost.affinity.pool.Worker;
import io.jvhost.backend.switching.L2Switch;
import io.jvhost.backend.switching.MacAddress;
import io.jvhost.backend.datapath.DataWorker;
import io.jvhost.backend.scheduling.LeastQueuesScheduler;
import io.jvhost.virtio.driver.DriverVirtqueue;
import io.jvhost.virtio.net.NetHeader;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.util.List;

import static io.jvhost.backend.device.TestGuest.await;
import static io.jvhost.backend.device.TestGuest.frame;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;

/**
 * SEND_RARP after a migration: the guest that moved from port b1 to port b2 is announced from b2, every
 * other port gets the RARP broadcast, and the switch delivers the guest's traffic to b2 at once.
 */
class SendRarpTest {

    private static final byte[] MAC_A = NumberedFrames.MAC_A;
    private static final byte[] MAC_MOVED = NumberedFrames.MAC_B;

    @Test
    @Timeout(60)
    void shouldAnnounceTheMovedMacFromTheNewPortAndDeliverItsTrafficThere() throws Exception {
        L2Switch network = new L2Switch("default");
        try (Worker w0 = new Worker("jvhost-worker-cpu0", 0);
             Guests guests = new Guests(network, new LeastQueuesScheduler(new DataWorker[] {new DataWorker(w0)}))) {
            announce(network, guests.a, guests.oldPort, guests.newPort);
        }
    }

    /** Three guests on one worker: a, and the moved guest's old and new ports. */
    private record Guests(TestGuest a, TestGuest oldPort, TestGuest newPort) implements AutoCloseable {
        Guests(L2Switch network, LeastQueuesScheduler scheduler) throws Exception {
            this(new TestGuest("a", network, scheduler, 0x7f00_0000_0000L, 0),
                    new TestGuest("b1", network, scheduler, 0x7e00_0000_0000L, 0),
                    new TestGuest("b2", network, scheduler, 0x7d00_0000_0000L, 0));
        }

        @Override
        public void close() throws Exception {
            newPort.close();
            oldPort.close();
            a.close();
        }
    }

    private static void announce(L2Switch network, TestGuest a, TestGuest oldPort, TestGuest newPort) {
        a.refill(16);
        oldPort.refill(16);
        newPort.refill(16);
        oldPort.tx.addTx(frame(MAC_A, MAC_MOVED, 60)); // the guest, before it moved
        oldPort.sendAdded();
        await(oldPort::txDone, "b1's frame sent");
        long moved = MacAddress.read(MemorySegment.ofArray(MAC_MOVED), 0);
        assertSame(oldPort.port, network.lookup(moved), "learned on b1");
        a.refill(16); // takes what the flood of that frame (a was unknown yet) left there
        newPort.refill(16);

        newPort.port.sendRarp(moved);

        assertSame(newPort.port, network.lookup(moved), "moved to b2 at once");
        List<DriverVirtqueue.Used> atA = a.rx.pollUsed();
        assertEquals(1, atA.size(), "the broadcast reached a");
        ByteBuffer rarp = ByteBuffer.wrap(a.rx.written(atA.getFirst()));
        assertEquals(NetHeader.LENGTH + 60, rarp.limit(), "header and a 60-byte frame");
        rarp.position(NetHeader.LENGTH);
        assertEquals(MacAddress.BROADCAST, readMac(rarp), "to everyone");
        assertEquals(moved, readMac(rarp), "from the moved MAC");
        assertEquals(0x8035, rarp.getShort() & 0xFFFF, "RARP");
        assertEquals(1, rarp.getShort(), "hardware type Ethernet");
        assertEquals(0x0800, rarp.getShort(), "protocol IPv4");
        assertEquals(6, rarp.get());
        assertEquals(4, rarp.get());
        assertEquals(3, rarp.getShort(), "reverse request");
        assertEquals(moved, readMac(rarp), "sender hardware address");
        assertEquals(0, rarp.getInt(), "sender protocol address");
        assertEquals(moved, readMac(rarp), "target hardware address");
        assertEquals(1, oldPort.refill(16), "the old port, still attached, got the broadcast too");
        assertEquals(0, newPort.refill(16), "not back to the announcing port");

        a.tx.addTx(frame(MAC_MOVED, MAC_A, 60));
        a.sendAdded();
        await(a::txDone, "a's frame to the moved guest sent");
        assertEquals(1, newPort.refill(16), "a's unicast goes to b2");
        assertEquals(0, oldPort.refill(16), "and not to b1");
    }

    private static long readMac(ByteBuffer b) {
        long mac = 0;
        for (int i = 0; i < 6; i++) {
            mac = (mac << 8) | (b.get() & 0xFF);
        }
        return mac;
    }
}

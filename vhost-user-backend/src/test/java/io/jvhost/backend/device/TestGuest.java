package io.jvhost.backend.device;

import io.jvhost.backend.protocol.VringConfig;
import io.jvhost.backend.switching.L2Switch;
import io.jvhost.backend.scheduling.LeastQueuesScheduler;
import io.jvhost.virtio.driver.DriverVirtqueue;
import io.jvhost.virtio.driver.GuestRam;
import io.jvhost.virtio.net.NetHeader;
import io.netty.channel.epoll.Native;
import io.netty.channel.unix.FileDescriptor;

import java.nio.ByteBuffer;
import java.util.function.BooleanSupplier;

import static org.junit.jupiter.api.Assertions.assertTrue;

/** One guest for device tests: its port in a network, RAM, rings driven by the test, and the four eventfds. */
final class TestGuest implements AutoCloseable {

    final VirtioNetPort port;
    final DriverVirtqueue tx;
    final DriverVirtqueue rx;
    final FileDescriptor[] fds = new FileDescriptor[4]; // rx kick, rx call, tx kick, tx call
    final boolean eventIdx;
    final GuestRam ram;

    /** A started guest: RX and TX queue started, {@code withoutFeatures} not acked. */
    TestGuest(String name, L2Switch network, LeastQueuesScheduler scheduler, long vaBase, long withoutFeatures)
            throws Exception {
        port = new VirtioNetPort(name, network, scheduler, 1);
        network.attach(port);
        ram = GuestRam.allocate(16 << 20, 0, vaBase);
        long features = port.offeredFeatures() & ~withoutFeatures;
        eventIdx = (features & (1L << 29)) != 0;
        port.setFeatures(features);
        port.setMemory(ram.guestMemory());
        tx = new DriverVirtqueue(ram, 256, 8192);
        rx = new DriverVirtqueue(ram, 256);
        for (int i = 0; i < fds.length; i++) {
            fds[i] = Native.newEventFd();
        }
        port.startQueue(new VringConfig(0, 256, 0, rx.descFrontendVa(), rx.availFrontendVa(), rx.usedFrontendVa(),
                fds[0].intValue(), fds[1].intValue(), -1));
        port.startQueue(new VringConfig(1, 256, 0, tx.descFrontendVa(), tx.availFrontendVa(), tx.usedFrontendVa(),
                fds[2].intValue(), fds[3].intValue(), -1));
    }

    /** Takes what arrived and posts buffers until {@code posted} are outstanding; the count taken. */
    int refill(int posted) {
        int taken = rx.pollUsed().size();
        while (rx.outstandingCount() < posted) {
            rx.addRx(2048);
        }
        rx.publishAvail();
        return taken;
    }

    void kickRx() {
        Native.eventFdWrite(fds[0].intValue(), 1);
    }

    /** Publishes the TX chains added and kicks, as a driver that always kicks would. */
    void sendAdded() {
        tx.publishAvail();
        Native.eventFdWrite(fds[2].intValue(), 1);
    }

    boolean txDone() {
        tx.pollUsed();
        return tx.outstandingCount() == 0;
    }

    @Override
    public void close() throws Exception {
        port.stopQueue(1);
        port.stopQueue(0);
        for (FileDescriptor fd : fds) {
            fd.close();
        }
    }

    /** A plain frame (zero virtio-net header) of {@code length} bytes. */
    static byte[] frame(byte[] destination, byte[] source, int length) {
        ByteBuffer f = ByteBuffer.allocate(NetHeader.LENGTH + length);
        f.position(NetHeader.LENGTH);
        f.put(destination).put(source).putShort((short) 0x88B5);
        return f.array();
    }

    /** Spins until {@code condition} holds, failing after 10 s. */
    static void await(BooleanSupplier condition, String what) {
        long deadline = System.nanoTime() + 10_000_000_000L;
        while (!condition.getAsBoolean()) {
            assertTrue(System.nanoTime() < deadline, "timed out: " + what);
            Thread.onSpinWait();
        }
    }
}

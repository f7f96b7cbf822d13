package io.jvhost.it.frontend;

import io.jvhost.backend.linux.Fds;
import io.jvhost.backend.linux.LinuxException;
import io.jvhost.virtio.driver.DriverVirtqueue;
import io.jvhost.virtio.driver.GuestRam;
import io.jvhost.virtio.net.NetHeader;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A traffic generator for the mesh benchmark: {@code N} front-end ports, each sending its frames
 * round-robin to all the other ports' MACs (frame k of port p goes to port {@code (p + 1 + k % (N - 1)) % N}),
 * so every TX batch a backend takes from one ring is addressed to interleaved destinations. testpmd
 * cannot do this: its txonly and io modes address one peer MAC per port.
 *
 * <p>Each port keeps its TX ring full of chains pointing at prebuilt frames (one per destination, in
 * its own RAM: nothing is copied per frame on this side) and its RX ring full of buffers it reposts as
 * they come back, like testpmd's io forwarding keeps its loop full. One thread drives every port
 * ({@link #run}); counters can be read from any thread.
 */
public final class MeshGenerator implements AutoCloseable {

    private static final int ETHER_TYPE = 0x88B5; // IEEE local experimental

    private final List<VhostUserFrontend> ports = new ArrayList<>();
    private final long[][] templateGpa;
    private final int chainLength;
    private final int rxBufferSize;
    private final int[] nextDestination;
    private final List<VhostUserFrontend.DirtyLogFile> logs = new ArrayList<>();
    private final AtomicLong received = new AtomicLong();
    private final AtomicLong sent = new AtomicLong();
    /** Ports {@code 0..active-1} send, to each other only; every port's RX ring is kept full. */
    private volatile int active;

    /**
     * Connects to every socket and prebuilds the frames.
     *
     * @param frameBytes Ethernet frame length (without the virtio-net header), 60..1514
     */
    public MeshGenerator(List<Path> sockets, int frameBytes) throws IOException {
        if (sockets.size() < 2) {
            throw new IllegalArgumentException("a mesh needs at least two ports: " + sockets.size());
        }
        if (frameBytes < 60 || frameBytes > 1514) {
            throw new IllegalArgumentException("frame bytes must be 60..1514: " + frameBytes);
        }
        int n = sockets.size();
        chainLength = NetHeader.LENGTH + frameBytes;
        rxBufferSize = 2048;
        templateGpa = new long[n][n];
        nextDestination = new int[n];
        active = n;
        try {
            for (Path socket : sockets) {
                // RX buffers are the generator's own (streamed): the front-end posts none.
                VhostUserFrontend port = VhostUserFrontend.connect(socket, VhostUserFrontend.Options.defaults()
                        .withRxBuffers(0, rxBufferSize));
                ports.add(port);
            }
            for (int p = 0; p < n; p++) {
                GuestRam ram = ports.get(p).ram();
                DriverVirtqueue rx = ports.get(p).rxRing();
                for (int i = 0; i < rx.size(); i++) {
                    rx.addStreamedInSlot(rxBufferSize, true);
                }
                rx.publishAvail();
                if (rx.needsKick(ports.get(p).eventIdx())) {
                    ports.get(p).kick(VhostUserFrontend.RX_QUEUE);
                }
                for (int d = 0; d < n; d++) {
                    if (d != p) {
                        long gpa = ram.allocateInOneRegion(chainLength, 64);
                        ram.write(gpa, frame(mac(d), mac(p), chainLength));
                        templateGpa[p][d] = gpa;
                    }
                }
                nextDestination[p] = (p + 1) % n;
            }
        } catch (IOException | RuntimeException e) {
            close();
            throw e;
        }
    }

    /**
     * From now on only ports {@code 0..count-1} send, each spreading its frames over the others of
     * them; the rest only take back their RX buffers. The frames already on a TX ring still go where
     * they were addressed. So one backend process and one front-end memory measure a loopback
     * ({@code count} 2) and the mesh in turn, close enough in time to see the machine's same speed
     * level (which drifts, within a process too).
     */
    public void activate(int count) {
        if (count < 2 || count > ports.size()) {
            throw new IllegalArgumentException("active ports must be 2.." + ports.size() + ": " + count);
        }
        active = count;
    }

    /**
     * Turns the back-end's dirty-page logging on for every port, as a migration does while the guest
     * runs ({@link VhostUserFrontend#startDirtyLog}); it stays on. Any thread: the control sockets are
     * not the rings {@link #run} drives.
     */
    public void startDirtyLog() throws IOException {
        for (VhostUserFrontend port : ports) {
            logs.add(port.startDirtyLog());
        }
    }

    /** The MAC of port {@code port}: locally administered, unique per port. */
    public static byte[] mac(int port) {
        return new byte[] {0x02, 0x6d, 0x65, 0x73, (byte) (port >> 8), (byte) port};
    }

    /** {@link #mac} as text. */
    public static String macText(int port) {
        byte[] m = mac(port);
        return String.format(Locale.ROOT, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
    }

    private static byte[] frame(byte[] destination, byte[] source, int length) {
        ByteBuffer f = ByteBuffer.allocate(length);
        f.position(NetHeader.LENGTH); // zero header: no offloads
        f.put(destination).put(source).putShort((short) ETHER_TYPE);
        return f.array();
    }

    /**
     * Keeps every port's rings full until {@code stop} is set: reclaims TX completions and refills the
     * ring with the next destinations, reposts RX buffers that came back, publishes each ring once per
     * turn and kicks only when the device asks.
     */
    public void run(AtomicBoolean stop) throws LinuxException {
        int n = ports.size();
        while (!stop.get()) {
            int senders = active;
            for (int p = 0; p < n; p++) {
                VhostUserFrontend port = ports.get(p);
                if (p < senders) {
                    pumpTx(p, port, senders);
                }
                pumpRx(port);
            }
        }
    }

    private void pumpTx(int p, VhostUserFrontend port, int senders) throws LinuxException {
        DriverVirtqueue tx = port.txRing();
        tx.reclaim();
        int added = 0;
        int d = nextDestination[p];
        if (d >= senders) {
            d = p; // fewer ports send now: start over after this one
        }
        if (d == p) {
            d = after(d, p, senders);
        }
        while (tx.freeDescriptors() > 0) {
            tx.addStreamed(templateGpa[p][d], chainLength, false);
            d = after(d, p, senders);
            added++;
        }
        nextDestination[p] = d;
        if (added > 0) {
            sent.addAndGet(added);
            port.flushTx();
        }
    }

    /** The sending port after {@code d} in round-robin order, skipping {@code p} itself. */
    private static int after(int d, int p, int senders) {
        int next = (d + 1) % senders;
        return next == p ? (next + 1) % senders : next;
    }

    private void pumpRx(VhostUserFrontend port) throws LinuxException {
        DriverVirtqueue rx = port.rxRing();
        int got = rx.reclaim();
        if (got == 0) {
            return;
        }
        received.addAndGet(got);
        for (int i = 0; i < got; i++) {
            rx.addStreamedInSlot(rxBufferSize, true); // the contents are never read
        }
        rx.publishAvail();
        if (rx.needsKick(port.eventIdx())) {
            port.kick(VhostUserFrontend.RX_QUEUE);
        }
    }

    /** Frames received on all ports so far. */
    public long received() {
        return received.get();
    }

    /** Frames put on the TX rings so far. */
    public long sent() {
        return sent.get();
    }

    /** Pages the back-end logged as written, all ports' logs together (0 without logging). */
    public long dirtyPages() throws LinuxException {
        long n = 0;
        for (VhostUserFrontend.DirtyLogFile log : logs) {
            n += log.dirtyPages();
        }
        return n;
    }

    public int portCount() {
        return ports.size();
    }

    @Override
    public void close() {
        for (VhostUserFrontend p : ports) {
            p.close();
        }
        for (VhostUserFrontend.DirtyLogFile log : logs) {
            Fds.closeQuietly(log.fd());
        }
    }
}

package io.jvhost.benchmarks;

import io.jvhost.backend.offload.FrameOffload;
import io.jvhost.backend.offload.InternetChecksum;
import io.jvhost.backend.offload.Offloads;
import io.jvhost.backend.offload.SoftwareOffload;
import io.jvhost.virtio.driver.GuestRam;
import io.jvhost.virtio.net.FrameSource;
import io.jvhost.virtio.net.NetHeader;
import io.jvhost.virtio.net.RxFrameWriter;
import io.jvhost.virtio.net.VirtioNetFeatures;
import io.jvhost.virtio.ring.RingStatus;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.util.concurrent.TimeUnit;

/**
 * Benchmark 5, software offloads, per 64 KiB TCP frame (a Linux guest's TSO frame: IPv4, TCP with 12
 * bytes of options, 65,000 bytes of payload, gso_size 1448) from guest memory into a mergeable RX ring
 * of 2 KiB buffers:
 * <ul>
 * <li>{@code passThrough}: the frame as it is, header included, for a receiver that took TSO (one copy,
 * 32 RX buffers): the baseline;</li>
 * <li>{@code segmentPartial}: 45 segments with partial checksums, for a receiver with GUEST_CSUM only;</li>
 * <li>{@code segmentChecksummed}: 45 segments with their TCP checksums computed, for a receiver
 * without offloads;</li>
 * </ul>
 * and {@code checksum}: {@link InternetChecksum#sum(MemorySegment, long, long)} over {@code size} bytes
 * of native memory (GB/s = size / ns).
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = "--enable-native-access=ALL-UNNAMED")
public class OffloadBenchmark {

    private static final int PAYLOAD = 65000;
    private static final int MSS = 1448;

    /** Guest memory to checksum, {@code size} bytes of it. */
    @State(Scope.Thread)
    public static class Checksummed {

        @Param({"64", "1500", "65536"})
        int size;

        private Arena arena;
        private MemorySegment memory;

        @Setup(Level.Trial)
        public void setUp() {
            arena = Arena.ofShared();
            memory = arena.allocate(size, 64);
            for (int i = 0; i < size; i++) {
                memory.set(ValueLayout.JAVA_BYTE, i, (byte) (i * 31));
            }
        }

        @TearDown(Level.Trial)
        public void tearDown() {
            arena.close();
        }
    }

    private Arena arena;
    private StaticRing rx;
    private final RxFrameWriter writer = new RxFrameWriter();
    private final SoftwareOffload software = new SoftwareOffload();
    private final FrameOffload offload = new FrameOffload();
    private final FrameSource source = new FrameSource();

    @Setup(Level.Trial)
    public void setUp() {
        arena = Arena.ofShared();
        GuestRam ram = GuestArena.ram(arena, 8L << 20);
        long features = VirtioNetFeatures.mask(VirtioNetFeatures.VERSION_1)
                | VirtioNetFeatures.mask(VirtioNetFeatures.MRG_RXBUF);
        rx = StaticRing.rx(ram, 0, features);
        rx.offer(StaticRing.SIZE); // every buffer posted; each call gives back what it used
        byte[] frame = tso();
        long at = ram.allocate(frame.length, 64);
        ram.write(at, frame);
        source.wrapSegment(ram.slice(at, frame.length), 0, frame.length);
        int status = offload.parse(NetHeader.pack(NetHeader.F_NEEDS_CSUM, NetHeader.GSO_TCPV4, 66, MSS, 34), 16,
                Offloads.ALL, NetHeader.F_NEEDS_CSUM, source);
        if (status != FrameOffload.OK) {
            throw new IllegalStateException("benchmark frame rejected: " + FrameOffload.describe(status));
        }
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        GuestArena.close(arena);
    }

    @Benchmark
    public long checksum(Checksummed c) {
        return InternetChecksum.sum(c.memory, 0, c.size);
    }

    @Benchmark
    public int passThrough() {
        int status = writer.write(rx.queue, offload.header(), offload.csumOffset(), null, 0, source, 0, source.length());
        return recycle(status, writer.lastChainCount());
    }

    @Benchmark
    public int segmentPartial() {
        return recycle(software.segment(rx.queue, writer, offload, source, Offloads.CSUM, 1500), software.segments());
    }

    @Benchmark
    public int segmentChecksummed() {
        return recycle(software.segment(rx.queue, writer, offload, source, 0, 1500), software.segments());
    }

    /** Publishes the used ring and gives the RX buffers back, as a driver that recycles at once. */
    private int recycle(int status, int buffers) {
        if (status != RingStatus.OK) {
            throw new IllegalStateException("RX write failed: " + status);
        }
        rx.queue.publishUsed();
        rx.offer(buffers);
        return buffers;
    }

    /** Ethernet + IPv4 + TCP (12 bytes of options) + payload, the TCP checksum field holding the pseudo-header sum. */
    private static byte[] tso() {
        byte[] f = Frames.ethernet(14 + 20 + 32 + PAYLOAD, Frames.MAC_B, Frames.MAC_A);
        ByteBuffer b = ByteBuffer.wrap(f);
        f[14] = 0x45;
        b.putShort(16, (short) (f.length - 14));
        b.putShort(20, (short) 0x4000);
        f[22] = 64;
        f[23] = 6;
        b.putInt(26, 0xC0000201);
        b.putInt(30, 0xC0000202);
        b.putShort(34, (short) 40000);
        b.putShort(36, (short) 5201);
        b.putInt(38, 1);
        f[46] = (byte) 0x80; // data offset 8 words
        f[47] = 0x18; // ACK PSH
        for (int i = 54; i < 66; i++) {
            f[i] = 1;
        }
        return f;
    }
}

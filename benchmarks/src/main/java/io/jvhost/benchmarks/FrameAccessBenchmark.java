package io.jvhost.benchmarks;

import io.jvhost.virtio.driver.GuestRam;
import io.jvhost.virtio.net.NetHeader;
import io.jvhost.virtio.net.VirtioNetFeatures;
import io.jvhost.virtio.ring.Descriptor;
import io.jvhost.virtio.ring.DescriptorChain;
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
import java.nio.ByteOrder;
import java.util.concurrent.TimeUnit;

/**
 * The small guest-memory accesses around each frame, as the data path does them today and the
 * direct alternative, to size the proposals in the report:
 * <ul>
 * <li>{@code macsViaScratch}: TxQueue's MAC read, {@link DescriptorChain#readBytes} of 12 bytes into a
 * heap scratch segment and four big-endian loads from it; {@code macsDirect}: the same four loads
 * straight from the chain's first buffer (when it holds the 12 bytes, which is every real frame).</li>
 * <li>{@code headerViaCopy}: RxFrameWriter's header write, a heap header then
 * {@link DescriptorChain#writeBytes}; {@code headerDirect}: one 8-byte and one 4-byte store.</li>
 * <li>{@code frameCopy}: the frame's one {@link MemorySegment#copy} between two guests' buffers.</li>
 * <li>{@code descriptorFields}: one descriptor read as the chain walk does, four accessor calls
 * ({@link Descriptor#gpa}, {@link Descriptor#length}, {@link Descriptor#flags}, {@link Descriptor#next});
 * {@code descriptorTwoLongs}: the same 16 bytes as two little-endian longs, fields split with shifts.</li>
 * </ul>
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = "--enable-native-access=ALL-UNNAMED")
public class FrameAccessBenchmark {

    private static final ValueLayout.OfInt INT_BE = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);
    private static final ValueLayout.OfShort SHORT_BE = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);
    private static final ValueLayout.OfLong LONG_LE = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfInt INT_LE = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    @Param({"64", "1518"})
    int frameSize;

    @Param({"shared", "confined", "global"})
    String arena;

    private Arena memoryArena;
    private final DescriptorChain txChain = new DescriptorChain();
    private final DescriptorChain rxChain = new DescriptorChain();
    private final MemorySegment macScratch = MemorySegment.ofArray(new byte[16]);
    private final MemorySegment header = MemorySegment.ofArray(new byte[NetHeader.LENGTH]);
    private MemorySegment descriptorTable;
    private int descriptorIndex;

    @Setup(Level.Trial)
    public void setUp() {
        memoryArena = GuestArena.open(arena);
        GuestRam ram = GuestArena.ram(memoryArena, 4L << 20);
        long features = VirtioNetFeatures.mask(VirtioNetFeatures.VERSION_1)
                | VirtioNetFeatures.mask(VirtioNetFeatures.MRG_RXBUF);
        StaticRing tx = StaticRing.tx(ram, 1, false, frameSize, features);
        StaticRing rx = StaticRing.rx(ram, 0, features);
        descriptorTable = ram.slice(tx.driver.descGpa(), (long) Descriptor.SIZE * StaticRing.SIZE);
        tx.offer(1);
        rx.offer(1);
        if (tx.queue.pop(txChain) != RingStatus.OK || rx.queue.pop(rxChain) != RingStatus.OK) {
            throw new IllegalStateException("could not pop the chains");
        }
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        GuestArena.close(memoryArena);
    }

    @Benchmark
    public long macsViaScratch() {
        MemorySegment macs = macScratch;
        txChain.readBytes(NetHeader.LENGTH, macs, 0, 12);
        long destination = ((macs.get(INT_BE, 0) & 0xFFFF_FFFFL) << 16) | (macs.get(SHORT_BE, 4) & 0xFFFFL);
        long source = ((macs.get(INT_BE, 6) & 0xFFFF_FFFFL) << 16) | (macs.get(SHORT_BE, 10) & 0xFFFFL);
        return destination ^ source;
    }

    @Benchmark
    public long macsDirect() {
        final DescriptorChain c = txChain;
        MemorySegment s = c.segmentOf(0);
        long o = c.offset(0) + NetHeader.LENGTH;
        long destination = ((s.get(INT_BE, o) & 0xFFFF_FFFFL) << 16) | (s.get(SHORT_BE, o + 4) & 0xFFFFL);
        long source = ((s.get(INT_BE, o + 6) & 0xFFFF_FFFFL) << 16) | (s.get(SHORT_BE, o + 10) & 0xFFFFL);
        return destination ^ source;
    }

    @Benchmark
    public int headerViaCopy() {
        NetHeader.writeZeroed(header, 0, NetHeader.LENGTH, 1);
        return rxChain.writeBytes(0, header, 0, NetHeader.LENGTH);
    }

    @Benchmark
    public int headerDirect() {
        final DescriptorChain c = rxChain;
        MemorySegment s = c.segmentOf(0);
        long o = c.offset(0);
        s.set(LONG_LE, o, 0L);                 // flags, gso_type, hdr_len, gso_size, csum_start
        s.set(INT_LE, o + 8, 1 << 16);         // csum_offset = 0, num_buffers = 1
        return NetHeader.LENGTH;
    }

    @Benchmark
    public long frameCopy() {
        MemorySegment.copy(txChain.segmentOf(0), txChain.offset(0) + NetHeader.LENGTH,
                rxChain.segmentOf(0), rxChain.offset(0) + NetHeader.LENGTH, frameSize);
        return frameSize;
    }

    @Benchmark
    public long descriptorFields() {
        int i = descriptorIndex = (descriptorIndex + 1) & (StaticRing.SIZE - 1);
        long offset = (long) i * Descriptor.SIZE;
        MemorySegment t = descriptorTable;
        return Descriptor.gpa(t, offset) + Descriptor.length(t, offset) + Descriptor.flags(t, offset)
                + Descriptor.next(t, offset);
    }

    @Benchmark
    public long descriptorTwoLongs() {
        int i = descriptorIndex = (descriptorIndex + 1) & (StaticRing.SIZE - 1);
        long offset = (long) i * Descriptor.SIZE;
        MemorySegment t = descriptorTable;
        long gpa = t.get(LONG_LE, offset);
        long rest = t.get(LONG_LE, offset + Descriptor.LENGTH_OFFSET);
        long length = rest & 0xFFFF_FFFFL;
        int flags = (int) (rest >>> 32) & 0xFFFF;
        int next = (int) (rest >>> 48);
        return gpa + length + flags + next;
    }
}

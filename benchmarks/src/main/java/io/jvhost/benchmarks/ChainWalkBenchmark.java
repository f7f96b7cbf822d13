package io.jvhost.benchmarks;

import io.jvhost.virtio.driver.GuestRam;
import io.jvhost.virtio.net.VirtioNetFeatures;
import io.jvhost.virtio.ring.DescriptorChain;
import io.jvhost.virtio.ring.RingStatus;
import io.jvhost.virtio.ring.SplitVirtqueue;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

import java.lang.foreign.Arena;
import java.util.concurrent.TimeUnit;

/**
 * Benchmark 1, the descriptor-chain walk: {@link SplitVirtqueue#pop(DescriptorChain)} in batches of
 * {@value #BATCH}, per chain. The driver refills the ring between batches with one avail idx store.
 *
 * <p>{@code layout=one}: the 12-byte virtio-net header and the frame in one descriptor;
 * {@code layout=two}: header and frame in two chained descriptors. The frame size changes only the
 * descriptor's length (the walk reads no payload); it is there to show that.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = "--enable-native-access=ALL-UNNAMED")
public class ChainWalkBenchmark {

    static final int BATCH = 64;

    @Param({"64", "1518"})
    int frameSize;

    @Param({"one", "two"})
    String layout;

    @Param({"shared", "confined", "global"})
    String arena;

    private Arena memoryArena;
    private SplitVirtqueue queue;
    private StaticRing tx;
    private final DescriptorChain chain = new DescriptorChain();

    @Setup(Level.Trial)
    public void setUp() {
        memoryArena = GuestArena.open(arena);
        GuestRam ram = GuestArena.ram(memoryArena, 4L << 20);
        long features = VirtioNetFeatures.mask(VirtioNetFeatures.VERSION_1)
                | VirtioNetFeatures.mask(VirtioNetFeatures.MRG_RXBUF);
        tx = StaticRing.tx(ram, 1, "two".equals(layout), frameSize, features);
        queue = tx.queue;
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        GuestArena.close(memoryArena);
    }

    @Benchmark
    @OperationsPerInvocation(BATCH)
    public long pop() {
        tx.offer(BATCH);
        final SplitVirtqueue q = queue;
        final DescriptorChain c = chain;
        long sum = 0;
        for (int i = 0; i < BATCH; i++) {
            int status = q.pop(c);
            if (status != RingStatus.OK) {
                throw new IllegalStateException(RingStatus.name(status));
            }
            sum += c.head() + c.readableLength();
        }
        return sum;
    }
}

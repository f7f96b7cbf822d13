package io.jvhost.benchmarks;

import io.jvhost.virtio.driver.GuestRam;
import io.jvhost.virtio.memory.DirtyLog;
import io.jvhost.virtio.net.NetHeader;
import io.jvhost.virtio.net.RxFrameWriter;
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
 * Benchmark 2, one guest's frame into another guest's RX ring, per frame: pop a TX chain,
 * {@link RxFrameWriter#write(SplitVirtqueue, DescriptorChain, long, long)} it into a mergeable RX ring
 * (header + frame, one copy), push the TX head; publish both used rings once per batch of 32 or 64.
 * This is what a worker does per frame minus the switch and the RX queue's claim.
 *
 * <p>{@code dirtyLog=on} runs it as during a live migration: both rings log into a dirty-page log
 * (every RX chain's pages and both used rings, flushed before each publish), to compare with
 * {@code off} in the same run.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = "--enable-native-access=ALL-UNNAMED")
public class TxToRxBenchmark {

    @Param({"64", "1518"})
    int frameSize;

    @Param({"one", "two"})
    String layout;

    @Param({"shared", "confined", "global"})
    String arena;

    @Param({"off", "on"})
    String dirtyLog;

    private Arena memoryArena;
    private StaticRing tx;
    private StaticRing rx;
    private final DescriptorChain chain = new DescriptorChain();
    private final RxFrameWriter writer = new RxFrameWriter();

    @Setup(Level.Trial)
    public void setUp() {
        memoryArena = GuestArena.open(arena);
        GuestRam ram = GuestArena.ram(memoryArena, 4L << 20);
        long features = VirtioNetFeatures.mask(VirtioNetFeatures.VERSION_1)
                | VirtioNetFeatures.mask(VirtioNetFeatures.MRG_RXBUF);
        tx = StaticRing.tx(ram, 1, "two".equals(layout), frameSize, features);
        rx = StaticRing.rx(ram, 0, features);
        if ("on".equals(dirtyLog)) {
            long pages = (GuestArena.GPA_BASE + (4L << 20)) / DirtyLog.PAGE_SIZE; // the log covers gpa 0 up
            DirtyLog log = DirtyLog.over(memoryArena.allocate(pages / 8, 8));
            tx.queue.setDirtyLog(log, 0x1000); // log_guest_addr: any address inside the log will do
            rx.queue.setDirtyLog(log, 0x2000);
        }
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        GuestArena.close(memoryArena);
    }

    @Benchmark
    @OperationsPerInvocation(32)
    public int batch32() {
        return burst(32);
    }

    @Benchmark
    @OperationsPerInvocation(64)
    public int batch64() {
        return burst(64);
    }

    private int burst(int batch) {
        tx.offer(batch);
        rx.offer(batch);
        final SplitVirtqueue txq = tx.queue;
        final SplitVirtqueue rxq = rx.queue;
        final DescriptorChain c = chain;
        final RxFrameWriter w = writer;
        for (int i = 0; i < batch; i++) {
            int status = txq.pop(c);
            if (status != RingStatus.OK) {
                throw new IllegalStateException("tx " + RingStatus.name(status));
            }
            status = w.write(rxq, c, NetHeader.LENGTH, c.readableLength() - NetHeader.LENGTH);
            if (status != RingStatus.OK) {
                throw new IllegalStateException("rx " + RingStatus.name(status));
            }
            txq.pushUsed(c.head(), 0);
        }
        boolean notifyTx = txq.publishUsed();
        boolean notifyRx = rxq.publishUsed();
        return (notifyTx ? 1 : 0) + (notifyRx ? 2 : 0);
    }
}

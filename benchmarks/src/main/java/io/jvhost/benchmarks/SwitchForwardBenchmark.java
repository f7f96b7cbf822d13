package io.jvhost.benchmarks;

import io.jvhost.backend.datapath.DeliveryContext;
import io.jvhost.backend.datapath.Frame;
import io.jvhost.backend.switching.L2Switch;
import io.jvhost.backend.switching.MacAddress;
import io.jvhost.backend.switching.PortIngress;
import io.jvhost.backend.switching.SwitchPort;
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
import org.openjdk.jmh.annotations.Warmup;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.TimeUnit;

/**
 * Benchmark 3, the switch alone: {@link L2Switch#forward} of a unicast frame whose source and
 * destination are both learned, into a {@link SwitchPort} that only counts, so what is measured is
 * learning (a refresh check), the MAC table lookup and one interface call. {@code macs} is how many
 * addresses the table holds (2: just the two talking; 1024: a busy segment, longer probe chains and
 * a table that no longer sits in L1).
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = "--enable-native-access=ALL-UNNAMED")
public class SwitchForwardBenchmark {

    static final int BATCH = 32;

    @Param({"64", "1518"})
    int frameSize;

    @Param({"2", "1024"})
    int macs;

    /** A port that counts deliveries and does nothing else. */
    static final class CountingPort implements SwitchPort {
        private final String name;
        /** No port security, no storm control: what every port has by default. */
        private final PortIngress ingress = PortIngress.open();
        long delivered;

        CountingPort(String name) {
            this.name = name;
        }

        @Override
        public String name() {
            return name;
        }

        @Override
        public PortIngress ingress() {
            return ingress;
        }

        @Override
        public void deliver(Frame frame, DeliveryContext context) {
            delivered++;
        }
    }

    private final L2Switch network = new L2Switch("bench");
    private final CountingPort a = new CountingPort("a");
    private final CountingPort b = new CountingPort("b");
    private final CountingPort others = new CountingPort("others");
    private final DeliveryContext context = new DeliveryContext();
    private final Frame frame = new Frame();

    @Setup(Level.Trial)
    public void setUp() {
        network.attach(a);
        network.attach(b);
        network.attach(others);
        context.startBatch();
        MemorySegment bytes = Arena.ofAuto().allocate(frameSize);
        bytes.copyFrom(MemorySegment.ofArray(Frames.ethernet(frameSize, Frames.MAC_B, Frames.MAC_A)));
        // Fill the table with other stations first, then learn the two talking ones.
        for (int i = 2; i < macs; i++) {
            frame.wrapSegment(bytes, 0, frameSize, MacAddress.BROADCAST, 0x02_00_00_01_00_00L + i, 0);
            network.forward(frame, others, context);
        }
        frame.wrapSegment(bytes, 0, frameSize, Frames.MAC_A, Frames.MAC_B, 0);
        network.forward(frame, b, context);
        frame.wrapSegment(bytes, 0, frameSize, Frames.MAC_B, Frames.MAC_A, 0);
        network.forward(frame, a, context);
        if (network.lookup(Frames.MAC_B) != b || network.lookup(Frames.MAC_A) != a || network.macCount() != macs) {
            throw new IllegalStateException("table not as expected: " + network.macCount() + " entries");
        }
    }

    @Benchmark
    @OperationsPerInvocation(BATCH)
    public long forward() {
        final L2Switch n = network;
        final Frame f = frame;
        final DeliveryContext c = context;
        final SwitchPort from = a;
        for (int i = 0; i < BATCH; i++) {
            n.forward(f, from, c);
        }
        return b.delivered;
    }
}

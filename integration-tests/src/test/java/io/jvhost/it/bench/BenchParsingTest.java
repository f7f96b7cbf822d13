package io.jvhost.it.bench;

import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The bench's parsers and statistics on fixed text: testpmd blocks, guest markers, procfs, medians. */
class BenchParsingTest {

    private static final List<String> TESTPMD = List.of(
            "\u001b[2J\u001b[1;1H",
            "Port statistics ====================================",
            "  ######################## NIC statistics for port 0  ########################",
            "  RX-packets: 16032      RX-missed: 0          RX-bytes:  1026048",
            "  RX-errors: 0",
            "  RX-nombuf:  0         ",
            "  TX-packets: 16064      TX-errors: 0          TX-bytes:  1028096",
            "",
            "  Throughput (since last show)",
            "  Rx-pps:       613046          Rx-bps:    313879816",
            "  Tx-pps:       612893          Tx-bps:    313801672",
            "  ############################################################################",
            "  ######################## NIC statistics for port 1  ########################",
            "  Throughput (since last show)",
            "  Rx-pps:       600000          Rx-bps:    307200000",
            "  Tx-pps:       612893          Tx-bps:    313801672",
            "Port statistics ====================================",
            "  ######################## NIC statistics for port 0  ########################",
            "  Throughput (since last show)",
            "  Rx-pps:       1000          Rx-bps:    512000",
            "Port statistics ====================================",
            "  ######################## NIC statistics for port 0  ########################",
            "  Throughput (since last show)",
            "  Rx-pps:       10          Rx-bps:    5120",
            "  ######################## NIC statistics for port 1  ########################",
            "  Throughput (since last show)",
            "  Rx-pps:       20          Rx-bps:    10240");

    @Test
    void shouldSumRxRatesOverPortsAndSkipIncompleteBlocks() {
        List<ThroughputBlocks.Block> blocks = ThroughputBlocks.parse(TESTPMD, 0, TESTPMD.size(), 2);

        assertEquals(List.of(new ThroughputBlocks.Block(1_213_046, 621_079_816), new ThroughputBlocks.Block(30, 15_360)),
                blocks);
        assertEquals((1_213_046 + 30) / 2.0, ThroughputBlocks.meanPacketsPerSecond(blocks));
    }

    @Test
    void shouldOnlyTakeBlocksThatStartInsideTheWindow() {
        // Line 16 is the second block's header: the first block is outside, the third inside.
        List<ThroughputBlocks.Block> blocks = ThroughputBlocks.parse(TESTPMD, 16, TESTPMD.size(), 2);

        assertEquals(List.of(new ThroughputBlocks.Block(30, 15_360)), blocks);
        assertTrue(Double.isNaN(ThroughputBlocks.meanPacketsPerSecond(List.of())));
    }

    @Test
    void shouldReadStreamAndRequestResponseResultsBetweenMarkers() {
        List<String> console = List.of(
                "JV-READY",
                "JV-BENCH-BEGIN stream:1024",
                "{ \"end\": { \"sum_sent\": { \"bytes\": 1000, \"bits_per_second\": 2.5e8, \"retransmits\": 3 },",
                "  \"sum_received\": { \"bytes\": 990, \"bits_per_second\": 2.0e8 } } }",
                "JV-BENCH-END stream:1024 rc=0",
                "JV-BENCH-BEGIN rr:2",
                "[  2] 0.0000-2.0000 sec   279 KBytes   755 Kbits/sec    1000=2.088/0.719/43.903/1.924 ms    0   14K/4475 us    479 rps",
                "[  2] 0.0000-2.0000 sec BB8(f)-PDF: bin(w=100us):cnt(1000)=1:25,6:1 (5.00/95.00/99.7%=1/1/6,Outliers=0)",
                "[  1] 0.0000-4.0000 sec   279 KBytes   755 Kbits/sec    1000=2.083/0.711/17.862/1.659 ms    0   14K/3795 us    480 rps",
                "[SUM] 0.0000-4.0000 sec  0.000 Bytes  0.000 bits/sec  0/0         0",
                "JV-BENCH-END rr:2 rc=0",
                "JV-BENCH-BEGIN rr:4",
                "[  1] 0.0000-4.0000 sec   279 KBytes   755 Kbits/sec    1000=2.083/0.711/17.862/1.659 ms    0   14K/3795 us    480 rps",
                "JV-BENCH-END rr:4 rc=0",
                "JV-BENCH-BEGIN stream:256",
                "iperf3: error - unable to connect to server",
                "JV-BENCH-END stream:256 rc=1",
                "JV-BENCH-BEGIN rstream:1024",
                "{ \"end\": { \"sum_sent\": { \"bytes\": 1000, \"bits_per_second\": 5.4e8, \"retransmits\": 66,"
                        + " \"sender\": false },",
                "  \"sum_received\": { \"bytes\": 990, \"bits_per_second\": 5.25e8, \"sender\": false } } }",
                "JV-BENCH-END rstream:1024 rc=0",
                "JV-DONE rc=1");

        Map<String, Double> values = GuestBench.parse(console,
                List.of("stream:1024", "rr:2", "rr:4", "stream:256", "rstream:1024"));

        assertEquals(200.0, values.get("stream:1024"));
        assertEquals(1000 / 2.0 + 1000 / 4.0, values.get("rr:2"));
        assertTrue(values.get("rr:4").isNaN(), "3 of 4 connections missing");
        assertTrue(values.get("stream:256").isNaN(), "failed test");
        assertEquals(525.0, values.get("rstream:1024"), "-R: the receiving client's rate");
    }

    @Test
    void shouldKeyOffloadCellsByDirectionAndWriteSize() {
        assertEquals("g2g/256", OffloadBench.param(OffloadBench.Direction.GUEST_TO_GUEST, 256));
        assertEquals("h2g/16384", OffloadBench.param(OffloadBench.Direction.HOST_TO_GUEST, 16384));
        assertEquals("g2h/1024", OffloadBench.param(OffloadBench.Direction.GUEST_TO_HOST, 1024));
    }

    @Test
    void shouldPairEachJvhostOffloadRunWithTheBridgeRunOfTheSameRun() {
        BenchPlan plan = BenchPlan.full(3).only(List.of(Results.OFFLOADS))
                .withOffloads(List.of(Backend.BRIDGE, Backend.JVHOST_PER_CPU), List.of(OffloadBench.Direction.GUEST_TO_GUEST));
        assertEquals(List.of(Backend.JVHOST_PER_CPU, Backend.BRIDGE), plan.offloadSetups(), "the plan's order: jvhost first");
        assertEquals(List.of(OffloadBench.Direction.GUEST_TO_GUEST), plan.offloadDirections());
        Results results = new Results();
        double[][] jvhostAndBridge = {{100, 200}, {300, 200}, {150, 100}};
        for (int size : plan.offloadSizes()) {
            for (int run = 1; run <= 3; run++) {
                String p = OffloadBench.param(OffloadBench.Direction.GUEST_TO_GUEST, size);
                results.add(Results.OFFLOADS, Backend.JVHOST_PER_CPU, p, run, Results.VALUE, jvhostAndBridge[run - 1][0]);
                results.add(Results.OFFLOADS, Backend.BRIDGE, p, run, Results.VALUE, jvhostAndBridge[run - 1][1]);
            }
        }
        String md = new Report(plan, results, new Report.Header("now", "1 s", "0", "0", Map.of(), "test", Map.of()))
                .markdown(List.of());
        String runs = md.substring(md.indexOf("Run by run"));
        // Ratios 0.50, 1.50, 1.50 within the runs: median 1.50; medians of each setup alone would say 150/200.
        assertTrue(runs.contains("| guest → guest | 4096 | 100/200 (0.50) | 300/200 (1.50) | 150/100 (1.50) | 1.50 |"), runs);
        assertTrue(!md.contains("| host → guest |"), "only the directions measured: " + md);
    }

    @Test
    void shouldAddUtimeAndStimeAfterTheCommandName() {
        String stat = "4242 (jvhost-worker (x)) S 1 4242 4242 0 -1 4194560 100 0 0 0 1234 56 0 0 20 0 30 0 9 0 0";

        assertEquals(1234 + 56, ProcSample.parseTicks(stat));
    }

    @Test
    void shouldTakeTheMiddleValueOrTheMeanOfTheTwoMiddleOnes() {
        assertEquals(3.0, Results.median(new double[] {5, 1, 3}));
        assertEquals(2.5, Results.median(new double[] {4, 1, 3, 2}));
        assertTrue(Double.isNaN(Results.median(new double[0])));
    }

    @Test
    void shouldNameFrontEndMacsUniquelyAndPairThem() {
        assertEquals("02:6a:76:00:00:00", PacketRateBench.mac(0));
        assertEquals("02:6a:76:00:01:1f", PacketRateBench.mac(287));
        assertEquals(PacketRateBench.mac(3), PacketRateBench.mac(2 ^ 1));
    }
}

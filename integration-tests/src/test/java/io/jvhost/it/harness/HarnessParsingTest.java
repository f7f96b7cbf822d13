package io.jvhost.it.harness;

import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Parsing of what the guest, iperf3, testpmd and the build script print. */
class HarnessParsingTest {

    // The "end" section of a real iperf3 3.12 TCP run between two guests through testpmd, shortened.
    private static final String TCP_JSON = """
            {
            	"start":	{ "version":	"iperf 3.12" },
            	"intervals":	[{ "streams": [], "sum":	{ "start": 0, "bytes":	84148224, "bits_per_second": 6.7e8 } }],
            	"end":	{
            		"streams":	[{ "sender":	{ "bytes":	259309688, "bits_per_second":	691280278.287899 } }],
            		"sum_sent":	{
            			"start":	0,
            			"end":	3.000921,
            			"seconds":	3.000921,
            			"bytes":	259309688,
            			"bits_per_second":	691280278.287899,
            			"retransmits":	65,
            			"sender":	true
            		},
            		"sum_received":	{
            			"start":	0,
            			"end":	3.006248,
            			"seconds":	3.006248,
            			"bytes":	258031104,
            			"bits_per_second":	686652874.94577968,
            			"sender":	true
            		},
            		"cpu_utilization_percent":	{ "host_total":	40.1242753157389 }
            	}
            }""";

    private static final String UDP_JSON = """
            {"end": {
             "sum": {"bytes": 1277952, "bits_per_second": 10222583.519064575, "lost_packets": 0, "packets": 39},
             "sum_sent": {"bytes": 1277952, "bits_per_second": 10222583.519064575, "jitter_ms": 0,
                          "lost_packets": 0, "packets": 39, "lost_percent": 0, "sender": true},
             "sum_received": {"bytes": 1245184, "bits_per_second": 10221847.620361678, "jitter_ms": 0.04,
                          "lost_packets": 1, "packets": 39, "lost_percent": 2.5, "sender": false}
            }}""";

    private static final String ERROR_JSON = """
            {
            	"start":	{ "connected":	[], "version":	"iperf 3.12" },
            	"intervals":	[],
            	"end":	{
            	},
            	"error":	"unable to connect to server: Connection refused"
            }""";

    @Test
    void shouldTakeTcpRatesAndRetransmitsFromEndSums() {
        IperfResult r = IperfResult.parse(TCP_JSON);

        assertEquals(691280278.287899, r.sentBitsPerSecond());
        assertEquals(686652874.94577968, r.receivedBitsPerSecond());
        assertEquals(259309688L, r.sentBytes());
        assertEquals(258031104L, r.receivedBytes());
        assertEquals(65L, r.retransmits());
        assertEquals(-1L, r.lostPackets());
        assertEquals(-1L, r.packets());
        assertNull(r.error());
        assertTrue(r.succeeded());
    }

    @Test
    void shouldTakeUdpLossFromReceiverSum() {
        IperfResult r = IperfResult.parse(UDP_JSON);

        assertEquals(10222583.519064575, r.sentBitsPerSecond());
        assertEquals(10221847.620361678, r.receivedBitsPerSecond());
        assertEquals(1245184L, r.receivedBytes());
        assertEquals(-1L, r.retransmits());
        assertEquals(1L, r.lostPackets());
        assertEquals(39L, r.packets());
    }

    @Test
    void shouldReportIperfErrorAndNoRates() {
        IperfResult r = IperfResult.parse(ERROR_JSON);

        assertEquals("unable to connect to server: Connection refused", r.error());
        assertEquals(0.0, r.receivedBitsPerSecond());
        assertFalse(r.succeeded());
    }

    @Test
    void shouldReportMissingSummaryAsError() {
        assertEquals("no summary in iperf3 output", IperfResult.parse("iperf3: error - bad").error());
    }

    @Test
    void shouldParseLatestTestpmdPortStatisticsBlockPerPort() {
        List<String> lines = List.of(
                "\u001b[2J\u001b[1;1H",
                "Port statistics ====================================",
                "  ######################## NIC statistics for port 0  ########################",
                "  RX-packets: 0          RX-missed: 0          RX-bytes:  0",
                "  RX-errors: 0",
                "  RX-nombuf:  0         ",
                "  TX-packets: 0          TX-errors: 0          TX-bytes:  0",
                "",
                "  ######################## NIC statistics for port 0  ########################",
                "  RX-packets: 1180       RX-missed: 2          RX-bytes:  78828",
                "  RX-errors: 3",
                "  RX-nombuf:  4         ",
                "  TX-packets: 83548      TX-errors: 5          TX-bytes:  126418861",
                "",
                "  Throughput (since last show)",
                "  ######################## NIC statistics for port 1  ########################",
                "  RX-packets: 83580      RX-missed: 0          RX-bytes:  126467309",
                "  RX-errors: 0",
                "  RX-nombuf:  0         ",
                "  TX-packets: 1180       TX-errors: 0          TX-bytes:  78828",
                "  ######################## NIC statistics for port 2  ########################",
                "  RX-packets: 1 (cut off)");

        Map<Integer, Testpmd.PortStats> stats = Testpmd.parsePortStats(lines);

        assertEquals(Map.of(
                0, new Testpmd.PortStats(1180, 2, 78828, 3, 4, 83548, 5, 126418861),
                1, new Testpmd.PortStats(83580, 0, 126467309, 0, 0, 1180, 0, 78828)), stats);
    }

    @Test
    void shouldParseTestpmdForwardStatisticsFromExitReport() {
        List<String> lines = List.of(
                "  ---------------------- Forward statistics for port 0  ----------------------",
                "  RX-packets: 1881           RX-dropped: 0             RX-total: 1881",
                "  TX-packets: 178735         TX-dropped: 66            TX-total: 178801",
                "  ----------------------------------------------------------------------------",
                "",
                "  ---------------------- Forward statistics for port 1  ----------------------",
                "  RX-packets: 178801         RX-dropped: 0             RX-total: 178801",
                "  TX-packets: 1880           TX-dropped: 1             TX-total: 1881");

        assertEquals(Map.of(0, new Testpmd.ForwardStats(1881, 0, 178735, 66),
                1, new Testpmd.ForwardStats(178801, 0, 1880, 1)), Testpmd.parseForwardStats(lines));
    }

    @Test
    void shouldMatchGuestMarkersOnlyAsWholeLines() {
        assertTrue(PingResult.MARKER.matcher("JV-PING-RESULT 20 20").matches());
        assertFalse(PingResult.MARKER.matcher("[ 1.0] JV-PING-RESULT 20 20").find());
        assertTrue(QemuGuest.DONE.matcher("JV-DONE rc=0").find());
        assertTrue(new PingResult(20, 20).lossless());
        assertFalse(new PingResult(20, 19).lossless());
        assertFalse(new PingResult(0, 0).lossless());
    }

    @Test
    void shouldReadOnePmtuResultPerSizeAndOnlyWholeMarkerLines() {
        List<String> console = List.of(
                "JV-READY",
                "JV-PEER-UP 1",
                "PING 192.0.2.1 (192.0.2.1) 8972(9000) bytes of data.",
                "8980 bytes from 192.0.2.1: icmp_seq=1 ttl=64 time=1.52 ms",
                "--- 192.0.2.1 ping statistics ---",
                "3 packets transmitted, 3 received, 0% packet loss, time 402ms",
                "JV-PMTU-RESULT 8972 3 3 0",
                "ping: local error: message too long, mtu=9000",
                "3 packets transmitted, 0 received, +3 errors, 100% packet loss, time 401ms",
                "[   12.5] JV-PMTU-RESULT 1 1 1 0",
                "JV-PMTU-RESULT 8973 3 0 1",
                "JV-DONE rc=0");

        assertEquals(List.of(new PmtuResult(8972, 3, 3, 0), new PmtuResult(8973, 3, 0, 1)), PmtuResult.parse(console));
        assertEquals(List.of(), PmtuResult.parse(List.of("JV-PMTU-RESULT 8972 3 3")));
    }

    @Test
    void shouldMatchFileDigestAndChecksumErrorMarkers() {
        String hex = "6c39e4f5143b709a5c38173846c241f66d7af5462fce34d8c351ce9099626eaf";
        var digest = FileDigest.MARKER.matcher("JV-FILE-SHA256 " + hex + " 16777216");
        var snmp = CsumErrors.MARKER.matcher("JV-SNMP 0 -1");

        assertTrue(digest.matches());
        assertEquals(hex, digest.group(1));
        assertEquals("16777216", digest.group(2));
        assertFalse(FileDigest.MARKER.matcher("JV-FILE-SHA256 " + hex.substring(1) + " 16").matches(), "63 digits");
        assertFalse(FileDigest.MARKER.matcher("JV-FILE-SHA256 " + hex.toUpperCase() + " 16").matches(),
                "sha256sum prints lower case");
        assertTrue(snmp.matches());
        assertEquals("0", snmp.group(1));
        assertEquals("-1", snmp.group(2));
        assertFalse(CsumErrors.MARKER.matcher("JV-SNMP 0").matches());
    }

    @Test
    void shouldReadKeyValueLinesOfBuildScriptAndIgnoreLogLines() {
        Map<String, String> kv = GuestImage.keyValues("""
                build-guest-image: up to date: /x
                KERNEL=/x/vmlinuz
                INITRD=/x/initramfs.cpio.gz
                modules=virtio_ring virtio
                """);

        assertEquals(Map.of("KERNEL", "/x/vmlinuz", "INITRD", "/x/initramfs.cpio.gz",
                "modules", "virtio_ring virtio"), kv);
    }

    @Test
    void shouldFindNoVcpuThreadsInProcessThatIsNotQemu() {
        assertEquals(List.of(), QemuGuest.readVcpuThreads(ProcessHandle.current().pid()));
    }
}

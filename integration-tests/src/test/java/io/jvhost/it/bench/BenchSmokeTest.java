package io.jvhost.it.bench;

import io.jvhost.it.harness.GuestImage;
import io.jvhost.it.harness.ProcessReaper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code scripts/bench.sh --quick} end to end, with jvhost and the bench from this build's classes:
 * every case runs against jvhost and DPDK (case 4 also the TAP + bridge setup), and the report has
 * a row of positive numbers for each, the five plots are PNGs, nothing is left running (no process,
 * no network namespace). Correctness only; the quick setting's numbers
 * mean nothing.
 */
class BenchSmokeTest {

    private static final String NUMBER = "([0-9]+(?:\\.[0-9]+)?)";

    @Test
    @Timeout(value = 9, unit = TimeUnit.MINUTES)
    void shouldWriteReportWithNumbersForEveryCaseAndFivePlots(@TempDir Path dir) throws Exception {
        Path root = GuestImage.findProjectRoot();
        // Surefire may put a manifest-only jar on java.class.path; this property has the real entries.
        String classpath = System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
        Path output = dir.resolve("bench.out");
        ProcessBuilder pb = new ProcessBuilder("bash", root.resolve("scripts/bench.sh").toString(), "--quick",
                "--out", dir.toString(), "--no-build")
                .directory(root.toFile())
                .redirectInput(ProcessBuilder.Redirect.from(Path.of("/dev/null").toFile()))
                .redirectErrorStream(true)
                .redirectOutput(output.toFile());
        pb.environment().put("JVBENCH_CLASSPATH", classpath);
        pb.environment().put("JVBENCH_JVHOST_CLASSPATH", classpath);
        String namespacesBefore = NetNamespaceList.now();
        Instant started = Instant.now();
        Process bench = ProcessReaper.start(pb, "scripts/bench.sh --quick");
        boolean finished = bench.waitFor(8, TimeUnit.MINUTES);
        ProcessReaper.terminate(bench.toHandle(), Duration.ofSeconds(10));
        String log = Files.readString(output, StandardCharsets.UTF_8);
        assertTrue(finished, "bench.sh --quick did not finish in 8 minutes:\n" + log);
        assertEquals(0, bench.exitValue(), "bench.sh exit status; its output:\n" + log);

        Path runDir;
        try (var dirs = Files.list(dir)) {
            List<Path> runs = dirs.filter(p -> p.getFileName().toString().endsWith("-quick")).toList();
            assertEquals(1, runs.size(), "one -quick run directory in " + dir + ": " + runs);
            runDir = runs.getFirst();
        }
        String report = Files.readString(runDir.resolve("report.md"), StandardCharsets.UTF_8);

        // Case 1, 64-byte frames: jvhost Mpps, DPDK Mpps, ratio.
        assertPositiveRow(report, "| 64 | ", 3);
        // Case 2, 2 port pairs: per-cpu, per-device and DPDK Mpps, then the two ratios.
        assertPositiveRow(report, "| 2 | ", 5);
        // Case 3: TCP stream with 1 KiB writes and request/response with 4 connections, jvhost and DPDK.
        assertPositiveRow(report, "| 1024 | ", 3);
        assertPositiveRow(report, "| 4 | ", 3);
        // Case 4, 1 KiB writes: write size, jvhost offloads on, bridge, jvhost offloads off, DPDK, the two ratios;
        // guest → host has no DPDK cell (OffloadBench.measuresGuestToHost).
        assertPositiveRow(report, "| guest → guest | 1024 | ", 7);
        assertPositiveRow(report, "| host → guest | 1024 | ", 7);
        assertPositiveRow(report, "| guest → host | 1024 | ", 4);
        // Case 4's run-by-run jvhost/bridge table: the one run's rates and ratio, then the median ratio.
        String offloadRuns = report.substring(report.indexOf("Run by run, jvhost offloads on"));
        assertTrue(Pattern.compile("\\| guest → guest \\| 1024 \\| [0-9]+/[0-9]+ \\([0-9.]+\\) \\| [0-9.]+ \\|")
                .matcher(offloadRuns).find(), offloadRuns);
        // Case 5, the mesh, phases of one run: 2 ports sending (the generator's loopback; Mpps, CPU ms/Mpkt,
        // 1, work ms/Mpkt, 1), 4 and the loopback with logging (the same, with their ratios to the loopbacks
        // around them, and the first round's work ratio).
        String mesh = report.substring(report.indexOf("## 5. Mesh"));
        assertPositiveRow(mesh, "| 2 | ", 5);
        assertPositiveRow(mesh, "| 4 | ", 6);
        assertPositiveRow(mesh, "| 2, LOG_ALL on | ", 6);
        // Case 6, migration: downtime, total time, MiB and dirty syncs for each row and backend, and the
        // pinging guest's pings lost of 30 (a count, maybe 0).
        String migration = report.substring(report.indexOf("## 6. Migration"));
        for (String row : List.of("| idle, jvhost per-cpu | ", "| idle, DPDK testpmd | ", "| ping, jvhost per-cpu | ",
                "| ping, DPDK testpmd (same port) | ")) {
            assertPositiveRow(migration, row, 4);
        }
        assertTrue(Pattern.compile("\\| ping, jvhost per-cpu \\|( [0-9.]+ \\|){4} [0-9]+ of 30 \\|").matcher(migration).find(),
                migration);
        // Case 1's pair table: the one pair's jvhost/DPDK Mpps, ratio and level, then the median ratio.
        String pairs = report.substring(report.indexOf("Pairs (each jvhost run"));
        assertTrue(Pattern.compile("\\| 64 \\| [0-9.]+/[0-9.]+ \\([0-9.]+, (high|low)\\) \\| [0-9.]+ \\|")
                .matcher(pairs).find(), pairs);
        assertTrue(report.contains("| CPU model | "), report);
        assertTrue(report.contains("| DPDK (testpmd) | dpdk-dev "), report);
        assertFalse(report.contains("Failed measurements"), report);

        for (String png : List.of("loopback.png", "scaling.png", "guests.png", "offloads.png", "migration.png")) {
            byte[] head = new byte[8];
            try (var in = Files.newInputStream(runDir.resolve(png))) {
                assertEquals(8, in.read(head), png);
            }
            assertArrayEquals(new byte[] {(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'}, head, png);
            assertTrue(report.contains("](" + png + ")"), "report links " + png);
        }
        List<String> csv = Files.readAllLines(runDir.resolve("runs.csv"));
        assertEquals("case,backend,param,run,metric,value", csv.getFirst());
        assertTrue(csv.stream().anyMatch(l -> l.startsWith("loopback,percpu,64,1,mpps,")), csv.toString());
        assertTrue(csv.stream().anyMatch(l -> l.startsWith("guests,dpdk,rr:4,1,value,")), csv.toString());
        assertTrue(csv.stream().anyMatch(l -> l.startsWith("offloads,bridge,h2g/1024,1,value,")), csv.toString());
        assertTrue(csv.stream().anyMatch(l -> l.startsWith("mesh,percpu,4,1,mpps,")), csv.toString());
        assertTrue(csv.stream().anyMatch(l -> l.startsWith("migration,dpdk,idle,1,downtime_ms,")), csv.toString());
        assertTrue(csv.stream().anyMatch(l -> l.startsWith("migration,percpu,ping,1,pings_lost,")), csv.toString());
        assertFalse(Files.exists(dir.resolve("latest")), "a quick run must not replace latest/");

        // Every process the bench started is gone: jvhost's config and QEMU's logs are under dir,
        // testpmd's sockets under /tmp/jvbench-<bench pid>.
        List<String> leftovers = ProcessHandle.allProcesses()
                .filter(p -> p.info().startInstant().map(t -> !t.isBefore(started)).orElse(false))
                .filter(p -> p.info().arguments().map(a -> String.join(" ", a))
                        .map(a -> a.contains(dir.toString()) || a.contains("/tmp/jvbench-")).orElse(false))
                .map(p -> p.pid() + " " + p.info().commandLine().orElse("?"))
                .toList();
        assertEquals(List.of(), leftovers);
        assertEquals(namespacesBefore, NetNamespaceList.now(), "network namespaces left behind");
    }

    /** {@code ip netns list}, sorted: the bench's namespaces must all be gone after it. */
    private static final class NetNamespaceList {

        static String now() throws Exception {
            Process p = new ProcessBuilder("ip", "netns", "list").redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertEquals(0, p.waitFor(), out);
            // Only the bench's own (jvbench-...): other tests may create and delete theirs meanwhile.
            return String.join("\n", out.lines().filter(l -> l.startsWith("jvbench-")).sorted().toList());
        }
    }

    /** A table row starting with {@code prefix} whose next {@code cells} cells are positive numbers. */
    private static void assertPositiveRow(String report, String prefix, int cells) {
        for (String line : report.split("\n")) {
            if (!line.startsWith(prefix)) {
                continue;
            }
            String[] f = line.substring(1).split("\\|");
            if (f.length < cells + 1) {
                continue;
            }
            boolean all = true;
            for (int i = 1; i <= cells; i++) {
                Matcher m = Pattern.compile("^\\s*" + NUMBER + "(\\s.*)?$").matcher(f[i]);
                all &= m.matches() && Double.parseDouble(m.group(1)) > 0;
            }
            if (all) {
                return;
            }
        }
        throw new AssertionError("no row '" + prefix + "...' with " + cells + " positive numbers in:\n" + report);
    }
}

package io.jvhost.it.bench;

import io.jvhost.it.harness.GuestImage;
import io.jvhost.it.harness.GuestRole;
import io.jvhost.it.harness.IperfResult;
import io.jvhost.it.harness.QemuGuest;
import io.jvhost.it.harness.VhostUserNic;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Case 3, as the 2012 per-cpu vhost RFC measured it: two TCG guests (one vCPU, 256 MiB each) whose
 * virtio-net devices are served by the backend under test, in one network (192.0.2.0/24). The
 * server guest runs {@code iperf3 -s} and {@code iperf -s}; the client guest runs the
 * {@code jv.bench} tests one after the other and prints each result between markers
 * ({@code scripts/guest/init}, role {@code bench}):
 * <ul>
 *   <li>{@code stream:LEN}: iperf3 TCP stream with LEN-byte writes; the server's receive rate in Mbit/s
 *       ({@code rstream:LEN}, used by {@link OffloadBench}: the same with {@code -R}, the client's);</li>
 *   <li>{@code rr:P}: iperf 2 {@code --bounceback} with P connections, each with one 100-byte request
 *       in flight and the server echoing it: transactions per second, all connections together.</li>
 * </ul>
 * Nothing is pinned: the guests' vCPU threads float over both CPUs, jvhost's pool is CPUs 0-1 and
 * testpmd polls with its forwarding lcore on CPU 1 ({@code -l 0,1}), as in the integration tests.
 *
 * <p>Thread safety: one bench thread.
 */
final class GuestBench {

    private static final Duration BOOT = Duration.ofSeconds(180);
    private static final Pattern BEGIN = Pattern.compile("^JV-BENCH-BEGIN (\\S+)$");
    private static final Pattern END = Pattern.compile("^JV-BENCH-END (\\S+) rc=(\\d+)$");
    /** iperf 2 bounce-back, one line per connection at the end: {@code [  1] 0.0000-6.0123 sec ... 3358=0.851/...}. */
    private static final Pattern BOUNCEBACK = Pattern.compile(
            "^\\[\\s*\\d+]\\s+0\\.0+-([0-9.]+)\\s+sec\\s.*?\\s(\\d+)=[0-9.]+/[0-9.]+/[0-9.]+/[0-9.]+\\s+ms");

    private final BenchEnv env;
    private final GuestImage image;

    GuestBench(BenchEnv env, GuestImage image) {
        this.env = env;
        this.image = image;
    }

    /**
     * Boots the pair, runs {@code tests} for {@code seconds} each and returns each test's result:
     * Mbit/s for a stream, transactions/s for request/response, NaN for a test that failed.
     */
    Map<String, Double> measure(Backend backend, List<String> tests, int seconds) {
        String name = env.nextName("guests-" + backend.tag());
        Path serverSocket = env.socketDir().resolve(name + "-0.sock");
        Path clientSocket = env.socketDir().resolve(name + "-1.sock");
        Duration timeout = BOOT.plus(Duration.ofSeconds((long) tests.size() * (seconds + 40)));
        try (Backends.Running running = Backends.forGuests(env, backend, name, List.of(serverSocket, clientSocket));
             QemuGuest server = QemuGuest.builder(name + "-server", env.logDir()).image(image)
                     .role(GuestRole.BENCH_SERVER).ip("192.0.2.1/24")
                     .nic(VhostUserNic.client(serverSocket).withReconnect(1).withMac("52:54:00:00:00:01"))
                     .start();
             QemuGuest client = QemuGuest.builder(name + "-client", env.logDir()).image(image)
                     .role(GuestRole.BENCH).ip("192.0.2.2/24").peer("192.0.2.1").peerWaitSeconds(120)
                     .iperfSeconds(seconds).kernelArg("jv.bench", String.join(",", tests))
                     .nic(VhostUserNic.client(clientSocket).withReconnect(1).withMac("52:54:00:00:00:02"))
                     .start()) {
            env.remember("guests, " + backend.label() + " backend", running.commandLine());
            env.remember("guests, QEMU client guest", client.commandLine());
            client.awaitLine(QemuGuest.DONE, timeout);
            running.saveCounters(env.logDir().resolve(name + "-counters.json"));
            return parse(client.serial().lines(), tests);
        } finally {
            deleteQuietly(serverSocket);
            deleteQuietly(clientSocket);
        }
    }

    /** Each test's value from the client's console; NaN where the test failed or printed no result. */
    static Map<String, Double> parse(List<String> lines, List<String> tests) {
        Map<String, Double> out = new LinkedHashMap<>();
        for (String t : tests) {
            out.put(t, Double.NaN);
        }
        for (int i = 0; i < lines.size(); i++) {
            Matcher b = BEGIN.matcher(lines.get(i));
            if (!b.matches()) {
                continue;
            }
            String test = b.group(1);
            StringBuilder body = new StringBuilder();
            int j = i + 1;
            Matcher e = null;
            for (; j < lines.size(); j++) {
                e = END.matcher(lines.get(j));
                if (e.matches()) {
                    break;
                }
                body.append(lines.get(j)).append('\n');
            }
            if (j < lines.size() && e.group(1).equals(test) && e.group(2).equals("0") && out.containsKey(test)) {
                out.put(test, value(test, body.toString()));
            }
            i = j;
        }
        return out;
    }

    static double value(String test, String output) {
        // rstream: iperf3 -R; its JSON's sum_received is still the receiving side (the client then).
        if (test.startsWith("stream:") || test.startsWith("rstream:")) {
            IperfResult r = IperfResult.parse(output);
            return r.succeeded() ? r.receivedBitsPerSecond() / 1e6 : Double.NaN;
        }
        if (test.startsWith("rr:")) {
            double rate = 0;
            int connections = 0;
            for (String line : output.split("\n")) {
                Matcher m = BOUNCEBACK.matcher(line.strip());
                if (m.find()) {
                    double secs = Double.parseDouble(m.group(1));
                    if (secs > 0) {
                        rate += Long.parseLong(m.group(2)) / secs;
                        connections++;
                    }
                }
            }
            // Every connection must report, or the sum is not a P-connection rate.
            return connections == Integer.parseInt(test.substring("rr:".length())) ? rate : Double.NaN;
        }
        return Double.NaN;
    }

    static void deleteQuietly(Path p) {
        try {
            Files.deleteIfExists(p);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}

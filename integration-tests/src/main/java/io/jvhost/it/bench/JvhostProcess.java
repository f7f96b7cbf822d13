package io.jvhost.it.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import io.jvhost.it.harness.FreePort;
import io.jvhost.it.harness.HarnessTimeoutException;
import io.jvhost.it.harness.ProcessReaper;
import io.jvhost.it.harness.SerialLog;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * jvhost as its own process ({@code bin/jvhost serve --config FILE} without the launcher's build
 * check), confined with {@code taskset} to the CPUs of its worker pool so that nothing of it (JIT,
 * GC, control threads) runs on the load generator's CPU. Its config and log are in the work
 * directory; it is stopped by pid through {@link ProcessReaper}, also when the bench fails.
 *
 * <p>Thread safety: one bench thread.
 */
final class JvhostProcess implements AutoCloseable {

    /**
     * One port: a vhost-user server socket or a TAP device jvhost creates, its network (isolated
     * switch), and whether {@code offloads: false} is written for it.
     *
     * @param socket      the vhost-user socket, or null for a TAP port
     * @param tap         the TAP interface name, or null for a vhost-user port
     * @param offloadsOff writes {@code offloads: false} (default: no key, jvhost's default applies)
     */
    record Port(String name, Path socket, String tap, String network, boolean offloadsOff) {

        Port {
            if ((socket == null) == (tap == null)) {
                throw new IllegalArgumentException("a port has a socket or a TAP, exactly one: " + name);
            }
        }

        /** A vhost-user server port. */
        Port(String name, Path socket, String network) {
            this(name, socket, null, network, false);
        }

        static Port tap(String name, String tap, String network) {
            return new Port(name, null, tap, network, false);
        }

        Port withOffloadsOff() {
            return new Port(name, socket, tap, network, true);
        }
    }

    private static final ObjectMapper JSON = new ObjectMapper();

    private final Process process;
    private final List<String> commandLine;
    private final SerialLog log;
    private final int managementPort;

    private JvhostProcess(Process process, List<String> commandLine, SerialLog log, int managementPort) {
        this.process = process;
        this.commandLine = List.copyOf(commandLine);
        this.log = log;
        this.managementPort = managementPort;
    }

    /**
     * Writes {@code <name>.yaml}, starts jvhost and waits until every port's socket or TAP interface
     * exists. If jvhost exits first (a config error: exit status 2), the exception's first line
     * has its exit status and last log line.
     *
     * @param javaCommand the command that runs jvhost's main class up to its arguments, e.g.
     *                    {@code [java, --enable-native-access=ALL-UNNAMED, -jar, jvhost-all.jar]}
     * @param cpus        CPU list for {@code taskset -c} and {@code workers.cpus}
     * @param model       {@code workers.model}: {@code per-cpu} or {@code per-device}
     */
    static JvhostProcess start(Path workDir, String name, List<String> javaCommand, String cpus, String model,
                               List<Port> ports, Duration timeout) {
        int management = FreePort.onLoopback();
        StringBuilder yaml = new StringBuilder()
                .append("# written by io.jvhost.it.bench for one measurement\n")
                .append("workers:\n  cpus: \"").append(cpus).append("\"\n  model: ").append(model).append('\n');
        // JVBENCH_JVHOST_WORKERS: more workers keys for every jvhost of the bench, e.g. "busy-poll-us: 0".
        String extraWorkers = System.getenv("JVBENCH_JVHOST_WORKERS");
        if (extraWorkers != null && !extraWorkers.isBlank()) {
            for (String line : extraWorkers.split(";")) {
                yaml.append("  ").append(line.strip()).append('\n');
            }
        }
        yaml.append("ports:\n");
        for (Port p : ports) {
            yaml.append("  - name: ").append(p.name()).append('\n');
            if (p.socket() != null) {
                yaml.append("    socket: ").append(p.socket().toAbsolutePath()).append('\n').append("    mode: server\n");
            } else {
                yaml.append("    tap: ").append(p.tap()).append('\n');
            }
            yaml.append("    queues: 1\n").append("    network: ").append(p.network()).append('\n');
            if (p.offloadsOff()) {
                yaml.append("    offloads: false\n");
            }
        }
        yaml.append("management:\n  listen: 127.0.0.1:").append(management).append('\n')
                .append("  control-socket: ").append(workDir.resolve(name + ".ctl").toAbsolutePath()).append('\n');
        Path config = workDir.resolve(name + ".yaml");
        Path logFile = workDir.resolve(name + ".log");
        List<String> cmd = new ArrayList<>(List.of("taskset", "-c", cpus));
        cmd.addAll(javaCommand);
        cmd.addAll(List.of("serve", "--config", config.toString()));
        Process p;
        try {
            Files.writeString(config, yaml);
            for (Port port : ports) {
                if (port.socket() != null) {
                    Files.deleteIfExists(port.socket());
                }
            }
            ProcessBuilder pb = new ProcessBuilder(cmd).directory(workDir.toFile())
                    .redirectInput(ProcessBuilder.Redirect.from(Path.of("/dev/null").toFile()))
                    .redirectErrorStream(true)
                    .redirectOutput(logFile.toFile());
            p = ProcessReaper.start(pb, "jvhost " + name);
        } catch (IOException e) {
            throw new UncheckedIOException("starting jvhost: " + cmd, e);
        }
        JvhostProcess jvhost = new JvhostProcess(p, cmd, new SerialLog(logFile), management);
        try {
            long deadline = System.nanoTime() + timeout.toNanos();
            for (Port port : ports) {
                Path ready = port.socket() != null ? port.socket() : Path.of("/sys/class/net", port.tap());
                while (!Files.exists(ready)) {
                    if (!p.isAlive()) {
                        throw new IllegalStateException("jvhost exited " + p.exitValue() + " before creating " + ready
                                + ": " + jvhost.lastLogLine() + "\n" + jvhost.log.tail(30));
                    }
                    if (System.nanoTime() - deadline > 0) {
                        throw new HarnessTimeoutException("jvhost never created " + ready + "\n" + jvhost.log.tail(30));
                    }
                    SerialLog.sleep(Duration.ofMillis(20));
                }
            }
        } catch (RuntimeException e) {
            jvhost.close();
            throw e;
        }
        return jvhost;
    }

    long pid() {
        return process.pid();
    }

    List<String> commandLine() {
        return commandLine;
    }

    boolean isAlive() {
        return process.isAlive();
    }

    SerialLog log() {
        return log;
    }

    /** The last non-blank line of jvhost's output (after a config error: the one naming the key). */
    private String lastLogLine() {
        log.refresh();
        List<String> lines = log.lines();
        for (int i = lines.size() - 1; i >= 0; i--) {
            if (!lines.get(i).isBlank()) {
                return lines.get(i).strip();
            }
        }
        return "(no output)";
    }

    /** {@code GET path} on the management endpoint; the body, or the failure as text (for the logs). */
    String get(String path) {
        try (HttpClient client = HttpClient.newHttpClient()) {
            HttpRequest request = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + managementPort + path))
                    .timeout(Duration.ofSeconds(5)).build();
            return client.send(request, HttpResponse.BodyHandlers.ofString()).body();
        } catch (IOException e) {
            return "(GET " + path + " failed: " + e + ")";
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return "(interrupted)";
        }
    }

    /**
     * The time jvhost's workers spent working since start, summed ({@code busy_seconds} of
     * {@code /api/workers}: their queues' kicks and polls that moved frames; polls that found nothing are
     * not in it). Over a window it is the CPU forwarding took, apart from busy polling an empty ring.
     */
    double workersBusySeconds() {
        String body = get("/api/workers");
        try {
            double sum = 0;
            for (JsonNode worker : JSON.readTree(body)) {
                sum += worker.path("busy_seconds").asDouble();
            }
            return sum;
        } catch (IOException e) {
            throw new UncheckedIOException("/api/workers: " + body, e);
        }
    }

    /** SIGTERM (jvhost stops cleanly and removes its sockets), SIGKILL after 10 s. Idempotent. */
    @Override
    public void close() {
        ProcessReaper.terminate(process.toHandle(), Duration.ofSeconds(10));
    }
}

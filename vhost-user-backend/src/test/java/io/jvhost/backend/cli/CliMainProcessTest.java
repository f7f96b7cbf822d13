package io.jvhost.backend.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** The real process: a signal stops it cleanly, with exit status 0 (not 128 + the signal). */
class CliMainProcessTest {

    private static final Pattern SERVING_LINE = Pattern.compile(
            "\\d{4}-\\d{2}-\\d{2} \\d{2}:\\d{2}:\\d{2}\\.\\d{3} INFO \\[main] Main: serving vm0 \\(server .*vm0\\.sock\\)"
                    + " from .*jvhost\\.yaml; management on http://127\\.0\\.0\\.1:\\d+/");

    @TempDir
    Path dir;

    @ParameterizedTest
    @ValueSource(strings = {"TERM", "INT"})
    @Timeout(60)
    void shouldExitWithStatusZeroAfterASignal(String signal) throws Exception {
        int port;
        try (ServerSocket socket = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            port = socket.getLocalPort();
        }
        Path config = dir.resolve("jvhost.yaml");
        Files.writeString(config, "ports: [{name: vm0, socket: %s}]\nmanagement: {listen: 127.0.0.1:%d, control-socket: %s}\n"
                .formatted(dir.resolve("vm0.sock"), port, dir.resolve("jvhost.ctl")));
        // A signal ignored when a process starts stays ignored (a shell's background job ignores SIGINT),
        // and the test may itself run as one: the child starts with the two signals at their defaults.
        Process process = new ProcessBuilder("env", "--default-signal=INT,TERM",
                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--enable-native-access=ALL-UNNAMED",
                "-cp", System.getProperty("java.class.path"),
                SignalStopProcess.class.getName(), "serve", "--config", config.toString())
                .redirectOutput(ProcessBuilder.Redirect.DISCARD)
                .start();
        List<String> lines = new CopyOnWriteArrayList<>();
        Object serving = new Object();
        Thread reader = Thread.ofPlatform().start(() -> {
            try (BufferedReader in = new BufferedReader(
                    new InputStreamReader(process.getErrorStream(), StandardCharsets.UTF_8))) {
                for (String line; (line = in.readLine()) != null; ) {
                    lines.add(line);
                    synchronized (serving) {
                        serving.notifyAll();
                    }
                }
            } catch (IOException e) {
                lines.add("reader: " + e);
            }
        });
        synchronized (serving) {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while (lines.stream().noneMatch(l -> SERVING_LINE.matcher(l).matches()) && process.isAlive()
                    && System.nanoTime() < deadline) {
                serving.wait(100);
            }
        }
        assertTrue(lines.stream().anyMatch(l -> SERVING_LINE.matcher(l).matches()), String.join("\n", lines));

        Process kill = new ProcessBuilder("kill", "-" + signal, Long.toString(process.pid())).inheritIO().start();
        assertEquals(0, kill.waitFor());
        assertTrue(process.waitFor(30, TimeUnit.SECONDS), "still running");
        reader.join();

        assertEquals(0, process.exitValue(), String.join("\n", lines));
        List<String> tail = lines.stream()
                .filter(l -> !SERVING_LINE.matcher(l).matches())
                .map(l -> l.replaceFirst("^\\d{4}-\\d{2}-\\d{2} \\d{2}:\\d{2}:\\d{2}\\.\\d{3} ", ""))
                .toList();
        assertEquals(List.of(
                "INFO [SIG" + signal + " handler] Main: received SIG" + signal + ", stopping",
                "INFO [main] Main: stopping",
                "fake daemon closed",
                "INFO [main] Main: stopped"), tail);
    }
}

package io.jvhost.backend.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.jvhost.backend.config.ConfigException;
import io.jvhost.backend.config.JvhostConfig;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.net.ConnectException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class CliMainTest {

    @TempDir
    Path dir;

    private final ByteArrayOutputStream out = new ByteArrayOutputStream();
    private final ByteArrayOutputStream err = new ByteArrayOutputStream();
    private final List<JvhostConfig> started = new ArrayList<>();
    private int managementPort;
    private Path config;

    @BeforeEach
    void writeConfig() throws IOException {
        managementPort = freePort();
        config = dir.resolve("jvhost.yaml");
        Files.writeString(config, """
                ports:
                  - name: vm0
                    socket: %s
                management:
                  listen: 127.0.0.1:%d
                """.formatted(dir.resolve("vm0.sock"), managementPort));
    }

    private static int freePort() throws IOException {
        try (ServerSocket socket = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return socket.getLocalPort();
        }
    }

    private int run(DaemonFactory factory, StopSignal stop, String... args) {
        return Main.run(args, factory, stop, new PrintStream(out, true, StandardCharsets.UTF_8),
                new PrintStream(err, true, StandardCharsets.UTF_8));
    }

    private int run(String... args) {
        return run(c -> {
            started.add(c);
            return new FakeDaemon();
        }, () -> { }, args);
    }

    private String err() {
        return err.toString(StandardCharsets.UTF_8);
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
        "''                                  | missing command",
        "start                               | unknown command 'start'",
        "--verbose                           | unknown option '--verbose'",
        "--help extra                        | unexpected argument 'extra'",
        "serve --bogus                       | unknown option '--bogus'",
        "serve extra                         | unexpected argument 'extra'",
        "serve --config                      | --config needs a FILE argument",
        "serve --config=                     | --config needs a FILE argument",
        "serve --config a.yaml --config b.yaml | --config given twice",
    })
    void shouldExitWithUsageStatusOnABadCommandLine(String line, String message) {
        String[] args = line.isEmpty() ? new String[0] : line.split(" ");

        assertEquals(Main.EXIT_USAGE, run(args));

        assertEquals("jvhost: " + message + " (try 'jvhost --help')\n", err());
        assertEquals(List.of(), started);
    }

    @Test
    void shouldPrintUsageOnHelp() {
        for (String[] args : new String[][] {{"--help"}, {"-h"}, {"help"}, {"serve", "--help"}}) {
            out.reset();
            assertEquals(Main.EXIT_OK, run(args));
            assertEquals(Main.USAGE, out.toString(StandardCharsets.UTF_8));
        }
        assertTrue(Main.USAGE.startsWith("Usage: jvhost serve [--config FILE]\n"));
        assertTrue(Main.USAGE.contains("\n       jvhost [--control PATH] reload\n       jvhost --help\n"));
        assertEquals("", err());
    }

    @Test
    void shouldExitWithUsageStatusOnABadConfig() throws IOException {
        Files.writeString(config, "ports: [{name: vm0, socket: a.sock, mode: listen}]\n");

        assertEquals(Main.EXIT_USAGE, run("serve", "--config", config.toString()));

        assertEquals("jvhost: " + config + ": ports[0].mode: expected 'server' or 'client', got 'listen'\n", err());
        assertEquals(List.of(), started);
    }

    @Test
    void shouldExitWithUsageStatusOnAMissingConfigFile() {
        Path missing = dir.resolve("missing.yaml");

        assertEquals(Main.EXIT_USAGE, run("serve", "--config=" + missing));

        assertEquals("jvhost: " + missing + ": cannot read the file: no such file\n", err());
    }

    @Test
    void shouldExitWithFailureStatusWhenTheDaemonCannotStart() {
        int status = run(c -> {
            throw new IOException("run: no such directory");
        }, () -> { }, "serve", "--config", config.toString());

        assertEquals(Main.EXIT_FAILURE, status);
        assertEquals("jvhost: cannot start: run: no such directory\n", err());
    }

    @Test
    void shouldReportAConfigProblemFoundByTheDaemonAsAConfigError() {
        int status = run(c -> {
            throw new ConfigException(config + ": ports[0].socket: directory 'x' does not exist");
        }, () -> { }, "serve", "--config", config.toString());

        assertEquals(Main.EXIT_USAGE, status);
        assertEquals("jvhost: " + config + ": ports[0].socket: directory 'x' does not exist\n", err());
    }

    @Test
    void shouldCloseTheDaemonWhenManagementCannotListen() throws IOException {
        FakeDaemon daemon = new FakeDaemon();
        try (ServerSocket taken = new ServerSocket(managementPort, 1, InetAddress.getLoopbackAddress())) {
            assertTrue(taken.isBound());
            int status = run(c -> daemon, () -> { }, "serve", "--config", config.toString());

            assertEquals(Main.EXIT_FAILURE, status);
        }
        assertTrue(err().startsWith("jvhost: cannot start: management: cannot listen on 127.0.0.1:"
                + managementPort + ": "), err());
        assertEquals(List.of("close"), daemon.events);
    }

    @Test
    @SuppressWarnings("try")
    void shouldServeUntilStoppedThenCloseManagementBeforeTheDaemon() {
        List<String> seen = new ArrayList<>();
        FakeDaemon daemon = new FakeDaemon() {
            @Override
            void beforeClose() {
                seen.add(managementIsClosed() ? "management closed" : "management still open");
            }
        };
        StopSignal stop = () -> {
            // While serving: the management endpoint answers over the daemon's view.
            seen.add("serving " + get("/api/ports"));
        };

        int status = run(c -> {
            started.add(c);
            return daemon;
        }, stop, "serve", "--config", config.toString());

        assertEquals(Main.EXIT_OK, status);
        assertEquals("", err());
        assertEquals(1, started.size());
        assertEquals(List.of("serving 200", "management closed"), seen);
        assertEquals(List.of("close"), daemon.events);
    }

    @Test
    void shouldStopCleanlyWhenInterrupted() {
        FakeDaemon daemon = new FakeDaemon();
        StopSignal interrupted = () -> {
            throw new InterruptedException();
        };

        int status = run(c -> daemon, interrupted, "serve", "--config", config.toString());

        assertTrue(Thread.interrupted());
        assertEquals(Main.EXIT_OK, status);
        assertEquals(List.of("close"), daemon.events);
    }

    @Test
    void shouldExitWithFailureStatusWhenTheDaemonDoesNotStopCleanly() {
        FakeDaemon daemon = new FakeDaemon(new IOException("cannot remove vm0.sock"));

        int status = run(c -> daemon, () -> { }, "serve", "--config", config.toString());

        assertEquals(Main.EXIT_FAILURE, status);
        assertEquals("jvhost: cannot stop the daemon cleanly: cannot remove vm0.sock\n", err());
    }

    @Test
    void shouldServeTheEmbeddedDefaultWithoutConfig() {
        // Management on 127.0.0.1:9180 may be taken on this host: only check what was started.
        List<JvhostConfig> configs = new ArrayList<>();
        run(c -> {
            configs.add(c);
            throw new IOException("stop here");
        }, () -> { }, "serve");

        assertEquals(1, configs.size());
        assertEquals(List.of("vm0", "vm1"), configs.get(0).ports().stream().map(p -> p.name()).toList());
        assertEquals("jvhost: cannot start: stop here\n", err());
    }

    @Test
    void shouldDescribeFailuresWithoutMessageByType() {
        assertEquals("NullPointerException", Main.describe(new NullPointerException()));
        assertEquals("boom", Main.describe(new IOException("boom")));
    }

    private boolean managementIsClosed() {
        try {
            new Socket(InetAddress.getLoopbackAddress(), managementPort).close();
            return false;
        } catch (ConnectException e) {
            return true;
        } catch (IOException e) {
            throw new AssertionError(e);
        }
    }

    private int get(String path) {
        try (HttpClient client = HttpClient.newHttpClient()) {
            HttpRequest request = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + managementPort + path)).build();
            HttpResponse<String> response = client.send(request, HttpResponse.BodyHandlers.ofString());
            assertFalse(response.body().isEmpty());
            return response.statusCode();
        } catch (IOException e) {
            throw new AssertionError(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }
}

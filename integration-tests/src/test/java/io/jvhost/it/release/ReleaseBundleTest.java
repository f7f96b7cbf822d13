package io.jvhost.it.release;

import io.jvhost.backend.cli.ControlClient;
import io.jvhost.it.frontend.VhostUserFrontend;
import io.jvhost.it.harness.GuestImage;
import io.jvhost.it.harness.ProcessReaper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The release bundle of {@code scripts/dist.sh}, unpacked into an empty directory, runs
 * {@code bin/jvhost serve} with the embedded default, with neither Maven nor the source tree: the PATH
 * holds only the few tools the launcher uses, the working directory is empty, and no variable points
 * back at the checkout. Two in-process front-ends then forward a frame through it.
 */
class ReleaseBundleTest {

    /** What bin/jvhost runs besides java: nothing else may be needed on a host with only a runtime. */
    private static final List<String> LAUNCHER_TOOLS = List.of("bash", "sed", "dirname", "readlink", "ls", "head");

    @TempDir
    Path dir;

    @Test
    @Timeout(value = 3, unit = TimeUnit.MINUTES)
    void shouldServeTheEmbeddedDefaultFromTheUnpackedBundleWithoutMavenOrSources() throws Exception {
        Path root = GuestImage.findProjectRoot();
        Path out = Files.createDirectories(dir.resolve("out"));
        Process dist = new ProcessBuilder(root.resolve("scripts/dist.sh").toString(), "--no-build", "--out", out.toString())
                .redirectError(ProcessBuilder.Redirect.INHERIT).start();
        String tarball = new String(dist.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
        assertEquals(0, dist.waitFor());
        assertTrue(Path.of(tarball).getFileName().toString().matches("jvhost-.+\\.tar\\.gz"), tarball);

        Path unpacked = Files.createDirectories(dir.resolve("opt"));
        Process tar = new ProcessBuilder("tar", "-xzf", tarball, "-C", unpacked.toString()).inheritIO().start();
        assertEquals(0, tar.waitFor());
        Path bundle;
        try (var tops = Files.list(unpacked)) {
            bundle = tops.findFirst().orElseThrow();
        }
        for (String file : List.of("bin/jvhost", "lib/jvhost.jar", "etc/jvhost.yaml", "systemd/jvhost.service")) {
            assertTrue(Files.isRegularFile(bundle.resolve(file)), file);
        }

        Path tools = Files.createDirectories(dir.resolve("tools"));
        for (String tool : LAUNCHER_TOOLS) {
            Files.createSymbolicLink(tools.resolve(tool), which(tool));
        }
        Path work = Files.createDirectories(dir.resolve("empty"));
        ProcessBuilder serve = new ProcessBuilder(bundle.resolve("bin/jvhost").toString(), "serve")
                .directory(work.toFile())
                .redirectErrorStream(true)
                .redirectOutput(dir.resolve("serve.log").toFile());
        serve.environment().clear();
        serve.environment().put("PATH", tools.toString());
        serve.environment().put("JAVA_HOME", System.getProperty("java.home")); // a runtime, nothing else
        Process jvhost = ProcessReaper.start(serve, "jvhost from the release bundle");
        try {
            Path vm0 = work.resolve("run/vm0.sock");
            Path vm1 = work.resolve("run/vm1.sock");
            awaitLog(jvhost, "serving vm0 (server run/vm0.sock), vm1 (server run/vm1.sock) from the embedded default config");
            assertTrue(Files.exists(vm0) && Files.exists(vm1));
            try (VhostUserFrontend a = VhostUserFrontend.connect(vm0);
                 VhostUserFrontend b = VhostUserFrontend.connect(vm1)) {
                byte[] broadcast = new byte[200];
                for (int i = 0; i < 6; i++) {
                    broadcast[i] = -1;
                }
                broadcast[6] = 0x02; // a locally administered source MAC
                broadcast[11] = 0x0a;
                broadcast[12] = (byte) 0x88; // the local experimental EtherType 0x88B5
                broadcast[13] = (byte) 0xB5;
                a.send(broadcast);
                List<byte[]> received = b.receive(Duration.ofSeconds(5));
                assertEquals(1, received.size(), "frames at vm1");
                assertArrayEquals(broadcast, received.get(0));
            }
            HttpResponse<String> ports = HttpClient.newHttpClient().send(
                    HttpRequest.newBuilder(URI.create("http://127.0.0.1:9180/api/ports")).timeout(Duration.ofSeconds(5)).build(),
                    HttpResponse.BodyHandlers.ofString());
            assertEquals(200, ports.statusCode());
            assertTrue(ports.body().contains("\"vm0\"") && ports.body().contains("\"vm1\""), ports.body());
            Path control = work.resolve("run/jvhost.ctl");
            assertEquals(0600, (Integer) Files.getAttribute(control, "unix:mode") & 0777, "control socket mode");
            assertEquals(204, ControlClient.request(control, "DELETE", "/api/ports/vm1", null).status());
            assertFalse(Files.exists(vm1), "vm1 deleted through the control socket");
            ControlClient.Response reload = ControlClient.request(control, "POST", "/api/reload", null);
            assertEquals(200, reload.status(), reload.body());
            assertTrue(reload.body().contains("\"added\" : [ \"vm1\" ]"), "the embedded default re-read: " + reload.body());
            assertTrue(Files.exists(vm1), "vm1 back after the reload");

            jvhost.toHandle().destroy(); // SIGTERM: the graceful stop
            assertTrue(jvhost.waitFor(30, TimeUnit.SECONDS), "jvhost still running after SIGTERM");
            assertEquals(0, jvhost.exitValue(), log());
            assertFalse(Files.exists(vm0), "server sockets removed on stop");
            assertFalse(Files.exists(control), "control socket removed on stop");
        } finally {
            ProcessReaper.terminate(jvhost.toHandle(), ProcessReaper.DEFAULT_GRACE);
        }
    }

    private static Path which(String tool) {
        for (String d : List.of("/usr/bin", "/bin", "/usr/sbin", "/sbin")) {
            Path p = Path.of(d, tool);
            if (Files.isExecutable(p)) {
                return p;
            }
        }
        throw new IllegalStateException("no " + tool + " in /usr/bin or /bin");
    }

    private void awaitLog(Process jvhost, String text) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (!log().contains(text)) {
            assertTrue(jvhost.isAlive(), "jvhost exited: " + log());
            assertTrue(System.nanoTime() < deadline, "no '" + text + "' within 60 s: " + log());
            Thread.sleep(100);
        }
    }

    private String log() throws IOException {
        Path log = dir.resolve("serve.log");
        return Files.exists(log) ? Files.readString(log) : "";
    }
}

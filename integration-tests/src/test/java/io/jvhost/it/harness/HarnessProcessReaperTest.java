package io.jvhost.it.harness;

import org.junit.jupiter.api.Test;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Killing by handle, the SIGKILL fallback, and cleanups. Uses only sleep and sh. */
class HarnessProcessReaperTest {

    private static ProcessBuilder quiet(String... cmd) {
        return new ProcessBuilder(List.of(cmd)).redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.DISCARD);
    }

    @Test
    void shouldTerminateGracefullyAndRunCleanupOnce() throws IOException {
        AtomicInteger cleanups = new AtomicInteger();
        Process p = ProcessReaper.start(quiet("sleep", "60"), "sleep", cleanups::incrementAndGet);
        assertTrue(ProcessReaper.isRegistered(p.pid()));

        assertTrue(ProcessReaper.terminate(p.toHandle(), Duration.ofSeconds(5)));
        assertTrue(ProcessReaper.terminate(p.toHandle(), Duration.ofSeconds(5)), "terminating twice is harmless");

        assertFalse(p.isAlive());
        assertFalse(ProcessReaper.isRegistered(p.pid()));
        assertEquals(1, cleanups.get());
    }

    @Test
    void shouldSigkillProcessThatIgnoresSigterm() throws Exception {
        // The shell ignores TERM and says so once the trap is set; exec keeps the pid.
        Process p = ProcessReaper.start(new ProcessBuilder("sh", "-c", "trap '' TERM; echo trapped; exec sleep 60")
                .redirectErrorStream(true), "stubborn sleep");
        assertEquals("trapped", new String(p.getInputStream().readNBytes(7)));

        assertFalse(ProcessReaper.terminate(p.toHandle(), Duration.ofMillis(300)), "needed SIGKILL");

        assertFalse(p.isAlive());
        assertEquals(137, p.waitFor());
    }

    @Test
    void shouldKillDescendantsToo() throws Exception {
        Process p = ProcessReaper.start(new ProcessBuilder("sh", "-c", "sleep 60 & echo $!; wait")
                .redirectErrorStream(true), "sh with child");
        long child = Long.parseLong(new BufferedReader(new InputStreamReader(p.getInputStream())).readLine().strip());
        ProcessHandle childHandle = ProcessHandle.of(child).orElseThrow();

        ProcessReaper.terminate(p.toHandle(), Duration.ofSeconds(5));

        assertFalse(childHandle.isAlive());
    }

    @Test
    void shouldKillOrphanOfDeadJvmButNotChildOfLiveOne() throws Exception {
        Process orphan = new ProcessBuilder("sleep", "60").start();
        Process adopted = new ProcessBuilder("sleep", "60").start();
        Files.createDirectories(ProcessReaper.REGISTRY);
        Path orphanFile = ProcessReaper.REGISTRY.resolve(Long.toString(orphan.pid()));
        Path adoptedFile = ProcessReaper.REGISTRY.resolve(Long.toString(adopted.pid()));
        ProcessHandle self = ProcessHandle.current();
        try {
            // No process has pid 999999999 (pid_max is at most 2^22), so that owner is dead.
            Files.writeString(orphanFile, "999999999 1 " + ProcessReaper.startMillis(orphan.toHandle()) + " test orphan");
            Files.writeString(adoptedFile, self.pid() + " " + ProcessReaper.startMillis(self) + " "
                    + ProcessReaper.startMillis(adopted.toHandle()) + " test child");

            ProcessReaper.reapOrphans();

            assertTrue(orphan.waitFor(5, TimeUnit.SECONDS), "orphan killed");
            assertFalse(Files.exists(orphanFile));
            assertTrue(adopted.isAlive(), "a live JVM's child is left alone");
            assertTrue(Files.exists(adoptedFile));
        } finally {
            orphan.destroyForcibly();
            adopted.destroyForcibly();
            Files.deleteIfExists(orphanFile);
            Files.deleteIfExists(adoptedFile);
        }
    }

    @Test
    void shouldRecordStartedProcessUntilTerminated() throws IOException {
        Process p = ProcessReaper.start(quiet("sleep", "60"), "recorded sleep");
        Path file = ProcessReaper.REGISTRY.resolve(Long.toString(p.pid()));

        assertTrue(Files.readString(file).endsWith(" recorded sleep\n"), file.toString());
        ProcessReaper.terminate(p.toHandle(), Duration.ofSeconds(5));
        assertFalse(Files.exists(file));
    }
}

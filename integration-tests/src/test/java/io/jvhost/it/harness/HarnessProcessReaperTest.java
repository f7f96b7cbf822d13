package io.jvhost.it.harness;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.time.Duration;
import java.util.List;
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
        long child = Long.parseLong(new String(p.getInputStream().readNBytes(16)).strip().split("\\s+")[0]);
        ProcessHandle childHandle = ProcessHandle.of(child).orElseThrow();

        ProcessReaper.terminate(p.toHandle(), Duration.ofSeconds(5));

        assertFalse(childHandle.isAlive());
    }
}

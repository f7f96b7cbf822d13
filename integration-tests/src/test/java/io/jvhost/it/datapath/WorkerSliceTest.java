package io.jvhost.it.datapath;

import io.jvhost.backend.config.WorkersConfig;
import io.jvhost.backend.testing.Resources;
import io.jvhost.it.datapath.InProcessJvhost.Port;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

/**
 * The workers run with {@code workers.wakeup-slice-us}' default slice, both models: read back from
 * {@code /proc/self/task/TID/sched} ({@code se.slice}, in ns, reported by Linux 6.12 and later, where
 * custom slices exist; the project's machines run 6.18).
 */
class WorkerSliceTest {

    @TempDir
    Path dir;

    @RegisterExtension
    final Resources resources = new Resources();

    @Test
    void shouldGiveEveryPinnedWorkerTheDefaultWakeupSlice() throws Exception {
        resources.track(InProcessJvhost.start(dir, new Port("a", "red"), new Port("b", "red")));
        assertSlices("jvhost-worker-c", InProcessJvhost.WORKER_CPUS.size());
    }

    @Test
    void shouldGiveEveryPerDeviceThreadTheDefaultWakeupSlice() throws Exception {
        resources.track(InProcessJvhost.start(dir, WorkersConfig.Model.PER_DEVICE, new Port("a", "red"),
                new Port("b", "red")));
        assertSlices("jvhost-device-", 2);
    }

    /** Threads whose name (cut to 15 characters, as /proc has it) starts with {@code prefix}. */
    private static void assertSlices(String prefix, int expected) throws IOException {
        List<Long> slices = new ArrayList<>();
        try (Stream<Path> tasks = Files.list(Path.of("/proc/self/task"))) {
            for (Path task : tasks.toList()) {
                String comm;
                List<String> sched;
                try {
                    comm = Files.readString(task.resolve("comm")).strip();
                    sched = Files.readAllLines(task.resolve("sched"));
                } catch (IOException gone) {
                    continue; // a thread that ended meanwhile
                }
                if (comm.startsWith(prefix)) {
                    slices.add(sched.stream().filter(l -> l.startsWith("se.slice")).findFirst()
                            .map(l -> Long.parseLong(l.substring(l.indexOf(':') + 1).strip()))
                            .orElseThrow(() -> new AssertionError("no se.slice in " + task + "/sched: kernel before 6.12?")));
                }
            }
        }
        assertFalse(slices.isEmpty(), "no thread named " + prefix + "*");
        assertEquals(expected, slices.size(), "threads named " + prefix + "*: " + slices);
        assertEquals(Collections.nCopies(slices.size(), WorkersConfig.DEFAULT_WAKEUP_SLICE_US * 1000), slices,
                "every worker's slice, ns");
    }
}

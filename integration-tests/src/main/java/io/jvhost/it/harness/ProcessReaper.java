package io.jvhost.it.harness;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Starts every external process of the integration tests and makes sure each one dies:
 * <ol>
 *   <li>on {@link #terminate} (what {@code close()} of {@link QemuGuest} and {@link Testpmd} calls);</li>
 *   <li>from a JVM shutdown hook, for whatever a crashed test left running (also on SIGTERM/SIGINT
 *       of the JVM, e.g. Surefire's fork timeout or Ctrl-C);</li>
 *   <li>from the next JVM that loads this class, for processes of a JVM that was SIGKILLed and so ran
 *       no hook: each started process is recorded in a file under
 *       {@code ${java.io.tmpdir}/jvhost-it-reaper/} with its own and its owner JVM's start time.</li>
 * </ol>
 * The kernel's parent-death signal is no substitute here: {@code PR_SET_PDEATHSIG} is accepted but
 * never delivered on the kernel these machines run (checked with setpriv and with prctl directly).
 *
 * <p>Processes are only ever signalled through a {@link ProcessHandle} whose start time matches the
 * one recorded, never by name or by a bare pid, so a recycled pid and other people's QEMU or testpmd
 * running at the same time are untouched.
 *
 * <p>Thread safety: every method may be called from any thread.
 */
public final class ProcessReaper {

    /** How long a process gets between SIGTERM and SIGKILL unless the caller says otherwise. */
    public static final Duration DEFAULT_GRACE = Duration.ofSeconds(5);

    private static final Map<Long, Entry> LIVE = new ConcurrentHashMap<>();
    static final Path REGISTRY = Path.of(System.getProperty("java.io.tmpdir"), "jvhost-it-reaper");
    private static final ProcessHandle SELF = ProcessHandle.current();

    static {
        reapOrphans();
        Runtime.getRuntime().addShutdownHook(new Thread(ProcessReaper::reapAll, "jvhost-it-reaper"));
    }

    private ProcessReaper() {
    }

    /** A registered process: what it is, and what to remove once it is dead (runtime dirs, sockets). */
    private record Entry(ProcessHandle handle, String description, Runnable afterExit) {
    }

    /**
     * Starts {@code builder} and registers the process.
     *
     * @param description for logs, e.g. {@code "qemu guest server"}
     * @param afterExit   run once the process is dead (by {@link #terminate} or the shutdown hook);
     *                    must not throw
     */
    public static Process start(ProcessBuilder builder, String description, Runnable afterExit) throws IOException {
        Process process = builder.start();
        ProcessHandle handle = process.toHandle();
        LIVE.put(process.pid(), new Entry(handle, description, afterExit));
        record(handle, description);
        return process;
    }

    /** {@link #start(ProcessBuilder, String, Runnable)} with nothing to clean up afterwards. */
    public static Process start(ProcessBuilder builder, String description) throws IOException {
        return start(builder, description, () -> {
        });
    }

    /**
     * Sends SIGTERM to the process and its descendants, waits up to {@code grace}, sends SIGKILL to
     * whatever is left, waits for it to be gone and runs the cleanup registered with it. Calling it
     * again for a dead process does nothing. {@link ProcessHandle} checks the start time before it
     * signals, so a recycled pid is never hit.
     *
     * @return true if the process exited within the grace period, false if it had to be SIGKILLed
     */
    public static boolean terminate(ProcessHandle handle, Duration grace) {
        Entry entry = LIVE.remove(handle.pid());
        boolean graceful = kill(List.of(handle), grace);
        if (entry != null) {
            forget(handle);
            runQuietly(entry);
        }
        return graceful;
    }

    /** Whether the process was started here and has not been terminated yet. */
    public static boolean isRegistered(long pid) {
        return LIVE.containsKey(pid);
    }

    /** Kills everything still registered; the shutdown hook. Idempotent. */
    public static void reapAll() {
        List<Entry> entries = new ArrayList<>(LIVE.values());
        if (entries.isEmpty()) {
            return;
        }
        List<ProcessHandle> handles = new ArrayList<>(entries.size());
        for (Entry e : entries) {
            LIVE.remove(e.handle().pid());
            handles.add(e.handle());
            System.err.println("jvhost-it-reaper: killing leftover " + e.description() + " pid " + e.handle().pid());
        }
        kill(handles, Duration.ofSeconds(3));
        for (Entry e : entries) {
            forget(e.handle());
            runQuietly(e);
        }
    }

    /** Deletes a file tree; for cleanups. A missing root is fine. */
    public static void deleteTree(Path root) {
        if (!Files.exists(root, LinkOption.NOFOLLOW_LINKS)) {
            return;
        }
        try (var paths = Files.walk(root)) {
            List<Path> all = paths.sorted(Comparator.reverseOrder()).toList();
            for (Path p : all) {
                Files.deleteIfExists(p);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot delete " + root, e);
        }
    }

    // ---- the on-disk registry -------------------------------------------------------------------

    /** File content: {@code ownerPid ownerStartMillis childStartMillis description}. */
    private static void record(ProcessHandle child, String description) {
        try {
            Files.createDirectories(REGISTRY);
            String line = SELF.pid() + " " + startMillis(SELF) + " " + startMillis(child) + " "
                    + description.replace('\n', ' ') + "\n";
            Files.writeString(REGISTRY.resolve(Long.toString(child.pid())), line);
        } catch (IOException e) {
            // Losing the SIGKILL-of-the-JVM safety net is not worth failing a test for.
            System.err.println("jvhost-it-reaper: cannot record pid " + child.pid() + ": " + e);
        }
    }

    private static void forget(ProcessHandle child) {
        try {
            Files.deleteIfExists(REGISTRY.resolve(Long.toString(child.pid())));
        } catch (IOException e) {
            System.err.println("jvhost-it-reaper: cannot forget pid " + child.pid() + ": " + e);
        }
    }

    /** Kills processes recorded by JVMs that are gone; run once per JVM when this class loads. */
    static void reapOrphans() {
        if (!Files.isDirectory(REGISTRY)) {
            return;
        }
        List<ProcessHandle> orphans = new ArrayList<>();
        List<Path> stale = new ArrayList<>();
        try (DirectoryStream<Path> files = Files.newDirectoryStream(REGISTRY)) {
            for (Path file : files) {
                String[] f;
                long childPid;
                try {
                    f = Files.readString(file).strip().split(" ", 4);
                    childPid = Long.parseLong(file.getFileName().toString());
                    if (f.length < 3) {
                        stale.add(file);
                        continue;
                    }
                } catch (IOException | NumberFormatException e) {
                    continue; // Another JVM is writing or removing it.
                }
                if (isRunning(Long.parseLong(f[0]), Long.parseLong(f[1]))) {
                    continue; // Its owner is alive and will clean up.
                }
                Optional<ProcessHandle> child = ProcessHandle.of(childPid);
                if (child.isPresent() && startMillis(child.get()) == Long.parseLong(f[2])) {
                    System.err.println("jvhost-it-reaper: killing orphan " + (f.length > 3 ? f[3] : "") + " pid "
                            + childPid + " of dead JVM " + f[0]);
                    orphans.add(child.get());
                }
                stale.add(file);
            }
        } catch (IOException e) {
            System.err.println("jvhost-it-reaper: cannot scan " + REGISTRY + ": " + e);
            return;
        }
        kill(orphans, Duration.ofSeconds(3));
        for (Path file : stale) {
            try {
                Files.deleteIfExists(file);
            } catch (IOException ignored) {
                // Someone else removed or is replacing it.
            }
        }
    }

    private static boolean isRunning(long pid, long startMillis) {
        return ProcessHandle.of(pid).map(h -> h.isAlive() && startMillis(h) == startMillis).orElse(false);
    }

    /** Process start time in ms, -1 if unknown; with the pid it identifies one process. */
    static long startMillis(ProcessHandle h) {
        return h.info().startInstant().map(Instant::toEpochMilli).orElse(-1L);
    }

    // ---- killing --------------------------------------------------------------------------------

    private static boolean kill(List<ProcessHandle> roots, Duration grace) {
        List<ProcessHandle> all = new ArrayList<>();
        for (ProcessHandle root : roots) {
            // Collected while the root is alive: once it dies its children are reparented and lost.
            root.descendants().forEach(all::add);
            all.add(root);
        }
        for (ProcessHandle h : all) {
            h.destroy();
        }
        long deadline = System.nanoTime() + grace.toNanos();
        boolean graceful = true;
        for (ProcessHandle h : all) {
            if (!awaitExit(h, deadline)) {
                graceful = false;
                h.destroyForcibly();
            }
        }
        long hardDeadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
        for (ProcessHandle h : all) {
            if (!awaitExit(h, hardDeadline)) {
                throw new IllegalStateException("pid " + h.pid() + " survived SIGKILL for 10 s");
            }
        }
        return graceful;
    }

    private static boolean awaitExit(ProcessHandle h, long deadlineNanos) {
        long left = deadlineNanos - System.nanoTime();
        try {
            h.onExit().get(Math.max(0, left), TimeUnit.NANOSECONDS);
            return true;
        } catch (TimeoutException | ExecutionException e) {
            return !h.isAlive();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return !h.isAlive();
        }
    }

    private static void runQuietly(Entry entry) {
        try {
            entry.afterExit().run();
        } catch (RuntimeException e) {
            System.err.println("jvhost-it-reaper: cleanup after " + entry.description() + " failed: " + e);
        }
    }
}

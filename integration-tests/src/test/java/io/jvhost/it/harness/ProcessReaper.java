package io.jvhost.it.harness;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Starts every external process of the integration tests and makes sure each one dies: on
 * {@link #terminate}, and from a JVM shutdown hook for whatever a crashed or timed-out test left.
 *
 * <p>Processes are only ever signalled through their {@link ProcessHandle} (pid plus start time),
 * never by name, so other people's QEMU or testpmd running at the same time are untouched.
 *
 * <p>When {@code setpriv} (util-linux) is installed, children are started as
 * {@code setpriv --pdeathsig KILL -- CMD}: setpriv execs CMD in place (the pid stays the same) with
 * {@code PR_SET_PDEATHSIG}, so the kernel kills them even when the JVM itself is SIGKILLed and no
 * shutdown hook runs. The parent-death signal fires when the <em>thread</em> that forked the child
 * exits, so all processes are forked from one daemon thread that lives as long as the JVM.
 *
 * <p>Thread safety: every method may be called from any thread.
 */
public final class ProcessReaper {

    /** How long a process gets between SIGTERM and SIGKILL unless the caller says otherwise. */
    public static final Duration DEFAULT_GRACE = Duration.ofSeconds(5);

    private static final Map<Long, Entry> LIVE = new ConcurrentHashMap<>();
    private static final boolean PDEATHSIG = Files.isExecutable(Path.of("/usr/bin/setpriv"))
            && !Boolean.getBoolean("jvhost.it.noPdeathsig");
    private static final ExecutorService LAUNCHER = Executors.newSingleThreadExecutor(r -> {
        Thread t = new Thread(r, "jvhost-it-launcher");
        t.setDaemon(true);
        return t;
    });

    static {
        Runtime.getRuntime().addShutdownHook(new Thread(ProcessReaper::reapAll, "jvhost-it-reaper"));
    }

    private ProcessReaper() {
    }

    /** A registered process: what it is, and what to remove once it is dead (pid files, runtime dirs). */
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
        List<String> command = builder.command();
        if (PDEATHSIG) {
            List<String> wrapped = new ArrayList<>(command.size() + 4);
            wrapped.add("/usr/bin/setpriv");
            wrapped.add("--pdeathsig");
            wrapped.add("KILL");
            wrapped.add("--");
            wrapped.addAll(command);
            builder = new ProcessBuilder(wrapped)
                    .directory(builder.directory())
                    .redirectInput(builder.redirectInput())
                    .redirectOutput(builder.redirectOutput())
                    .redirectError(builder.redirectError())
                    .redirectErrorStream(builder.redirectErrorStream());
        }
        ProcessBuilder toStart = builder;
        Future<Process> started = LAUNCHER.submit(toStart::start);
        Process process;
        try {
            process = started.get(30, TimeUnit.SECONDS);
        } catch (ExecutionException e) {
            if (e.getCause() instanceof IOException io) {
                throw io;
            }
            throw new IllegalStateException("could not start " + description, e.getCause());
        } catch (TimeoutException e) {
            throw new IllegalStateException("launcher thread stuck starting " + description, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted starting " + description, e);
        }
        LIVE.put(process.pid(), new Entry(process.toHandle(), description, afterExit));
        return process;
    }

    /** {@link #start(ProcessBuilder, String, Runnable)} with nothing to clean up afterwards. */
    public static Process start(ProcessBuilder builder, String description) throws IOException {
        return start(builder, description, () -> {
        });
    }

    /**
     * Sends SIGTERM to the process and its descendants, waits up to {@code grace}, sends SIGKILL to
     * whatever is left, waits for it to be gone and runs the cleanup registered with it. A handle
     * (not a bare pid) is required: {@link ProcessHandle} checks the process start time before it
     * signals, so a recycled pid is never hit.
     *
     * @return true if the process exited within the grace period, false if it had to be SIGKILLed
     */
    public static boolean terminate(ProcessHandle handle, Duration grace) {
        Entry entry = LIVE.remove(handle.pid());
        boolean graceful = kill(List.of(handle), grace);
        if (entry != null) {
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
            runQuietly(e);
        }
    }

    /** Deletes a file tree; for cleanups. Missing files are fine. */
    public static void deleteTree(Path root) {
        if (!Files.exists(root, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
            return;
        }
        try (var paths = Files.walk(root)) {
            List<Path> all = paths.sorted(java.util.Comparator.reverseOrder()).toList();
            for (Path p : all) {
                Files.deleteIfExists(p);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot delete " + root, e);
        }
    }

    private static boolean kill(List<ProcessHandle> roots, Duration grace) {
        List<ProcessHandle> all = new ArrayList<>();
        for (ProcessHandle root : roots) {
            // Descendants first are collected while the root is alive; they are gone from the tree after.
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
        } catch (TimeoutException e) {
            return !h.isAlive();
        } catch (ExecutionException e) {
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

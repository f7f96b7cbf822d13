package io.jvhost.it.harness;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The test guest's kernel and initramfs, built by {@code scripts/build-guest-image.sh} once per JVM
 * (the script itself skips the work when its outputs are current).
 *
 * <p>Where things are:
 * <ul>
 *   <li>project root: system property {@code jvhost.projectRoot} (set by the integration-tests POM),
 *       else the nearest directory at or above the working directory that holds the script;</li>
 *   <li>output directory: system property {@code jvhost.guestImageDir}, else
 *       {@code <root>/build/guest}.</li>
 * </ul>
 *
 * <p>Thread safety: {@link #get()} may be called from any thread; the build runs once.
 */
public final class GuestImage {

    static final String SCRIPT = "scripts/build-guest-image.sh";
    private static final Duration BUILD_TIMEOUT = Duration.ofMinutes(15);

    private static GuestImage instance;

    private final Path projectRoot;
    private final Path kernel;
    private final Path initrd;
    private final Map<String, String> manifest;
    private final Duration buildTime;

    private GuestImage(Path projectRoot, Path kernel, Path initrd, Map<String, String> manifest, Duration buildTime) {
        this.projectRoot = projectRoot;
        this.kernel = kernel;
        this.initrd = initrd;
        this.manifest = manifest;
        this.buildTime = buildTime;
    }

    /** Builds (or finds current) the image; the first call may take minutes on a fresh machine. */
    public static synchronized GuestImage get() {
        if (instance == null) {
            instance = build(findProjectRoot(), outputDir());
        }
        return instance;
    }

    /** The repository root: {@code jvhost.projectRoot}, else walk up from the working directory. */
    public static Path findProjectRoot() {
        String configured = System.getProperty("jvhost.projectRoot");
        if (configured != null && !configured.isBlank()) {
            Path root = Path.of(configured).toAbsolutePath().normalize();
            if (!Files.isRegularFile(root.resolve(SCRIPT))) {
                throw new IllegalStateException("jvhost.projectRoot=" + root + " has no " + SCRIPT);
            }
            return root;
        }
        for (Path dir = Path.of("").toAbsolutePath(); dir != null; dir = dir.getParent()) {
            if (Files.isRegularFile(dir.resolve(SCRIPT))) {
                return dir;
            }
        }
        throw new IllegalStateException("no " + SCRIPT + " at or above " + Path.of("").toAbsolutePath()
                + "; set -Djvhost.projectRoot");
    }

    private static Path outputDir() {
        String configured = System.getProperty("jvhost.guestImageDir");
        if (configured != null && !configured.isBlank()) {
            return Path.of(configured).toAbsolutePath().normalize();
        }
        return findProjectRoot().resolve("build/guest");
    }

    private static GuestImage build(Path root, Path outDir) {
        long start = System.nanoTime();
        try {
            Files.createDirectories(outDir);
            Path log = outDir.resolve("build.log");
            ProcessBuilder pb = new ProcessBuilder(List.of("bash", root.resolve(SCRIPT).toString(), outDir.toString()))
                    .directory(root.toFile())
                    .redirectInput(ProcessBuilder.Redirect.from(Path.of("/dev/null").toFile()))
                    .redirectErrorStream(true)
                    .redirectOutput(log.toFile());
            Process p = ProcessReaper.start(pb, "build-guest-image.sh");
            boolean finished;
            try {
                finished = p.waitFor(BUILD_TIMEOUT.toMillis(), java.util.concurrent.TimeUnit.MILLISECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                ProcessReaper.terminate(p.toHandle(), ProcessReaper.DEFAULT_GRACE);
                throw new IllegalStateException("interrupted while building the guest image", e);
            }
            if (!finished) {
                ProcessReaper.terminate(p.toHandle(), ProcessReaper.DEFAULT_GRACE);
                throw new IllegalStateException(SCRIPT + " did not finish in " + BUILD_TIMEOUT + "; see " + log);
            }
            ProcessReaper.terminate(p.toHandle(), Duration.ZERO);
            String output = Files.readString(log, StandardCharsets.UTF_8);
            if (p.exitValue() != 0) {
                throw new IllegalStateException(SCRIPT + " failed with exit code " + p.exitValue() + ":\n" + output);
            }
            Map<String, String> keys = keyValues(output);
            Path kernel = Path.of(require(keys, "KERNEL", output));
            Path initrd = Path.of(require(keys, "INITRD", output));
            Map<String, String> manifest = keyValues(Files.readString(outDir.resolve("manifest.txt")));
            return new GuestImage(root, kernel, initrd, Map.copyOf(manifest), Duration.ofNanos(System.nanoTime() - start));
        } catch (IOException e) {
            throw new UncheckedIOException("building the guest image in " + outDir, e);
        }
    }

    /** An image from existing files, for tests of command lines; nothing is built or checked. */
    static GuestImage of(Path root, Path kernel, Path initrd) {
        return new GuestImage(root, kernel, initrd, Map.of(), Duration.ZERO);
    }

    /** {@code KEY=VALUE} lines; anything else (log lines) is ignored. Later keys win. */
    static Map<String, String> keyValues(String text) {
        Map<String, String> out = new HashMap<>();
        for (String line : text.split("\n")) {
            int eq = line.indexOf('=');
            if (eq > 0 && line.substring(0, eq).matches("[A-Za-z_][A-Za-z0-9_]*")) {
                out.put(line.substring(0, eq), line.substring(eq + 1).strip());
            }
        }
        return out;
    }

    private static String require(Map<String, String> keys, String key, String output) {
        String v = keys.get(key);
        if (v == null) {
            throw new IllegalStateException(SCRIPT + " printed no " + key + "= line:\n" + output);
        }
        return v;
    }

    public Path projectRoot() {
        return projectRoot;
    }

    /** The bzImage, for QEMU {@code -kernel}. */
    public Path kernel() {
        return kernel;
    }

    /** The gzip'd newc initramfs, for QEMU {@code -initrd}. */
    public Path initrd() {
        return initrd;
    }

    /** {@code uname -r} inside the guest, e.g. {@code 6.1.0-56-cloud-amd64}. */
    public String kernelRelease() {
        return manifest.getOrDefault("kernel_release", "unknown");
    }

    /** The script's manifest.txt: kernel package and version, module order, sha256 of both outputs. */
    public Map<String, String> manifest() {
        return manifest;
    }

    /** Wall time of the first {@link #get()} in this JVM (near zero when the script's cache hit). */
    public Duration buildTime() {
        return buildTime;
    }
}

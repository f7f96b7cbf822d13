package io.jvhost.virtio.fuzz;

import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Test fixture: counts a fuzz target's executions and reports them once, when the test class is done
 * (register it: {@code @RegisterExtension static final FuzzStats STATS = new FuzzStats("MyFuzzTest")})
 * or, failing that, when the JVM exits: one line on standard output and a file
 * {@code target/fuzz-stats/<target>.txt} holding {@code executions=N seconds=S mode=fuzzing|regression},
 * so a CI run can be summed up per target (Jazzer's own statistics go to the native stderr, which the
 * build does not keep).
 *
 * <p>Whether Jazzer fuzzes or only replays the corpus is decided by the JAZZER_FUZZ environment
 * variable (or system property): "1", "true" or "yes" fuzzes.
 */
public final class FuzzStats implements AfterAllCallback {

    /**
     * How long each target fuzzes in a build ({@code @FuzzTest(maxDuration = ...)}): five targets, so
     * about two minutes of {@code mvn verify}. For a longer hunt, raise it locally.
     */
    public static final String MAX_DURATION = "20s";

    private final String target;
    private final long startNanos = System.nanoTime();
    private long executions;
    private boolean reported;

    public FuzzStats(String target) {
        this.target = target;
        Runtime.getRuntime().addShutdownHook(new Thread(this::report, "fuzz-stats-" + target));
    }

    /** Whether this JVM fuzzes (rather than replaying the corpus). */
    public static boolean fuzzing() {
        String value = System.getenv("JAZZER_FUZZ");
        if (value == null) {
            value = System.getProperty("JAZZER_FUZZ");
        }
        return value != null && (value.equals("1") || value.equalsIgnoreCase("true") || value.equalsIgnoreCase("yes"));
    }

    /** One execution of the target began. */
    public synchronized void count() {
        executions++;
    }

    /** Counts one execution and gives its input to read. */
    public FuzzInput start(byte[] data) {
        count();
        return new FuzzInput(data);
    }

    public synchronized long executions() {
        return executions;
    }

    @Override
    public void afterAll(ExtensionContext context) {
        report();
    }

    /** Prints and records the figures; later calls do nothing. */
    public synchronized void report() {
        if (reported) {
            return;
        }
        reported = true;
        double seconds = (System.nanoTime() - startNanos) / 1e9;
        String mode = fuzzing() ? "fuzzing" : "regression";
        String line = String.format("executions=%d seconds=%.1f mode=%s", executions, seconds, mode);
        System.out.println("fuzz target " + target + ": " + line);
        try {
            Path dir = Path.of("target", "fuzz-stats");
            Files.createDirectories(dir);
            Files.writeString(dir.resolve(target + ".txt"), line + System.lineSeparator());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}

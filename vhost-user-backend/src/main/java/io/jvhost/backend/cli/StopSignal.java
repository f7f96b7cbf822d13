package io.jvhost.backend.cli;

/** When {@link Main} should stop serving: SIGINT/SIGTERM in production, a latch in tests. */
public interface StopSignal {

    /** Blocks until a stop is requested; returns at once when it already was. */
    void await() throws InterruptedException;

    /** Main has closed everything it started and is about to exit with {@code status}. */
    default void finished(int status) {
    }
}

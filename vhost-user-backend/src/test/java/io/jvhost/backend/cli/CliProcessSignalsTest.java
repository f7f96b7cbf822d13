package io.jvhost.backend.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

class CliProcessSignalsTest {

    private final List<Integer> halts = new CopyOnWriteArrayList<>();
    private final ProcessSignals signals = new ProcessSignals(halts::add);

    @Test
    @Timeout(5)
    void shouldRequestTheStopOnTheFirstSignal() throws Exception {
        signals.onSignal("TERM");

        signals.await();
        assertEquals(List.of(), halts);
    }

    @Test
    void shouldExitAtOnceOnASecondSignalWhileStopping() {
        signals.onSignal("INT");
        signals.onSignal("INT");

        assertEquals(List.of(Main.EXIT_FAILURE), halts);
    }

    @Test
    void shouldIgnoreSignalsAfterMainFinished() {
        signals.onSignal("TERM");
        signals.finished(0);
        signals.onSignal("TERM");

        assertEquals(List.of(), halts);
    }

    @Test
    @Timeout(5)
    void shouldStopAndWaitForMainWhenTheJvmShutsDownOtherwise() throws Exception {
        Thread hook = Thread.ofPlatform().start(signals::onShutdown);

        signals.await();
        assertFalse(hook.join(Duration.ofMillis(200)), "the hook must wait for main");
        signals.finished(0);
        assertTrue(hook.join(Duration.ofSeconds(4)));
        assertEquals(List.of(), halts);
    }

    @Test
    @Timeout(5)
    void shouldNotWaitInTheHookWhenMainExitsByItself() throws Exception {
        signals.finished(2);
        Thread hook = Thread.ofPlatform().start(signals::onShutdown);

        assertTrue(hook.join(Duration.ofSeconds(1)), "the hook must not wait");
    }
}

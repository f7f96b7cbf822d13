package io.jvhost.backend.protocol;

import io.jvhost.backend.linux.LinuxException;
import io.jvhost.backend.linux.UnixSocket;

import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A {@link VhostUserConnection} serving one end of a socketpair on its own thread, with a
 * {@link TestFrontend} on the other end.
 */
final class ConnectionHarness implements AutoCloseable {

    static final int PEER_PID = 1234;

    final RecordingDevice device;
    final TestFrontend frontend;
    private final CompletableFuture<VhostUserException> outcome = new CompletableFuture<>();

    ConnectionHarness(RecordingDevice device) throws LinuxException {
        this.device = device;
        UnixSocket[] pair = UnixSocket.pair();
        VhostUserConnection connection = new VhostUserConnection("test", pair[0], device, PEER_PID);
        Thread.ofPlatform().name("test-control").daemon(true).start(() -> {
            try {
                connection.run();
                outcome.complete(null);
            } catch (VhostUserException e) {
                outcome.complete(e);
            } catch (Throwable e) {
                outcome.completeExceptionally(e);
            }
        });
        frontend = new TestFrontend(pair[1]);
    }

    /** How the connection ended: null when the front-end closed it, else the back-end's reason. */
    VhostUserException awaitOutcome() throws Exception {
        return outcome.get(TestFrontend.TIMEOUT_MILLIS, TimeUnit.MILLISECONDS);
    }

    /**
     * Runs {@code steps} on a new connection to {@code device}, then expects the back-end to close it
     * for a reason that ends only this connection, with the device connected first, disconnected last
     * and no contract error recorded; returns the reason.
     */
    static String rejection(RecordingDevice device, Consumer<TestFrontend> steps) throws Exception {
        VhostUserException e;
        try (ConnectionHarness h = new ConnectionHarness(device)) {
            steps.accept(h.frontend);
            assertTrue(h.frontend.isClosedByBackend(), "back-end closed the connection");
            e = h.awaitOutcome();
        }
        assertTrue(e != null && e.shouldReconnect(), "a protocol error ends only this connection");
        List<String> calls = device.calls();
        assertEquals("connected(1234)", calls.getFirst());
        assertEquals("disconnected()", calls.getLast());
        for (String call : calls) {
            assertFalse(call.startsWith("ERROR"), call);
        }
        return e.getMessage();
    }

    /** Closes the front-end's end and waits for the back-end to finish. */
    @Override
    public void close() throws Exception {
        frontend.close();
        awaitOutcome();
    }
}

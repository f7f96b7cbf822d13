package io.jvhost.backend.protocol;

import io.jvhost.backend.linux.LinuxException;
import io.jvhost.backend.linux.UnixSocket;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

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

    /** Closes the front-end's end and waits for the back-end to finish. */
    @Override
    public void close() throws Exception {
        frontend.close();
        awaitOutcome();
    }
}

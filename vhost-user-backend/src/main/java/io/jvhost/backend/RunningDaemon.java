package io.jvhost.backend;

import io.jvhost.backend.management.ManagementView;
import io.jvhost.backend.management.PortControl;

/**
 * A started daemon. {@link io.jvhost.backend.cli.Main} calls {@link #view()} once after start and {@link #close()} once, on
 * its own thread, after the management endpoint is closed (so the view is not used any more).
 */
@SuppressWarnings("try") // close() may throw anything, as AutoCloseable's; Main never uses try-with-resources on it
public interface RunningDaemon extends AutoCloseable {

    /** What the management endpoint shows; called on the management thread, see {@link ManagementView}. */
    ManagementView view();

    /**
     * The changes the control socket makes, called on its thread (see {@link PortControl}); null when
     * this daemon takes none, and then {@link io.jvhost.backend.cli.Main} opens no control socket.
     */
    default PortControl control() {
        return null;
    }

    /**
     * Stops gracefully: stop the workers, answer in-flight protocol requests, remove the server sockets
     * it created. Throwing makes the exit status 1. Main calls it without an interrupt pending; an
     * implementation that waits for threads should finish waiting rather than give up on interrupt.
     */
    @Override
    void close() throws Exception;
}

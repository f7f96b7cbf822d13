package io.jvhost.backend.linux;

/** Entry point for start-up checks of the native layer. */
public final class Linux {

    private Linux() {
    }

    /**
     * Loads libc through JNA and checks the platform and every structure layout (once per process).
     * Call it early in {@code main} to fail with a clear message instead of on the first socket.
     *
     * @throws UnsupportedOperationException not x86_64 Linux, or a layout constant is wrong
     * @throws UnsatisfiedLinkError          libc or a function could not be bound
     */
    public static void ensureAvailable() {
        try {
            Libc.strerror(0);
        } catch (ExceptionInInitializerError e) {
            if (e.getCause() instanceof RuntimeException cause) {
                throw cause;
            }
            throw e;
        }
    }
}

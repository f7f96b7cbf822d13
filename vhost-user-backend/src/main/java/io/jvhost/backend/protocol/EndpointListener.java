package io.jvhost.backend.protocol;

/**
 * Connection events of a {@link VhostUserEndpoint}, for management and tests. Called on the
 * endpoint's control thread; must not block. Exceptions thrown here are logged and ignored.
 */
public interface EndpointListener {

    EndpointListener NONE = new EndpointListener() {
    };

    /** A front-end connected ({@code peerPid} from SO_PEERCRED, -1 when unknown). */
    default void connected(String port, int peerPid) {
    }

    /**
     * The front-end's connection ended; the device session is already torn down.
     *
     * @param cause why the back-end dropped it, or null when the front-end closed it or the endpoint
     *              was closed
     */
    default void disconnected(String port, VhostUserException cause) {
    }

    /** The endpoint stopped for good (e.g. accept failed); no further connections will be served. */
    default void failed(String port, VhostUserException error) {
    }
}

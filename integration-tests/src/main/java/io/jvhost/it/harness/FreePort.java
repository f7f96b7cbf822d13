package io.jvhost.it.harness;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;

/** A TCP port on loopback that nobody listens on now, for a process the harness starts a moment later. */
public final class FreePort {

    private FreePort() {
    }

    /** Bound and released at once: another process could take it in between, which no test here does. */
    public static int onLoopback() {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        } catch (IOException e) {
            throw new UncheckedIOException("no free TCP port on loopback", e);
        }
    }
}

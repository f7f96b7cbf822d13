package io.jvhost.backend.protocol;

import io.jvhost.backend.linux.EventFd;
import io.jvhost.backend.linux.Fds;
import io.jvhost.backend.linux.LinuxException;
import io.jvhost.backend.linux.UnixSocket;
import io.jvhost.virtio.fuzz.FuzzInput;
import io.jvhost.virtio.fuzz.FuzzStats;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Fuzz fixture: what a hostile front-end puts on the wire, over a real socket pair so the codec reads
 * real recvmsg results (split reads, SCM_RIGHTS fds arriving with any byte). One memfd and one
 * eventfd are opened once; every fd sent is a new copy of one of them, which the receiving side owns.
 *
 * <p>{@link #open()} makes a fresh pair per execution; {@link #endOfInput()} shuts the front-end's
 * end, so the back-end reads the rest and then end-of-file instead of waiting.
 */
final class FuzzWire implements AutoCloseable {

    /** Size of the memfd sent as guest memory. */
    static final long MEMFD_SIZE = 0x1_0000;

    private static final Set<Class<?>> WARMED_UP = ConcurrentHashMap.newKeySet();
    private static final int MEMFD;
    private static final int EVENTFD;

    static {
        try {
            MEMFD = Fds.memfdCreate("fuzz-guest-ram");
            Fds.ftruncate(MEMFD, MEMFD_SIZE);
            EVENTFD = EventFd.create();
        } catch (LinuxException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    final UnixSocket frontend;
    final UnixSocket backend;

    private FuzzWire(UnixSocket[] pair) {
        this.frontend = pair[0];
        this.backend = pair[1];
    }

    static FuzzWire open() throws LinuxException {
        return new FuzzWire(UnixSocket.pair());
    }

    static int memfd() {
        return MEMFD;
    }

    static int eventfd() {
        return EVENTFD;
    }

    /** Up to {@code max} fds, each the memfd or the eventfd as the input says. */
    static int[] fds(FuzzInput in, int max) {
        int[] fds = new int[in.below(max + 1)];
        for (int i = 0; i < fds.length; i++) {
            fds[i] = in.bool() ? MEMFD : EVENTFD;
        }
        return fds;
    }

    /** Sends {@code bytes} (not empty) with {@code fds} riding on the first byte. */
    void send(byte[] bytes, int... fds) {
        try {
            frontend.writeFully(MemorySegment.ofArray(bytes), fds);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** A whole message: header (request, flags, payload size) and payload. */
    void send(int request, int flags, MemorySegment payload, int... fds) {
        send(MessageCodec.encode(request, flags, payload).toArray(ValueLayout.JAVA_BYTE), fds);
    }

    /** One run of a fuzz target; {@code checkFds} false for the warm-up. */
    interface Run {
        void run(byte[] data, boolean checkFds) throws Exception;
    }

    /**
     * One execution of {@code test}: the first is preceded by one run on one of its seeds, unchecked.
     * That run opens the fixture's fds and the jars of the classes a run loads, so the fd counts see
     * only what a run opens. It happens at the first execution rather than in {@code @BeforeAll} so
     * the classes are loaded after Jazzer's agent is in place, and so instrumented for coverage.
     */
    static void execute(FuzzStats stats, Class<?> test, String method, String seed, Run run, byte[] data)
            throws Exception {
        if (WARMED_UP.add(test)) {
            run.run(seed(test, method, seed), false);
        }
        stats.count();
        run.run(data, true);
    }

    /** A seed of {@code test}'s corpus (src/test/resources/.../{@code <Test>Inputs/<method>/<name>}). */
    static byte[] seed(Class<?> test, String method, String name) throws IOException {
        String resource = test.getSimpleName() + "Inputs/" + method + "/" + name;
        try (InputStream in = test.getResourceAsStream(resource)) {
            if (in == null) {
                throw new IOException("no seed " + resource + " next to " + test.getName());
            }
            return in.readAllBytes();
        }
    }

    void endOfInput() throws LinuxException {
        frontend.shutdown();
    }

    @Override
    public void close() {
        frontend.close();
        backend.close();
    }
}

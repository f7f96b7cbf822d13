package io.jvhost.it.datapath;

import io.jvhost.it.datapath.InProcessJvhost.Port;
import io.jvhost.it.frontend.VhostUserFrontend;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.logging.Level;
import java.util.logging.Logger;
import java.util.stream.Stream;

import static io.jvhost.it.datapath.Frames.BROADCAST;
import static io.jvhost.it.datapath.Frames.TIMEOUT;
import static io.jvhost.it.datapath.Frames.assertFrames;
import static io.jvhost.it.datapath.Frames.frame;
import static io.jvhost.it.datapath.Frames.mac;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A thousand front-ends in a row on one port of one jvhost: each connects, negotiates everything
 * (features, protocol features, a memfd memory table, both vrings with kick, call and error
 * eventfds, ring enable), sends a frame that reaches the peer port, and goes away, every other one
 * stopping its rings first (GET_VRING_BASE, as QEMU does on guest shutdown), the rest vanishing.
 *
 * <p>After a warm-up (class loading, JIT, lazily opened files), the process must end with the open
 * fds and the memfd mappings it had, exactly; its threads, /proc/self/maps entries, virtual size and
 * shared resident memory may move only by amounts one leaked mapping or thread per cycle would dwarf:
 * each cycle's memory table is a 16 MiB mapping of which the back-end touches a few pages (rings,
 * buffers), so 1,000 leaked tables are 1,000 maps entries, 16 GiB of address space and several MiB
 * of shared RSS.
 *
 * <p>Both figures are taken while a front-end is connected: the port's control thread accepts a
 * connection only after the previous session closed its fds and unmapped its memory, so a finished
 * negotiation proves the teardown before it finished too.
 */
class FrontendLeakTest {

    private static final int WARM_UP = 50;
    private static final int CYCLES = 1000;
    private static final String GUEST_RAM = "memfd:jvhost-it-guest-ram";
    private static final byte[] MAC_A = mac(0xa);
    /**
     * Held, so the level set on it stays (JUL keeps loggers weakly). A cycle logs three INFO lines and
     * a WARNING (this front-end's memfd is not sealed): 4,000 lines of noise here.
     */
    private static final Logger BACKEND_LOG = Logger.getLogger("io.jvhost.backend");

    @TempDir
    Path dir;

    private int seq;

    /** What the process holds: open fds, threads, maps entries (all, and guest RAM ones), VmSize, VmRSS, RssShmem. */
    record Usage(long fds, long threads, long maps, long guestRamMaps, long virtualKiB, long rssKiB, long shmemKiB) {

        static Usage now() {
            List<String> maps = lines(Path.of("/proc/self/maps"));
            List<String> status = lines(Path.of("/proc/self/status"));
            return new Usage(countFds(), status("Threads:", status), maps.size(),
                    maps.stream().filter(line -> line.contains(GUEST_RAM)).count(),
                    status("VmSize:", status), status("VmRSS:", status), status("RssShmem:", status));
        }

        private static long countFds() {
            try (Stream<Path> fds = Files.list(Path.of("/proc/self/fd"))) {
                return fds.count() - 1; // the listing's own fd
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }

        private static List<String> lines(Path file) {
            try {
                return Files.readAllLines(file);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }

        /** A /proc/self/status field's number ("VmRSS:  123 kB" is 123). */
        private static long status(String key, List<String> status) {
            for (String line : status) {
                if (line.startsWith(key)) {
                    return Long.parseLong(line.substring(key.length()).trim().split("\\s+")[0]);
                }
            }
            throw new IllegalStateException("no " + key + " in /proc/self/status");
        }

        @Override
        public String toString() {
            return "fds " + fds + ", threads " + threads + ", maps entries " + maps + " (guest RAM " + guestRamMaps
                    + "), VmSize " + virtualKiB / 1024 + " MiB, VmRSS " + rssKiB / 1024 + " MiB, RssShmem "
                    + shmemKiB / 1024 + " MiB";
        }
    }

    @Test
    @Timeout(300)
    void shouldKeepFdsThreadsAndMappingsOverAThousandConnections() throws Exception {
        Level level = BACKEND_LOG.getLevel();
        BACKEND_LOG.setLevel(Level.SEVERE);
        try (InProcessJvhost jvhost = InProcessJvhost.start(dir, new Port("a", "lan"), new Port("b", "lan"));
             VhostUserFrontend b = VhostUserFrontend.connect(jvhost.socket("b"))) {
            for (int i = 0; i < WARM_UP; i++) {
                cycle(jvhost, b, i, null);
            }
            Usage[] before = new Usage[1];
            cycle(jvhost, b, 0, before);
            long start = System.nanoTime();
            for (int i = 1; i < CYCLES; i++) {
                cycle(jvhost, b, i, null);
            }
            Usage[] after = new Usage[1];
            cycle(jvhost, b, 0, after);
            double seconds = (System.nanoTime() - start) / 1e9;
            System.out.printf("leak check: %d connect/handshake/frame/close cycles in %.1f s%n  before: %s%n  after:  %s%n",
                    CYCLES, seconds, before[0], after[0]);

            Usage was = before[0];
            Usage is = after[0];
            assertEquals(was.fds(), is.fds(), "open fds after " + CYCLES + " cycles");
            assertEquals(was.guestRamMaps(), is.guestRamMaps(), "guest RAM mappings after " + CYCLES + " cycles");
            assertTrue(is.threads() - was.threads() <= 4, "threads grew from " + was.threads() + " to " + is.threads());
            assertTrue(is.maps() - was.maps() <= 100, "maps entries grew from " + was.maps() + " to " + is.maps());
            assertTrue(is.virtualKiB() - was.virtualKiB() < 1024 * 1024, "VmSize grew by "
                    + (is.virtualKiB() - was.virtualKiB()) / 1024 + " MiB");
            assertTrue(is.shmemKiB() - was.shmemKiB() < 4 * 1024, "RssShmem grew by "
                    + (is.shmemKiB() - was.shmemKiB()) + " KiB");
        } finally {
            BACKEND_LOG.setLevel(level);
        }
    }

    /**
     * One front-end on port a: full handshake, a broadcast that must reach b, then away; odd cycles
     * stop the rings first. With {@code usage}, the figures are taken while it is connected.
     */
    private void cycle(InProcessJvhost jvhost, VhostUserFrontend b, int i, Usage[] usage) throws Exception {
        try (VhostUserFrontend a = VhostUserFrontend.connect(jvhost.socket("a"))) {
            byte[] out = frame(BROADCAST, MAC_A, ++seq, 100);
            a.send(out);
            assertFrames(List.of(out), b.receive(TIMEOUT), "b, cycle " + i);
            if (usage != null) {
                usage[0] = Usage.now();
            }
            if (i % 2 == 1) {
                a.stop();
            }
        }
    }
}

package io.jvhost.it.datapath;

import io.jvhost.backend.testing.Resources;
import io.jvhost.backend.protocol.VhostUserSession;
import io.jvhost.it.datapath.InProcessJvhost.Port;
import io.jvhost.it.frontend.VhostUserFrontend;
import io.jvhost.it.frontend.VhostUserFrontend.HotRegion;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static io.jvhost.it.datapath.Frames.BROADCAST;
import static io.jvhost.it.datapath.Frames.TIMEOUT;
import static io.jvhost.it.datapath.Frames.assertFrames;
import static io.jvhost.it.datapath.Frames.frame;
import static io.jvhost.it.datapath.Frames.mac;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

/**
 * Memory hotplug between real front-ends (CONFIGURE_MEM_SLOTS): B plugs in regions with their own
 * memfds (ADD_MEM_REG) and posts its receive buffers only there, while A's frames are on their way;
 * jvhost writes them into the new memory (read back through the region's own mapping, not the
 * driver's view), keeps forwarding while another region comes and one goes (REM_MEM_REG), and
 * unmaps the region it was told to remove (no mapping of its memfd is left in this process).
 */
class FrontendMemoryHotplugTest {

    private static final long DIMM1 = 1L << 32;
    private static final long DIMM2 = 5L << 30;
    private static final long DIMM_SIZE = 1 << 20;
    private static final int BUFFER = 2048;
    private static final int BURST = 32;

    @TempDir
    Path dir;

    @RegisterExtension
    final Resources resources = new Resources();

    @Test
    void shouldDeliverIntoHotAddedMemoryAndKeepForwardingWhileRegionsComeAndGo() throws Exception {
        InProcessJvhost jvhost = resources.track(InProcessJvhost.start(dir, new Port("a", "lan"), new Port("b", "lan")));
        VhostUserFrontend a = resources.track(VhostUserFrontend.connect(jvhost.socket("a")));
        // B posts no buffer in its boot memory: every frame until it refills lands in a hot-added region.
        VhostUserFrontend b = resources.track(VhostUserFrontend.connect(jvhost.socket("b"),
                VhostUserFrontend.Options.defaults().withRxBuffers(0, BUFFER)));
        assertEquals(VhostUserSession.MAX_MEM_SLOTS, b.maxMemSlots(), "GET_MAX_MEM_SLOTS");
        byte[] macA = mac(0xa);

        HotRegion dimm1 = b.addMemory(DIMM1, DIMM_SIZE);
        assertEquals(2, mappings(dimm1), "the front-end's mapping and jvhost's");
        for (int i = 0; i < BURST; i++) {
            b.postRxBufferAt(DIMM1 + (long) i * BUFFER, BUFFER);
        }
        List<byte[]> burst = burst(macA, 0);
        a.sendBatch(burst);
        // While jvhost's workers copy the burst into DIMM1, another region arrives: the RX ring
        // switches tables under them.
        HotRegion dimm2 = b.addMemory(DIMM2, DIMM_SIZE);
        assertFrames(burst, receive(b, BURST), "B: the burst, in DIMM1's buffers");
        assertWrittenAt(dimm1, burst, "DIMM1");

        // DIMM1 holds no posted buffer any more: receive posted one in boot memory for each frame, and
        // DIMM2's come after those. Unplug DIMM1 while A streams two bursts: the first lands in boot
        // memory, the second in DIMM2.
        for (int i = 0; i < BURST; i++) {
            b.postRxBufferAt(DIMM2 + (long) i * BUFFER, BUFFER);
        }
        List<byte[]> second = new ArrayList<>(burst(macA, BURST));
        second.addAll(burst(macA, 2 * BURST));
        a.sendBatch(second.subList(0, BURST));
        b.removeMemory(dimm1);
        a.sendBatch(second.subList(BURST, 2 * BURST));
        assertFrames(second, receive(b, 2 * BURST), "B: both bursts, across the unplug");
        assertEquals(0, mappings(dimm1), "jvhost unmapped the removed region (and the front-end its own)");
        assertEquals(2, mappings(dimm2), "the other hot region stays mapped");
        assertWrittenAt(dimm2, second.subList(BURST, 2 * BURST), "DIMM2");

        assertNull(jvhost.queue("b", VhostUserFrontend.RX_QUEUE).error(), "B's RX queue");
        assertNull(jvhost.queue("a", VhostUserFrontend.TX_QUEUE).error(), "A's TX queue");
    }

    /** Frame {@code i} of {@code frames} is in the region's own memory, after the header of buffer {@code i}. */
    private static void assertWrittenAt(HotRegion region, List<byte[]> frames, String name) {
        MemorySegment memory = region.mapping().segment();
        for (int i = 0; i < frames.size(); i++) {
            byte[] expected = frames.get(i);
            byte[] written = memory.asSlice((long) i * BUFFER + VhostUserFrontend.NET_HEADER_LENGTH, expected.length)
                    .toArray(ValueLayout.JAVA_BYTE);
            assertArrayEquals(expected, written, "frame " + i + " in " + name + " at offset " + i * BUFFER);
        }
    }

    private static List<byte[]> burst(byte[] source, int firstSeq) {
        List<byte[]> frames = new ArrayList<>();
        for (int i = 0; i < BURST; i++) {
            frames.add(frame(BROADCAST, source, firstSeq + i, 60 + 37 * i));
        }
        return frames;
    }

    private static List<byte[]> receive(VhostUserFrontend frontend, int count) throws IOException {
        List<byte[]> frames = new ArrayList<>();
        for (VhostUserFrontend.ReceivedFrame f : frontend.receiveFrames(count, TIMEOUT)) {
            frames.add(f.bytes());
        }
        return frames;
    }

    /** Mappings of the region's memfd in this process (the front-end and the in-process jvhost). */
    private static long mappings(HotRegion region) throws IOException {
        String name = "/memfd:" + region.memfdName() + " (deleted)";
        try (var lines = Files.lines(Path.of("/proc/self/maps"))) {
            return lines.filter(line -> line.endsWith(name)).count();
        }
    }
}

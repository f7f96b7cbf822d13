package io.jvhost.it.datapath;

import io.jvhost.backend.linux.EventFd;
import io.jvhost.backend.linux.Fds;
import io.jvhost.backend.linux.UnixSocket;
import io.jvhost.backend.management.QueueStatus;
import io.jvhost.backend.protocol.MemoryRegionPayload;
import io.jvhost.backend.protocol.MemoryTablePayload;
import io.jvhost.backend.protocol.RequestType;
import io.jvhost.backend.protocol.VhostUserRequest.RegionDescriptor;
import io.jvhost.backend.protocol.VhostUserSession;
import io.jvhost.backend.protocol.VringAddrPayload;
import io.jvhost.backend.protocol.VringFdPayload;
import io.jvhost.it.frontend.VhostUserFrontend;
import io.jvhost.virtio.driver.DriverVirtqueue;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.lang.foreign.ValueLayout;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

import static io.jvhost.it.datapath.Frames.BROADCAST;
import static io.jvhost.it.datapath.Frames.QUIET;
import static io.jvhost.it.datapath.Frames.TIMEOUT;
import static io.jvhost.it.datapath.Frames.assertFrames;
import static io.jvhost.it.datapath.Frames.frame;
import static io.jvhost.it.datapath.InProcessJvhost.awaitEquals;
import static io.jvhost.it.frontend.VhostUserFrontend.RX_QUEUE;
import static io.jvhost.it.frontend.VhostUserFrontend.TX_QUEUE;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A hostile front-end on port {@code victim} (network {@code red}, with {@code peer}) tries to stop
 * more than its own port: fds of the wrong kind, memory that shrinks or moves under running rings,
 * heads re-posted before they were used, chains that are expensive to walk, messages that never end,
 * regions no process could map, hot-added regions that overlap, do not fit or do not exist. Each
 * case checks that the victim fails cleanly, with the reason logged, that the {@code blue} pair of
 * the same daemon forwards during and after the attack, and that the victim's socket serves the next
 * front-end.
 */
class HostileFrontendTest extends TwoNetworksTest {

    /** What a blue round trip may take while the victim attacks: far less than the 1 s a stalled worker costs. */
    private static final Duration PROMPT = Duration.ofMillis(500);
    /** The largest indirect table a ring accepts (SplitVirtqueue.MAX_INDIRECT_ENTRIES). */
    private static final int MAX_INDIRECT_ENTRIES = 65536;
    /** The victim's queue size (the front-end's default): no chain may be longer (§2.7.5.3.1). */
    private static final int QUEUE_SIZE = 256;

    // ---- 1. fds of the wrong kind ----

    static Stream<Arguments> wrongKindsOfFd() {
        List<Arguments> cases = new ArrayList<>();
        for (RequestType type : List.of(RequestType.SET_VRING_KICK, RequestType.SET_VRING_CALL, RequestType.SET_VRING_ERR)) {
            for (String kind : List.of("a regular file", "a pipe", "a socket")) {
                cases.add(Arguments.of(type, kind));
            }
        }
        return cases.stream();
    }

    @ParameterizedTest(name = "{0} with {1}")
    @MethodSource("wrongKindsOfFd")
    void shouldRefuseAVringFdThatIsNotAnEventfd(RequestType type, String kind) throws Exception {
        int fd = openFd(kind);

        assertEquals(1, victim.setVringFd(type, TX_QUEUE, fd), "REPLY_ACK status");
        assertTrue(victim.awaitClosedByBackend(TIMEOUT), "jvhost closed the connection");
        logs.await(TIMEOUT, "port victim: closing the connection: " + type + ": vring 1: the fd is " + kind,
                "not an eventfd");
        jvhost.awaitPort("victim", p -> !p.connected(), "disconnected");
        // Nothing stays registered: no worker serves the victim's queues once the session ended.
        assertNull(jvhost.queue("victim", TX_QUEUE).workerCpu(), "worker of the victim's TX queue");
        assertNull(jvhost.queue("victim", RX_QUEUE).workerCpu(), "worker of the victim's RX queue");
        assertBlueForwards();
        reconnectVictimAndForward();
    }

    private int openFd(String kind) throws Exception {
        return switch (kind) {
            case "a regular file" -> trackFd(Fds.memfdCreate("jvhost-hostile-file"));
            case "a pipe" -> {
                int[] pipe = Fds.pipe();
                trackFd(pipe[1]);
                yield trackFd(pipe[0]);
            }
            case "a socket" -> {
                UnixSocket[] pair = UnixSocket.pair();
                track(pair[0]);
                track(pair[1]);
                yield pair[0].fd();
            }
            default -> throw new IllegalArgumentException(kind);
        };
    }

    private int trackFd(int fd) {
        AutoCloseable closer = () -> Fds.closeQuietly(fd);
        track(closer);
        return fd;
    }

    /**
     * A blocking eventfd as the kick of both rings, and another as a call fd. jvhost makes them
     * non-blocking: the worker that finds the shared kick already drained by the other ring's worker
     * reads nothing instead of blocking in read(2), and a full call counter never blocks a sender.
     * (Which ring sees a given kick is then a race: that is the front-end's own loss.) Every worker
     * still answers: blue forwards promptly, and the victim's queues stop and start again.
     */
    @Test
    void shouldServeBlockingEventfdsWithoutBlockingAWorker() throws Exception {
        int sharedKick = EventFd.create();
        Fds.setNonBlocking(sharedKick, false);
        int call = EventFd.create();
        Fds.setNonBlocking(call, false);

        assertEquals(0, victim.requestStatus(RequestType.SET_VRING_KICK,
                VringFdPayload.of(RX_QUEUE, false).toArray(ValueLayout.JAVA_BYTE), sharedKick), "RX kick");
        assertTrue(Fds.isNonBlocking(sharedKick), "jvhost made the kick eventfd non-blocking");
        assertEquals(0, victim.setVringFd(RequestType.SET_VRING_KICK, TX_QUEUE, sharedKick), "the same eventfd as TX kick");
        assertEquals(0, victim.setVringFd(RequestType.SET_VRING_CALL, TX_QUEUE, call), "TX call");
        assertTrue(Fds.isNonBlocking(call), "jvhost made the call eventfd non-blocking");

        for (int round = 0; round < 10; round++) {
            for (int i = 0; i < 20; i++) {
                victim.kick(TX_QUEUE); // wakes both rings' registrations, on two workers
            }
            assertBlueForwardsPromptly();
            byte[] toVictim = frame(MAC_VICTIM, MAC_PEER, ++seq);
            peer.send(toVictim);
            assertFrames(List.of(toVictim), victim.receive(TIMEOUT), "victim's RX queue");
        }
        assertNull(jvhost.queue("victim", TX_QUEUE).error(), "victim TX queue");
        assertNull(jvhost.queue("victim", RX_QUEUE).error(), "victim RX queue");
        reconnectVictimAndForward(); // stopping and starting queues needs every worker to answer
    }

    // ---- 2 and 4. memory that shrinks: SIGBUS, InternalError ----

    /**
     * The victim truncates its memfd, which it did not seal, after SET_MEM_TABLE. jvhost's next access
     * to it is a SIGBUS (the JVM's InternalError) on the worker serving the victim's TX queue, then on
     * the peer's worker delivering to the victim's RX queue, then on the victim's control thread: each
     * time that queue or that connection stops, with the reason logged, and nothing else does.
     */
    @Test
    @Tag(ONE_WORKER) // a worker that stalled for the victim would stall blue too
    void shouldStopOnlyTheVictimWhenItShrinksItsUnsealedMemfd() throws Exception {
        logs.await(TIMEOUT, "SET_MEM_TABLE: region 0: the memfd is not sealed against shrinking (F_SEAL_SHRINK)");
        DriverVirtqueue tx = victim.txRing(); // its addresses only: its memory is gone below
        byte[] addr = VringAddrPayload.of(TX_QUEUE, 0, tx.descFrontendVa(), tx.usedFrontendVa(), tx.availFrontendVa(), 0)
                .toArray(ValueLayout.JAVA_BYTE);

        Fds.ftruncate(victim.memfd(), 0);

        victim.kick(TX_QUEUE);
        assertEquals(1, victim.awaitQueueError(TX_QUEUE, TIMEOUT), "SET_VRING_ERR eventfd of the victim's TX queue");
        assertQueueError("victim", TX_QUEUE, "InternalError");
        assertBlueForwardsPromptly(); // no second lost to Netty's loop exception handler

        long peerTx = jvhost.queue("peer", TX_QUEUE).packets();
        peer.send(frame(MAC_VICTIM, MAC_PEER, ++seq));
        assertEquals(1, victim.awaitQueueError(RX_QUEUE, TIMEOUT), "SET_VRING_ERR eventfd of the victim's RX queue");
        assertQueueError("victim", RX_QUEUE, "InternalError");
        awaitEquals(peerTx + 1, () -> jvhost.queue("peer", TX_QUEUE).packets(), "peer TX packets");
        assertNull(jvhost.queue("peer", TX_QUEUE).error(), "the sender's queue goes on");
        assertBlueForwardsPromptly();

        // SET_VRING_ADDR restarts the TX ring, and the control thread reads its used idx: another SIGBUS.
        assertEquals(1, victim.requestStatus(RequestType.SET_VRING_ADDR, addr), "REPLY_ACK status");
        assertTrue(victim.awaitClosedByBackend(TIMEOUT), "jvhost closed the connection");
        logs.await(TIMEOUT, "port victim: closing the connection: SET_VRING_ADDR: device failed: java.lang.InternalError");
        jvhost.awaitPort("victim", p -> !p.connected(), "disconnected");
        assertEquals(2, jvhost.port("victim").errors(), "victim errors");
        assertBlueForwards();
        reconnectVictimAndForward();
    }

    // ---- 3. ring invariants under change ----

    /**
     * With 32-entry rings the victim posts 32 chains and re-posts the same 32 heads before jvhost has
     * used them, with one avail idx store. A batch that took them all would push more used entries
     * than the shadow used ring holds; jvhost must instead stop the ring for an avail idx too far ahead.
     */
    @Test
    @Tag(ONE_WORKER) // a worker that stalled for the victim would stall blue too
    void shouldStopATxRingWhoseHeadsAreRepostedBeforeTheyWereUsed() throws Exception {
        victim.close();
        VhostUserFrontend.Options small = new VhostUserFrontend.Options(16L << 20, 32, 2048, 32, 2048,
                VhostUserFrontend.DRIVER_FEATURES, true);
        victim = connect("victim", small);
        assertRedForwards(victim);
        victim.reclaimTx();
        DriverVirtqueue tx = victim.txRing();
        long table = tx.writeZeroLengthTable(16);
        int[] heads = new int[tx.size()];
        for (int i = 0; i < heads.length; i++) {
            heads[i] = tx.addIndirect(table, 16 * 16, 0);
        }
        for (int head : heads) {
            tx.pushAvailRaw(head); // the same heads again, not used yet
        }
        tx.publishAvailJump(0); // one store: 64 ahead of the used idx, in a ring of 32
        victim.kick(TX_QUEUE);

        assertEquals(1, victim.awaitQueueError(TX_QUEUE, TIMEOUT), "SET_VRING_ERR eventfd of the victim's TX queue");
        assertQueueError("victim", TX_QUEUE, "more than the queue size 32");
        assertEquals(List.of(), logs.linesWith("without publishUsed"), "shadow used ring overflows");
        assertBlueForwardsPromptly();
        reconnectVictimAndForward();
    }

    /**
     * A SET_MEM_TABLE that maps other memory, which no longer holds the running rings: both rings stop
     * for real (kicks and frames do nothing, nothing touches the old, now unmapped, table).
     */
    @Test
    @Tag(ONE_WORKER) // a worker that stalled for the victim would stall blue too
    void shouldStopRingsThatANewMemoryTableNoLongerCovers() throws Exception {
        int other = trackFd(Fds.memfdCreate("jvhost-hostile-other-ram"));
        Fds.ftruncate(other, 1 << 20);
        byte[] table = MemoryTablePayload.of(new RegionDescriptor(1L << 30, 1 << 20, 0x10_0000_0000L, 0))
                .toArray(ValueLayout.JAVA_BYTE);
        int usedBefore = victim.txRing().usedIdx();

        assertEquals(0, victim.requestStatus(RequestType.SET_MEM_TABLE, table, other), "the table itself is valid");
        assertEquals(1, victim.awaitQueueError(TX_QUEUE, TIMEOUT), "SET_VRING_ERR eventfd of the TX queue");
        assertEquals(1, victim.awaitQueueError(RX_QUEUE, TIMEOUT), "SET_VRING_ERR eventfd of the RX queue");
        assertQueueError("victim", TX_QUEUE, "ring no longer mapped after a memory table change");
        assertQueueError("victim", RX_QUEUE, "ring no longer mapped after a memory table change");

        long txPackets = jvhost.queue("victim", TX_QUEUE).packets();
        victim.send(frame(BROADCAST, MAC_VICTIM, ++seq));
        victim.kick(TX_QUEUE);
        assertFrames(List.of(), peer.receive(QUIET), "peer: the victim's TX ring stopped");
        assertEquals(usedBefore, victim.txRing().usedIdx(), "TX used idx");
        assertEquals(txPackets, jvhost.queue("victim", TX_QUEUE).packets(), "victim TX packets");
        assertEquals(List.of(), logs.linesWith("unexpected"), "no queue touched unmapped memory");
        assertTrue(jvhost.port("victim").connected(), "the connection stays");
        assertBlueForwardsPromptly();
        reconnectVictimAndForward();
    }

    // ---- 4b. memory slots (CONFIGURE_MEM_SLOTS): ADD_MEM_REG and REM_MEM_REG ----

    /** A region of a fresh memfd of {@code fileSize} bytes (tracked), not yet sent. */
    private int dimmFd(long fileSize) throws Exception {
        int fd = trackFd(Fds.memfdCreate("jvhost-hostile-dimm"));
        Fds.ftruncate(fd, fileSize);
        return fd;
    }

    private static byte[] memReg(long gpa, long size, long frontendVa, long mmapOffset) {
        return MemoryRegionPayload.of(new RegionDescriptor(gpa, size, frontendVa, mmapOffset)).toArray(ValueLayout.JAVA_BYTE);
    }

    static Stream<Arguments> hostileMemorySlots() {
        return Stream.of(
                Arguments.of("a region overlapping the boot memory", "ADD_MEM_REG: region gpa 0x80000 size 0x100000",
                        "overlaps the mapped region gpa 0x0 size 0x1000000"),
                Arguments.of("a region beyond its file", "ADD_MEM_REG: region gpa 0x100000000 size 0x100000",
                        "mmap_offset 0x1000 + size 0x100000 exceeds the file size 0x100000"),
                Arguments.of("an empty region", "ADD_MEM_REG: region gpa 0x100000000 size 0x0", "is empty or too large"),
                Arguments.of("a region without an fd", "ADD_MEM_REG: no fd attached for the region", ""),
                Arguments.of("the removal of a region never added",
                        "REM_MEM_REG: no mapped region matches region gpa 0x100000000 size 0x100000", ""),
                Arguments.of("one region more than the slots", "ADD_MEM_REG: all 32 memory slots are in use", ""));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("hostileMemorySlots")
    void shouldRefuseHostileMemorySlotRequests(String attack, String reason, String detail) throws Exception {
        long dimmVa = 0x10_0000_0000L;
        byte[] refused = switch (attack) {
            case "a region overlapping the boot memory" -> memReg(0x8_0000, 1 << 20, dimmVa, 0);
            case "a region beyond its file" -> memReg(1L << 32, 1 << 20, dimmVa, 0x1000);
            case "an empty region" -> memReg(1L << 32, 0, dimmVa, 0);
            case "a region without an fd", "the removal of a region never added" -> memReg(1L << 32, 1 << 20, dimmVa, 0);
            case "one region more than the slots" -> {
                int fd = dimmFd(32 * 4096);
                for (int slot = 1; slot < VhostUserSession.MAX_MEM_SLOTS; slot++) { // slot 0: the boot memory
                    assertEquals(0, victim.requestStatus(RequestType.ADD_MEM_REG,
                            memReg((1L << 32) + slot * 4096L, 4096, dimmVa + slot * 4096L, slot * 4096L), fd), "slot " + slot);
                }
                yield memReg(1L << 33, 4096, dimmVa + (1L << 30), 0);
            }
            default -> throw new IllegalArgumentException(attack);
        };
        RequestType type = attack.startsWith("the removal") ? RequestType.REM_MEM_REG : RequestType.ADD_MEM_REG;
        int[] fds = type == RequestType.REM_MEM_REG || attack.equals("a region without an fd")
                ? new int[0] : new int[] {dimmFd(1 << 20)};

        assertEquals(1, victim.requestStatus(type, refused, fds), "REPLY_ACK status");
        assertTrue(victim.awaitClosedByBackend(TIMEOUT), "jvhost closed the connection");
        logs.await(TIMEOUT, "port victim: closing the connection: " + reason, detail);
        jvhost.awaitPort("victim", p -> !p.connected(), "disconnected");
        assertNull(jvhost.queue("victim", TX_QUEUE).workerCpu(), "worker of the victim's TX queue");
        assertBlueForwards();
        reconnectVictimAndForward();
    }

    /**
     * REM_MEM_REG of the region that holds the running rings (the boot memory): as with a
     * SET_MEM_TABLE that no longer covers them, both rings stop for real and the region is unmapped
     * only once no worker can touch it; the connection stays.
     */
    @Test
    @Tag(ONE_WORKER)
    void shouldStopRingsWhoseRegionIsRemoved() throws Exception {
        long bootVa = victim.ram().regions().getFirst().frontendVa();
        int usedBefore = victim.txRing().usedIdx();

        assertEquals(0, victim.requestStatus(RequestType.REM_MEM_REG, memReg(0, 16 << 20, bootVa, 0)),
                "the region exists");
        assertEquals(1, victim.awaitQueueError(TX_QUEUE, TIMEOUT), "SET_VRING_ERR eventfd of the TX queue");
        assertEquals(1, victim.awaitQueueError(RX_QUEUE, TIMEOUT), "SET_VRING_ERR eventfd of the RX queue");
        assertQueueError("victim", TX_QUEUE, "ring no longer mapped after a memory table change");
        assertQueueError("victim", RX_QUEUE, "ring no longer mapped after a memory table change");
        logs.await(TIMEOUT, "REM_MEM_REG: unmapped region gpa 0x0 size 0x1000000", "(0 of 32 slots in use)");

        victim.send(frame(BROADCAST, MAC_VICTIM, ++seq));
        victim.kick(TX_QUEUE);
        assertFrames(List.of(), peer.receive(QUIET), "peer: the victim's TX ring stopped");
        assertEquals(usedBefore, victim.txRing().usedIdx(), "TX used idx");
        assertEquals(List.of(), logs.linesWith("unexpected"), "no queue touched unmapped memory");
        assertTrue(jvhost.port("victim").connected(), "the connection stays");
        assertBlueForwardsPromptly();
        reconnectVictimAndForward();
    }

    // ---- 5. stalls ----

    @Test
    void shouldDropAConnectionThatStopsHalfWayThroughAHeader() throws Exception {
        long start = System.nanoTime();
        victim.sendRaw(new byte[6]);

        // While the control thread waits for the rest, the data path carries on.
        assertRedForwards(victim);
        assertBlueForwardsPromptly();
        assertTrue(victim.awaitClosedByBackend(Duration.ofSeconds(10)), "jvhost closed the stalled connection");
        long waitedMillis = (System.nanoTime() - start) / 1_000_000;
        assertTrue(waitedMillis >= 4_500 && waitedMillis < 9_000, "closed after " + waitedMillis + " ms");
        logs.await(TIMEOUT, "port victim: closing the connection: stalled message: header: 6 of 12 bytes arrived");
        jvhost.awaitPort("victim", p -> !p.connected(), "disconnected");
        assertBlueForwards();
        reconnectVictimAndForward();
    }

    /**
     * 200 chains whose indirect tables hold 256 zero-length descriptors each, as many as the queue size
     * (legal, and the most a chain can cost to walk): the TX budget counts descriptors, so the worker
     * serving the victim ends its turn after 15 such chains and serves its other queues in between,
     * instead of walking all 200 in one turn. Counted in turns, not time: a fast machine walks them all
     * before another frame could show the difference.
     */
    @Test
    @Tag(ONE_WORKER)
    void shouldNotLetChainsOfZeroLengthDescriptorsTakeTheWorker() throws Exception {
        int cpu = jvhost.queue("victim", TX_QUEUE).workerCpu();
        assertEquals(cpu, jvhost.queue("blue1", TX_QUEUE).workerCpu(), "the victim and blue1 share the worker");
        victim.reclaimTx();
        DriverVirtqueue tx = victim.txRing();
        long table = tx.writeZeroLengthTable(QUEUE_SIZE);
        int chains = 200;
        long dropsBefore = jvhost.queue("victim", TX_QUEUE).drops();
        long turnsBefore = workerTurns(cpu);
        for (int i = 0; i < chains; i++) {
            tx.addIndirect(table, 16 * QUEUE_SIZE, 0);
        }
        tx.publishAvail();
        victim.kick(TX_QUEUE);
        awaitEquals(dropsBefore + chains, () -> jvhost.queue("victim", TX_QUEUE).drops(), "victim TX drops (no data)");
        // Each chain walks 1 + QUEUE_SIZE descriptors: a turn of DESCRIPTOR_BUDGET (4096) takes 15 of them,
        // and the worker looks at its other queues between turns. Without the budget all 200 fit one turn.
        long turns = workerTurns(cpu) - turnsBefore;
        long least = (long) chains * (1 + QUEUE_SIZE) / 4096;
        assertTrue(turns >= least, "the worker took the victim's " + chains + " chains in " + turns
                + " turns, at least " + least + " with a budget of 4096 descriptors a turn");
        assertNull(jvhost.queue("victim", TX_QUEUE).error(), "a legal ring stays up");
        assertRedForwards(victim);
        assertBlueForwards();
    }

    /** Wakeups and poll-list turns in which the worker on {@code cpu} did work. */
    private long workerTurns(int cpu) {
        return jvhost.view().workers().stream().filter(w -> w.cpu() == cpu).findFirst().orElseThrow().wakeups();
    }

    /**
     * A chain through an indirect table of 65536 zero-length descriptors, longer than the queue size,
     * which a driver must not make (§2.7.5.3.1): it would cost milliseconds to walk. The ring stops
     * after walking a queue size of it.
     */
    @Test
    void shouldStopAChainLongerThanTheQueueSize() throws Exception {
        victim.reclaimTx();
        DriverVirtqueue tx = victim.txRing();
        tx.addIndirect(tx.writeZeroLengthTable(MAX_INDIRECT_ENTRIES), 16 * MAX_INDIRECT_ENTRIES, 0);
        tx.publishAvail();
        victim.kick(TX_QUEUE);
        assertEquals(1, victim.awaitQueueError(TX_QUEUE, TIMEOUT), "SET_VRING_ERR eventfd of the victim's TX queue");
        assertQueueError("victim", TX_QUEUE, "is longer than the queue size " + QUEUE_SIZE);
        assertBlueForwardsPromptly();
        reconnectVictimAndForward();
    }

    /** A sparse 64 TiB memfd costs its front-end nothing; mapped, it would take half this process's address space. */
    @Test
    void shouldRefuseA64TiBRegion() throws Exception {
        int sparse = trackFd(Fds.memfdCreate("jvhost-hostile-sparse"));
        Fds.ftruncate(sparse, 64L << 40);
        byte[] table = MemoryTablePayload.of(new RegionDescriptor(0, 64L << 40, 0x10_0000_0000L, 0))
                .toArray(ValueLayout.JAVA_BYTE);

        assertEquals(1, victim.requestStatus(RequestType.SET_MEM_TABLE, table, sparse), "REPLY_ACK status");
        assertTrue(victim.awaitClosedByBackend(TIMEOUT), "jvhost closed the connection");
        logs.await(TIMEOUT, "port victim: closing the connection: SET_MEM_TABLE: the regions add up to more than 16 TiB");
        jvhost.awaitPort("victim", p -> !p.connected(), "disconnected");
        assertBlueForwards();
        reconnectVictimAndForward();
    }

    // ---------------------------------------------------------------------------------------------

    private void assertQueueError(String port, int index, String part) {
        QueueStatus q = jvhost.queue(port, index);
        assertNotNull(q.error(), "queue " + port + "/" + index + " stopped: " + q);
        assertTrue(q.error().contains(part), "queue " + port + "/" + index + " error: " + q.error());
        logs.await(TIMEOUT, "port " + port + ": queue " + index + " stopped: ", part);
    }

    /** Blue forwards both ways within {@link #PROMPT}: no worker is stalled. */
    private void assertBlueForwardsPromptly() throws Exception {
        long start = System.nanoTime();
        assertBlueForwards(PROMPT);
        long millis = (System.nanoTime() - start) / 1_000_000;
        assertTrue(millis < PROMPT.toMillis(), "blue round trip took " + millis + " ms");
    }
}

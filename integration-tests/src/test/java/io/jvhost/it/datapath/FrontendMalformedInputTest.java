package io.jvhost.it.datapath;

import io.jvhost.backend.management.PortStatus;
import io.jvhost.backend.protocol.MessageHeader;
import io.jvhost.backend.protocol.RequestType;
import io.jvhost.virtio.driver.DriverVirtqueue;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.List;
import java.util.function.Consumer;

import static io.jvhost.it.datapath.Frames.BROADCAST;
import static io.jvhost.it.datapath.Frames.QUIET;
import static io.jvhost.it.datapath.Frames.TIMEOUT;
import static io.jvhost.it.datapath.Frames.assertFrames;
import static io.jvhost.it.datapath.Frames.frame;
import static io.jvhost.it.datapath.InProcessJvhost.awaitEquals;
import static io.jvhost.it.frontend.VhostUserFrontend.RX_QUEUE;
import static io.jvhost.it.frontend.VhostUserFrontend.TX_QUEUE;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Bad input from one front-end (port {@code victim} in network {@code red}) must stop only what it
 * broke: a malformed TX ring stops that queue (the connection and the port's RX queue carry on), a
 * protocol error drops that connection. jvhost stays up, the {@code blue} pair keeps forwarding before
 * and after, and the victim's socket serves a new front-end that forwards again.
 */
class FrontendMalformedInputTest extends TwoNetworksTest {

    /** TX chains the victim's TX queue forwarded before the bad input. */
    private int victimTxForwarded;

    @BeforeEach
    void countVictimTx() {
        victimTxForwarded = victim.txRing().availIdx();
        awaitEquals((long) victimTxForwarded, () -> jvhost.queue("victim", TX_QUEUE).packets(), "victim TX packets");
    }

    // ---- malformed TX rings: the queue stops, the connection stays ----

    @Test
    void shouldStopOnlyTheTxQueueOnDescriptorLoop() throws Exception {
        assertTxRingErrorContained(ring -> {
            ring.addLoop();
            ring.publishAvail();
        });
    }

    @Test
    void shouldStopOnlyTheTxQueueOnUnmappedBufferAddress() throws Exception {
        long beyondRam = victim.options().memoryBytes() + (1L << 30);
        assertTxRingErrorContained(ring -> {
            ring.addUnmapped(beyondRam, 64);
            ring.publishAvail();
        });
    }

    @Test
    void shouldStopOnlyTheTxQueueOnAvailIdxJump() throws Exception {
        assertTxRingErrorContained(ring -> ring.publishAvailJump(ring.size() + 1));
    }

    /**
     * Lets {@code badInput} write bad input into the victim's TX ring and publish it, kicks, then checks
     * in order: the error eventfd and counter say so once, the queue forwards nothing more, the port's
     * RX queue and its control connection still work, GET_VRING_BASE reports the bad chain as not
     * consumed, the blue pair forwards, and a new front-end on the victim's socket forwards again.
     */
    private void assertTxRingErrorContained(Consumer<DriverVirtqueue> badInput) throws Exception {
        DriverVirtqueue ring = victim.txRing();
        int usedBefore = ring.usedIdx();
        badInput.accept(ring);
        victim.kick(TX_QUEUE);

        assertEquals(1, victim.awaitQueueError(TX_QUEUE, TIMEOUT), "SET_VRING_ERR eventfd of the TX queue");
        jvhost.awaitPort("victim", p -> p.errors() == 1, "errors == 1");

        // The stopped queue forwards nothing, however often it is kicked.
        byte[] ignored = frame(BROADCAST, MAC_VICTIM, ++seq);
        victim.send(ignored);
        victim.kick(TX_QUEUE);
        assertFrames(List.of(), peer.receive(QUIET), "peer after the victim's TX queue stopped");
        assertEquals(usedBefore, ring.usedIdx(), "TX used idx: nothing completed after the bad input");
        assertEquals(victimTxForwarded, jvhost.queue("victim", TX_QUEUE).packets(), "victim TX packets");
        assertEquals(0, victim.queueErrors(TX_QUEUE), "the error is signalled once");
        assertEquals(0, victim.queueErrors(RX_QUEUE), "RX queue error eventfd");

        // The rest of the port, and the connection, still work.
        byte[] toVictim = frame(MAC_VICTIM, MAC_PEER, ++seq);
        peer.send(toVictim);
        assertArrayEquals(toVictim, victim.receiveOne(TIMEOUT), "victim's RX queue still receives");
        assertEquals(victim.offeredFeatures(), victim.getFeatures(), "control connection still served");
        PortStatus status = jvhost.port("victim");
        assertTrue(status.connected(), "victim still connected: " + status);
        assertEquals(1, status.errors(), "errors: " + status);
        assertEquals(victimTxForwarded, victim.getVringBase(TX_QUEUE), "GET_VRING_BASE: next avail is the bad chain");

        assertBlueForwards();
        reconnectVictimAndForward();
        assertEquals(1, jvhost.port("victim").errors(), "errors after the new session");
    }

    // ---- protocol errors: the connection is dropped ----

    @ParameterizedTest(name = "request code {0}")
    @ValueSource(ints = {21, 24, 99, -1}) // SET_BACKEND_REQ_FD and GET_CONFIG (not implemented), unassigned, 2^32-1
    void shouldDropTheConnectionOnUnknownRequest(int code) throws Exception {
        victim.sendRequest(code, MessageHeader.VERSION | MessageHeader.FLAG_NEED_REPLY, new byte[0]);

        assertTrue(victim.awaitClosedByBackend(TIMEOUT), "jvhost closed the connection without a reply");
        jvhost.awaitPort("victim", p -> !p.connected(), "disconnected");
        assertProtocolErrorContained();
    }

    @Test
    void shouldDropTheConnectionOnUnknownRequestWithPayload() throws Exception {
        victim.sendRequest(99, MessageHeader.VERSION, new byte[40]);

        assertTrue(victim.awaitClosedByBackend(TIMEOUT), "jvhost closed the connection");
        jvhost.awaitPort("victim", p -> !p.connected(), "disconnected");
        assertProtocolErrorContained();
    }

    @Test
    void shouldDropTheConnectionOnTruncatedMessage() throws Exception {
        // SET_FEATURES announcing its 8-byte payload, of which only 3 bytes come.
        ByteBuffer truncated = ByteBuffer.allocate(MessageHeader.LENGTH + 3).order(ByteOrder.LITTLE_ENDIAN);
        truncated.putInt(RequestType.SET_FEATURES.code()).putInt(MessageHeader.VERSION).putInt(8);
        truncated.put(new byte[] {1, 2, 3});
        victim.sendRaw(truncated.array());

        // While jvhost waits for the rest, the data path carries on (it never runs on the control thread).
        assertFalse(victim.awaitClosedByBackend(QUIET), "jvhost waits for the rest of the message");
        assertRedForwards(victim);
        victim.close(); // the rest never comes

        jvhost.awaitPort("victim", p -> !p.connected(), "disconnected");
        assertProtocolErrorContained();
    }

    /** After a dropped connection: no delivery to the old front-end, blue unaffected, the socket serves again. */
    private void assertProtocolErrorContained() throws Exception {
        PortStatus status = jvhost.port("victim");
        assertEquals(0, status.errors(), "a protocol error is not a ring error: " + status);
        assertEquals(0L, status.features(), "features forgotten: " + status);
        long victimRx = jvhost.queue("victim", RX_QUEUE).packets();
        long peerTx = jvhost.queue("peer", TX_QUEUE).packets();
        peer.send(frame(MAC_VICTIM, MAC_PEER, ++seq));
        // The peer's TX counter moves after the switch handled the frame: the delivery attempt is over.
        awaitEquals(peerTx + 1, () -> jvhost.queue("peer", TX_QUEUE).packets(), "peer TX packets");
        assertEquals(victimRx, jvhost.queue("victim", RX_QUEUE).packets(), "delivered to the disconnected port");
        assertEquals(0L, jvhost.port("victim").drops(), "a port without a front-end counts no drops");
        assertBlueForwards();
        reconnectVictimAndForward();
    }
}

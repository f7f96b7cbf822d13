package io.jvhost.backend.device;

import io.jvhost.virtio.driver.DriverVirtqueue;
import io.netty.channel.epoll.Native;

import java.nio.ByteBuffer;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.IntPredicate;

/** Test frames that carry a sequence number, as a TX chain holds them (virtio-net header first). */
final class NumberedFrames {

    static final byte[] MAC_A = {0x52, 0x54, 0, 0, 0, 0x0a};
    static final byte[] MAC_B = {0x52, 0x54, 0, 0, 0, 0x0b};
    /** The 12-byte header, then destination and source MAC and the EtherType: the number follows. */
    private static final int SEQ_OFFSET = 12 + 14;

    private NumberedFrames() {
    }

    /** A 64-byte frame from A to B (after a zero 12-byte virtio-net header) numbered {@code seq}. */
    static byte[] fromAToB(int seq) {
        ByteBuffer f = ByteBuffer.allocate(12 + 64);
        f.position(12);
        f.put(MAC_B).put(MAC_A).putShort((short) 0x88B5).putInt(seq);
        return f.array();
    }

    /**
     * The driver's side of a stream: takes back completed chains, adds up to 32 frames numbered from
     * {@code seq}, publishes them and kicks {@code kickFd} when the device asks for kicks.
     *
     * @return the next number; {@code seq} when the ring had no room (the caller waits, or gives up)
     */
    static int sendBurst(DriverVirtqueue tx, int seq, boolean eventIdx, int kickFd) {
        tx.pollUsed();
        int burst = Math.min(32, tx.freeDescriptors());
        if (burst == 0) {
            return seq;
        }
        for (int i = 0; i < burst; i++) {
            tx.addTx(fromAToB(seq + i));
        }
        tx.publishAvail();
        if (tx.needsKick(eventIdx)) {
            Native.eventFdWrite(kickFd, 1);
        }
        return seq + burst;
    }

    /**
     * A thread that streams numbered frames into {@code tx} ({@link #sendBurst}) while {@code more}
     * says so for the next number, or until {@code from}'s queues stop; {@code sent} counts the frames
     * posted, {@code failure} takes what went wrong, and {@code sending} is cleared at the end.
     */
    static Thread startSender(DriverVirtqueue tx, boolean eventIdx, int kickFd, VirtioNetPort from, IntPredicate more,
                              AtomicInteger sent, AtomicBoolean sending, AtomicReference<Throwable> failure) {
        return Thread.ofPlatform().name("test-sender").start(() -> {
            try {
                for (int seq = 0; more.test(seq); ) {
                    int next = sendBurst(tx, seq, eventIdx, kickFd);
                    if (next == seq) {
                        if (from.errors() > 0) {
                            break; // the queue stopped: its ring never empties
                        }
                        Thread.onSpinWait();
                        continue;
                    }
                    seq = next;
                    sent.set(seq);
                }
            } catch (Throwable t) {
                failure.set(t);
            } finally {
                sending.set(false);
            }
        });
    }

    /** The number in {@code written}, the bytes of an RX chain (header included). */
    static int seq(byte[] written) {
        return ByteBuffer.wrap(written, SEQ_OFFSET, 4).getInt();
    }
}

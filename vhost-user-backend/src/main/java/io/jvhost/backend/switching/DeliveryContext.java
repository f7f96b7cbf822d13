package io.jvhost.backend.switching;

import io.jvhost.virtio.net.RxFrameWriter;

import java.lang.foreign.MemorySegment;
import java.util.Arrays;

/**
 * Per-worker scratch for forwarding: the RX writer and the destinations touched in the current
 * batch, so that each destination publishes its used ring and signals its guest once per batch.
 * Owned by one worker thread; never shared.
 */
public final class DeliveryContext {

    /** A destination that buffered completions and must publish them at the end of the batch. */
    public interface Flushable {
        void flush();
    }

    private final RxFrameWriter writer = new RxFrameWriter();
    private final Frame frame = new Frame();
    private final MemorySegment macScratch = MemorySegment.ofArray(new byte[16]);
    private Flushable[] touched = new Flushable[16];
    private int touchedCount;
    private long nowNanos;

    public RxFrameWriter writer() {
        return writer;
    }

    public Frame frame() {
        return frame;
    }

    /** 16 bytes to read a frame's two MAC addresses into. */
    public MemorySegment macScratch() {
        return macScratch;
    }

    /** Time at the start of the current batch, for MAC ageing without a clock read per frame. */
    public long nowNanos() {
        return nowNanos;
    }

    public void startBatch() {
        nowNanos = System.nanoTime();
    }

    /** Remembers a destination to flush at the end of the batch (the caller adds each one once). */
    public void touch(Flushable destination) {
        if (touchedCount == touched.length) {
            touched = Arrays.copyOf(touched, touched.length * 2); // grows once per new fan-out high-water mark
        }
        touched[touchedCount++] = destination;
    }

    /** Publishes every destination touched since the last call. */
    public void flushTouched() {
        final Flushable[] t = touched;
        for (int i = 0, n = touchedCount; i < n; i++) {
            t[i].flush();
            t[i] = null;
        }
        touchedCount = 0;
    }
}

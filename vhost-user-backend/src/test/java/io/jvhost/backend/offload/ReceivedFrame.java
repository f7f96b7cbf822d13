package io.jvhost.backend.offload;

import io.jvhost.virtio.driver.DriverVirtqueue;
import io.jvhost.virtio.driver.DriverVirtqueue.Used;
import io.jvhost.virtio.ring.SplitVirtqueue;

import java.io.ByteArrayOutputStream;
import java.util.ArrayList;
import java.util.List;

/** Test fixture: a frame as the receiving guest sees it, its 12-byte virtio-net header and its bytes. */
record ReceivedFrame(byte[] header, byte[] frame) {

    int flags() {
        return header[0] & 0xFF;
    }

    int csumStart() {
        return (header[6] & 0xFF) | (header[7] & 0xFF) << 8;
    }

    int csumOffset() {
        return (header[8] & 0xFF) | (header[9] & 0xFF) << 8;
    }

    /** Publishes {@code rx} and collects every frame its ring holds (mergeable: chains joined by num_buffers). */
    static List<ReceivedFrame> drain(SplitVirtqueue rx, DriverVirtqueue driver) {
        rx.publishUsed();
        List<ReceivedFrame> out = new ArrayList<>();
        List<Used> used = driver.pollUsed();
        for (int i = 0; i < used.size(); ) {
            byte[] first = driver.written(used.get(i));
            int buffers = (first[10] & 0xFF) | (first[11] & 0xFF) << 8;
            ByteArrayOutputStream frame = new ByteArrayOutputStream();
            frame.write(first, 12, first.length - 12);
            for (int j = 1; j < buffers; j++) {
                frame.writeBytes(driver.written(used.get(i + j)));
            }
            out.add(new ReceivedFrame(TestPackets.range(first, 0, 12), frame.toByteArray()));
            i += buffers;
        }
        return out;
    }
}

package io.jvhost.virtio.net;

import org.junit.jupiter.api.Test;

import static io.jvhost.virtio.net.VirtioNetFeatures.*;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class VirtioNetFeaturesTest {

    @Test
    void shouldUseTheSpecBitNumbers() {
        assertEquals(0, CSUM);
        assertEquals(1, GUEST_CSUM);
        assertEquals(5, MAC);
        assertEquals(15, MRG_RXBUF);
        assertEquals(16, STATUS);
        assertEquals(17, CTRL_VQ);
        assertEquals(22, MQ);
        assertEquals(24, VIRTIO_F_NOTIFY_ON_EMPTY);
        assertEquals(27, ANY_LAYOUT);
        assertEquals(28, RING_INDIRECT_DESC);
        assertEquals(29, RING_EVENT_IDX);
        assertEquals(30, VHOST_USER_F_PROTOCOL_FEATURES);
        assertEquals(32, VERSION_1);
        assertEquals(0x1_0000_0000L, mask(VERSION_1));
        assertTrue(has(mask(MQ) | mask(MAC), MQ));
        assertFalse(has(mask(MQ), MAC));
    }

    @Test
    void shouldDescribeFeaturesForLogs() {
        long features = mask(MAC) | mask(MRG_RXBUF) | mask(RING_EVENT_IDX) | mask(VERSION_1) | mask(VHOST_USER_F_PROTOCOL_FEATURES)
                | mask(40);
        assertEquals("0x10160008020 MAC|MRG_RXBUF|RING_EVENT_IDX|PROTOCOL_FEATURES|VERSION_1|bit40", describe(features));
        assertEquals("0x0 none", describe(0));
    }
}

package io.jvhost.backend.switching;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

class MacTableTest {

    private static SwitchPort port(String name) {
        return new SwitchPort() {
            @Override
            public String name() {
                return name;
            }

            @Override
            public void deliver(Frame frame, DeliveryContext context) {
            }
        };
    }

    @Test
    void shouldGrowAndFindEveryLearnedAddress() {
        MacTable table = new MacTable();
        SwitchPort[] ports = {port("a"), port("b"), port("c")};
        for (long mac = 1; mac <= 1000; mac++) {
            assertTrue(table.learn(mac, ports[(int) (mac % 3)], 0));
        }
        assertEquals(1000, table.size());
        for (long mac = 1; mac <= 1000; mac++) {
            assertSame(ports[(int) (mac % 3)], table.lookup(mac));
        }
        assertNull(table.lookup(1001));
    }

    @Test
    void shouldNotChangeTheTableWhenAKnownAddressIsSeenAgain() {
        MacTable table = new MacTable();
        SwitchPort a = port("a");
        assertTrue(table.learn(0x525400000001L, a, 0));
        assertFalse(table.learn(0x525400000001L, a, 5));
    }

    @Test
    void shouldStopLearningWhenFull() {
        MacTable table = new MacTable();
        SwitchPort a = port("a");
        for (long mac = 0; mac < MacTable.MAX_ENTRIES; mac++) {
            table.learn(mac, a, 0);
        }
        assertFalse(table.learn(MacTable.MAX_ENTRIES, a, 0));
        assertEquals(MacTable.MAX_ENTRIES, table.size());
    }

    @Test
    void shouldRefreshLastSeenSoAgeingKeepsActiveEntries() {
        MacTable table = new MacTable();
        SwitchPort a = port("a");
        table.learn(7, a, 0);
        table.learn(7, a, 2 * MacTable.REFRESH_NANOS);
        assertEquals(0, table.age(MacTable.REFRESH_NANOS));
        assertEquals(1, table.age(3 * MacTable.REFRESH_NANOS));
    }
}

package io.jvhost.backend.switching;

import org.junit.jupiter.api.Test;

import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Driven by a fake clock: times are plain numbers of nanoseconds. */
class TokenBucketTest {

    private static final long SECOND = 1_000_000_000L;
    /** Any start: nanoTime values may be negative or near the wrap. */
    private static final long T0 = Long.MAX_VALUE - 3 * SECOND;

    private static int taken(TokenBucket bucket, long now, int tries) {
        int n = 0;
        for (int i = 0; i < tries; i++) {
            if (bucket.tryTake(now)) {
                n++;
            }
        }
        return n;
    }

    @Test
    void shouldPassABurstThenTheRate() {
        TokenBucket bucket = new TokenBucket(1000, T0);
        assertEquals(100, TokenBucket.burstOf(1000));
        assertEquals(100, taken(bucket, T0, 10_000), "a full bucket: one burst");
        assertEquals(0, taken(bucket, T0 + 999_999, 10), "less than one interval later");
        assertEquals(1, taken(bucket, T0 + SECOND / 1000, 10), "one interval later: one frame");
        // A storm for one second after that: the rate, one frame per millisecond.
        int passed = 0;
        for (long t = T0 + SECOND / 1000 + 1000; t <= T0 + SECOND / 1000 + SECOND; t += 1000) {
            passed += taken(bucket, t, 3);
        }
        assertEquals(1000, passed, "frames passed in a second of storm");
    }

    @Test
    void shouldRefillAfterAQuietSpellButNoMoreThanTheBurst() {
        TokenBucket bucket = new TokenBucket(1000, T0);
        taken(bucket, T0, 1000);
        assertEquals(100, taken(bucket, T0 + 2 * SECOND, 1000), "a quiet spell refills one burst, no more");
    }

    @Test
    void shouldGiveSmallRatesABurstOfTheRateOrSixteen() {
        assertEquals(5, TokenBucket.burstOf(5));
        assertEquals(16, TokenBucket.burstOf(100));
        assertEquals(1_000_000, TokenBucket.burstOf(10_000_000));
        TokenBucket bucket = new TokenBucket(5, T0);
        assertEquals(5, taken(bucket, T0, 100));
        assertEquals(1, taken(bucket, T0 + SECOND / 5, 100));
    }

    @Test
    void shouldPassEverythingWhenUnlimitedAndNothingAtZero() {
        TokenBucket unlimited = new TokenBucket(TokenBucket.UNLIMITED, T0);
        assertEquals(1_000_000, taken(unlimited, T0, 1_000_000));
        TokenBucket none = new TokenBucket(0, T0);
        assertFalse(none.tryTake(T0));
        assertFalse(none.tryTake(T0 + 100 * SECOND));
    }

    @Test
    void shouldRejectRatesOutOfRange() {
        assertThrows(IllegalArgumentException.class, () -> new TokenBucket(-2, T0));
        assertThrows(IllegalArgumentException.class, () -> new TokenBucket(TokenBucket.MAX_PPS + 1, T0));
    }

    /** Four threads sharing one bucket at one instant take exactly one burst between them. */
    @Test
    void shouldShareOneBucketBetweenThreads() throws Exception {
        TokenBucket bucket = new TokenBucket(10_000, T0);
        AtomicLong passed = new AtomicLong();
        Thread[] threads = new Thread[4];
        for (int i = 0; i < threads.length; i++) {
            threads[i] = new Thread(() -> passed.addAndGet(taken(bucket, T0 + 1, 100_000)));
            threads[i].start();
        }
        for (Thread t : threads) {
            t.join();
        }
        assertEquals(TokenBucket.burstOf(10_000), passed.get());
        assertTrue(bucket.tryTake(T0 + 1 + SECOND / 10_000), "one interval later");
    }
}

package io.jvhost.backend.linux;

import org.junit.jupiter.api.Test;

import java.util.concurrent.atomic.AtomicReference;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A thread's EEVDF slice through sched_setattr, on a thread of its own. */
class SchedulerSliceTest {

    @Test
    void shouldGiveTheCallingThreadTheSliceItAskedFor() throws Exception {
        AtomicReference<Object> result = new AtomicReference<>();
        Thread t = new Thread(() -> {
            try {
                long before = SchedulerSlice.current();
                SchedulerSlice.request(200_000);
                result.set(new long[] {before, SchedulerSlice.current()});
            } catch (Throwable e) {
                result.set(e);
            }
        });
        t.start();
        t.join();
        if (result.get() instanceof Throwable e) {
            throw new AssertionError("sched_setattr on a SCHED_OTHER thread", e);
        }
        long[] slices = (long[]) result.get();
        // Linux 6.12+ (this project's machines run 6.18) reports a fair thread's slice in sched_runtime; an
        // older kernel reports 0 before and after and ignores the request.
        assertTrue(slices[0] >= 0, "slice before: " + slices[0]);
        if (slices[0] > 0) {
            assertEquals(200_000, slices[1], "the slice asked for");
        }
    }

    @Test
    void shouldRefuseANonPositiveSlice() {
        assertThrows(IllegalArgumentException.class, () -> SchedulerSlice.request(0));
    }
}

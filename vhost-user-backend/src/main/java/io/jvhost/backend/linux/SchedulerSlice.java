package io.jvhost.backend.linux;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * The calling thread's time slice under Linux's EEVDF scheduler (6.12 and later: {@code sched_attr.sched_runtime}
 * of a {@code SCHED_OTHER} thread is its slice, 0.1 to 100 ms). A thread with a shorter slice than the one
 * running gets an earlier deadline when it wakes, so it preempts sooner: a worker woken by a kick while a
 * vCPU thread or a QEMU migration thread holds its CPU then waits for a short slice, not for the kernel's
 * default (1.4 ms on 2 CPUs, more with more CPUs). It runs no longer in all: only its turns are shorter.
 * Older kernels ignore the value.
 */
public final class SchedulerSlice {

    /** {@code struct sched_attr} up to {@code sched_period} (SCHED_ATTR_SIZE_VER0). */
    private static final int SIZE = 48;
    private static final long POLICY = 4;
    private static final long RUNTIME = 24;
    private static final int SCHED_OTHER = 0;
    private static final int EINVAL = 22;

    private SchedulerSlice() {
    }

    /**
     * Asks for a slice of {@code nanos} for the calling thread, keeping its policy's other parameters (nice).
     *
     * @throws LinuxException the kernel refused (not SCHED_OTHER, or a bad value)
     */
    public static void request(long nanos) throws LinuxException {
        if (nanos <= 0) {
            throw new IllegalArgumentException("slice must be positive: " + nanos);
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment attr = attributes(arena);
            int policy = attr.get(ValueLayout.JAVA_INT, POLICY);
            if (policy != SCHED_OTHER) {
                throw Errors.newException("sched_setattr (policy " + policy + " is not SCHED_OTHER)", EINVAL);
            }
            attr.set(ValueLayout.JAVA_INT, 0, SIZE);
            attr.set(ValueLayout.JAVA_LONG, RUNTIME, nanos);
            Errors.check("sched_setattr", Libc.syscall(Libc.SYS_SCHED_SETATTR, 0, attr.address(), 0, 0));
        }
    }

    /** The calling thread's {@code sched_runtime} now (its slice where the kernel has custom slices; else 0). */
    public static long current() throws LinuxException {
        try (Arena arena = Arena.ofConfined()) {
            return attributes(arena).get(ValueLayout.JAVA_LONG, RUNTIME);
        }
    }

    /** The calling thread's {@code sched_attr}, read with {@code sched_getattr} into {@code arena}. */
    private static MemorySegment attributes(Arena arena) throws LinuxException {
        MemorySegment attr = arena.allocate(SIZE, 8);
        Errors.check("sched_getattr", Libc.syscall(Libc.SYS_SCHED_GETATTR, 0, attr.address(), SIZE, 0));
        return attr;
    }
}

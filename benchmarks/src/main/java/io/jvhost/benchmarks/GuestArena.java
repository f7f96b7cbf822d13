package io.jvhost.benchmarks;

import io.jvhost.virtio.driver.GuestRam;

import java.lang.foreign.Arena;

/**
 * Where the benchmarks' guest memory lives. The daemon maps guest RAM behind a shared arena
 * ({@code io.jvhost.backend.linux.Mapping}); confined and global arenas show what the scope check of
 * every segment access costs against that.
 *
 * <ul>
 * <li>{@code shared}: {@link Arena#ofShared()}, as in production: any thread, liveness checked on access.</li>
 * <li>{@code confined}: {@link Arena#ofConfined()}: owner thread checked on access (JMH runs a
 * {@code Scope.Thread} state's setup on the benchmark thread, so the owner is that thread).</li>
 * <li>{@code global}: {@link Arena#global()}: never closed, so accesses need no liveness check.</li>
 * </ul>
 */
final class GuestArena {

    /** Guest-physical base of the benchmark RAM, and the front-end VA that maps it (as QEMU would). */
    static final long GPA_BASE = 0x10_0000L;
    static final long FRONTEND_VA_BASE = 0x7F00_0010_0000L;

    private GuestArena() {
    }

    static Arena open(String kind) {
        return switch (kind) {
            case "shared" -> Arena.ofShared();
            case "confined" -> Arena.ofConfined();
            case "global" -> Arena.global();
            default -> throw new IllegalArgumentException("arena must be shared, confined or global: " + kind);
        };
    }

    /** {@code size} bytes of zeroed guest RAM, page aligned, in {@code arena}. */
    static GuestRam ram(Arena arena, long size) {
        return GuestRam.of(arena.allocate(size, 4096), GPA_BASE, FRONTEND_VA_BASE);
    }

    /** Closes {@code arena} unless it is the global one (which cannot be closed). */
    static void close(Arena arena) {
        if (arena != null && arena != Arena.global()) {
            arena.close();
        }
    }
}

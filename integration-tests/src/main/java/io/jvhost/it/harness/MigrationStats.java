package io.jvhost.it.harness;

import com.fasterxml.jackson.databind.JsonNode;

/**
 * What QEMU's {@code query-migrate} says about a completed migration (QAPI {@code MigrationInfo}).
 *
 * @param downtimeMs       the guest's stop-and-copy pause, as QEMU measured it
 * @param totalTimeMs      from {@code migrate} to completion
 * @param transferredBytes RAM bytes sent ({@code ram.transferred})
 * @param dirtySyncCount   dirty-bitmap syncs ({@code ram.dirty-sync-count}): each one collects the
 *                         backend's log too
 * @param dirtyPagesRate   pages dirtied per second in the last pass ({@code ram.dirty-pages-rate})
 * @param info             the whole reply, for the logs
 */
public record MigrationStats(long downtimeMs, long totalTimeMs, long transferredBytes, long dirtySyncCount,
                             long dirtyPagesRate, JsonNode info) {

    /** From the reply of {@code query-migrate} once its {@code status} is {@code completed}. */
    public static MigrationStats of(JsonNode info) {
        JsonNode ram = info.path("ram");
        return new MigrationStats(info.path("downtime").asLong(-1), info.path("total-time").asLong(-1),
                ram.path("transferred").asLong(-1), ram.path("dirty-sync-count").asLong(-1),
                ram.path("dirty-pages-rate").asLong(-1), info);
    }
}

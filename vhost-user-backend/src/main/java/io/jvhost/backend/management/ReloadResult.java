package io.jvhost.backend.management;

import java.util.List;

/**
 * What {@code POST /api/reload} did: the config's ports added, removed and changed (stopped, then
 * started anew with their new settings), and the sections that differ but only take effect at the
 * next start.
 *
 * @param added      names of the ports started
 * @param removed    names of the ports stopped
 * @param changed    names of the ports restarted with new settings
 * @param notApplied config sections ({@code workers}, {@code topology}, {@code management}) that
 *                   changed and need a restart
 */
public record ReloadResult(List<String> added, List<String> removed, List<String> changed, List<String> notApplied) {

    public ReloadResult {
        added = List.copyOf(added);
        removed = List.copyOf(removed);
        changed = List.copyOf(changed);
        notApplied = List.copyOf(notApplied);
    }
}

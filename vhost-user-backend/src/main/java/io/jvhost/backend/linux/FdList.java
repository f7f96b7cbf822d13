package io.jvhost.backend.linux;

import java.util.Arrays;

/**
 * File descriptors received with one message (SCM_RIGHTS), owned by this list until
 * {@linkplain #detach(int) detached}. {@link #close()} closes every fd still owned, so a rejected
 * message cannot leak one.
 *
 * <p>Not thread-safe: one owner thread.
 */
public final class FdList implements AutoCloseable {

    /** The most descriptors one vhost-user message carries (vhost-user.rst: at most 8 regions/fds). */
    public static final int MAX_FDS = 8;

    private final int[] fds = new int[MAX_FDS];
    private int count;

    /** How many fds were received (detached ones included). */
    public int size() {
        return count;
    }

    /** Received fd {@code index}, or -1 when it was detached. */
    public int get(int index) {
        if (index < 0 || index >= count) {
            throw new IndexOutOfBoundsException("fd " + index + " of " + count);
        }
        return fds[index];
    }

    /** Hands fd {@code index} to the caller, who from now on closes it; returns it. */
    public int detach(int index) {
        int fd = get(index);
        fds[index] = -1;
        return fd;
    }

    /** Adds a received fd; false (the fd not added) when the list is full. */
    boolean add(int fd) {
        if (count == MAX_FDS) {
            return false;
        }
        fds[count++] = fd;
        return true;
    }

    /** Closes every fd still owned and empties the list. Idempotent. */
    @Override
    public void close() {
        for (int i = 0; i < count; i++) {
            Fds.closeQuietly(fds[i]);
            fds[i] = -1;
        }
        count = 0;
    }

    @Override
    public String toString() {
        return Arrays.toString(Arrays.copyOf(fds, count));
    }
}

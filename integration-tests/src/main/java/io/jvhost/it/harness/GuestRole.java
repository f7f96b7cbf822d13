package io.jvhost.it.harness;

/** What the guest's /init does once eth0 is up ({@code jv.role=} on the kernel command line). */
public enum GuestRole {
    /** {@code iperf3 -s}; stays up until QEMU is killed. */
    SERVER("server"),
    /** Waits for the peer to answer ping, pings it {@code jv.count} times, then runs iperf3 against it. */
    CLIENT("client"),
    /** Waits for the peer, then only the ping part of {@link #CLIENT}. */
    PING("ping"),
    /** Configures eth0, prints JV-READY and sleeps until killed. */
    IDLE("idle"),
    /** {@code iperf3 -s} and {@code iperf -s} (iperf 2, for bounce-back); stays up until killed. */
    BENCH_SERVER("bench-server"),
    /**
     * Waits for the peer, then runs the {@code jv.bench} tests one after the other, each between
     * {@code JV-BENCH-BEGIN <test>} and {@code JV-BENCH-END <test> rc=N} markers (scripts/bench.sh).
     */
    BENCH("bench");

    private final String keyword;

    GuestRole(String keyword) {
        this.keyword = keyword;
    }

    /** The value of {@code jv.role=}. */
    public String keyword() {
        return keyword;
    }
}

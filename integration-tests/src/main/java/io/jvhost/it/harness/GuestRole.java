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
    BENCH("bench"),
    /**
     * Waits for the peer, then pings it with don't-fragment set ({@code iputils-ping -M do}) at each
     * {@code jv.sizes} payload size, {@code jv.count} times each; one {@code JV-PMTU-RESULT} per size.
     */
    PMTU("pmtu"),
    /**
     * Makes {@code jv.size} MiB of random data, prints its {@code JV-FILE-SHA256}, waits for the peer
     * and sends the file to its {@code jv.port} over TCP (busybox nc); then {@code JV-SNMP}.
     */
    SEND_FILE("send-file"),
    /** Receives one TCP connection on {@code jv.port} into a file; then its {@code JV-FILE-SHA256} and {@code JV-SNMP}. */
    RECV_FILE("recv-file"),
    /**
     * Both file roles at once with a peer that runs it too: makes {@code jv.size} MiB
     * ({@code JV-SENT-SHA256}), listens on {@code jv.port}, waits for the peer ({@code JV-SWAP-START}),
     * then sends paced by {@code jv.pace} while pinging it {@code jv.count} times; prints the received
     * file's {@code JV-RECV-SHA256}, the ping result and {@code JV-SNMP}. Long enough to overlap a live
     * migration.
     */
    FILE_SWAP("file-swap");

    private final String keyword;

    GuestRole(String keyword) {
        this.keyword = keyword;
    }

    /** The value of {@code jv.role=}. */
    public String keyword() {
        return keyword;
    }
}

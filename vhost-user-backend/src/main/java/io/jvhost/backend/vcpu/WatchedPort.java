package io.jvhost.backend.vcpu;

/** What {@link VcpuWatch} needs of the port whose guest's vCPUs it follows. Any thread. */
public interface WatchedPort {

    String name();

    /** Whether a front-end is connected now. */
    boolean connected();

    /** The connected front-end's pid (QEMU), or -1 when unknown. */
    int peerPid();

    /** Queue pairs the port offers. */
    int maxQueuePairs();

    /** Queue pairs the guest runs now. */
    int activeQueuePairs();
}

package io.jvhost.backend.vcpu;

/** Where the vCPU that kicks a queue pair last ran. */
@FunctionalInterface
public interface VcpuLocator {

    /** Host CPU last running the vCPU that kicks queue pair {@code pair}, or -1 when unknown. Any thread. */
    int lastCpuOfQueuePair(int pair);
}

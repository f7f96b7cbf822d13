package io.jvhost.it.harness;

/**
 * One of QEMU's vCPU threads, found by its name in {@code /proc/PID/task/TID/comm}
 * ({@code CPU 0/TCG}, {@code CPU 1/KVM}; QEMU names threads only with {@code -name ...,debug-threads=on},
 * which {@link QemuGuest} always passes).
 *
 * @param index the vCPU index, or -1 for round-robin TCG's single {@code ALL CPUs/TCG} thread
 * @param tid   the Linux thread id, usable with sched_setaffinity / taskset -p
 * @param comm  the thread name as the kernel reports it
 */
public record VcpuThread(int index, long tid, String comm) {
}

package io.jvhost.backend.management;

/**
 * One virtqueue.
 *
 * @param port       the port name
 * @param index      the virtqueue index (even: rx, odd: tx, as in virtio-net)
 * @param direction  {@code "rx"} or {@code "tx"}, from the guest's point of view
 * @param workerCpu  the CPU of the worker serving it, or {@code null} when none does
 * @param vcpuCpu    the host CPU last seen running the vCPU that kicks it, or {@code null} when unknown
 * @param packets    packets moved through it
 * @param bytes      bytes moved through it
 * @param drops      packets dropped on it
 * @param waits      times a frame from it (tx) waited for a receiver without buffers instead of being
 *                   dropped (back-pressure)
 * @param migrations times it moved to another worker
 * @param error      why the queue was stopped (the front-end broke the ring's rules), or {@code null}
 * @param offloads   what happened to offloads on it
 */
public record QueueStatus(String port, int index, String direction, Integer workerCpu, Integer vcpuCpu,
                          long packets, long bytes, long drops, long waits, long migrations, String error,
                          OffloadCounts offloads) {

    /**
     * Offload work on one queue.
     *
     * @param segmented     GSO frames cut into segments (or fragments) in software for this receiver
     * @param checksums     checksums computed in software for this receiver
     * @param passedThrough frames handed to this receiver with their offload header as it was
     * @param badHeaders    frames from this sender dropped for a bad offload header
     */
    public record OffloadCounts(long segmented, long checksums, long passedThrough, long badHeaders) {
        public static final OffloadCounts NONE = new OffloadCounts(0, 0, 0, 0);
    }
}

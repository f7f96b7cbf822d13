package io.jvhost.backend.vcpu;

import java.util.List;

/**
 * Which guest vCPU kicks queue pair {@code i} of a virtio-net port.
 *
 * <p>Both virtqueues of a pair map to the same vCPU. The Linux guest driver gives the RX and the TX
 * queue of pair {@code i} one CPU mask (drivers/net/virtio_net.c, {@code virtnet_set_affinity}): the
 * mask is the XPS map of TX queue {@code i}, so a packet sent on a CPU of the mask goes out on TX
 * {@code i} and is kicked from that CPU, and it is the interrupt affinity of both queues, so RX
 * {@code i}'s NAPI, which refills the RX ring and kicks, runs there too.
 *
 * <p>The masks: with {@code n} online guest CPUs and {@code p} queue pairs in use, the CPUs are dealt
 * out in order, {@code n / p} per pair and one more to each of the first {@code n % p} pairs when
 * {@code p < n}, and one per pair wrapping around when {@code p >= n}. The guest starts with
 * {@code p = min(port queue pairs, n)} ({@code virtnet_probe}: "Enable multiqueue by default") and
 * {@code ethtool -L} changes it. {@link #striped} returns the first CPU of pair {@code i}'s mask;
 * {@link #modulo}, {@code i mod n}, agrees with it when {@code p >= n} and for pair 0, but not for the
 * other pairs when the port has fewer queue pairs than the guest has vCPUs (4 vCPUs, 2 pairs: pair 1
 * serves vCPUs 2 and 3, not 1).
 *
 * <p>Both assume guest CPU {@code k} is QEMU vCPU {@code k} (true for vCPUs present at boot, none
 * offline) and that nobody in the guest changed the masks (irqbalance, {@code xps_cpus}); the per-port
 * {@code vcpus} list of the config overrides them for such guests: {@code vcpus[i]} is the vCPU of pair
 * {@code i}. A pair beyond the end of the list (the config forbids it) falls back to the default.
 */
public final class QueuePairVcpus {

    /** The vCPU is not known: no vCPU thread has been found. */
    public static final int NO_VCPU = -1;

    private QueuePairVcpus() {
    }

    /**
     * {@code override[pair]} if given, else {@code pair mod vcpuCount}.
     *
     * @param vcpuCount the guest's vCPUs, 0 if not known
     * @param override  {@code vcpus} of the port's config, or {@code null}
     * @return the vCPU, or {@link #NO_VCPU} when {@code vcpuCount} is 0 and there is no override
     */
    public static int modulo(int pair, int vcpuCount, List<Integer> override) {
        int configured = overridden(pair, vcpuCount, override);
        if (configured != NO_VCPU || vcpuCount == 0) {
            return configured;
        }
        return pair % vcpuCount;
    }

    /**
     * {@code override[pair]} if given, else the first vCPU of the mask the Linux driver gives pair
     * {@code pair} when {@code activePairs} pairs are in use. A pair at or beyond {@code activePairs} is
     * idle (no vCPU kicks it); it gets {@code pair mod vcpuCount} so that it still has a place.
     *
     * @param activePairs the queue pairs the guest uses: the pairs with enabled vrings, or
     *                    {@code min(port queue pairs, vcpuCount)} before the guest has enabled any
     * @param vcpuCount   the guest's vCPUs, 0 if not known
     * @param override    {@code vcpus} of the port's config, or {@code null}
     * @return the vCPU, or {@link #NO_VCPU} when {@code vcpuCount} is 0 and there is no override
     */
    public static int striped(int pair, int activePairs, int vcpuCount, List<Integer> override) {
        if (activePairs < 1) {
            throw new IllegalArgumentException("active queue pairs " + activePairs);
        }
        int configured = overridden(pair, vcpuCount, override);
        if (configured != NO_VCPU || vcpuCount == 0) {
            return configured;
        }
        if (pair >= activePairs || activePairs >= vcpuCount) {
            return pair % vcpuCount;
        }
        int stride = vcpuCount / activePairs;
        int stragglers = vcpuCount % activePairs;
        return pair * stride + Math.min(pair, stragglers);
    }

    private static int overridden(int pair, int vcpuCount, List<Integer> override) {
        if (pair < 0) {
            throw new IllegalArgumentException("queue pair " + pair);
        }
        if (vcpuCount < 0) {
            throw new IllegalArgumentException("vCPU count " + vcpuCount);
        }
        if (override == null || pair >= override.size()) {
            return NO_VCPU;
        }
        Integer vcpu = override.get(pair);
        if (vcpu == null) {
            return NO_VCPU;
        }
        if (vcpu < 0) {
            throw new IllegalArgumentException("vcpus[" + pair + "] = " + vcpu);
        }
        return vcpu;
    }
}

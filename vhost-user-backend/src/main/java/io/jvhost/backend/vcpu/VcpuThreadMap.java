package io.jvhost.backend.vcpu;

import java.util.Arrays;
import java.util.Collections;
import java.util.SortedMap;
import java.util.TreeMap;

/**
 * The vCPU threads of one QEMU process at the time of a scan: vCPU index to TID. Immutable.
 *
 * <p>Two shapes. With KVM or multi-threaded TCG each vCPU has its own thread ({@code CPU n/KVM},
 * {@code CPU n/TCG}) and thread {@code k} runs vCPU {@link #vcpu(int) vcpu(k)}. With round-robin TCG
 * ({@code -accel tcg,thread=single}) one thread, {@code ALL CPUs/TCG}, runs every vCPU in turn: the map
 * is {@link #isShared() shared}, has one thread whose vCPU is {@link #ALL_VCPUS}, and
 * {@link #tidOfVcpu(int)} answers that thread for every vCPU.
 */
public final class VcpuThreadMap {

    /** No such thread. */
    public static final int NO_TID = -1;

    /** The vCPU index of round-robin TCG's single thread, which runs all of them. */
    public static final int ALL_VCPUS = -1;

    /** No vCPU thread found (the process is gone, not yet running, or its threads are unnamed). */
    public static final VcpuThreadMap EMPTY = new VcpuThreadMap(new int[0], new int[0]);

    /** Ascending vCPU indexes; {@code {ALL_VCPUS}} for a shared map. */
    private final int[] vcpus;
    /** {@code tids[k]} runs {@code vcpus[k]}. */
    private final int[] tids;

    private VcpuThreadMap(int[] vcpus, int[] tids) {
        this.vcpus = vcpus;
        this.tids = tids;
    }

    /** A map with one thread per vCPU. */
    public static VcpuThreadMap of(SortedMap<Integer, Integer> tidByVcpu) {
        int[] vcpus = new int[tidByVcpu.size()];
        int[] tids = new int[vcpus.length];
        int k = 0;
        for (var e : tidByVcpu.entrySet()) {
            if (e.getKey() < 0 || e.getValue() <= 0) {
                throw new IllegalArgumentException("vCPU " + e.getKey() + " -> TID " + e.getValue());
            }
            vcpus[k] = e.getKey();
            tids[k] = e.getValue();
            k++;
        }
        return k == 0 ? EMPTY : new VcpuThreadMap(vcpus, tids);
    }

    /** Round-robin TCG: one thread runs every vCPU. */
    public static VcpuThreadMap shared(int tid) {
        if (tid <= 0) {
            throw new IllegalArgumentException("TID " + tid);
        }
        return new VcpuThreadMap(new int[] {ALL_VCPUS}, new int[] {tid});
    }

    /** Host threads running vCPUs: the number of vCPUs, or 1 for a shared map, or 0. */
    public int threadCount() {
        return tids.length;
    }

    public boolean isEmpty() {
        return tids.length == 0;
    }

    public boolean isShared() {
        return vcpus.length == 1 && vcpus[0] == ALL_VCPUS;
    }

    /** The vCPU thread {@code k} runs, or {@link #ALL_VCPUS}; {@code 0 <= k < threadCount()}. */
    public int vcpu(int k) {
        return vcpus[k];
    }

    /** The TID of thread {@code k}; {@code 0 <= k < threadCount()}. */
    public int tid(int k) {
        return tids[k];
    }

    /** The highest vCPU index plus one (the size of an array indexed by vCPU); 0 when empty or shared. */
    public int vcpuLimit() {
        return isEmpty() || isShared() ? 0 : vcpus[vcpus.length - 1] + 1;
    }

    /** The thread running {@code vcpu}, or {@link #NO_TID}. */
    public int tidOfVcpu(int vcpu) {
        if (vcpu < 0 || isEmpty()) {
            return NO_TID;
        }
        if (isShared()) {
            return tids[0];
        }
        int k = Arrays.binarySearch(vcpus, vcpu);
        return k < 0 ? NO_TID : tids[k];
    }

    /** vCPU index to TID, ascending; {@code {-1=tid}} for a shared map. For logs, tests and management. */
    public SortedMap<Integer, Integer> asMap() {
        TreeMap<Integer, Integer> map = new TreeMap<>();
        for (int k = 0; k < tids.length; k++) {
            map.put(vcpus[k], tids[k]);
        }
        return Collections.unmodifiableSortedMap(map);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof VcpuThreadMap other && Arrays.equals(vcpus, other.vcpus) && Arrays.equals(tids, other.tids);
    }

    @Override
    public int hashCode() {
        return 31 * Arrays.hashCode(vcpus) + Arrays.hashCode(tids);
    }

    @Override
    public String toString() {
        return isShared() ? "{all vCPUs=" + tids[0] + "}" : asMap().toString();
    }
}

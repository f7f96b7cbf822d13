package io.jvhost.affinity.topology;

import java.util.BitSet;

/** The kernel's CPU list syntax ("0-3,6,8-9"), as in /sys/devices/system/cpu/online and cpusets. */
public final class CpuList {

    private CpuList() {
    }

    /**
     * Parses a CPU list.
     *
     * @throws IllegalArgumentException naming the offending part
     */
    public static int[] parse(String list) {
        BitSet cpus = new BitSet();
        String trimmed = list.trim();
        if (trimmed.isEmpty()) {
            throw new IllegalArgumentException("empty CPU list");
        }
        for (String part : trimmed.split(",")) {
            String p = part.trim();
            int dash = p.indexOf('-');
            try {
                if (dash < 0) {
                    cpus.set(checkCpu(Integer.parseInt(p), p));
                } else {
                    int from = checkCpu(Integer.parseInt(p.substring(0, dash).trim()), p);
                    int to = checkCpu(Integer.parseInt(p.substring(dash + 1).trim()), p);
                    if (to < from) {
                        throw new IllegalArgumentException("descending CPU range '" + p + "'");
                    }
                    cpus.set(from, to + 1);
                }
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("not a CPU number or range: '" + p + "'");
            }
        }
        return cpus.stream().toArray();
    }

    private static int checkCpu(int cpu, String part) {
        if (cpu < 0 || cpu > 4095) {
            throw new IllegalArgumentException("CPU number out of range in '" + part + "'");
        }
        return cpu;
    }

    /** The compact form of a set of CPUs ("0-3,6"). */
    public static String format(int[] cpus) {
        StringBuilder sb = new StringBuilder();
        int i = 0;
        while (i < cpus.length) {
            int j = i;
            while (j + 1 < cpus.length && cpus[j + 1] == cpus[j] + 1) {
                j++;
            }
            if (sb.length() > 0) {
                sb.append(',');
            }
            sb.append(cpus[i]);
            if (j > i) {
                sb.append('-').append(cpus[j]);
            }
            i = j + 1;
        }
        return sb.toString();
    }
}

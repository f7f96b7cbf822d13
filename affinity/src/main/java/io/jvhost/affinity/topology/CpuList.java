package io.jvhost.affinity.topology;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.BitSet;
import java.util.List;

/**
 * The Linux CPU list syntax ({@code 0-3,6,8-9}), as in {@code /sys/devices/system/cpu/online} and
 * {@code taskset -c}.
 */
public final class CpuList {

    /** The highest CPU id accepted (x86-64 Linux supports at most 8192 CPUs). */
    public static final int MAX_CPU = 8191;

    static final Path ONLINE = Path.of("/sys/devices/system/cpu/online");

    private CpuList() {
    }

    /**
     * Parses a CPU list. Spaces around elements are allowed; an element is a CPU id or an inclusive
     * range {@code a-b} with {@code a <= b}; no CPU may appear twice.
     *
     * @return the CPU ids, sorted ascending
     * @throws IllegalArgumentException with a message that says what is wrong (without the input, which
     *                                  the caller quotes)
     */
    public static List<Integer> parse(String text) {
        if (text.isBlank()) {
            throw new IllegalArgumentException("the list is empty");
        }
        BitSet cpus = new BitSet();
        for (String element : text.split(",", -1)) {
            String trimmed = element.strip();
            int dash = trimmed.indexOf('-');
            int first;
            int last;
            if (dash < 0) {
                first = cpuId(trimmed, trimmed);
                last = first;
            } else {
                first = cpuId(trimmed.substring(0, dash).strip(), trimmed);
                last = cpuId(trimmed.substring(dash + 1).strip(), trimmed);
                if (first > last) {
                    throw new IllegalArgumentException("range '" + trimmed + "' goes backwards");
                }
            }
            for (int cpu = first; cpu <= last; cpu++) {
                if (cpus.get(cpu)) {
                    throw new IllegalArgumentException("CPU " + cpu + " is listed twice");
                }
                cpus.set(cpu);
            }
        }
        return cpus.stream().boxed().toList();
    }

    private static int cpuId(String digits, String element) {
        if (digits.isEmpty() || digits.length() > 9 || !digits.chars().allMatch(c -> c >= '0' && c <= '9')) {
            throw new IllegalArgumentException("'" + element + "' is not a CPU id or a range like '0-3'");
        }
        int cpu = Integer.parseInt(digits);
        if (cpu > MAX_CPU) {
            throw new IllegalArgumentException("CPU " + cpu + " is above the maximum " + MAX_CPU);
        }
        return cpu;
    }

    /** Formats sorted or unsorted CPU ids compactly: {@code [0, 1, 2, 3, 6]} becomes {@code 0-3,6}. */
    public static String format(List<Integer> cpus) {
        int[] sorted = cpus.stream().mapToInt(Integer::intValue).sorted().distinct().toArray();
        StringBuilder out = new StringBuilder();
        for (int i = 0; i < sorted.length; ) {
            int j = i;
            while (j + 1 < sorted.length && sorted[j + 1] == sorted[j] + 1) {
                j++;
            }
            if (!out.isEmpty()) {
                out.append(',');
            }
            out.append(sorted[i]);
            if (j > i) {
                out.append('-').append(sorted[j]);
            }
            i = j + 1;
        }
        return out.toString();
    }

    /**
     * The online CPUs of this host, from {@code /sys/devices/system/cpu/online}.
     *
     * @throws UncheckedIOException when the file cannot be read or parsed (not a config problem)
     */
    public static List<Integer> online() {
        return read(ONLINE);
    }

    /** Reads a CPU list file such as {@code /sys/devices/system/cpu/online}. */
    static List<Integer> read(Path file) {
        String text;
        try {
            text = Files.readString(file, StandardCharsets.US_ASCII).strip();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read the online CPUs from " + file, e);
        }
        try {
            return parse(text);
        } catch (IllegalArgumentException e) {
            throw new UncheckedIOException(new IOException(
                    file + ": cannot parse '" + text + "': " + e.getMessage(), e));
        }
    }

    /** As {@link #parse(String)}, as an array. */
    public static int[] parseToArray(String text) {
        return parse(text).stream().mapToInt(Integer::intValue).toArray();
    }

    /** As {@link #format(List)}, for an array. */
    public static String format(int[] cpus) {
        return format(java.util.Arrays.stream(cpus).boxed().toList());
    }
}

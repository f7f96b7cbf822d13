package io.jvhost.it.bench;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/** The machine and software versions a report was measured with, for its header. */
final class Machine {

    private Machine() {
    }

    /** Ordered {@code what -> value} pairs: machine, then versions. */
    static Map<String, String> describe(Path projectRoot, Map<String, String> guestManifest) {
        Map<String, String> out = new LinkedHashMap<>();
        out.put("CPUs (nproc)", Integer.toString(Runtime.getRuntime().availableProcessors()));
        out.put("CPU model", firstValue(Path.of("/proc/cpuinfo"), "model name"));
        out.put("memory", memory());
        out.put("kernel", read(Path.of("/proc/sys/kernel/osrelease")));
        out.put("guest accelerator", "TCG (QEMU -accel tcg; no usable KVM here)");
        String rev = command(projectRoot, "git", "rev-parse", "--short=12", "HEAD");
        String dirty = command(projectRoot, "git", "status", "--porcelain", "--untracked-files=no");
        out.put("jvhost", "git " + rev + (dirty.isBlank() || dirty.startsWith("(") ? "" : " with uncommitted changes"));
        out.put("Java", System.getProperty("java.vm.vendor", "?") + " " + System.getProperty("java.runtime.version", "?"));
        out.put("DPDK (testpmd)", "dpdk-dev " + command(projectRoot, "dpkg-query", "-W", "-f=${Version}", "dpdk-dev"));
        String qemu = command(projectRoot, "qemu-system-x86_64", "--version");
        out.put("QEMU", qemu.lines().findFirst().orElse("?"));
        out.put("guest", "kernel " + guestManifest.getOrDefault("kernel_release", "?") + ", iperf3 "
                + guestManifest.getOrDefault("iperf3", "?") + ", iperf " + guestManifest.getOrDefault("iperf", "?"));
        return out;
    }

    /** {@code /proc/loadavg}'s three load averages. */
    static String loadAverage() {
        String s = read(Path.of("/proc/loadavg"));
        String[] f = s.split(" ");
        return f.length >= 3 ? f[0] + " " + f[1] + " " + f[2] : s;
    }

    /** The 1-minute load average, NaN if unreadable. */
    static double load1() {
        try {
            return Double.parseDouble(loadAverage().split(" ")[0]);
        } catch (NumberFormatException e) {
            return Double.NaN;
        }
    }

    private static String memory() {
        String kb = firstValue(Path.of("/proc/meminfo"), "MemTotal");
        try {
            return Math.round(Long.parseLong(kb.replace("kB", "").strip()) / 1024.0 / 1024.0) + " GiB";
        } catch (NumberFormatException e) {
            return kb;
        }
    }

    private static String firstValue(Path file, String key) {
        for (String line : read(file).split("\n")) {
            int colon = line.indexOf(':');
            if (colon > 0 && line.substring(0, colon).strip().equals(key)) {
                return line.substring(colon + 1).strip();
            }
        }
        return "?";
    }

    private static String read(Path file) {
        try {
            return Files.readString(file, StandardCharsets.ISO_8859_1).strip();
        } catch (IOException e) {
            return "?";
        }
    }

    /** A short command's stdout, stripped; {@code (...)} describing the failure otherwise. */
    static String command(Path dir, String... argv) {
        try {
            Process p = new ProcessBuilder(List.of(argv)).directory(dir.toFile()).redirectErrorStream(true)
                    .redirectInput(ProcessBuilder.Redirect.from(Path.of("/dev/null").toFile())).start();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
            if (!p.waitFor(30, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                return "(" + argv[0] + " timed out)";
            }
            return p.exitValue() == 0 ? out : "(" + argv[0] + " exit " + p.exitValue() + ")";
        } catch (IOException e) {
            return "(" + argv[0] + ": " + e.getMessage() + ")";
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return "(interrupted)";
        }
    }
}

package io.jvhost.it.harness;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;

/**
 * A network namespace the test creates ({@code ip netns add}) and deletes on {@link #close()}, with
 * a random suffix in its name and in every device it creates, so parallel runs never share one. It
 * stands for "the host" in host-to-guest tests and holds:
 * <ul>
 *   <li>Linux bridges ({@link #addBridge}), optionally with an address: the host's end of the network;</li>
 *   <li>TAP devices enslaved to a bridge ({@link #addTap}), one per guest NIC on QEMU's own virtio-net.
 *       They are created persistent and up before QEMU starts, so they are on the bridge before the
 *       guest sends its first frame; QEMU, run in this namespace
 *       ({@link QemuGuest.Builder#networkNamespace}), attaches to the TAP by name;</li>
 *   <li>interfaces moved in from the harness's namespace ({@link #adopt}), e.g. a backend's TAP port;</li>
 *   <li>processes run inside it ({@link #start}: {@code ip netns exec}, registered with {@link ProcessReaper}).</li>
 * </ul>
 * Deleting the namespace deletes its bridges and TAP devices with it (virtual devices do not move
 * back to the initial namespace); {@link #close()} also deletes them one by one first, in case a
 * process still holds the namespace. Traffic stays inside: nothing here is routed anywhere.
 *
 * <p>Thread safety: meant for one test thread.
 */
public final class NetNamespace implements AutoCloseable {

    static final Pattern NAME = Pattern.compile("[A-Za-z0-9_.-]{1,64}");
    private static final Pattern PREFIX = Pattern.compile("[A-Za-z0-9-]{1,40}");

    private final String name;
    private final String suffix;
    private final List<String> devices = new ArrayList<>();
    private int nextDevice;
    private boolean closed;

    private NetNamespace(String name, String suffix) {
        this.name = name;
        this.suffix = suffix;
    }

    /** Creates namespace {@code <prefix>-<6 random hex digits>} with its loopback up. */
    public static NetNamespace create(String prefix) {
        if (!PREFIX.matcher(prefix).matches()) {
            throw new IllegalArgumentException("bad namespace prefix: " + prefix);
        }
        String suffix = String.format("%06x", ThreadLocalRandom.current().nextInt(0x1000000));
        NetNamespace ns = new NetNamespace(prefix + "-" + suffix, suffix);
        command("ip", "netns", "add", ns.name);
        try {
            ns.ip("link", "set", "lo", "up");
        } catch (RuntimeException e) {
            ns.close();
            throw e;
        }
        return ns;
    }

    /** The name for {@code ip netns exec} and {@code ip -n}. */
    public String name() {
        return name;
    }

    /**
     * Creates a Linux bridge (STP off, so ports forward as soon as they are up), gives it
     * {@code cidr} if not null and brings it up.
     *
     * @return the bridge's name, {@code jvbr<n><suffix>}
     */
    public String addBridge(String cidr) {
        String bridge = deviceName("jvbr");
        ip("link", "add", bridge, "type", "bridge", "stp_state", "0");
        devices.add(bridge);
        if (cidr != null) {
            ip("addr", "add", cidr, "dev", bridge);
        }
        ip("link", "set", bridge, "up");
        return bridge;
    }

    /**
     * Creates a persistent TAP device with a virtio-net header ({@code vnet_hdr}, which QEMU uses for
     * the offloads), enslaves it to {@code bridge} and brings it up; it gets a carrier when QEMU
     * attaches to it.
     *
     * @return a NIC on that TAP, offloads on; set a MAC with {@link TapNic#withMac}
     */
    public TapNic addTap(String bridge) {
        String tap = deviceName("jvtap");
        ip("tuntap", "add", "dev", tap, "mode", "tap", "vnet_hdr");
        devices.add(tap);
        ip("link", "set", tap, "master", bridge);
        ip("link", "set", tap, "up");
        return TapNic.of(tap);
    }

    /**
     * Moves {@code ifname} from the harness's namespace into this one, gives it {@code cidr} and
     * brings it up. The interface is deleted with the namespace.
     */
    public void adopt(String ifname, String cidr) {
        command("ip", "link", "set", ifname, "netns", name);
        devices.add(ifname);
        ip("addr", "add", cidr, "dev", ifname);
        ip("link", "set", ifname, "up");
    }

    /** {@code ip -n NAME ARGS...}; throws with ip's output when it fails. */
    public String ip(String... args) {
        List<String> argv = new ArrayList<>(List.of("ip", "-n", name));
        argv.addAll(List.of(args));
        return command(argv.toArray(String[]::new));
    }

    /** {@code argv} prefixed with {@code ip netns exec NAME}. */
    public List<String> exec(List<String> argv) {
        List<String> out = new ArrayList<>(List.of("ip", "netns", "exec", name));
        out.addAll(argv);
        return List.copyOf(out);
    }

    /**
     * Starts {@code argv} inside the namespace with its output in {@code log}, registered with
     * {@link ProcessReaper} (stop it with {@link ProcessReaper#terminate}); {@code ip netns exec}
     * execs it, so the process is {@code argv[0]} itself.
     */
    public Process start(List<String> argv, Path log, String description) {
        ProcessBuilder pb = new ProcessBuilder(exec(argv))
                .redirectInput(ProcessBuilder.Redirect.from(Path.of("/dev/null").toFile()))
                .redirectErrorStream(true)
                .redirectOutput(log.toFile());
        try {
            return ProcessReaper.start(pb, description + " in " + name);
        } catch (IOException e) {
            throw new UncheckedIOException("starting " + argv + " in " + name, e);
        }
    }

    /** Deletes the devices this namespace made or adopted, then the namespace. Idempotent. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        for (int i = devices.size() - 1; i >= 0; i--) {
            // Best effort: the namespace's deletion below removes whatever is left.
            run(List.of("ip", "-n", name, "link", "del", devices.get(i)));
        }
        command("ip", "netns", "del", name);
    }

    /** {@code <prefix><n><suffix>}: unique per namespace and short enough for IFNAMSIZ. */
    private String deviceName(String prefix) {
        String device = prefix + nextDevice++ + suffix;
        if (device.length() > TapNic.IFNAME_MAX) {
            throw new IllegalStateException("device name too long: " + device);
        }
        return device;
    }

    /** Runs a short command; its output, or an {@link IllegalStateException} with it when the exit status is not 0. */
    public static String command(String... argv) {
        Result r = run(List.of(argv));
        if (r.exitStatus() != 0) {
            throw new IllegalStateException(String.join(" ", argv) + " exited " + r.exitStatus() + ": " + r.output());
        }
        return r.output();
    }

    private record Result(int exitStatus, String output) {
    }

    private static Result run(List<String> argv) {
        try {
            Process p = new ProcessBuilder(argv).redirectErrorStream(true)
                    .redirectInput(ProcessBuilder.Redirect.from(Path.of("/dev/null").toFile())).start();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
            if (!p.waitFor(30, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                return new Result(-1, "timed out after 30 s");
            }
            return new Result(p.exitValue(), out);
        } catch (IOException e) {
            return new Result(-1, e.toString());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return new Result(-1, "interrupted");
        }
    }
}

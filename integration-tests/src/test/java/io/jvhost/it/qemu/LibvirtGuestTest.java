package io.jvhost.it.qemu;

import io.jvhost.backend.config.WorkersConfig;
import io.jvhost.backend.linux.SocketAccess;
import io.jvhost.backend.management.PortStatus;
import io.jvhost.backend.management.QueueStatus;
import io.jvhost.it.harness.GuestImage;
import io.jvhost.it.harness.GuestRole;
import io.jvhost.it.harness.NetNamespace;
import io.jvhost.it.harness.PingResult;
import io.jvhost.it.harness.ProcessReaper;
import io.jvhost.it.harness.QemuGuest;
import io.jvhost.it.harness.SerialLog;
import io.jvhost.it.harness.VhostUserNic;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * A guest as users run one: defined and started by libvirt ({@code virsh create}, a TCG domain with an
 * {@code <interface type='vhostuser'>} and memfd memory, the shape README "libvirt" shows), its QEMU
 * running as libvirt's unprivileged user. jvhost's socket gets group {@code kvm}, mode 0660 and
 * {@code allowed-uids} of that user; a harness guest on another port pings it, and {@code /api/queues}
 * shows the libvirt guest's queues on a worker off the CPU its vCPU thread runs on (libvirt names the
 * vCPU threads, which the placement needs).
 */
class LibvirtGuestTest {

    private static final Duration BOOT = Duration.ofSeconds(120);
    private static final String CONNECT = "qemu:///system";

    @Test
    @Timeout(value = 6, unit = TimeUnit.MINUTES)
    void shouldPingALibvirtGuestThroughJvhostWithSocketAffinePlacement(@TempDir Path scratch) throws Exception {
        GuestImage image = GuestImage.get();
        long qemuUid = Long.parseLong(NetNamespace.command("id", "-u", "libvirt-qemu").strip());
        // libvirt's QEMU must reach the kernel, initrd, serial log and socket: not under a 0700 @TempDir.
        Path dir = Files.createTempDirectory("jvhost-it-libvirt",
                PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwxr-xr-x")));
        String domain = "jvhost-it-" + Long.toHexString(System.nanoTime() & 0xFFFFFF);
        List<Process> daemons = new ArrayList<>();
        try {
            startLibvirtUnlessRunning(scratch, daemons);
            Path kernel = readableCopy(image.kernel(), dir);
            Path initrd = readableCopy(image.initrd(), dir);
            Path serial = dir.resolve("serial.log");
            Path vm0 = dir.resolve("vm0.sock");
            Path vm1 = dir.resolve("vm1.sock");
            try (JvhostDaemon jvhost = JvhostDaemon.start(WorkersConfig.Model.PER_CPU, List.of(
                    JvhostDaemon.server("vm0", vm0, 1).withAccess(new SocketAccess(0660, "kvm", List.of(qemuUid))),
                    JvhostDaemon.server("vm1", vm1, 1)))) {
                Path xml = dir.resolve("domain.xml");
                Files.writeString(xml, domainXml(domain, kernel, initrd, serial, vm0));
                virsh("create", xml.toString());
                try (QemuGuest pinger = QemuGuest.builder("pinger", scratch).image(image)
                        .role(GuestRole.PING).ip("192.0.2.2/24").peer("192.0.2.1").pingCount(20).pingInterval("0.2")
                        .nic(VhostUserNic.client(vm1).withReconnect(1).withMac("52:54:00:00:00:02")).start()) {
                    new SerialLog(serial).awaitLine(QemuGuest.READY, 0, BOOT, () -> true);
                    PortStatus port = jvhost.port("vm0");
                    assertTrue(port.connected(), "libvirt's QEMU connected: " + port);
                    assertEquals(new PingResult(20, 20), pinger.awaitPingResult(BOOT));
                    QueueStatus rx = awaitPlaced(jvhost);
                    System.out.printf("libvirt guest %s: %s%n", domain, jvhost.view().queues());
                    assertTrue(rx.packets() >= 20, "the pings reached the libvirt guest: " + rx);
                }
            } finally {
                runQuietly(List.of("virsh", "-c", CONNECT, "destroy", domain));
            }
        } finally {
            for (Process p : daemons.reversed()) {
                ProcessReaper.terminate(p.toHandle(), ProcessReaper.DEFAULT_GRACE);
            }
            try (Stream<Path> files = Files.walk(dir)) {
                files.sorted(Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
            }
        }
    }

    /** The README's domain, with the project's guest kernel booted directly and {@code vectors=0} for TCG. */
    static String domainXml(String name, Path kernel, Path initrd, Path serial, Path socket) {
        return """
                <domain type='qemu' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>
                  <name>%s</name>
                  <memory unit='MiB'>256</memory>
                  <vcpu>1</vcpu>
                  <memoryBacking><source type='memfd'/><access mode='shared'/></memoryBacking>
                  <os>
                    <type arch='x86_64' machine='pc'>hvm</type>
                    <kernel>%s</kernel>
                    <initrd>%s</initrd>
                    <cmdline>console=ttyS0 quiet panic=-1 jv.ip=192.0.2.1/24 jv.role=server</cmdline>
                  </os>
                  <on_poweroff>destroy</on_poweroff>
                  <on_reboot>destroy</on_reboot>
                  <devices>
                    <interface type='vhostuser'>
                      <alias name='ua-net0'/>
                      <mac address='52:54:00:00:00:01'/>
                      <source type='unix' path='%s' mode='client'/>
                      <model type='virtio'/>
                      <driver queues='1'/>
                    </interface>
                    <serial type='file'><source path='%s'/><target port='0'/></serial>
                  </devices>
                  <qemu:override>
                    <qemu:device alias='ua-net0'>
                      <qemu:frontend><qemu:property name='vectors' type='unsigned' value='0'/></qemu:frontend>
                    </qemu:device>
                  </qemu:override>
                </domain>
                """.formatted(name, kernel, initrd, socket, serial);
    }

    /** Starts virtlogd and libvirtd in the foreground (so they are ours, by pid) unless a libvirtd answers. */
    private static void startLibvirtUnlessRunning(Path logs, List<Process> started) throws Exception {
        if (runQuietly(List.of("virsh", "-c", CONNECT, "version")) == 0) {
            return;
        }
        started.add(ProcessReaper.start(new ProcessBuilder("virtlogd").redirectErrorStream(true)
                .redirectOutput(logs.resolve("virtlogd.log").toFile()), "virtlogd"));
        started.add(ProcessReaper.start(new ProcessBuilder("libvirtd").redirectErrorStream(true)
                .redirectOutput(logs.resolve("libvirtd.log").toFile()), "libvirtd"));
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (runQuietly(List.of("virsh", "-c", CONNECT, "version")) != 0) {
            if (System.nanoTime() > deadline || started.stream().anyMatch(p -> !p.isAlive())) {
                fail("libvirtd did not come up: " + Files.readString(logs.resolve("libvirtd.log")));
            }
            Thread.sleep(200);
        }
    }

    /** Waits until the guest's queues have a vCPU CPU and a worker on another CPU; returns its RX queue. */
    private static QueueStatus awaitPlaced(JvhostDaemon jvhost) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (true) {
            QueueStatus rx = jvhost.queue("vm0", 0);
            QueueStatus tx = jvhost.queue("vm0", 1);
            boolean placed = Stream.of(rx, tx).allMatch(q -> q.vcpuCpu() != null && q.workerCpu() != null
                    && !q.workerCpu().equals(q.vcpuCpu()));
            if (placed || System.nanoTime() > deadline) {
                for (QueueStatus q : List.of(rx, tx)) {
                    assertNotNull(q.vcpuCpu(), "the vCPU thread libvirt named was found: " + q);
                    assertNotNull(q.workerCpu(), "served by a worker: " + q);
                    assertNotEquals(q.vcpuCpu(), q.workerCpu(), "a worker off the vCPU's CPU: " + q);
                }
                return rx;
            }
            Thread.sleep(100);
        }
    }

    private static Path readableCopy(Path file, Path dir) throws IOException {
        Path copy = Files.copy(file, dir.resolve(file.getFileName()), StandardCopyOption.REPLACE_EXISTING);
        Files.setPosixFilePermissions(copy, PosixFilePermissions.fromString("rw-r--r--"));
        return copy;
    }

    private static void virsh(String... args) {
        List<String> argv = new ArrayList<>(List.of("virsh", "-c", CONNECT));
        argv.addAll(List.of(args));
        NetNamespace.command(argv.toArray(String[]::new));
    }

    private static int runQuietly(List<String> argv) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(argv).redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD)
                .start();
        if (!p.waitFor(30, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            return -1;
        }
        return p.exitValue();
    }
}

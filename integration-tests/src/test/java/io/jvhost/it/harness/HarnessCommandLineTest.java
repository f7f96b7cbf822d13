package io.jvhost.it.harness;

import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The argv the harness builds, checked without starting anything. */
class HarnessCommandLineTest {

    private static final GuestImage IMAGE = GuestImage.of(Path.of("/repo"), Path.of("/img/vmlinuz"),
            Path.of("/img/initramfs.cpio.gz"));

    @Test
    void shouldBuildQemuCommandLineForOneClientModeNic() {
        List<String> cmd = QemuGuest.builder("server", Path.of("/w"))
                .role(GuestRole.SERVER).ip("192.0.2.1/24")
                .nic(VhostUserNic.client(Path.of("/w/a.sock")).withReconnect(1).withMac("52:54:00:00:00:01"))
                .commandLine(IMAGE);

        assertEquals(List.of("qemu-system-x86_64",
                "-name", "guest=server,debug-threads=on",
                "-accel", "tcg", "-machine", "pc",
                "-m", "256M", "-smp", "1",
                "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot", "-monitor", "none",
                "-serial", "file:/w/server.serial.log",
                "-kernel", "/img/vmlinuz", "-initrd", "/img/initramfs.cpio.gz",
                "-append", "console=ttyS0 quiet panic=-1 jv.role=server jv.ip=192.0.2.1/24",
                "-object", "memory-backend-memfd,id=mem,size=256M,share=on", "-numa", "node,memdev=mem",
                "-chardev", "socket,id=c0,path=/w/a.sock,reconnect=1",
                "-netdev", "vhost-user,id=n0,chardev=c0",
                "-device", "virtio-net-pci,netdev=n0,mac=52:54:00:00:00:01,vectors=0,romfile="), cmd);
    }

    @Test
    void shouldPutClientRoleKeysOnKernelCommandLineInCallOrder() {
        List<String> cmd = QemuGuest.builder("client", Path.of("/w"))
                .role(GuestRole.CLIENT).ip("192.0.2.2/24").peer("192.0.2.1").pingCount(20).pingInterval("0.2")
                .iperfSeconds(3).iperfLength("1400").iperfParallel(2).extraKernelArg("loglevel=7")
                .commandLine(IMAGE);
        String append = cmd.get(cmd.indexOf("-append") + 1);

        assertEquals("console=ttyS0 quiet panic=-1 jv.role=client jv.ip=192.0.2.2/24 jv.peer=192.0.2.1"
                + " jv.count=20 jv.interval=0.2 jv.time=3 jv.len=1400 jv.parallel=2 loglevel=7", append);
    }

    @Test
    void shouldAddQueuesAndMqForMultiqueueServerModeNics() {
        List<String> cmd = QemuGuest.builder("mq", Path.of("/w")).smp(2).memoryMiB(512)
                .nic(VhostUserNic.server(Path.of("/w/x,y.sock")).withQueues(2))
                .nic(VhostUserNic.client(Path.of("/w/b.sock")).withDeviceOption("mrg_rxbuf=off"))
                .commandLine(IMAGE);
        String joined = String.join(" ", cmd);

        assertTrue(joined.contains("-m 512M -smp 2 "), joined);
        assertTrue(joined.contains("memory-backend-memfd,id=mem,size=512M,share=on"), joined);
        assertTrue(joined.contains("-chardev socket,id=c0,path=/w/x,,y.sock,server=on,wait=off "
                + "-netdev vhost-user,id=n0,chardev=c0,queues=2 "
                + "-device virtio-net-pci,netdev=n0,mq=on,vectors=0,romfile= "), joined);
        assertTrue(joined.endsWith("-chardev socket,id=c1,path=/w/b.sock -netdev vhost-user,id=n1,chardev=c1 "
                + "-device virtio-net-pci,netdev=n1,vectors=0,romfile=,mrg_rxbuf=off"), joined);
    }

    @Test
    void shouldRunQemuInTheNamespaceWithOwnVirtioNetOnTapAndMsixLeftOn() {
        List<String> cmd = QemuGuest.builder("br", Path.of("/w")).networkNamespace("jvhost-it-br-00abcd")
                .nic(TapNic.of("jvtap0abcd").withMac("52:54:00:00:00:01"))
                .nic(TapNic.of("jvtap1abcd").withOffloads(false).withDeviceOption("mq=off"))
                .commandLine(IMAGE);
        String joined = String.join(" ", cmd);

        assertEquals(List.of("ip", "netns", "exec", "jvhost-it-br-00abcd", "qemu-system-x86_64"), cmd.subList(0, 5));
        assertTrue(joined.endsWith(" -netdev tap,id=n0,ifname=jvtap0abcd,script=no,downscript=no"
                + " -device virtio-net-pci,netdev=n0,mac=52:54:00:00:00:01,romfile="
                + " -netdev tap,id=n1,ifname=jvtap1abcd,script=no,downscript=no"
                + " -device virtio-net-pci,netdev=n1,romfile=,csum=off,guest_csum=off,host_tso4=off,host_tso6=off,"
                + "guest_tso4=off,guest_tso6=off,mq=off"), joined);
        assertFalse(joined.contains("vectors=0"), joined);
    }

    @Test
    void shouldPutFileAndPmtuKeysOnKernelCommandLine() {
        List<String> cmd = QemuGuest.builder("f", Path.of("/w"))
                .role(GuestRole.PMTU).pmtuSizes(8972, 8973).filePort(5002).fileSizeMiB(4)
                .role(GuestRole.RECV_FILE)
                .commandLine(IMAGE);
        String append = cmd.get(cmd.indexOf("-append") + 1);

        assertEquals("console=ttyS0 quiet panic=-1 jv.role=recv-file jv.sizes=8972,8973 jv.port=5002 jv.size=4", append);
        assertEquals("send-file", GuestRole.SEND_FILE.keyword());
        assertEquals("pmtu", GuestRole.PMTU.keyword());
    }

    @Test
    void shouldRejectBadTapNamesSizesAndNamespaces() {
        assertThrows(IllegalArgumentException.class, () -> TapNic.of("jvtap-sixteen-by"));
        assertThrows(IllegalArgumentException.class, () -> TapNic.of("a b"));
        assertThrows(IllegalArgumentException.class, () -> TapNic.of("t").withMac("52:54"));
        assertThrows(IllegalArgumentException.class, () -> QemuGuest.builder("g", Path.of("/w")).pmtuSizes());
        assertThrows(IllegalArgumentException.class, () -> QemuGuest.builder("g", Path.of("/w")).pmtuSizes(65508));
        assertThrows(IllegalArgumentException.class, () -> QemuGuest.builder("g", Path.of("/w")).filePort(0));
        assertThrows(IllegalArgumentException.class, () -> QemuGuest.builder("g", Path.of("/w")).fileSizeMiB(129));
        assertThrows(IllegalArgumentException.class, () -> QemuGuest.builder("g", Path.of("/w")).networkNamespace("a b"));
    }

    @Test
    void shouldRejectSocketPathLongerThanSunPath() {
        Path tooLong = Path.of("/" + "d".repeat(100) + "/a.sock");

        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> VhostUserNic.client(tooLong));
        assertTrue(e.getMessage().startsWith("socket path is 108 bytes, sun_path holds 107"), e.getMessage());
    }

    @Test
    void shouldRejectReconnectInServerModeAndBadMacs() {
        assertThrows(IllegalArgumentException.class, () -> VhostUserNic.server(Path.of("/a")).withReconnect(1));
        assertThrows(IllegalArgumentException.class, () -> VhostUserNic.client(Path.of("/a")).withMac("52:54:00"));
        assertThrows(IllegalArgumentException.class, () -> VhostUserNic.client(Path.of("/a")).withQueues(0));
        assertThrows(IllegalArgumentException.class,
                () -> QemuGuest.builder("g", Path.of("/w")).kernelArg("jv.ip", "192.0.2.1/24 rm"));
        assertThrows(IllegalArgumentException.class, () -> QemuGuest.builder("bad name", Path.of("/w")));
    }

    @Test
    void shouldBuildTestpmdCommandLineWithServerAndClientVhostPorts() {
        List<String> cmd = Testpmd.builder(Path.of("/w")).filePrefix("jv-t1").cpuList("0,1")
                .vhostUser(Path.of("/w/a.sock"))
                .vhostUser(Path.of("/w/b.sock"), true, 2)
                .queues(2)
                .commandLine();

        assertEquals(List.of("dpdk-testpmd", "-l", "0,1", "--no-huge", "-m", "512", "--no-pci", "--no-shconf",
                "--file-prefix=jv-t1",
                "--vdev", "net_vhost0,iface=/w/a.sock",
                "--vdev", "net_vhost1,iface=/w/b.sock,queues=2,client=1",
                "--", "--forward-mode=io", "--nb-cores=1", "--rxq=2", "--txq=2", "--total-num-mbufs=16384",
                "--stats-period=1", "--auto-start"), cmd);
    }

    @Test
    void shouldAddTsoToVhostPortsAndNumberTapPortsOnTheirOwn() {
        List<String> cmd = Testpmd.builder(Path.of("/w")).filePrefix("jv-t2")
                .vhostUser(Path.of("/w/a.sock"), false, 1, true)
                .tap("jvb00abcd")
                .vhostUser(Path.of("/w/b.sock"), true, 1, true)
                .commandLine();

        assertEquals(List.of("--vdev", "net_vhost0,iface=/w/a.sock,tso=1", "--vdev", "net_tap0,iface=jvb00abcd",
                "--vdev", "net_vhost1,iface=/w/b.sock,tso=1,client=1"), cmd.subList(9, 15));
        assertThrows(IllegalArgumentException.class, () -> Testpmd.builder(Path.of("/w")).tap("sixteen-bytes-ab"));
    }

    @Test
    void shouldGiveEachTestpmdItsOwnFilePrefix() {
        String first = prefixOf(Testpmd.builder(Path.of("/w")).commandLine());
        String second = prefixOf(Testpmd.builder(Path.of("/w")).commandLine());

        assertTrue(first.startsWith("--file-prefix=jvhost-it-" + ProcessHandle.current().pid() + "-"), first);
        assertTrue(!first.equals(second), first + " == " + second);
    }

    private static String prefixOf(List<String> cmd) {
        return cmd.stream().filter(a -> a.startsWith("--file-prefix=")).findFirst().orElseThrow();
    }
}

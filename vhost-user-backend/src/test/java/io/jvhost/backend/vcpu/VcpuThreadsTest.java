package io.jvhost.backend.vcpu;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@link VcpuThreads} over fake procfs trees laid out as QEMU's threads are. */
class VcpuThreadsTest {

    @TempDir
    Path dir;

    @Test
    void shouldMapKvmVcpuThreadsAndIgnoreTheOthers() throws IOException {
        new FakeProcTree(dir)
                .thread(100, 100, "qemu-system-x86", 0)
                .thread(100, 101, "qemu-system-x86", 1)
                .thread(100, 104, "IO mon_iothread", 0)
                .thread(100, 105, "CPU 0/KVM", 2)
                .thread(100, 106, "CPU 1/KVM", 3)
                .thread(100, 107, "CPU 2/KVM", 1)
                .thread(100, 108, "worker", 0)
                .thread(100, 109, "vnc_worker", 0);

        VcpuThreadMap map = new VcpuThreads(dir).scan(100);

        assertEquals(Map.of(0, 105, 1, 106, 2, 107), map.asMap());
        assertEquals(3, map.threadCount());
        assertEquals(3, map.vcpuLimit());
        assertFalse(map.isShared());
        assertEquals(106, map.tidOfVcpu(1));
        assertEquals(VcpuThreadMap.NO_TID, map.tidOfVcpu(3));
        assertEquals(VcpuThreadMap.NO_TID, map.tidOfVcpu(-1));
        assertEquals("{0=105, 1=106, 2=107}", map.toString());
    }

    @Test
    void shouldMapMultiThreadedTcgVcpuThreads() throws IOException {
        new FakeProcTree(dir)
                .thread(200, 200, "qemu-system-x86", 0)
                .thread(200, 203, "CPU 1/TCG", 1)
                .thread(200, 202, "CPU 0/TCG", 0);

        assertEquals(Map.of(0, 202, 1, 203), new VcpuThreads(dir).scan(200).asMap());
    }

    @Test
    void shouldKeepGapsInVcpuIndexes() throws IOException {
        // vCPU 1 was unplugged (device_del), vCPU 3 plugged: QEMU does not renumber.
        new FakeProcTree(dir).thread(200, 201, "CPU 0/KVM", 0).thread(200, 205, "CPU 3/KVM", 1);

        VcpuThreadMap map = new VcpuThreads(dir).scan(200);

        assertEquals(Map.of(0, 201, 3, 205), map.asMap());
        assertEquals(2, map.threadCount());
        assertEquals(4, map.vcpuLimit());
        assertEquals(VcpuThreadMap.NO_TID, map.tidOfVcpu(1));
    }

    @Test
    void shouldMapRoundRobinTcgAsOneThreadForEveryVcpu() throws IOException {
        new FakeProcTree(dir).thread(300, 300, "qemu-system-x86", 0).thread(300, 302, "ALL CPUs/TCG", 1);

        VcpuThreadMap map = new VcpuThreads(dir).scan(300);

        assertTrue(map.isShared());
        assertEquals(1, map.threadCount());
        assertEquals(VcpuThreadMap.ALL_VCPUS, map.vcpu(0));
        assertEquals(302, map.tidOfVcpu(0));
        assertEquals(302, map.tidOfVcpu(7));
        assertEquals(0, map.vcpuLimit());
        assertEquals(Map.of(-1, 302), map.asMap());
        assertEquals("{all vCPUs=302}", map.toString());
    }

    @Test
    void shouldSkipThreadsThatExitDuringTheScan() throws IOException {
        new FakeProcTree(dir)
                .thread(100, 105, "CPU 0/KVM", 2)
                .listedOnly(100, 106)
                .thread(100, 107, "CPU 2/KVM", 1);

        assertEquals(Map.of(0, 105, 2, 107), new VcpuThreads(dir).scan(100).asMap());
    }

    @Test
    void shouldFindNothingForAProcessThatIsGone() throws IOException {
        new FakeProcTree(dir).thread(100, 105, "CPU 0/KVM", 2);

        assertSame(VcpuThreadMap.EMPTY, new VcpuThreads(dir).scan(101));
    }

    @Test
    void shouldFindNothingWhenQemuDidNotNameItsThreads() throws IOException {
        // Started without -name ...,debug-threads=on: every thread keeps the process name.
        new FakeProcTree(dir)
                .thread(100, 100, "qemu-system-x86", 0)
                .thread(100, 101, "qemu-system-x86", 1)
                .thread(100, 102, "qemu-system-x86", 0)
                .thread(100, 103, "qemu-system-x86", 1);

        assertSame(VcpuThreadMap.EMPTY, new VcpuThreads(dir).scan(100));
    }

    @Test
    void shouldIgnoreEntriesThatAreNotThreads() throws IOException {
        new FakeProcTree(dir).thread(100, 105, "CPU 0/KVM", 2);
        Files.createDirectories(dir.resolve("100/task/self"));

        assertEquals(Map.of(0, 105), new VcpuThreads(dir).scan(100).asMap());
    }

    @Test
    void shouldResolveTwoThreadsClaimingOneVcpuToTheLowerTid() throws IOException {
        new FakeProcTree(dir).thread(100, 107, "CPU 0/KVM", 2).thread(100, 105, "CPU 0/KVM", 2);

        assertEquals(Map.of(0, 105), new VcpuThreads(dir).scan(100).asMap());
    }

    @Test
    void shouldPreferPerVcpuThreadsToARoundRobinThread() throws IOException {
        new FakeProcTree(dir).thread(100, 104, "ALL CPUs/TCG", 2).thread(100, 105, "CPU 0/TCG", 2);

        assertEquals(Map.of(0, 105), new VcpuThreads(dir).scan(100).asMap());
    }

    @Test
    void shouldRejectANonPositivePid() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new VcpuThreads(dir).scan(0));
        assertEquals("pid 0", e.getMessage());
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
            "CPU 0/KVM|0",
            "CPU 1/TCG|1",
            "CPU 12/KVM|12",
            "CPU 8191/KVM|8191",
            "CPU 3/HVF|3",
            "CPU 07/KVM|7",
            "ALL CPUs/TCG|-1",
    })
    void shouldReadTheVcpuIndexFromTheName(String comm, int vcpu) {
        assertEquals(vcpu, VcpuThreads.vcpuOfComm(comm));
    }

    @ParameterizedTest
    @ValueSource(strings = {"qemu-system-x86", "IO mon_iothread", "worker", "CPU /KVM", "CPU x/KVM", "CPU 0/",
            "CPU 0", "CPU 0/KVM ", "CPU 0/KVM2", "cpu 0/KVM", "CPU -1/KVM", "CPU  0/KVM", "CPU 1234567890/KVM",
            "ALL CPUs/KVM", ""})
    void shouldNotTakeOtherNamesForVcpus(String comm) {
        assertEquals(VcpuThreads.NOT_VCPU, VcpuThreads.vcpuOfComm(comm));
    }
}

package io.jvhost.affinity.topology;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** Writes a sysfs-like tree ({@code devices/system/cpu} and {@code devices/system/node}) under a temp dir. */
final class FakeSysfs {

    final Path cpuRoot;
    final Path nodeRoot;

    FakeSysfs(Path dir) {
        this.cpuRoot = dir.resolve("devices/system/cpu");
        this.nodeRoot = dir.resolve("devices/system/node");
        mkdirs(cpuRoot);
    }

    FakeSysfs online(String list) {
        return write(cpuRoot.resolve("online"), list);
    }

    FakeSysfs present(String list) {
        return write(cpuRoot.resolve("present"), list);
    }

    /** A CPU with a topology directory. */
    FakeSysfs cpu(int cpu, int packageId, int coreId, String threadSiblings) {
        Path topo = cpuRoot.resolve("cpu" + cpu).resolve("topology");
        write(topo.resolve("physical_package_id"), String.valueOf(packageId));
        write(topo.resolve("core_id"), String.valueOf(coreId));
        if (threadSiblings != null) {
            write(topo.resolve("thread_siblings_list"), threadSiblings);
        }
        return this;
    }

    /** A CPU directory without topology files. */
    FakeSysfs bareCpu(int cpu) {
        mkdirs(cpuRoot.resolve("cpu" + cpu));
        return this;
    }

    /** The {@code cpuN/nodeM} entry (a directory stands in for the kernel's symlink). */
    FakeSysfs nodeLink(int cpu, int node) {
        mkdirs(cpuRoot.resolve("cpu" + cpu).resolve("node" + node));
        return this;
    }

    FakeSysfs nodeCpuList(int node, String list) {
        return write(nodeRoot.resolve("node" + node).resolve("cpulist"), list);
    }

    private FakeSysfs write(Path file, String text) {
        mkdirs(file.getParent());
        try {
            Files.writeString(file, text + "\n");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return this;
    }

    private static void mkdirs(Path dir) {
        try {
            Files.createDirectories(dir);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}

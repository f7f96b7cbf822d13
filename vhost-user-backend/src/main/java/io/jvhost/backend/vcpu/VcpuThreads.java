package io.jvhost.backend.vcpu;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryIteratorException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Objects;
import java.util.TreeMap;

/**
 * Finds the vCPU threads of a QEMU process by their names, {@code /proc/PID/task/TID/comm}.
 *
 * <p>QEMU names a vCPU thread {@code CPU <index>/<accelerator>} ({@code CPU 0/KVM}, {@code CPU 3/TCG}
 * with multi-threaded TCG) and round-robin TCG's single thread {@code ALL CPUs/TCG}, but only when
 * started with {@code -name <guest>,debug-threads=on}; otherwise every thread keeps the process name
 * and the scan finds nothing. QEMU creates the vCPU threads when it builds the machine, which is
 * after it has connected its vhost-user netdevs: a scan made right after a connection arrives may find
 * nothing yet. Other threads ({@code qemu-system-x86}, {@code IO iothread1}, {@code worker},
 * {@code vnc_worker}, ...) are ignored.
 *
 * <p>A scan lists the task directory and reads one small file per thread of the process (about
 * 10 us and 1 KiB each): call it when threads may have changed, not every period. Threads that exit
 * during the scan are skipped; a process that is gone gives {@link VcpuThreadMap#EMPTY}. Two threads claiming
 * the same vCPU (QEMU never does this) resolve to the lower TID. If per-vCPU threads and an
 * {@code ALL CPUs/TCG} thread were both present (QEMU never does this either), the per-vCPU threads win.
 *
 * <p>Stateless and safe to call from any thread.
 */
public final class VcpuThreads {

    /** {@link #vcpuOfComm} for a thread that is not a vCPU. */
    static final int NOT_VCPU = -2;

    private static final String PREFIX = "CPU ";
    private static final String ROUND_ROBIN_TCG = "ALL CPUs/TCG";
    private static final int MAX_INDEX_DIGITS = 9;
    /** TASK_COMM_LEN is 16 (15 bytes and a newline here); more room only to show a longer name whole. */
    private static final int COMM_CAPACITY = 64;

    private final Path procRoot;

    /** @param procRoot where procfs is mounted, {@code /proc} outside tests */
    public VcpuThreads(Path procRoot) {
        this.procRoot = Objects.requireNonNull(procRoot, "procRoot");
    }

    public Path procRoot() {
        return procRoot;
    }

    /**
     * Lists the vCPU threads of {@code pid} now.
     *
     * @return vCPU index to TID; {@link VcpuThreadMap#EMPTY} if the process does not exist or has no
     *         named vCPU threads
     * @throws IOException if procfs cannot be read for another reason than a thread or the process
     *                     going away (permissions, {@code hidepid}): retrying will not help
     */
    public VcpuThreadMap scan(int pid) throws IOException {
        if (pid <= 0) {
            throw new IllegalArgumentException("pid " + pid);
        }
        Path taskDir = procRoot.resolve(Integer.toString(pid)).resolve("task");
        TreeMap<Integer, Integer> tidByVcpu = new TreeMap<>();
        ByteBuffer commBuffer = ByteBuffer.allocate(COMM_CAPACITY);
        int sharedTid = VcpuThreadMap.NO_TID;
        try (DirectoryStream<Path> tasks = Files.newDirectoryStream(taskDir)) {
            for (Path task : tasks) {
                int tid = parseTid(task.getFileName().toString());
                if (tid <= 0) {
                    continue;
                }
                String comm = readComm(task, commBuffer);
                if (comm == null) {
                    continue;
                }
                int vcpu = vcpuOfComm(comm);
                if (vcpu >= 0) {
                    tidByVcpu.merge(vcpu, tid, Math::min);
                } else if (vcpu == VcpuThreadMap.ALL_VCPUS) {
                    sharedTid = sharedTid == VcpuThreadMap.NO_TID ? tid : Math.min(sharedTid, tid);
                }
            }
        } catch (NoSuchFileException e) {
            return VcpuThreadMap.EMPTY;
        } catch (DirectoryIteratorException e) {
            if (Files.exists(taskDir)) {
                throw e.getCause();
            }
            return VcpuThreadMap.EMPTY;
        }
        if (!tidByVcpu.isEmpty()) {
            return VcpuThreadMap.of(tidByVcpu);
        }
        return sharedTid == VcpuThreadMap.NO_TID ? VcpuThreadMap.EMPTY : VcpuThreadMap.shared(sharedTid);
    }

    /**
     * The thread's name without the trailing newline, or {@code null} if the thread has exited.
     * {@code comm} holds at most 15 bytes and a newline; {@code Files.readAllBytes} would allocate 8 KiB
     * for it, as procfs reports every file as empty.
     */
    private static String readComm(Path task, ByteBuffer buffer) throws IOException {
        buffer.clear();
        try (FileChannel comm = FileChannel.open(task.resolve("comm"), StandardOpenOption.READ)) {
            comm.read(buffer);
        } catch (NoSuchFileException e) {
            return null;
        } catch (IOException e) {
            // A thread that exits between open and read fails the read with ESRCH, an IOException
            // without a type of its own: the directory being gone tells the race from a real error.
            if (Files.exists(task)) {
                throw e;
            }
            return null;
        }
        int length = buffer.position();
        if (length > 0 && buffer.get(length - 1) == '\n') {
            length--;
        }
        // comm is bytes, not text: ISO-8859-1 maps each byte to one char and never fails.
        return new String(buffer.array(), 0, length, StandardCharsets.ISO_8859_1);
    }

    /**
     * The vCPU a thread name says the thread runs.
     *
     * @return the vCPU index, {@link VcpuThreadMap#ALL_VCPUS} for {@code ALL CPUs/TCG}, or {@link #NOT_VCPU}
     */
    static int vcpuOfComm(String comm) {
        if (comm.equals(ROUND_ROBIN_TCG)) {
            return VcpuThreadMap.ALL_VCPUS;
        }
        if (!comm.startsWith(PREFIX)) {
            return NOT_VCPU;
        }
        int slash = comm.indexOf('/', PREFIX.length());
        int digits = slash - PREFIX.length();
        if (slash < 0 || digits < 1 || digits > MAX_INDEX_DIGITS || slash == comm.length() - 1) {
            return NOT_VCPU;
        }
        int index = 0;
        for (int i = PREFIX.length(); i < slash; i++) {
            char c = comm.charAt(i);
            if (c < '0' || c > '9') {
                return NOT_VCPU;
            }
            index = index * 10 + (c - '0');
        }
        // The accelerator: KVM, TCG, or another one's name (HVF, WHPX, NVMM); letters only.
        for (int i = slash + 1; i < comm.length(); i++) {
            char c = comm.charAt(i);
            if (!(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z')) {
                return NOT_VCPU;
            }
        }
        return index;
    }

    /** The TID a task directory is named after, or -1 for anything else. */
    private static int parseTid(String name) {
        if (name.isEmpty() || name.length() > MAX_INDEX_DIGITS) {
            return -1;
        }
        int tid = 0;
        for (int i = 0; i < name.length(); i++) {
            char c = name.charAt(i);
            if (c < '0' || c > '9') {
                return -1;
            }
            tid = tid * 10 + (c - '0');
        }
        return tid;
    }
}

package io.jvhost.backend.vcpu;

import net.openhft.affinity.Affinity;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.BitSet;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * A thread of this JVM that pins itself to one CPU and then sleeps until closed: a stand-in for a
 * vCPU thread. HotSpot gives the kernel thread the Java name (first 15 bytes), so a thread named
 * {@code CPU 0/KVM} looks to {@code /proc/self/task/TID/comm} like QEMU's.
 */
final class PinnedThread implements AutoCloseable {

    private final Thread thread;
    private final CountDownLatch pinned = new CountDownLatch(1);
    private final CountDownLatch stop = new CountDownLatch(1);
    private volatile int tid;
    private volatile int cpuAfterPinning = -1;

    private PinnedThread(String name, int cpu) {
        thread = new Thread(() -> {
            Affinity.setAffinity(cpu);
            tid = Affinity.getThreadId();
            cpuAfterPinning = Affinity.getCpu();
            pinned.countDown();
            try {
                stop.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }, name);
        thread.setDaemon(true);
    }

    /** Starts a thread named {@code name} and returns once it runs on {@code cpu}. */
    static PinnedThread start(String name, int cpu) throws InterruptedException {
        PinnedThread t = new PinnedThread(name, cpu);
        t.thread.start();
        if (!t.pinned.await(5, TimeUnit.SECONDS)) {
            throw new AssertionError(name + " did not start");
        }
        if (t.cpuAfterPinning != cpu) {
            throw new AssertionError(name + " pinned to CPU " + cpu + " runs on CPU " + t.cpuAfterPinning);
        }
        return t;
    }

    /** Whether this process may run on CPUs 0 and 1. */
    static boolean cpusZeroAndOneAllowed() {
        BitSet allowed = Affinity.getAffinity();
        return allowed.get(0) && allowed.get(1);
    }

    static int ownPid() {
        return (int) ProcessHandle.current().pid();
    }

    int tid() {
        return tid;
    }

    /**
     * Ends the thread and waits until the kernel has released it: {@link Thread#join} returns before the
     * native thread has finished exiting, and until then its {@code /proc} entry still reads fine.
     * Idempotent.
     */
    void end() {
        stop.countDown();
        Path task = Path.of("/proc/self/task", Integer.toString(tid));
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        try {
            thread.join(5_000);
            while (thread.isAlive() || Files.exists(task)) {
                if (System.nanoTime() > deadline) {
                    throw new AssertionError(thread.getName() + " (TID " + tid + ") did not end");
                }
                Thread.sleep(1);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError("interrupted while ending " + thread.getName(), e);
        }
    }

    @Override
    public void close() {
        end();
    }
}

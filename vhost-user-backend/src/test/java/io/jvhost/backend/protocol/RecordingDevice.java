package io.jvhost.backend.protocol;

import io.jvhost.backend.linux.OpenFds;
import io.jvhost.virtio.memory.DirtyLog;
import io.jvhost.virtio.memory.GuestMemory;
import io.jvhost.virtio.memory.MemoryRegion;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.fail;

/**
 * A {@link VhostUserDevice} that records every call as a line of text, so tests can assert the exact
 * sequence. It also checks the contract from the device's side: fds it was handed are open while it
 * holds them, and stopQueue is only called for a running queue.
 */
final class RecordingDevice implements VhostUserDevice {

    static final long VIRTIO_NET_F_MRG_RXBUF = 1L << 15;
    static final long VIRTIO_F_VERSION_1 = 1L << 32;
    static final long F_PROTOCOL_FEATURES = 1L << VhostUserSession.VHOST_USER_F_PROTOCOL_FEATURES;

    volatile long offeredFeatures = VIRTIO_F_VERSION_1 | VIRTIO_NET_F_MRG_RXBUF | F_PROTOCOL_FEATURES;
    /** MQ, REPLY_ACK and SLAVE_REQ (5), which the session does not implement and must mask out. */
    volatile long offeredProtocolFeatures = 0b10_1001;
    volatile int maxQueuePairs = 2;
    volatile GuestMemory memory;
    /** Values stopQueue returns, in order; when empty it returns the nextAvail the queue started with. */
    final Deque<Integer> stopResults = new ArrayDeque<>();
    /** When set, startQueue refuses with this message. */
    volatile String refuseStart;

    private final List<String> calls = new ArrayList<>();
    private final Map<Integer, VringConfig> running = new HashMap<>();
    private final Map<Integer, Integer> callFds = new HashMap<>();

    @Override
    public long offeredFeatures() {
        return offeredFeatures;
    }

    @Override
    public long offeredProtocolFeatures() {
        return offeredProtocolFeatures;
    }

    @Override
    public int maxQueuePairs() {
        return maxQueuePairs;
    }

    @Override
    public synchronized void connected(int peerPid) {
        record("connected(" + peerPid + ")");
    }

    @Override
    public synchronized void setFeatures(long ackedFeatures) {
        record("setFeatures(0x" + Long.toHexString(ackedFeatures) + ")");
    }

    /** Refuses MTUs above this (NET_SET_MTU). */
    volatile int maxMtu = 9000;

    @Override
    public synchronized void setMtu(int mtu) {
        if (mtu > maxMtu) {
            throw new IllegalArgumentException("MTU " + mtu + " above " + maxMtu);
        }
        record("setMtu(" + mtu + ")");
    }

    /** The last log SET_LOG_BASE handed over, or null. */
    volatile DirtyLog log;

    @Override
    public synchronized void setLog(DirtyLog newLog) {
        log = newLog;
        record("setLog(" + (newLog == null ? "null" : newLog.pages() + " pages") + ")");
    }

    @Override
    public synchronized void setUsedLog(int index, long usedLogGpa) {
        record("setUsedLog(" + index + ", " + (usedLogGpa < 0 ? "-1" : "0x" + Long.toHexString(usedLogGpa)) + ")");
    }

    @Override
    public synchronized void sendRarp(long mac) {
        record("sendRarp(" + String.format("%012x", mac) + ")");
    }

    @Override
    public synchronized void setMemory(GuestMemory newMemory) {
        // The contract: the session unmaps what the old table had only once this returned.
        GuestMemory old = memory;
        for (int i = 0; old != null && i < old.regionCount(); i++) {
            if (!old.segment(i).scope().isAlive()) {
                record("ERROR: region gpa=0x" + Long.toHexString(old.regionGpa(i)) + " unmapped before setMemory");
            }
        }
        StringBuilder text = new StringBuilder("setMemory(");
        for (int i = 0; i < newMemory.regionCount(); i++) {
            MemoryRegion r = newMemory.region(i);
            text.append(i == 0 ? "" : ", ").append("gpa=0x").append(Long.toHexString(r.gpa()))
                    .append(" size=0x").append(Long.toHexString(r.size()))
                    .append(" va=0x").append(Long.toHexString(r.frontendVa()));
        }
        memory = newMemory;
        record(text.append(")").toString());
    }

    @Override
    public synchronized void startQueue(VringConfig c) {
        if (refuseStart != null) {
            record("startQueue(" + c.index() + ") refused");
            throw new IllegalArgumentException(refuseStart);
        }
        if (running.containsKey(c.index())) {
            fail("startQueue on running queue " + c.index());
        }
        requireOpen("kick", c.kickFd());
        requireOpen("call", c.callFd());
        requireOpen("err", c.errFd());
        running.put(c.index(), c);
        callFds.put(c.index(), c.callFd());
        record("startQueue(index=" + c.index() + " size=" + c.size() + " nextAvail=" + c.nextAvail()
                + " desc=0x" + Long.toHexString(c.descFrontendVa()) + " avail=0x" + Long.toHexString(c.availFrontendVa())
                + " used=0x" + Long.toHexString(c.usedFrontendVa()) + " kick=" + fd(c.kickFd())
                + " call=" + fd(c.callFd()) + " err=" + fd(c.errFd())
                + (c.usedLogGpa() >= 0 ? " log=0x" + Long.toHexString(c.usedLogGpa()) : "") + ")");
    }

    @Override
    public synchronized int stopQueue(int index) {
        VringConfig c = running.remove(index);
        if (c == null) {
            fail("stopQueue on stopped queue " + index);
        }
        // The session closes fds only after this returns: they must still be open here.
        requireOpen("kick", c.kickFd());
        requireOpen("call", callFds.get(index));
        Integer result = stopResults.poll();
        int nextAvail = result != null ? result : c.nextAvail();
        record("stopQueue(" + index + ")=" + nextAvail);
        return nextAvail;
    }

    @Override
    public synchronized void setCallFd(int index, int callFd) {
        if (!running.containsKey(index)) {
            fail("setCallFd on stopped queue " + index);
        }
        requireOpen("call", callFd);
        requireOpen("old call", callFds.get(index));
        callFds.put(index, callFd);
        record("setCallFd(" + index + ", " + fd(callFd) + ")");
    }

    @Override
    public synchronized void disconnected() {
        if (!running.isEmpty()) {
            fail("disconnected with running queues " + running.keySet());
        }
        memory = null; // the session unmaps it next
        record("disconnected()");
    }

    private static String fd(int fd) {
        return fd >= 0 ? "fd" : "none";
    }

    private void requireOpen(String what, int fd) {
        if (fd >= 0 && !OpenFds.isOpen(fd)) {
            record("ERROR: " + what + " fd " + fd + " is closed");
        }
    }

    private void record(String call) {
        calls.add(call);
        notifyAll();
    }

    /** The running queue's current call fd (as the device sees it), or null. */
    synchronized Integer callFd(int index) {
        return running.containsKey(index) ? callFds.get(index) : null;
    }

    synchronized List<String> calls() {
        return List.copyOf(calls);
    }

    /** Calls recorded so far, and forgets them. */
    synchronized List<String> drain() {
        List<String> copy = List.copyOf(calls);
        calls.clear();
        return copy;
    }

    /** Waits until {@code call} was recorded (the control thread may still be finishing it). */
    synchronized void await(String call) throws InterruptedException {
        long deadline = System.nanoTime() + TestFrontend.TIMEOUT_MILLIS * 1_000_000L;
        while (!calls.contains(call)) {
            long left = (deadline - System.nanoTime()) / 1_000_000L;
            if (left <= 0) {
                fail("timed out waiting for " + call + "; calls: " + calls);
            }
            wait(left);
        }
    }
}

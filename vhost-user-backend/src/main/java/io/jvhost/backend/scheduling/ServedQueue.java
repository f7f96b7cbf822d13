package io.jvhost.backend.scheduling;

import io.jvhost.backend.datapath.DataWorker;
/** A virtqueue as the schedulers see it: who kicks it, who serves it, and how to move it. */
public interface ServedQueue {

    /** The port's name. */
    String port();

    /** Virtqueue index within the port. */
    int index();

    /** "port/index", stable for the queue's life. */
    default String id() {
        return port() + "/" + index();
    }

    /** The host CPU the vCPU that kicks this queue last ran on, or -1 when unknown. */
    int vcpuCpu();

    /** The worker serving it now, or null. */
    DataWorker owner();

    /** Moves it to {@code target} without losing a kick. Control or housekeeping thread. */
    void moveTo(DataWorker target);
}

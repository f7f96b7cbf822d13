package io.jvhost.backend.config;

import io.jvhost.backend.switching.TokenBucket;

/**
 * {@code ports[].storm-control}: packets-per-second limits on what a port sends that the switch
 * floods, per class. Each is {@link #UNLIMITED} unless set.
 *
 * <p>Why no limit by default: jvhost cannot know what rate of broadcast, multicast or flooded unicast a
 * network needs (a multicast video feed, a receiver that has not sent yet), and a default that dropped
 * legitimate frames would do so silently for every user; as on OVS and the Linux bridge, whoever runs
 * guests they do not trust sets limits on those ports.
 *
 * @param broadcastPps      {@code broadcast-pps}: frames to ff:ff:ff:ff:ff:ff
 * @param multicastPps      {@code multicast-pps}: frames to any other group address
 * @param unknownUnicastPps {@code unknown-unicast-pps}: unicast frames flooded because the switch does
 *                          not know (or cannot learn, its table full) where the destination is
 */
public record StormControl(long broadcastPps, long multicastPps, long unknownUnicastPps) {

    /** No limit. */
    public static final long UNLIMITED = TokenBucket.UNLIMITED;
    /** The largest limit: {@value TokenBucket#MAX_PPS} packets per second. */
    public static final long MAX_PPS = TokenBucket.MAX_PPS;
    /** No limit on any class (the default). */
    public static final StormControl NONE = new StormControl(UNLIMITED, UNLIMITED, UNLIMITED);

    public StormControl {
        for (long pps : new long[] {broadcastPps, multicastPps, unknownUnicastPps}) {
            if (pps != UNLIMITED && (pps < 0 || pps > MAX_PPS)) {
                throw new IllegalArgumentException("storm-control rate out of range: " + pps);
            }
        }
    }
}

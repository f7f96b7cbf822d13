package io.jvhost.backend.protocol;

import java.util.List;

/**
 * A decoded front-end request: what {@link MessageCodec} produces and {@link VhostUserSession} consumes.
 * Structural rules (sizes, fd counts, value ranges) already hold; rules that depend on the session's
 * state (queue count, offered features) are the session's to check.
 *
 * <p>File descriptors named here belong to the message's {@link io.jvhost.backend.linux.FdList} until
 * the session detaches them.
 */
public sealed interface VhostUserRequest {

    RequestType type();

    record GetFeatures() implements VhostUserRequest {
        public RequestType type() {
            return RequestType.GET_FEATURES;
        }
    }

    record SetFeatures(long features) implements VhostUserRequest {
        public RequestType type() {
            return RequestType.SET_FEATURES;
        }
    }

    record SetOwner() implements VhostUserRequest {
        public RequestType type() {
            return RequestType.SET_OWNER;
        }
    }

    record ResetOwner() implements VhostUserRequest {
        public RequestType type() {
            return RequestType.RESET_OWNER;
        }
    }

    /** One region of a memory table, as the front-end describes it; its fd is message fd {@code i}. */
    record RegionDescriptor(long gpa, long size, long frontendVa, long mmapOffset) {
    }

    /** Region {@code i} is backed by message fd {@code i}. */
    record SetMemTable(List<RegionDescriptor> regions) implements VhostUserRequest {
        public SetMemTable {
            regions = List.copyOf(regions);
        }

        public RequestType type() {
            return RequestType.SET_MEM_TABLE;
        }
    }

    /** The dirty log is {@code mmapSize} bytes of message fd 0 ({@code fd}) from {@code mmapOffset}. */
    record SetLogBase(long mmapSize, long mmapOffset, int fd) implements VhostUserRequest {
        public RequestType type() {
            return RequestType.SET_LOG_BASE;
        }
    }

    /** {@code fd} (message fd 0, or -1 when none came) is the log's change-notification eventfd. */
    record SetLogFd(int fd) implements VhostUserRequest {
        public RequestType type() {
            return RequestType.SET_LOG_FD;
        }
    }

    /**
     * Announce the guest's MAC after a migration (for a guest without GUEST_ANNOUNCE): {@code mac} is
     * the payload's first six bytes, in wire order, as a 48-bit number (first byte highest).
     */
    record SendRarp(long mac) implements VhostUserRequest {
        public RequestType type() {
            return RequestType.SEND_RARP;
        }
    }

    record SetVringNum(int index, int size) implements VhostUserRequest {
        public RequestType type() {
            return RequestType.SET_VRING_NUM;
        }
    }

    record SetVringAddr(int index, int flags, long descFrontendVa, long usedFrontendVa, long availFrontendVa,
                        long logGpa) implements VhostUserRequest {
        public RequestType type() {
            return RequestType.SET_VRING_ADDR;
        }
    }

    record SetVringBase(int index, int nextAvail) implements VhostUserRequest {
        public RequestType type() {
            return RequestType.SET_VRING_BASE;
        }
    }

    record GetVringBase(int index) implements VhostUserRequest {
        public RequestType type() {
            return RequestType.GET_VRING_BASE;
        }
    }

    /** {@code fd} is message fd 0, or -1 with the NOFD flag (the front-end asks for polling). */
    record SetVringKick(int index, int fd) implements VhostUserRequest {
        public RequestType type() {
            return RequestType.SET_VRING_KICK;
        }
    }

    /** {@code fd} is message fd 0, or -1 with the NOFD flag (no interrupts wanted). */
    record SetVringCall(int index, int fd) implements VhostUserRequest {
        public RequestType type() {
            return RequestType.SET_VRING_CALL;
        }
    }

    /** {@code fd} is message fd 0, or -1 with the NOFD flag. */
    record SetVringErr(int index, int fd) implements VhostUserRequest {
        public RequestType type() {
            return RequestType.SET_VRING_ERR;
        }
    }

    record GetProtocolFeatures() implements VhostUserRequest {
        public RequestType type() {
            return RequestType.GET_PROTOCOL_FEATURES;
        }
    }

    record SetProtocolFeatures(long features) implements VhostUserRequest {
        public RequestType type() {
            return RequestType.SET_PROTOCOL_FEATURES;
        }
    }

    record GetQueueNum() implements VhostUserRequest {
        public RequestType type() {
            return RequestType.GET_QUEUE_NUM;
        }
    }

    record SetVringEnable(int index, boolean enable) implements VhostUserRequest {
        public RequestType type() {
            return RequestType.SET_VRING_ENABLE;
        }
    }

    /** The MTU the front-end gives the guest (QEMU's {@code host_mtu}), 68..65535. */
    record NetSetMtu(int mtu) implements VhostUserRequest {
        public RequestType type() {
            return RequestType.NET_SET_MTU;
        }
    }

    /** VHOST_USER_GET_MAX_MEM_SLOTS: how many regions ADD_MEM_REG may build up. */
    record GetMaxMemSlots() implements VhostUserRequest {
        public RequestType type() {
            return RequestType.GET_MAX_MEM_SLOTS;
        }
    }

    /** One more region for the memory table; it is backed by message fd 0. */
    record AddMemReg(RegionDescriptor region) implements VhostUserRequest {
        public RequestType type() {
            return RequestType.ADD_MEM_REG;
        }
    }

    /**
     * Removes the region with the same gpa, size and front-end address (vhost-user.rst: "the mmap
     * offset is ignored"); an fd attached by an older front-end is not used.
     */
    record RemMemReg(RegionDescriptor region) implements VhostUserRequest {
        public RequestType type() {
            return RequestType.REM_MEM_REG;
        }
    }
}

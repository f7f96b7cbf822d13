package io.jvhost.backend.protocol;

/**
 * The front-end requests this back-end implements, and the table that drives their validation (as
 * DPDK's handler table): payload size range, how many fds may ride along, and the feature that gates
 * the request. {@link MessageCodec} checks size and fds; {@link VhostUserSession} checks the gate.
 *
 * <p>Any other request code is rejected and the connection closed: the back-end offers no protocol
 * feature that would make QEMU send one (vhost-user.rst gates every later request on one).
 */
public enum RequestType {

    //                     code  min payload                  max payload                  fds  gate
    GET_FEATURES(1, 0, 0, 0, Gate.NONE),
    SET_FEATURES(2, U64Payload.SIZE, U64Payload.SIZE, 0, Gate.NONE),
    SET_OWNER(3, 0, 0, 0, Gate.NONE),
    RESET_OWNER(4, 0, 0, 0, Gate.NONE),
    SET_MEM_TABLE(5, MemoryTablePayload.MIN_SIZE, MemoryTablePayload.MAX_SIZE, MemoryTablePayload.MAX_REGIONS, Gate.NONE),
    SET_LOG_BASE(6, LogPayload.SIZE, LogPayload.SIZE, 1, Gate.PROTOCOL_F_LOG_SHMFD),
    // No payload in the spec ("request payload: N/A"); a u64 is tolerated, as DPDK does.
    SET_LOG_FD(7, 0, U64Payload.SIZE, 1, Gate.NONE),
    SET_VRING_NUM(8, VringStatePayload.SIZE, VringStatePayload.SIZE, 0, Gate.NONE),
    SET_VRING_ADDR(9, VringAddrPayload.SIZE, VringAddrPayload.SIZE, 0, Gate.NONE),
    SET_VRING_BASE(10, VringStatePayload.SIZE, VringStatePayload.SIZE, 0, Gate.NONE),
    GET_VRING_BASE(11, VringStatePayload.SIZE, VringStatePayload.SIZE, 0, Gate.NONE),
    SET_VRING_KICK(12, VringFdPayload.SIZE, VringFdPayload.SIZE, 1, Gate.NONE),
    SET_VRING_CALL(13, VringFdPayload.SIZE, VringFdPayload.SIZE, 1, Gate.NONE),
    SET_VRING_ERR(14, VringFdPayload.SIZE, VringFdPayload.SIZE, 1, Gate.NONE),
    GET_PROTOCOL_FEATURES(15, 0, 0, 0, Gate.PROTOCOL_FEATURES_OFFERED),
    SET_PROTOCOL_FEATURES(16, U64Payload.SIZE, U64Payload.SIZE, 0, Gate.PROTOCOL_FEATURES_OFFERED),
    GET_QUEUE_NUM(17, 0, 0, 0, Gate.PROTOCOL_F_MQ),
    SET_VRING_ENABLE(18, VringStatePayload.SIZE, VringStatePayload.SIZE, 0, Gate.PROTOCOL_FEATURES_ACKED),
    SEND_RARP(19, U64Payload.SIZE, U64Payload.SIZE, 0, Gate.PROTOCOL_F_RARP),
    NET_SET_MTU(20, U64Payload.SIZE, U64Payload.SIZE, 0, Gate.PROTOCOL_F_NET_MTU),
    GET_MAX_MEM_SLOTS(36, 0, 0, 0, Gate.PROTOCOL_F_CONFIGURE_MEM_SLOTS),
    ADD_MEM_REG(37, MemoryRegionPayload.SIZE, MemoryRegionPayload.SIZE, 1, Gate.PROTOCOL_F_CONFIGURE_MEM_SLOTS),
    // QEMU before 7.1 attached the region's fd to REM_MEM_REG too; the spec now says none. One is
    // accepted and ignored, as libvhost-user does.
    REM_MEM_REG(38, MemoryRegionPayload.SIZE, MemoryRegionPayload.SIZE, 1, Gate.PROTOCOL_F_CONFIGURE_MEM_SLOTS);

    /** What must have been offered or negotiated before a request is legal. */
    public enum Gate {
        NONE,
        /** vhost-user.rst: "Only legal if feature bit VHOST_USER_F_PROTOCOL_FEATURES is present in GET_FEATURES". */
        PROTOCOL_FEATURES_OFFERED,
        /** vhost-user.rst: "sent only when VHOST_USER_F_PROTOCOL_FEATURES has been negotiated". */
        PROTOCOL_FEATURES_ACKED,
        /** vhost-user.rst: GET_QUEUE_NUM "sent only when VHOST_USER_PROTOCOL_F_MQ is set". */
        PROTOCOL_F_MQ,
        /** vhost-user.rst: NET_SET_MTU "only legal if VHOST_USER_PROTOCOL_F_NET_MTU is negotiated". */
        PROTOCOL_F_NET_MTU,
        /** vhost-user.rst: GET_MAX_MEM_SLOTS, ADD_MEM_REG, REM_MEM_REG need VHOST_USER_PROTOCOL_F_CONFIGURE_MEM_SLOTS. */
        PROTOCOL_F_CONFIGURE_MEM_SLOTS,
        /**
         * vhost-user.rst: SET_LOG_BASE carries the log's fd "when the back-end has
         * VHOST_USER_PROTOCOL_F_LOG_SHMFD"; without it the log would be the front-end's own memory.
         */
        PROTOCOL_F_LOG_SHMFD,
        /** vhost-user.rst: SEND_RARP "only legal if VHOST_USER_PROTOCOL_F_RARP is negotiated". */
        PROTOCOL_F_RARP
    }

    private static final RequestType[] BY_CODE = new RequestType[64];

    static {
        for (RequestType type : values()) {
            BY_CODE[type.code] = type;
        }
    }

    private final int code;
    private final int minPayload;
    private final int maxPayload;
    private final int maxFds;
    private final Gate gate;

    RequestType(int code, int minPayload, int maxPayload, int maxFds, Gate gate) {
        this.code = code;
        this.minPayload = minPayload;
        this.maxPayload = maxPayload;
        this.maxFds = maxFds;
        this.gate = gate;
    }

    /** The type for a wire code, or null when this back-end does not implement it. */
    public static RequestType of(int code) {
        return code >= 0 && code < BY_CODE.length ? BY_CODE[code] : null;
    }

    public int code() {
        return code;
    }

    public int minPayload() {
        return minPayload;
    }

    public int maxPayload() {
        return maxPayload;
    }

    /** How many fds may be attached (0: none allowed). */
    public int maxFds() {
        return maxFds;
    }

    public Gate gate() {
        return gate;
    }

    /** True when the request has a reply of its own (vhost-user.rst, "Communication"), so REPLY_ACK adds none. */
    public boolean hasReply() {
        // SET_LOG_BASE: QEMU waits for a reply when LOG_SHMFD is negotiated (vhost_user_set_log_base).
        return this == GET_FEATURES || this == GET_PROTOCOL_FEATURES || this == GET_VRING_BASE || this == GET_QUEUE_NUM
                || this == GET_MAX_MEM_SLOTS || this == SET_LOG_BASE;
    }
}

package io.jvhost.it.harness;

import java.util.regex.Pattern;

/**
 * The guest's {@code JV-FILE-SHA256 <hex> <bytes>} marker: the file the {@link GuestRole#SEND_FILE}
 * role made or the {@link GuestRole#RECV_FILE} role received.
 *
 * @param sha256 lower-case hex, 64 digits
 * @param bytes  the file's length
 */
public record FileDigest(String sha256, long bytes) {

    static final Pattern MARKER = Pattern.compile("^JV-FILE-SHA256 ([0-9a-f]{64}) (\\d+)$");
    /** {@link GuestRole#FILE_SWAP}: the file made and sent. */
    public static final Pattern SENT = Pattern.compile("^JV-SENT-SHA256 ([0-9a-f]{64}) (\\d+)$");
    /** {@link GuestRole#FILE_SWAP}: the file received. */
    static final Pattern RECEIVED = Pattern.compile("^JV-RECV-SHA256 ([0-9a-f]{64}) (\\d+)$");
}

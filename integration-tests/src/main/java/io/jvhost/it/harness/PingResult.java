package io.jvhost.it.harness;

import java.util.regex.Pattern;

/** The guest's {@code JV-PING-RESULT <transmitted> <received>} marker. */
public record PingResult(int transmitted, int received) {

    public static final Pattern MARKER = Pattern.compile("^JV-PING-RESULT (\\d+) (\\d+)$");

    /** Every echo request got its reply. */
    public boolean lossless() {
        return transmitted > 0 && transmitted == received;
    }
}

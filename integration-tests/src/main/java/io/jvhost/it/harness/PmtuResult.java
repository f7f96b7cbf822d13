package io.jvhost.it.harness;

import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The guest's {@code JV-PMTU-RESULT <size> <transmitted> <received> <rc>} marker: one size of the
 * {@link GuestRole#PMTU} role, pinged with don't-fragment set.
 *
 * @param size        ICMP payload bytes ({@code ping -s}); the IP packet is 28 bytes more
 * @param transmitted echo requests iputils counted as sent (also those the local stack refused)
 * @param received    echo replies
 * @param exitStatus  iputils-ping's exit status: 0 some reply, 1 none, 2 other errors
 */
public record PmtuResult(int size, int transmitted, int received, int exitStatus) {

    static final Pattern MARKER = Pattern.compile("^JV-PMTU-RESULT (\\d+) (\\d+) (\\d+) (\\d+)$");

    /** Every {@code JV-PMTU-RESULT} marker in {@code lines}, in order. */
    static List<PmtuResult> parse(List<String> lines) {
        List<PmtuResult> out = new ArrayList<>();
        for (String line : lines) {
            Matcher m = MARKER.matcher(line);
            if (m.matches()) {
                out.add(new PmtuResult(Integer.parseInt(m.group(1)), Integer.parseInt(m.group(2)),
                        Integer.parseInt(m.group(3)), Integer.parseInt(m.group(4))));
            }
        }
        return List.copyOf(out);
    }
}

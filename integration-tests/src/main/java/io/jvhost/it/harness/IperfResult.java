package io.jvhost.it.harness;

import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The summary of one {@code iperf3 --json} run, taken from its {@code "end"} section without a JSON
 * library: the flat {@code sum_sent} / {@code sum_received} objects (TCP, and UDP since iperf3 3.10;
 * older UDP has one {@code sum}) are the only ones needed, and they contain no nested objects.
 *
 * @param sentBitsPerSecond     the client's send rate ({@code sum_sent})
 * @param receivedBitsPerSecond the server's receive rate ({@code sum_received})
 * @param sentBytes             bytes the client wrote
 * @param receivedBytes         bytes the server read
 * @param retransmits           TCP retransmits reported by the sender, -1 if absent (UDP)
 * @param lostPackets           UDP datagrams lost on the way, -1 for TCP
 * @param packets               UDP datagrams sent, -1 for TCP
 * @param error                 iperf3's {@code "error"} text, or null
 * @param json                  the whole JSON document as printed
 */
public record IperfResult(double sentBitsPerSecond, double receivedBitsPerSecond, long sentBytes, long receivedBytes,
                          long retransmits, long lostPackets, long packets, String error, String json) {

    private static final Pattern SUM_SENT = Pattern.compile("\"sum_sent\"\\s*:\\s*\\{([^{}]*)}");
    private static final Pattern SUM_RECEIVED = Pattern.compile("\"sum_received\"\\s*:\\s*\\{([^{}]*)}");
    private static final Pattern SUM = Pattern.compile("\"sum\"\\s*:\\s*\\{([^{}]*)}");
    private static final Pattern ERROR = Pattern.compile("\"error\"\\s*:\\s*\"((?:[^\"\\\\]|\\\\.)*)\"");

    /** Parses iperf3 3.x {@code --json} output (TCP or UDP). */
    public static IperfResult parse(String json) {
        Matcher err = ERROR.matcher(json);
        String error = err.find() ? err.group(1) : null;
        String sent = lastObject(SUM_SENT, json);
        String received = lastObject(SUM_RECEIVED, json);
        if (sent == null || received == null) {
            // iperf3 before 3.10 reports UDP only as one "sum" object.
            sent = lastObject(SUM, json);
            received = sent;
        }
        if (sent == null) {
            return new IperfResult(0, 0, 0, 0, -1, -1, -1, error != null ? error : "no summary in iperf3 output", json);
        }
        return new IperfResult(number(sent, "bits_per_second"), number(received, "bits_per_second"),
                (long) number(sent, "bytes"), (long) number(received, "bytes"), (long) number(sent, "retransmits"),
                (long) number(received, "lost_packets"), (long) number(received, "packets"), error, json);
    }

    /** iperf3 reported no error and moved data. */
    public boolean succeeded() {
        return error == null && receivedBitsPerSecond > 0;
    }

    private static String lastObject(Pattern p, String json) {
        Matcher m = p.matcher(json);
        String last = null;
        while (m.find()) {
            last = m.group(1);
        }
        return last;
    }

    private static double number(String object, String key) {
        Matcher m = Pattern.compile("\"" + key + "\"\\s*:\\s*(-?[0-9][0-9.eE+-]*)").matcher(object);
        return m.find() ? Double.parseDouble(m.group(1)) : -1;
    }
}

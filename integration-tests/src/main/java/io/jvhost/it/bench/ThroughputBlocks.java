package io.jvhost.it.bench;

import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * testpmd's periodic statistics ({@code --stats-period 1}) as one throughput figure per block: the
 * sum over all ports of {@code Rx-pps} and {@code Rx-bps} from each port's
 * "Throughput (since last show)" lines. testpmd computes those from its own cycle counter over the
 * time since the previous block, so they need no timestamps from us.
 *
 * <pre>
 * Port statistics ====================================
 *   ######################## NIC statistics for port 0  ########################
 *   RX-packets: 16032      RX-missed: 0          RX-bytes:  1026048
 *   ...
 *   Throughput (since last show)
 *   Rx-pps:       613046          Rx-bps:    313879816
 *   Tx-pps:       612893          Tx-bps:    313801672
 * </pre>
 *
 * On the front-end every packet received has gone once through the backend under test, so the
 * sum of the front-end's Rx rates is the backend's forwarding rate. {@code Rx-bps} is frame bytes
 * times 8 (no preamble, inter-frame gap or CRC).
 */
final class ThroughputBlocks {

    private static final Pattern BLOCK = Pattern.compile("Port statistics =+");
    private static final Pattern PORT = Pattern.compile("NIC statistics for port (\\d+)");
    private static final Pattern RX_RATE = Pattern.compile("Rx-pps:\\s*(\\d+)\\s+Rx-bps:\\s*(\\d+)");

    private ThroughputBlocks() {
    }

    /** One statistics block: packets and bits per second received, summed over its ports. */
    record Block(double packetsPerSecond, double bitsPerSecond) {
    }

    /**
     * The complete blocks (all {@code ports} present) that start at or after line {@code fromLine}
     * and before {@code toLine}.
     */
    static List<Block> parse(List<String> lines, int fromLine, int toLine, int ports) {
        List<Block> out = new ArrayList<>();
        int seen = -1; // ports with a rate in the current block; -1 before the first block header
        int port = -1;
        double pps = 0;
        double bps = 0;
        for (int i = Math.max(0, fromLine); i < Math.min(toLine, lines.size()); i++) {
            String line = lines.get(i);
            if (BLOCK.matcher(line).find()) {
                if (seen == ports) {
                    out.add(new Block(pps, bps));
                }
                seen = 0;
                port = -1;
                pps = 0;
                bps = 0;
                continue;
            }
            if (seen < 0) {
                continue;
            }
            Matcher p = PORT.matcher(line);
            if (p.find()) {
                port = Integer.parseInt(p.group(1));
                continue;
            }
            Matcher r = RX_RATE.matcher(line);
            if (r.find() && port >= 0) {
                pps += Double.parseDouble(r.group(1));
                bps += Double.parseDouble(r.group(2));
                seen++;
                port = -1;
            }
        }
        if (seen == ports) {
            out.add(new Block(pps, bps));
        }
        return out;
    }

    /** The mean of the blocks' packet rates; NaN for none. */
    static double meanPacketsPerSecond(List<Block> blocks) {
        double sum = 0;
        for (Block b : blocks) {
            sum += b.packetsPerSecond();
        }
        return blocks.isEmpty() ? Double.NaN : sum / blocks.size();
    }

    static double meanBitsPerSecond(List<Block> blocks) {
        double sum = 0;
        for (Block b : blocks) {
            sum += b.bitsPerSecond();
        }
        return blocks.isEmpty() ? Double.NaN : sum / blocks.size();
    }
}

package io.jvhost.it.harness;

import java.util.regex.Pattern;

/**
 * The guest's {@code JV-SNMP <Tcp InCsumErrors> <Udp InCsumErrors>} marker: segments and datagrams
 * the guest's stack dropped for a bad checksum ({@code /proc/net/snmp}), -1 where the kernel has no
 * such column.
 */
public record CsumErrors(long tcpInCsumErrors, long udpInCsumErrors) {

    static final Pattern MARKER = Pattern.compile("^JV-SNMP (-?\\d+) (-?\\d+)$");
}

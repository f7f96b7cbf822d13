package io.jvhost.it.bench;

import io.jvhost.it.harness.Testpmd;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/** A running backend under test, jvhost or DPDK testpmd, seen the same way by the cases. */
final class Backends {

    private Backends() {
    }

    /** The process whose CPU time and context switches are measured; closing it stops it by pid. */
    interface Running extends AutoCloseable {

        long pid();

        boolean isAlive();

        List<String> commandLine();

        /** Writes the backend's thread stacks (jvhost: {@code jcmd PID Thread.print}) for a failure report. */
        void dumpThreads(Path file);

        /** Writes the backend's own counters (jvhost: {@code /api/ports} and {@code /api/workers}) for the logs. */
        void saveCounters(Path file);

        @Override
        void close();
    }

    static Running jvhost(JvhostProcess jvhost) {
        return new Running() {
            @Override
            public long pid() {
                return jvhost.pid();
            }

            @Override
            public boolean isAlive() {
                return jvhost.isAlive();
            }

            @Override
            public List<String> commandLine() {
                return jvhost.commandLine();
            }

            @Override
            public void saveCounters(Path file) {
                write(file, "{\"ports\": " + json(jvhost.get("/api/ports")) + ",\n\"workers\": "
                        + json(jvhost.get("/api/workers")) + ",\n\"queues\": " + json(jvhost.get("/api/queues")) + "}\n");
            }

            @Override
            public void dumpThreads(Path file) {
                Path jcmd = Path.of(System.getProperty("java.home"), "bin", "jcmd");
                write(file, Machine.command(file.getParent(), jcmd.toString(), Long.toString(jvhost.pid()), "Thread.print")
                        + "\n");
            }

            @Override
            public void close() {
                jvhost.close();
            }
        };
    }

    static Running testpmd(Testpmd testpmd) {
        return new Running() {
            @Override
            public long pid() {
                return testpmd.pid();
            }

            @Override
            public boolean isAlive() {
                return testpmd.isAlive();
            }

            @Override
            public List<String> commandLine() {
                return testpmd.commandLine();
            }

            @Override
            public void saveCounters(Path file) {
                // testpmd's latest periodic statistics, as JSON like jvhost's.
                StringBuilder sb = new StringBuilder("{\"ports\": [");
                for (Map.Entry<Integer, Testpmd.PortStats> e : testpmd.portStats().entrySet()) {
                    Testpmd.PortStats p = e.getValue();
                    sb.append(sb.charAt(sb.length() - 1) == '[' ? "\n" : ",\n")
                            .append(String.format(Locale.ROOT, "{\"port\": %d, \"rx_packets\": %d, \"rx_bytes\": %d,"
                                    + " \"rx_missed\": %d, \"rx_nombuf\": %d, \"tx_packets\": %d, \"tx_bytes\": %d,"
                                    + " \"tx_errors\": %d}", e.getKey(), p.rxPackets(), p.rxBytes(), p.rxMissed(),
                                    p.rxNoMbuf(), p.txPackets(), p.txBytes(), p.txErrors()));
                }
                write(file, sb.append("\n]}\n").toString());
            }

            @Override
            public void dumpThreads(Path file) {
                write(file, testpmd.log().tail(60) + "\n");
            }

            @Override
            public void close() {
                testpmd.close();
            }
        };
    }

    /**
     * The backend for guests on {@code sockets} (vhost-user servers, QEMU connects), nothing pinned:
     * jvhost with the ports {@code vm0, vm1, ...} in one network on a pool of CPUs 0-1, or testpmd
     * with one {@code net_vhost} port per socket, io forwarding (ports 0-1, 2-3 ... paired), its
     * forwarding lcore on CPU 1.
     */
    static Running forGuests(BenchEnv env, Backend backend, String name, List<Path> sockets) {
        if (backend.isJvhost()) {
            List<JvhostProcess.Port> ports = new ArrayList<>();
            for (int i = 0; i < sockets.size(); i++) {
                ports.add(new JvhostProcess.Port("vm" + i, sockets.get(i), "default"));
            }
            return jvhost(JvhostProcess.start(env.logDir(), name + "-jvhost", env.javaCommand(), "0-1",
                    backend.model(), ports, Duration.ofSeconds(60)));
        }
        Testpmd.Builder testpmd = Testpmd.builder(env.logDir()).cpuList("0,1").filePrefix(env.filePrefix(name))
                .forwardMode("io").statsPeriodSeconds(10);
        for (Path socket : sockets) {
            testpmd.vhostUser(socket);
        }
        return testpmd(testpmd.start());
    }

    /** The body when it is JSON, else (a failed request) the text as a JSON string. */
    private static String json(String body) {
        String b = body.strip();
        if (b.startsWith("{") || b.startsWith("[")) {
            return b;
        }
        return "\"" + b.replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", " ") + "\"";
    }

    private static void write(Path file, String text) {
        try {
            Files.writeString(file, text);
        } catch (IOException e) {
            throw new UncheckedIOException("writing " + file, e);
        }
    }
}

package io.jvhost.backend.management;

import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * {@code /metrics} in the Prometheus text exposition format 0.0.4: per family one {@code # HELP} and
 * one {@code # TYPE} line, then its samples; label values escaped ({@code \\}, {@code \"}, {@code \n}).
 * A family is written even when it has no samples, so the set of families does not depend on state.
 * Gauges for a value that is {@code null} (no worker yet, vCPU not seen) have no sample.
 */
final class PrometheusText {

    static final String CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

    private final StringBuilder out = new StringBuilder(8192);

    private PrometheusText() {
    }

    static String render(ManagementView view) {
        PrometheusText text = new PrometheusText();
        text.ports(view.ports());
        text.queues(view.queues());
        text.workers(view.workers());
        text.switchCounters(view.extraCounters());
        return text.out.toString();
    }

    private void ports(List<PortStatus> ports) {
        family("jvhost_port_info", "gauge", "Port configuration, always 1.");
        for (PortStatus p : ports) {
            sample("jvhost_port_info", "1", "port", p.name(), "kind", p.kind(), "network", p.network(),
                    "mode", p.mode() == null ? "" : p.mode(), "socket", p.socket() == null ? "" : p.socket());
        }
        family("jvhost_port_connected", "gauge", "1 when a front-end is connected and the device runs.");
        for (PortStatus p : ports) {
            sample("jvhost_port_connected", p.connected() ? "1" : "0", "port", p.name());
        }
        family("jvhost_port_features", "gauge", "Virtio feature bits acked by the driver.");
        for (PortStatus p : ports) {
            sample("jvhost_port_features", Long.toUnsignedString(p.features()), "port", p.name());
        }
        family("jvhost_port_queues", "gauge", "Queue pairs in use.");
        for (PortStatus p : ports) {
            sample("jvhost_port_queues", Integer.toString(p.queues()), "port", p.name());
        }
        portCounter(ports, "jvhost_port_rx_packets_total", "Packets received from the port.", Field.RX_PACKETS);
        portCounter(ports, "jvhost_port_rx_bytes_total", "Bytes received from the port.", Field.RX_BYTES);
        portCounter(ports, "jvhost_port_tx_packets_total", "Packets delivered to the port.", Field.TX_PACKETS);
        portCounter(ports, "jvhost_port_tx_bytes_total", "Bytes delivered to the port.", Field.TX_BYTES);
        portCounter(ports, "jvhost_port_drops_total", "Packets dropped at the port.", Field.DROPS);
        portCounter(ports, "jvhost_port_errors_total", "Malformed descriptor chains and other errors.",
                Field.ERRORS);
        portCounter(ports, "jvhost_port_storm_drops_total",
                "Frames from the port dropped over a storm-control limit (broadcast, multicast, unknown unicast).",
                Field.STORM_DROPS);
        portCounter(ports, "jvhost_port_spoof_drops_total",
                "Frames from the port dropped for a source MAC port security does not allow.", Field.SPOOF_DROPS);
        family("jvhost_port_cpu_seconds_total", "counter",
                "Worker CPU time spent for the port (its queues, and its copies into the ports it sends to).");
        for (PortStatus p : ports) {
            sample("jvhost_port_cpu_seconds_total", number(p.cpuSeconds()), "port", p.name());
        }
    }

    private enum Field { RX_PACKETS, RX_BYTES, TX_PACKETS, TX_BYTES, DROPS, ERRORS, STORM_DROPS, SPOOF_DROPS }

    private void portCounter(List<PortStatus> ports, String name, String help, Field field) {
        family(name, "counter", help);
        for (PortStatus p : ports) {
            long value = switch (field) {
                case RX_PACKETS -> p.rxPackets();
                case RX_BYTES -> p.rxBytes();
                case TX_PACKETS -> p.txPackets();
                case TX_BYTES -> p.txBytes();
                case DROPS -> p.drops();
                case ERRORS -> p.errors();
                case STORM_DROPS -> p.stormDrops();
                case SPOOF_DROPS -> p.spoofDrops();
            };
            sample(name, Long.toString(value), "port", p.name());
        }
    }

    private void queues(List<QueueStatus> queues) {
        family("jvhost_queue_packets_total", "counter", "Packets moved through the virtqueue.");
        for (QueueStatus q : queues) {
            queueSample("jvhost_queue_packets_total", q, Long.toString(q.packets()));
        }
        family("jvhost_queue_bytes_total", "counter", "Bytes moved through the virtqueue.");
        for (QueueStatus q : queues) {
            queueSample("jvhost_queue_bytes_total", q, Long.toString(q.bytes()));
        }
        family("jvhost_queue_drops_total", "counter", "Packets dropped on the virtqueue.");
        for (QueueStatus q : queues) {
            queueSample("jvhost_queue_drops_total", q, Long.toString(q.drops()));
        }
        family("jvhost_queue_backpressure_waits_total", "counter",
                "Frames from the virtqueue that waited for a receiver without buffers instead of being dropped.");
        for (QueueStatus q : queues) {
            queueSample("jvhost_queue_backpressure_waits_total", q, Long.toString(q.waits()));
        }
        family("jvhost_queue_migrations_total", "counter", "Moves of the virtqueue to another worker.");
        for (QueueStatus q : queues) {
            queueSample("jvhost_queue_migrations_total", q, Long.toString(q.migrations()));
        }
        family("jvhost_queue_sw_segmented_total", "counter", "GSO frames segmented in software for the receiver.");
        for (QueueStatus q : queues) {
            queueSample("jvhost_queue_sw_segmented_total", q, Long.toString(q.offloads().segmented()));
        }
        family("jvhost_queue_sw_checksums_total", "counter", "Checksums completed in software for the receiver.");
        for (QueueStatus q : queues) {
            queueSample("jvhost_queue_sw_checksums_total", q, Long.toString(q.offloads().checksums()));
        }
        family("jvhost_queue_offload_passthrough_total", "counter",
                "Frames passed to the receiver with their offload header as it was.");
        for (QueueStatus q : queues) {
            queueSample("jvhost_queue_offload_passthrough_total", q, Long.toString(q.offloads().passedThrough()));
        }
        family("jvhost_queue_bad_offload_drops_total", "counter", "Frames dropped for a bad offload header.");
        for (QueueStatus q : queues) {
            queueSample("jvhost_queue_bad_offload_drops_total", q, Long.toString(q.offloads().badHeaders()));
        }
        family("jvhost_queue_worker_cpu", "gauge", "CPU of the worker serving the virtqueue.");
        for (QueueStatus q : queues) {
            if (q.workerCpu() != null) {
                queueSample("jvhost_queue_worker_cpu", q, Integer.toString(q.workerCpu()));
            }
        }
        family("jvhost_queue_vcpu_cpu", "gauge", "Host CPU last seen running the vCPU that kicks the virtqueue.");
        for (QueueStatus q : queues) {
            if (q.vcpuCpu() != null) {
                queueSample("jvhost_queue_vcpu_cpu", q, Integer.toString(q.vcpuCpu()));
            }
        }
    }

    private void queueSample(String name, QueueStatus q, String value) {
        sample(name, value, "port", q.port(), "index", Integer.toString(q.index()), "direction", q.direction());
    }

    private void workers(List<WorkerStatus> workers) {
        family("jvhost_worker_busy_seconds_total", "counter", "Time the worker spent working.");
        for (WorkerStatus w : workers) {
            sample("jvhost_worker_busy_seconds_total", number(w.busySeconds()), "cpu", Integer.toString(w.cpu()));
        }
        family("jvhost_worker_busy_ratio", "gauge", "Share of the last interval the worker spent working.");
        for (WorkerStatus w : workers) {
            sample("jvhost_worker_busy_ratio", number(w.busy()), "cpu", Integer.toString(w.cpu()));
        }
        family("jvhost_worker_wakeups_total", "counter", "Times the worker woke up to work.");
        for (WorkerStatus w : workers) {
            sample("jvhost_worker_wakeups_total", Long.toString(w.wakeups()), "cpu", Integer.toString(w.cpu()));
        }
        family("jvhost_worker_queues", "gauge", "Virtqueues the worker serves.");
        for (WorkerStatus w : workers) {
            sample("jvhost_worker_queues", Integer.toString(w.queues().size()), "cpu", Integer.toString(w.cpu()));
        }
        family("jvhost_worker_migrations_in_total", "counter", "Virtqueues moved to the worker.");
        for (WorkerStatus w : workers) {
            sample("jvhost_worker_migrations_in_total", Long.toString(w.migrationsIn()),
                    "cpu", Integer.toString(w.cpu()));
        }
        family("jvhost_worker_socket", "gauge", "CPU socket of the worker.");
        for (WorkerStatus w : workers) {
            if (w.socket() != null) {
                sample("jvhost_worker_socket", Integer.toString(w.socket()), "cpu", Integer.toString(w.cpu()));
            }
        }
    }

    private void switchCounters(Map<String, Long> counters) {
        for (Map.Entry<String, Long> counter : new TreeMap<>(counters).entrySet()) {
            String name = "jvhost_switch_" + metricNamePart(counter.getKey()) + "_total";
            family(name, "counter", "Switch counter '" + counter.getKey() + "'.");
            sample(name, Long.toString(counter.getValue()));
        }
    }

    private void family(String name, String type, String help) {
        out.append("# HELP ").append(name).append(' ');
        escape(help, false);
        out.append('\n').append("# TYPE ").append(name).append(' ').append(type).append('\n');
    }

    /** One sample; {@code labels} alternate name and value. */
    private void sample(String name, String value, String... labels) {
        out.append(name);
        if (labels.length > 0) {
            out.append('{');
            for (int i = 0; i < labels.length; i += 2) {
                if (i > 0) {
                    out.append(',');
                }
                out.append(labels[i]).append("=\"");
                escape(labels[i + 1], true);
                out.append('"');
            }
            out.append('}');
        }
        out.append(' ').append(value).append('\n');
    }

    /** Label values escape backslash, double quote and newline; HELP text only backslash and newline. */
    private void escape(String text, boolean labelValue) {
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            switch (c) {
                case '\\' -> out.append("\\\\");
                case '\n' -> out.append("\\n");
                case '"' -> out.append(labelValue ? "\\\"" : "\"");
                default -> out.append(c);
            }
        }
    }

    static String number(double value) {
        if (Double.isNaN(value)) {
            return "NaN";
        }
        if (Double.isInfinite(value)) {
            return value > 0 ? "+Inf" : "-Inf";
        }
        return Double.toString(value);
    }

    static String metricNamePart(String name) {
        StringBuilder part = new StringBuilder(name.length());
        for (int i = 0; i < name.length(); i++) {
            char c = name.charAt(i);
            boolean valid = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
            part.append(valid ? c : '_');
        }
        return part.toString();
    }
}

package io.jvhost.backend.management;

import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.jvhost.virtio.net.VirtioNetFeatures;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.math.BigInteger;
import java.util.List;

/**
 * The JSON documents of {@code /api/ports}, {@code /api/workers} and {@code /api/queues}: a top-level
 * array with one object per item and snake_case keys, written field by field so the names are exactly
 * those of {@code docs/interface.md} whatever the record components are called.
 */
final class ManagementJson {

    private static final ObjectMapper MAPPER = new ObjectMapper();

    private ManagementJson() {
    }

    static byte[] ports(List<PortStatus> ports) {
        return writeArray(json -> {
            for (PortStatus port : ports) {
                writePort(json, port);
            }
        });
    }

    /** One port: the object {@code /api/ports} lists, alone (the answer to {@code POST /api/ports}). */
    static byte[] port(PortStatus port) {
        return write(json -> writePort(json, port));
    }

    /** The answer to {@code POST /api/reload}: {@code added}, {@code removed}, {@code changed}, {@code not_applied}. */
    static byte[] reload(ReloadResult result) {
        return write(json -> {
            json.writeStartObject();
            writeStrings(json, "added", result.added());
            writeStrings(json, "removed", result.removed());
            writeStrings(json, "changed", result.changed());
            writeStrings(json, "not_applied", result.notApplied());
            json.writeEndObject();
        });
    }

    private static void writeStrings(JsonGenerator json, String name, List<String> values) throws IOException {
        json.writeArrayFieldStart(name);
        for (String value : values) {
            json.writeString(value);
        }
        json.writeEndArray();
    }

    private static void writePort(JsonGenerator json, PortStatus port) throws IOException {
        json.writeStartObject();
        json.writeStringField("name", port.name());
        json.writeStringField("kind", port.kind());
        json.writeStringField("socket", port.socket());
        json.writeStringField("mode", port.mode());
        json.writeStringField("network", port.network());
        json.writeBooleanField("connected", port.connected());
        json.writeFieldName("features");
        writeUnsigned(json, port.features());
        json.writeStringField("features_hex", "0x" + Long.toHexString(port.features()));
        writeStrings(json, "feature_names", VirtioNetFeatures.names(port.features()));
        json.writeNumberField("mtu", port.mtu());
        writeStrings(json, "offloads", port.offloads());
        json.writeNumberField("queues", port.queues());
        json.writeNumberField("rx_packets", port.rxPackets());
        json.writeNumberField("rx_bytes", port.rxBytes());
        json.writeNumberField("tx_packets", port.txPackets());
        json.writeNumberField("tx_bytes", port.txBytes());
        json.writeNumberField("drops", port.drops());
        json.writeNumberField("errors", port.errors());
        json.writeNumberField("storm_drops", port.stormDrops());
        json.writeNumberField("spoof_drops", port.spoofDrops());
        json.writeNumberField("cpu_seconds", port.cpuSeconds());
        json.writeEndObject();
    }

    static byte[] workers(List<WorkerStatus> workers) {
        return writeArray(json -> {
            for (WorkerStatus worker : workers) {
                json.writeStartObject();
                json.writeNumberField("cpu", worker.cpu());
                writeNullableInt(json, "socket", worker.socket());
                writeStrings(json, "queues", worker.queues());
                json.writeNumberField("busy", Double.isFinite(worker.busy()) ? worker.busy() : 0.0);
                json.writeNumberField("wakeups", worker.wakeups());
                json.writeNumberField("migrations_in", worker.migrationsIn());
                json.writeNumberField("busy_seconds", worker.busySeconds());
                json.writeEndObject();
            }
        });
    }

    static byte[] queues(List<QueueStatus> queues) {
        return writeArray(json -> {
            for (QueueStatus queue : queues) {
                json.writeStartObject();
                json.writeStringField("port", queue.port());
                json.writeNumberField("index", queue.index());
                json.writeStringField("direction", queue.direction());
                writeNullableInt(json, "worker_cpu", queue.workerCpu());
                writeNullableInt(json, "vcpu_cpu", queue.vcpuCpu());
                json.writeNumberField("packets", queue.packets());
                json.writeNumberField("bytes", queue.bytes());
                json.writeNumberField("drops", queue.drops());
                json.writeNumberField("backpressure_waits", queue.waits());
                json.writeNumberField("migrations", queue.migrations());
                json.writeStringField("error", queue.error());
                json.writeNumberField("sw_segmented", queue.offloads().segmented());
                json.writeNumberField("sw_checksums", queue.offloads().checksums());
                json.writeNumberField("offload_passthrough", queue.offloads().passedThrough());
                json.writeNumberField("bad_offload_drops", queue.offloads().badHeaders());
                json.writeEndObject();
            }
        });
    }

    private static void writeNullableInt(JsonGenerator json, String name, Integer value) throws IOException {
        if (value == null) {
            json.writeNullField(name);
        } else {
            json.writeNumberField(name, value);
        }
    }

    /** Feature bits are a u64: bit 63 must not turn the number negative. */
    private static void writeUnsigned(JsonGenerator json, long value) throws IOException {
        if (value >= 0) {
            json.writeNumber(value);
        } else {
            json.writeNumber(new BigInteger(Long.toUnsignedString(value)));
        }
    }

    private interface Items {
        void write(JsonGenerator json) throws IOException;
    }

    private static byte[] writeArray(Items items) {
        return write(json -> {
            json.writeStartArray();
            items.write(json);
            json.writeEndArray();
        });
    }

    private static byte[] write(Items items) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(4096);
        try (JsonGenerator json = MAPPER.createGenerator(out)) {
            json.useDefaultPrettyPrinter();
            items.write(json);
            json.writeRaw('\n');
        } catch (IOException e) {
            // A ByteArrayOutputStream does not fail.
            throw new UncheckedIOException(e);
        }
        return out.toByteArray();
    }
}

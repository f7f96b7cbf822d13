package io.jvhost.backend.cli;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.jvhost.backend.cli.Main.UsageException;
import io.jvhost.backend.config.ManagementConfig;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * The commands that talk to a running daemon over its control socket: {@code port add}, {@code port
 * del}, {@code port list}, {@code status} and {@code reload} ({@code docs/interface.md}). The daemon validates a new port as it
 * validates the config file; its message is printed as it is.
 *
 * <p>Exit status: {@value Main#EXIT_OK} ok, {@value Main#EXIT_USAGE} bad usage or a request the daemon
 * rejected, {@value Main#EXIT_FAILURE} the daemon cannot be reached (or failed).
 */
final class ControlCommand {

    /** The variable naming the control socket when {@code --control} is not given. */
    static final String CONTROL_VARIABLE = "JVHOST_CONTROL";

    private static final ObjectMapper JSON = new ObjectMapper();

    /**
     * A parsed control command: the socket, the HTTP request it makes and how its answer is shown: the
     * line {@code done}, or for a null {@code done} a table of the answer ({@code port list}) or, for
     * {@code status}, of the workers and of the queues ({@code /api/queues} asked next).
     */
    record Request(Path control, String method, String path, String body, String done) {
    }

    private static final String WORKERS = "/api/workers";
    private static final String RELOAD = "/api/reload";

    private ControlCommand() {
    }

    /** Whether {@code args} (the arguments after {@code jvhost}) are a control command. */
    static boolean isControl(String[] args) {
        int i = 0;
        if (i < args.length && args[i].equals("--control")) {
            i += 2;
        } else if (i < args.length && args[i].startsWith("--control=")) {
            i++;
        }
        return i < args.length && (args[i].equals("port") || args[i].equals("status") || args[i].equals("reload"));
    }

    /**
     * Parses a control command line.
     *
     * @param environmentControl {@code $JVHOST_CONTROL}, or null
     */
    static Request parse(String[] args, String environmentControl) throws UsageException {
        List<String> rest = new ArrayList<>(List.of(args));
        String control = null;
        if (!rest.isEmpty() && rest.getFirst().equals("--control")) {
            if (rest.size() < 2 || rest.get(1).isEmpty()) {
                throw new UsageException("--control needs a PATH argument");
            }
            control = rest.get(1);
            rest.subList(0, 2).clear();
        } else if (!rest.isEmpty() && rest.getFirst().startsWith("--control=")) {
            control = rest.removeFirst().substring("--control=".length());
            if (control.isEmpty()) {
                throw new UsageException("--control needs a PATH argument");
            }
        }
        if (control == null) {
            control = environmentControl == null || environmentControl.isEmpty()
                    ? ManagementConfig.DEFAULT_CONTROL_SOCKET.toString()
                    : environmentControl;
        }
        Path socket = path("--control", control);
        String first = rest.removeFirst();
        if (first.equals("status")) {
            noMore(rest);
            return new Request(socket, "GET", WORKERS, null, null);
        }
        if (first.equals("reload")) {
            noMore(rest);
            return new Request(socket, "POST", RELOAD, null, null);
        }
        if (rest.isEmpty()) {
            throw new UsageException("port needs a command: add, del or list");
        }
        String command = rest.removeFirst();
        return switch (command) {
            case "list" -> {
                noMore(rest);
                yield new Request(socket, "GET", "/api/ports", null, null);
            }
            case "del" -> {
                String name = name(rest, "port del");
                noMore(rest);
                yield new Request(socket, "DELETE", "/api/ports/" + name, null, "port " + name + " deleted");
            }
            case "add" -> add(socket, rest);
            default -> throw new UsageException("unknown port command '" + command + "' (add, del or list)");
        };
    }

    private static Request add(Path socket, List<String> rest) throws UsageException {
        String name = name(rest, "port add");
        ObjectNode port = JSON.createObjectNode().put("name", name);
        while (!rest.isEmpty()) {
            String option = rest.removeFirst();
            String key = switch (option) {
                case "--socket", "--mode", "--queues", "--tap", "--network", "--mtu" -> option.substring(2);
                default -> throw new UsageException(option.startsWith("-")
                        ? "unknown option '" + option + "'"
                        : "unexpected argument '" + option + "'");
            };
            if (rest.isEmpty()) {
                throw new UsageException(option + " needs a value");
            }
            if (port.has(key)) {
                throw new UsageException(option + " given twice");
            }
            String value = rest.removeFirst();
            switch (key) {
                // The daemon's working directory need not be ours: send the path the user means.
                case "socket" -> port.put(key, path(option, value).toAbsolutePath().toString());
                case "queues", "mtu" -> port.put(key, number(option, value));
                default -> port.put(key, value);
            }
        }
        if (!port.has("socket") && !port.has("tap")) {
            throw new UsageException("port add needs --socket PATH or --tap IFNAME");
        }
        return new Request(socket, "POST", "/api/ports", port.toString(), "port " + name + " added");
    }

    private static String name(List<String> rest, String command) throws UsageException {
        if (rest.isEmpty() || rest.getFirst().startsWith("-")) {
            throw new UsageException(command + " needs a port NAME");
        }
        return rest.removeFirst();
    }

    private static void noMore(List<String> rest) throws UsageException {
        if (!rest.isEmpty()) {
            throw new UsageException("unexpected argument '" + rest.getFirst() + "'");
        }
    }

    private static Path path(String option, String value) throws UsageException {
        try {
            return Path.of(value);
        } catch (InvalidPathException e) {
            throw new UsageException(option + ": invalid path '" + value + "': " + e.getReason());
        }
    }

    /** A number, or the text itself: the daemon says what a valid value is, with the config's message. */
    private static JsonNode number(String option, String value) throws UsageException {
        try {
            return JSON.getNodeFactory().numberNode(Long.parseLong(value));
        } catch (NumberFormatException e) {
            throw new UsageException(option + " needs a number, got '" + value + "'");
        }
    }

    /** Sends {@code request}, prints the outcome, returns the exit status. */
    static int run(Request request, PrintStream out, PrintStream err) {
        try {
            ControlClient.Response response = send(request, request.path());
            if (request.done() != null) {
                out.println(request.done());
            } else if (request.path().equals(RELOAD)) {
                out.print(reloaded(JSON.readTree(response.body())));
            } else if (request.path().equals(WORKERS)) {
                JsonNode workers = JSON.readTree(response.body());
                JsonNode queues = JSON.readTree(send(request, "/api/queues").body());
                JsonNode ports = JSON.readTree(send(request, "/api/ports").body());
                out.print(status(workers, queues, ports));
            } else {
                out.print(table(JSON.readTree(response.body())));
            }
            return Main.EXIT_OK;
        } catch (Refused e) {
            err.println("jvhost: " + e.getMessage());
            return e.status;
        } catch (JsonProcessingException e) {
            err.println("jvhost: the answer of the daemon at " + request.control() + " is not JSON: "
                    + e.getOriginalMessage());
            return Main.EXIT_FAILURE;
        } catch (IOException e) {
            err.println("jvhost: cannot reach the daemon at " + request.control() + ": " + Main.describe(e));
            return Main.EXIT_FAILURE;
        }
    }

    /** The answer to one request to {@code path}, if a success (2xx). */
    private static ControlClient.Response send(Request request, String path) throws IOException, Refused {
        ControlClient.Response response = ControlClient.request(request.control(), request.method(), path,
                request.body());
        int status = response.status();
        if (status < 200 || status >= 300) {
            throw new Refused(response.body().strip(), status >= 400 && status < 500 ? Main.EXIT_USAGE : Main.EXIT_FAILURE);
        }
        return response;
    }

    /** The daemon answered, with a refusal (4xx, exit 2) or a failure of its own (exit 1); its message. */
    private static final class Refused extends Exception {

        private static final long serialVersionUID = 1L;
        private final int status;

        Refused(String message, int status) {
            super(message);
            this.status = status;
        }
    }

    /** {@code port list}: one line per port, columns aligned. */
    static String table(JsonNode ports) {
        List<String[]> rows = new ArrayList<>();
        rows.add(new String[] {"NAME", "KIND", "NETWORK", "CONNECTED", "QUEUES", "MTU", "RX_PACKETS", "TX_PACKETS",
                "DROPS", "SOCKET"});
        for (JsonNode p : ports) {
            rows.add(new String[] {p.path("name").asText(), p.path("kind").asText(), p.path("network").asText(),
                    p.path("connected").asBoolean() ? "yes" : "no", p.path("queues").asText(), p.path("mtu").asText(),
                    p.path("rx_packets").asText(), p.path("tx_packets").asText(), p.path("drops").asText(),
                    p.path("socket").isTextual()
                            ? p.path("mode").asText() + " " + p.path("socket").asText()
                            : "-"});
        }
        return aligned(rows);
    }

    /**
     * {@code status}: the workers (CPU, socket, busy %, queues), then every queue with its port,
     * direction, worker CPU and the CPU of the vCPU that kicks it ({@code -} for unknown), then the
     * worker CPU time each port was charged.
     */
    static String status(JsonNode workers, JsonNode queues, JsonNode ports) {
        List<String[]> workerRows = new ArrayList<>();
        workerRows.add(new String[] {"CPU", "SOCKET", "BUSY", "QUEUES"});
        for (JsonNode w : workers) {
            List<String> names = new ArrayList<>();
            w.path("queues").forEach(q -> names.add(q.asText()));
            workerRows.add(new String[] {w.path("cpu").asText(), orDash(w.path("socket")),
                    String.format(Locale.ROOT, "%.1f%%", 100 * w.path("busy").asDouble()),
                    names.isEmpty() ? "-" : String.join(" ", names)});
        }
        List<String[]> queueRows = new ArrayList<>();
        queueRows.add(new String[] {"PORT", "QUEUE", "DIRECTION", "WORKER_CPU", "VCPU_CPU", "PACKETS", "DROPS"});
        for (JsonNode q : queues) {
            queueRows.add(new String[] {q.path("port").asText(), q.path("index").asText(), q.path("direction").asText(),
                    orDash(q.path("worker_cpu")), orDash(q.path("vcpu_cpu")), q.path("packets").asText(),
                    q.path("drops").asText()});
        }
        List<String[]> portRows = new ArrayList<>();
        portRows.add(new String[] {"PORT", "CPU_SECONDS", "RX_PACKETS", "TX_PACKETS"});
        for (JsonNode p : ports) {
            portRows.add(new String[] {p.path("name").asText(), String.format(Locale.ROOT, "%.3f", p.path("cpu_seconds").asDouble()),
                    p.path("rx_packets").asText(), p.path("tx_packets").asText()});
        }
        return "workers:\n" + aligned(workerRows) + "\nqueues:\n" + aligned(queueRows) + "\nports:\n"
                + aligned(portRows);
    }

    /** {@code reload}: what changed, one line each, and what needs a restart. */
    static String reloaded(JsonNode result) {
        StringBuilder text = new StringBuilder();
        for (String key : List.of("added", "removed", "changed")) {
            List<String> names = new ArrayList<>();
            result.path(key).forEach(n -> names.add(n.asText()));
            text.append(key).append(": ").append(names.isEmpty() ? "-" : String.join(" ", names)).append('\n');
        }
        List<String> restart = new ArrayList<>();
        result.path("not_applied").forEach(n -> restart.add(n.asText()));
        if (!restart.isEmpty()) {
            text.append("not applied, needs a restart: ").append(String.join(" ", restart)).append('\n');
        }
        return text.toString();
    }

    private static String orDash(JsonNode value) {
        return value.isNull() || value.isMissingNode() ? "-" : value.asText();
    }

    /** Rows as lines, each column as wide as its widest cell, two spaces apart. */
    private static String aligned(List<String[]> rows) {
        int[] widths = new int[rows.getFirst().length];
        for (String[] row : rows) {
            for (int i = 0; i < row.length; i++) {
                widths[i] = Math.max(widths[i], row[i].length());
            }
        }
        StringBuilder text = new StringBuilder();
        for (String[] row : rows) {
            StringBuilder line = new StringBuilder();
            for (int i = 0; i < row.length; i++) {
                line.append(i == row.length - 1 ? row[i] : String.format("%-" + widths[i] + "s  ", row[i]));
            }
            text.append(line.toString().stripTrailing()).append('\n');
        }
        return text.toString();
    }
}

package io.jvhost.backend.cli;

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

/**
 * The commands that talk to a running daemon over its control socket: {@code port add}, {@code port
 * del} and {@code port list} ({@code docs/interface.md}). The daemon validates a new port as it
 * validates the config file; its message is printed as it is.
 *
 * <p>Exit status: {@value Main#EXIT_OK} ok, {@value Main#EXIT_USAGE} bad usage or a request the daemon
 * rejected, {@value Main#EXIT_FAILURE} the daemon cannot be reached (or failed).
 */
final class ControlCommand {

    /** The variable naming the control socket when {@code --control} is not given. */
    static final String CONTROL_VARIABLE = "JVHOST_CONTROL";

    private static final ObjectMapper JSON = new ObjectMapper();

    /** A parsed control command: the socket, the HTTP request it makes and how its answer is shown. */
    record Request(Path control, String method, String path, String body, String done) {
    }

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
        return i < args.length && args[i].equals("port");
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
        rest.removeFirst(); // "port"
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
        ControlClient.Response response;
        try {
            response = ControlClient.request(request.control(), request.method(), request.path(), request.body());
        } catch (IOException e) {
            err.println("jvhost: cannot reach the daemon at " + request.control() + ": " + Main.describe(e));
            return Main.EXIT_FAILURE;
        }
        int status = response.status();
        if (status >= 200 && status < 300) {
            if (request.done() != null) {
                out.println(request.done());
            } else {
                try {
                    out.print(table(JSON.readTree(response.body())));
                } catch (IOException e) {
                    err.println("jvhost: the daemon's answer is not a port list: " + Main.describe(e));
                    return Main.EXIT_FAILURE;
                }
            }
            return Main.EXIT_OK;
        }
        err.println("jvhost: " + response.body().strip());
        return status >= 400 && status < 500 ? Main.EXIT_USAGE : Main.EXIT_FAILURE;
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

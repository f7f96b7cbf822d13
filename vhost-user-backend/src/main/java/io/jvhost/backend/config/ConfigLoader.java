package io.jvhost.backend.config;

import io.jvhost.affinity.topology.CpuList;
import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import io.jvhost.backend.config.PortConfig.Mode;
import io.jvhost.backend.config.WorkersConfig.Balance;
import io.jvhost.backend.config.WorkersConfig.Model;
import io.jvhost.backend.config.WorkersConfig.Placement;
import io.jvhost.backend.linux.SocketAccess;
import io.jvhost.backend.linux.UnixServerSocket;
import io.jvhost.backend.switching.MacAddress;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;
import org.yaml.snakeyaml.error.Mark;
import org.yaml.snakeyaml.error.MarkedYAMLException;

/**
 * Reads and validates the YAML config file (see {@code docs/interface.md} and the documented default,
 * {@value #DEFAULT_RESOURCE}, next to this class).
 *
 * <p>The file is parsed into a tree and checked by hand, key by key, so that the first problem found
 * is reported as one message naming the file, the key path and what is wrong, e.g.
 * {@code config.yaml: ports[1].mode: expected 'server' or 'client', got 'listen'}. Unknown keys are
 * errors. Every optional key has a default; {@code ports} is required.
 *
 * <p>Relative socket paths are kept as written and are relative to the working directory of the
 * process (not to the config file).
 */
public final class ConfigLoader {

    /** The documented default config, a resource next to this class. */
    public static final String DEFAULT_RESOURCE = "jvhost-default.yaml";

    static final List<String> ROOT_KEYS = List.of("workers", "topology", "ports", "management");
    static final List<String> WORKERS_KEYS =
            List.of("cpus", "model", "placement", "balance", "rebalance-interval-ms", "busy-poll-us",
                    "backpressure-timeout-us", "wakeup-slice-us");
    static final List<String> TOPOLOGY_KEYS = List.of("sockets");
    static final List<String> PORT_KEYS = List.of("name", "socket", "tap", "mode", "queues", "network", "vcpus",
            "offloads", "mtu", "socket-mode", "socket-group", "allowed-uids", "mac", "allowed-macs", "storm-control");
    static final List<String> STORM_CONTROL_KEYS = List.of("broadcast-pps", "multicast-pps", "unknown-unicast-pps");
    static final List<String> MANAGEMENT_KEYS = List.of("listen", "control-socket", "control-group");

    static final int MAX_REBALANCE_INTERVAL_MS = 3_600_000;
    /** A poll window beyond a millisecond only burns CPU: kicks cost microseconds. */
    static final int MAX_BUSY_POLL_US = 1000;
    /** A guest's transmit watchdog resets its device after 5 s without progress: stay well below. */
    static final int MAX_BACKPRESSURE_TIMEOUT_US = 1_000_000;
    /** Linux's range for a custom slice is 100 us to 100 ms (0: leave the kernel's default). */
    static final int MIN_WAKEUP_SLICE_US = 100;
    static final int MAX_WAKEUP_SLICE_US = 100_000;
    /** sun_path is 108 bytes including the terminating NUL (unix(7)). */
    static final int MAX_SOCKET_PATH_BYTES = UnixServerSocket.MAX_PATH_BYTES;
    /** IFNAMSIZ is 16 including the terminating NUL (netdevice(7)). */
    static final int MAX_TAP_NAME_BYTES = 15;
    static final int MAX_FILE_BYTES = 1 << 20;

    private static final Pattern NAME = Pattern.compile("[A-Za-z0-9._-]{1,64}");
    private static final String NAME_RULE = "a name of 1 to 64 letters, digits, '.', '_' or '-'";
    private static final Pattern HOST = Pattern.compile("[A-Za-z0-9.-]+");
    private static final Pattern IPV6 = Pattern.compile("[0-9A-Fa-f:.]+");
    private static final Pattern PORT_NUMBER = Pattern.compile("[0-9]{1,5}");
    private static final String CPU_LIST = "a CPU list like '0-3,6' or a list of CPU ids";
    private static final Pattern SOCKET_MODE = Pattern.compile("0?[0-7]{3}");
    private static final String SOCKET_MODE_RULE = "a quoted octal mode like \"0660\"";
    /** A group name as useradd(8) accepts it (a trailing '$' for Samba machine accounts), or a numeric gid. */
    private static final Pattern GROUP = Pattern.compile("[A-Za-z_][A-Za-z0-9_.-]{0,31}\\$?|[0-9]{1,10}");
    private static final String GROUP_RULE = "a group name or a numeric gid";
    /** (uid_t) -1 is "no user" to the kernel's setuid calls: never a real peer. */
    private static final long MAX_UID = 0xFFFF_FFFEL;
    private static final Pattern MAC = Pattern.compile("[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}");
    private static final String MAC_RULE = "a MAC address like \"52:54:00:12:34:56\"";

    private static final YAMLMapper YAML = YAMLMapper.builder()
            .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
            .build();

    private static final JsonMapper JSON = JsonMapper.builder()
            .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
            .build();

    private ConfigLoader() {
    }

    /**
     * Loads and validates a config file; the worker pool defaults to the host's online CPUs.
     *
     * @throws ConfigException      the file cannot be read or is not a valid config
     * @throws UncheckedIOException the online CPUs of the host cannot be read (not a config problem)
     */
    public static JvhostConfig load(Path file) throws ConfigException {
        return load(file, CpuList.online());
    }

    /** {@link #load(Path)} against a given set of online CPUs (tests). */
    public static JvhostConfig load(Path file, List<Integer> onlineCpus) throws ConfigException {
        String source = file.toString();
        byte[] bytes;
        try {
            if (Files.isDirectory(file)) {
                throw new ConfigException(source + ": cannot read the file: it is a directory");
            }
            if (Files.size(file) > MAX_FILE_BYTES) {
                throw new ConfigException(source + ": cannot read the file: larger than 1 MiB");
            }
            bytes = Files.readAllBytes(file);
        } catch (NoSuchFileException e) {
            throw new ConfigException(source + ": cannot read the file: no such file", e);
        } catch (AccessDeniedException e) {
            throw new ConfigException(source + ": cannot read the file: permission denied", e);
        } catch (IOException e) {
            throw new ConfigException(source + ": cannot read the file: " + e.getMessage(), e);
        }
        String text;
        try {
            text = StandardCharsets.UTF_8.newDecoder().decode(ByteBuffer.wrap(bytes)).toString();
        } catch (CharacterCodingException e) {
            throw new ConfigException(source + ": cannot read the file: not valid UTF-8", e);
        }
        return parse(source, text, onlineCpus);
    }

    /**
     * The embedded default ({@value #DEFAULT_RESOURCE}): server-mode ports {@code vm0} and {@code vm1}
     * on {@code run/vm0.sock} and {@code run/vm1.sock} in network {@code default}, one queue pair each,
     * workers on all online CPUs, management on 127.0.0.1:9180.
     */
    public static JvhostConfig embeddedDefault() throws ConfigException {
        return embeddedDefault(CpuList.online());
    }

    /** {@link #embeddedDefault()} against a given set of online CPUs (tests). */
    public static JvhostConfig embeddedDefault(List<Integer> onlineCpus) throws ConfigException {
        return parse(DEFAULT_RESOURCE, defaultText(), onlineCpus);
    }

    /** The text of {@value #DEFAULT_RESOURCE}. */
    public static String defaultText() {
        try (InputStream in = ConfigLoader.class.getResourceAsStream(DEFAULT_RESOURCE)) {
            if (in == null) {
                throw new IllegalStateException("resource " + DEFAULT_RESOURCE + " is missing from the build");
            }
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * Parses and validates config text.
     *
     * @param source     the file name used in messages
     * @param yaml       the YAML text
     * @param onlineCpus the host's online CPUs: the default worker pool, and what workers.cpus may use
     */
    public static JvhostConfig parse(String source, String yaml, List<Integer> onlineCpus) throws ConfigException {
        JsonNode tree = readYaml(source, yaml);
        return new Validation(onlineCpus).config(ConfigNode.root(source, tree));
    }

    private static JsonNode readYaml(String source, String yaml) throws ConfigException {
        try (JsonParser parser = YAML.createParser(yaml)) {
            JsonNode tree = YAML.readTree(parser);
            JsonToken next = parser.nextToken();
            if (next != null) {
                JsonLocation at = parser.currentTokenLocation();
                throw new ConfigException(source + ":" + at.getLineNr() + ":" + at.getColumnNr()
                        + ": expected a single YAML document, found another one");
            }
            return tree == null ? YAML.createObjectNode() : tree;
        } catch (JsonProcessingException e) {
            throw syntaxError(source, e, "YAML");
        } catch (IOException e) {
            // Reading from a String: only a parse problem can get here.
            throw new ConfigException(source + ": invalid YAML: " + e.getMessage(), e);
        }
    }

    /** @param format "YAML" or "JSON", as the message names it */
    private static ConfigException syntaxError(String source, JsonProcessingException e, String format) {
        if (e.getCause() instanceof MarkedYAMLException yaml && yaml.getProblemMark() != null) {
            Mark problem = yaml.getProblemMark();
            StringBuilder message = new StringBuilder()
                    .append(source).append(':').append(problem.getLine() + 1).append(':')
                    .append(problem.getColumn() + 1).append(": invalid YAML: ").append(yaml.getProblem());
            Mark context = yaml.getContextMark();
            if (yaml.getContext() != null) {
                message.append(" (").append(yaml.getContext());
                if (context != null) {
                    message.append(" at line ").append(context.getLine() + 1)
                            .append(", column ").append(context.getColumn() + 1);
                }
                message.append(')');
            }
            return new ConfigException(message.toString(), e);
        }
        String original = e.getOriginalMessage();
        if (original != null && original.startsWith("Duplicate field ")) {
            original = "duplicate key " + original.substring("Duplicate field ".length());
        } else {
            original = "invalid " + format + ": " + original;
        }
        JsonLocation at = e.getLocation();
        String where = at == null ? "" : ":" + at.getLineNr();
        return new ConfigException(source + where + ": " + original, e);
    }

    /**
     * Parses and validates one port object sent to the running daemon ({@code POST /api/ports}): the
     * keys of a config port, checked by the same rules with the same messages, with {@code source} in
     * place of the file name and no {@code ports[i]} prefix ({@code POST /api/ports: mode: expected
     * 'server' or 'client', got 'listen'}). Its name, socket path and TAP device must differ from those
     * of {@code running}, else the exception {@link ConfigException#isDuplicate() is a duplicate}.
     */
    public static PortConfig parsePort(String source, String json, List<PortConfig> running) throws ConfigException {
        ConfigNode node = ConfigNode.root(source, readJson(source, json));
        PortConfig port = Validation.port(node);
        new PortKeys(running).add(port, node);
        return port;
    }

    /**
     * Reads the state file of ports added at runtime ({@code {"ports": [port objects]}}, see
     * {@link #stateText}): each port is checked as a config port, and against {@code configPorts} and
     * the ones before it for a taken name, socket or TAP device. A missing file is no port.
     *
     * @throws ConfigException the file cannot be read or holds something other than valid ports; the
     *                         message names the file (the start stops: a state file is never dropped)
     */
    public static List<PortConfig> loadState(Path file, List<PortConfig> configPorts) throws ConfigException {
        String source = file.toString();
        String text;
        try {
            text = Files.readString(file, StandardCharsets.UTF_8);
        } catch (NoSuchFileException e) {
            return List.of();
        } catch (IOException e) {
            throw new ConfigException(source + ": cannot read the state file of runtime ports: " + e.getMessage(), e);
        }
        ConfigNode root = ConfigNode.root(source, readJson(source, text));
        root.requireMapping(List.of("ports"));
        PortKeys seen = new PortKeys(configPorts);
        List<PortConfig> ports = new ArrayList<>();
        for (ConfigNode element : root.child("ports").elements("a list of ports")) {
            PortConfig port = Validation.port(element);
            seen.add(port, element);
            ports.add(port);
        }
        return ports;
    }

    /** The state file's text for {@code ports}: each one as the port object {@link #loadState} reads back. */
    public static String stateText(List<PortConfig> ports) {
        ObjectNode root = JSON.createObjectNode();
        ArrayNode list = root.putArray("ports");
        for (PortConfig port : ports) {
            ObjectNode o = list.addObject().put("name", port.name());
            if (port.isTap()) {
                o.put("tap", port.tap());
            } else {
                o.put("socket", port.socket().toString()).put("mode", port.mode().configName());
            }
            o.put("queues", port.queues()).put("network", port.network());
            if (port.vcpus() != null) {
                ArrayNode vcpus = o.putArray("vcpus");
                port.vcpus().forEach(vcpus::add);
            }
            o.put("offloads", port.offloads()).put("mtu", port.mtu());
            SocketAccess access = port.access();
            if (access.modeText() != null) {
                o.put("socket-mode", access.modeText());
            }
            if (access.group() != null) {
                o.put("socket-group", access.group());
            }
            if (access.allowedUids() != null) {
                ArrayNode uids = o.putArray("allowed-uids");
                access.allowedUids().forEach(uids::add);
            }
            if (port.mac() != null) {
                o.put("mac", MacAddress.format(port.mac()));
            }
            if (!port.allowedMacs().isEmpty()) {
                ArrayNode macs = o.putArray("allowed-macs");
                port.allowedMacs().forEach(m -> macs.add(MacAddress.format(m)));
            }
            StormControl storm = port.stormControl();
            if (!storm.equals(StormControl.NONE)) {
                ObjectNode limits = o.putObject("storm-control");
                long[] pps = {storm.broadcastPps(), storm.multicastPps(), storm.unknownUnicastPps()};
                for (int i = 0; i < pps.length; i++) {
                    if (pps[i] != StormControl.UNLIMITED) {
                        limits.put(STORM_CONTROL_KEYS.get(i), pps[i]);
                    }
                }
            }
        }
        try {
            return JSON.writerWithDefaultPrettyPrinter().writeValueAsString(root) + "\n";
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("a tree of strings and numbers cannot fail to print", e);
        }
    }

    private static JsonNode readJson(String source, String json) throws ConfigException {
        try (JsonParser parser = JSON.createParser(json)) {
            JsonNode tree = JSON.readTree(parser);
            if (parser.nextToken() != null) {
                throw new ConfigException(source + ": expected one JSON object, found more after it");
            }
            return tree == null ? JSON.missingNode() : tree;
        } catch (JsonProcessingException e) {
            throw syntaxError(source, e, "JSON");
        } catch (IOException e) {
            throw new ConfigException(source + ": invalid JSON: " + e.getMessage(), e);
        }
    }

    /**
     * Checks that the ports of a config re-read from {@code source} ({@code POST /api/reload}) take no
     * name, socket path or TAP device of {@code running} (the ports added at runtime), with the
     * message a config file with both would get ({@code ports[2].name: duplicate port name 'c' (also
     * port c)}); the exception {@link ConfigException#isDuplicate() is a duplicate}.
     */
    public static void requireDistinct(String source, List<PortConfig> ports, List<PortConfig> running)
            throws ConfigException {
        PortKeys seen = new PortKeys(running);
        ConfigNode list = ConfigNode.root(source, JSON.createObjectNode()).child("ports");
        for (int i = 0; i < ports.size(); i++) {
            ConfigNode element = list.element(i);
            seen.add(ports.get(i), element.child("name"), element.child("socket"), element.child("tap"));
            seen.addMacs(ports.get(i), element);
        }
    }

    /** The names, socket paths and TAP devices taken so far, each with where it was taken. */
    private static final class PortKeys {

        private final Map<String, String> names = new HashMap<>();
        private final Map<Path, String> sockets = new HashMap<>();
        private final Map<String, String> taps = new HashMap<>();
        /** Port security MACs by network and MAC: one port each, else the switch could pin it to neither. */
        private final Map<String, String> macs = new HashMap<>();

        /** With the keys of {@code running}, ports of the daemon ({@code also port vm0}). */
        PortKeys(List<PortConfig> running) {
            for (PortConfig port : running) {
                String where = "port " + port.name();
                names.putIfAbsent(port.name(), where);
                for (long mac : port.securedMacs()) {
                    macs.putIfAbsent(macKey(port, mac), where);
                }
                if (port.socket() != null) {
                    sockets.putIfAbsent(port.socket().toAbsolutePath().normalize(), where);
                } else {
                    taps.putIfAbsent(port.tap(), where);
                }
            }
        }

        /** A port read from {@code element}; a key already taken is an error at that key. */
        void add(PortConfig port, ConfigNode element) throws ConfigException {
            add(port, element.child("name"), element.child("socket"), element.child("tap"));
            addMacs(port, element);
        }

        private void add(PortConfig port, ConfigNode name, ConfigNode socket, ConfigNode tap) throws ConfigException {
            unique(names, port.name(), name, port.name(), "port name");
            if (port.socket() != null) {
                unique(sockets, port.socket().toAbsolutePath().normalize(), socket, port.socket().toString(),
                        "socket path");
            } else {
                unique(taps, port.tap(), tap, port.tap(), "TAP device");
            }
        }

        /** The MACs of {@code port} (read from {@code element}), each in one port of its network only. */
        void addMacs(PortConfig port, ConfigNode element) throws ConfigException {
            int i = 0;
            for (long mac : port.securedMacs()) {
                ConfigNode node = port.mac() != null && i == 0 ? element.child("mac")
                        : element.child("allowed-macs").element(port.mac() != null ? i - 1 : i);
                unique(macs, macKey(port, mac), node, MacAddress.format(mac) + "' in network '" + port.network(),
                        "MAC");
                i++;
            }
        }

        private static String macKey(PortConfig port, long mac) {
            return port.network() + "/" + mac;
        }

        private static <K> void unique(Map<K, String> seen, K key, ConfigNode node, String text, String what)
                throws ConfigException {
            String previous = seen.putIfAbsent(key, node.path());
            if (previous != null) {
                throw ConfigException.duplicate(node.error("duplicate " + what + " '" + text
                        + "' (also " + previous + ")").getMessage());
            }
        }
    }

    /** One validation run; checks in file order so the first problem is the one reported. */
    private static final class Validation {

        private final List<Integer> onlineCpus;

        Validation(List<Integer> onlineCpus) {
            this.onlineCpus = List.copyOf(onlineCpus);
        }

        JvhostConfig config(ConfigNode root) throws ConfigException {
            if (!root.json().isObject()) {
                throw root.error("expected a mapping with the keys " + String.join(", ", ROOT_KEYS)
                        + ", got " + ConfigNode.describe(root.json()));
            }
            root.requireMapping(ROOT_KEYS);
            ConfigNode workersNode = root.child("workers");
            WorkersConfig workers = workers(workersNode);
            TopologyConfig topology = topology(root.child("topology"));
            if (topology != null) {
                for (int cpu : workers.cpus()) {
                    if (topology.socketOf(cpu) < 0) {
                        String origin = workersNode.child("cpus").isMissing()
                                ? " (workers.cpus defaults to all online CPUs)"
                                : " (in workers.cpus)";
                        throw root.child("topology").child("sockets")
                                .error("worker CPU " + cpu + origin + " is in no socket");
                    }
                }
            }
            List<PortConfig> ports = ports(root.child("ports"));
            ManagementConfig management = management(root.child("management"));
            return new JvhostConfig(workers, topology, ports, management);
        }

        private WorkersConfig workers(ConfigNode node) throws ConfigException {
            Model model = Model.PER_CPU;
            Placement placement = Placement.SOCKET_AFFINE;
            Balance balance = Balance.LEAST_LOADED;
            long interval = WorkersConfig.DEFAULT_REBALANCE_INTERVAL_MS;
            long busyPoll = WorkersConfig.DEFAULT_BUSY_POLL_US;
            long backpressure = WorkersConfig.DEFAULT_BACKPRESSURE_TIMEOUT_US;
            long slice = WorkersConfig.DEFAULT_WAKEUP_SLICE_US;
            List<Integer> cpus = onlineCpus;
            if (!node.isMissingOrNull()) {
                node.requireMapping(WORKERS_KEYS);
                ConfigNode cpusNode = node.child("cpus");
                if (!cpusNode.isMissing()) {
                    cpus = cpus(cpusNode);
                    for (int cpu : cpus) {
                        if (!onlineCpus.contains(cpu)) {
                            throw cpusNode.error("CPU " + cpu + " is not online (online CPUs: "
                                    + CpuList.format(onlineCpus) + ")");
                        }
                    }
                }
                if (!node.child("model").isMissing()) {
                    model = node.child("model").enumValue(Model.class);
                }
                if (!node.child("placement").isMissing()) {
                    placement = node.child("placement").enumValue(Placement.class);
                }
                if (!node.child("balance").isMissing()) {
                    balance = node.child("balance").enumValue(Balance.class);
                }
                if (!node.child("rebalance-interval-ms").isMissing()) {
                    interval = node.child("rebalance-interval-ms").integer(1, MAX_REBALANCE_INTERVAL_MS);
                }
                if (!node.child("busy-poll-us").isMissing()) {
                    busyPoll = node.child("busy-poll-us").integer(0, MAX_BUSY_POLL_US);
                }
                if (!node.child("backpressure-timeout-us").isMissing()) {
                    backpressure = node.child("backpressure-timeout-us").integer(0, MAX_BACKPRESSURE_TIMEOUT_US);
                }
                ConfigNode sliceNode = node.child("wakeup-slice-us");
                if (!sliceNode.isMissing()) {
                    slice = sliceNode.integer(0, MAX_WAKEUP_SLICE_US);
                    if (slice > 0 && slice < MIN_WAKEUP_SLICE_US) {
                        throw sliceNode.error("must be 0 (the kernel's default) or " + MIN_WAKEUP_SLICE_US + ".."
                                + MAX_WAKEUP_SLICE_US + ", got " + slice);
                    }
                }
            }
            if (cpus.isEmpty()) {
                throw node.child("cpus").error("no CPU is online");
            }
            return new WorkersConfig(cpus, model, placement, balance, interval, busyPoll, backpressure, slice);
        }

        private TopologyConfig topology(ConfigNode node) throws ConfigException {
            if (node.isMissingOrNull()) {
                return null;
            }
            node.requireMapping(TOPOLOGY_KEYS);
            ConfigNode socketsNode = node.child("sockets");
            if (socketsNode.isMissing()) {
                throw socketsNode.missing();
            }
            List<ConfigNode> elements = socketsNode.elements("a list of sockets, each a list of CPU ids");
            if (elements.isEmpty()) {
                throw socketsNode.error("expected at least one socket");
            }
            List<List<Integer>> sockets = new ArrayList<>();
            Map<Integer, String> socketOfCpu = new HashMap<>();
            for (ConfigNode element : elements) {
                List<Integer> cpus = cpus(element);
                for (int cpu : cpus) {
                    String previous = socketOfCpu.putIfAbsent(cpu, element.path());
                    if (previous != null) {
                        throw element.error("CPU " + cpu + " is already in " + previous);
                    }
                }
                sockets.add(cpus);
            }
            return new TopologyConfig(sockets);
        }

        /** A CPU list string, a single CPU id or a list of CPU ids; sorted, distinct, not empty. */
        private static List<Integer> cpus(ConfigNode node) throws ConfigException {
            if (node.json().isTextual()) {
                String text = node.json().textValue();
                try {
                    return CpuList.parse(text);
                } catch (IllegalArgumentException e) {
                    throw node.error("invalid CPU list '" + text + "': " + e.getMessage());
                }
            }
            if (node.json().isIntegralNumber()) {
                return List.of(node.integer(0, CpuList.MAX_CPU));
            }
            List<ConfigNode> elements = node.elements(CPU_LIST);
            if (elements.isEmpty()) {
                throw node.error("expected at least one CPU");
            }
            List<Integer> cpus = new ArrayList<>();
            for (ConfigNode element : elements) {
                int cpu = element.integer(0, CpuList.MAX_CPU);
                if (cpus.contains(cpu)) {
                    throw element.error("CPU " + cpu + " is listed twice");
                }
                cpus.add(cpu);
            }
            cpus.sort(null);
            return List.copyOf(cpus);
        }

        private List<PortConfig> ports(ConfigNode node) throws ConfigException {
            if (node.isMissing()) {
                throw node.missing();
            }
            List<ConfigNode> elements = node.elements("a list of ports");
            if (elements.isEmpty()) {
                throw node.error("expected at least one port");
            }
            List<PortConfig> ports = new ArrayList<>();
            PortKeys seen = new PortKeys(List.of());
            for (ConfigNode element : elements) {
                PortConfig port = port(element);
                seen.add(port, element);
                ports.add(port);
            }
            return ports;
        }

        static PortConfig port(ConfigNode node) throws ConfigException {
            node.requireMapping(PORT_KEYS);
            ConfigNode nameNode = node.child("name");
            if (nameNode.isMissing()) {
                throw nameNode.missing();
            }
            String name = nameNode.text(NAME_RULE);
            if (!NAME.matcher(name).matches()) {
                throw nameNode.error("expected " + NAME_RULE + ", got '" + name + "'");
            }
            ConfigNode socketNode = node.child("socket");
            ConfigNode tapNode = node.child("tap");
            if (socketNode.isMissing() == tapNode.isMissing()) {
                throw node.error("expected exactly one of 'socket' or 'tap', got "
                        + (socketNode.isMissing() ? "neither" : "both"));
            }
            Path socket = null;
            String tap = null;
            Mode mode = null;
            if (!socketNode.isMissing()) {
                socket = socketPath(socketNode);
                mode = Mode.SERVER;
                if (!node.child("mode").isMissing()) {
                    mode = node.child("mode").enumValue(Mode.class);
                }
            } else {
                tap = tapName(tapNode);
                for (String key : List.of("mode", "vcpus")) {
                    if (!node.child(key).isMissing()) {
                        throw node.child(key).error("only valid for a vhost-user port (one with 'socket')");
                    }
                }
            }
            int queues = 1;
            if (!node.child("queues").isMissing()) {
                queues = node.child("queues").integer(PortConfig.MIN_QUEUES, PortConfig.MAX_QUEUES);
            }
            String network = PortConfig.DEFAULT_NETWORK;
            ConfigNode networkNode = node.child("network");
            if (!networkNode.isMissing()) {
                network = networkNode.text(NAME_RULE);
                if (!NAME.matcher(network).matches()) {
                    throw networkNode.error("expected " + NAME_RULE + ", got '" + network + "'");
                }
            }
            List<Integer> vcpus = null;
            ConfigNode vcpusNode = node.child("vcpus");
            if (!vcpusNode.isMissing()) {
                String expected = "a list of " + queues + " vCPU indexes (one per queue pair)";
                List<ConfigNode> elements = vcpusNode.elements(expected);
                if (elements.size() != queues) {
                    throw vcpusNode.error("expected " + queues + (queues == 1 ? " entry" : " entries")
                            + " (one per queue pair), got " + elements.size());
                }
                List<Integer> list = new ArrayList<>();
                for (ConfigNode element : elements) {
                    list.add(element.integer(0, CpuList.MAX_CPU));
                }
                vcpus = list;
            }
            boolean offloads = true;
            if (!node.child("offloads").isMissing()) {
                offloads = node.child("offloads").bool();
            }
            int mtu = PortConfig.DEFAULT_MTU;
            if (!node.child("mtu").isMissing()) {
                mtu = node.child("mtu").integer(PortConfig.MIN_MTU, PortConfig.MAX_MTU);
            }
            SocketAccess access = socketAccess(node, mode);
            ConfigNode macNode = node.child("mac");
            Long mac = null;
            if (!macNode.isMissing()) {
                if (tap != null) {
                    throw macNode.error("only valid for a vhost-user port (one with 'socket'); a TAP port takes "
                            + "'allowed-macs'");
                }
                mac = mac(macNode);
            }
            List<Long> allowedMacs = allowedMacs(node.child("allowed-macs"), mac, macNode);
            StormControl storm = StormControl.NONE;
            if (!node.child("storm-control").isMissing()) {
                storm = stormControl(node.child("storm-control"));
            }
            return new PortConfig(name, socket, mode, queues, network, tap, vcpus, offloads, mtu, access, mac,
                    allowedMacs, storm);
        }

        /** One unicast MAC address, as text. */
        private static long mac(ConfigNode node) throws ConfigException {
            String text = node.text(MAC_RULE);
            if (!MAC.matcher(text).matches()) {
                throw node.error("expected " + MAC_RULE + ", got '" + text + "'");
            }
            long mac = Long.parseLong(text.replace(":", ""), 16);
            if ((mac & (1L << 40)) != 0) {
                throw node.error("expected a unicast MAC address (first octet even), got the group address '"
                        + text + "'");
            }
            if (mac == 0) {
                throw node.error("expected a unicast MAC address, got the all-zero address '" + text + "'");
            }
            return mac;
        }

        /** {@code allowed-macs}: distinct from each other and from {@code mac}; at most 64 with it. */
        private static List<Long> allowedMacs(ConfigNode node, Long mac, ConfigNode macNode) throws ConfigException {
            if (node.isMissing()) {
                return List.of();
            }
            List<ConfigNode> elements = node.elements("a list of MAC addresses");
            if (elements.isEmpty()) {
                throw node.error("expected at least one MAC address (leave the key out for no port security)");
            }
            int most = PortConfig.MAX_ALLOWED_MACS - (mac == null ? 0 : 1);
            if (elements.size() > most) {
                throw node.error("expected at most " + most + " MAC addresses"
                        + (mac == null ? "" : " (with 'mac', " + PortConfig.MAX_ALLOWED_MACS + ")")
                        + ", got " + elements.size());
            }
            Map<Long, String> seen = new HashMap<>();
            if (mac != null) {
                seen.put(mac, macNode.path());
            }
            List<Long> macs = new ArrayList<>();
            for (ConfigNode element : elements) {
                long m = mac(element);
                String previous = seen.putIfAbsent(m, element.path());
                if (previous != null) {
                    throw element.error("duplicate MAC '" + element.json().textValue() + "' (also " + previous + ")");
                }
                macs.add(m);
            }
            return macs;
        }

        /** {@code storm-control}: a mapping of optional limits, each 0 to {@link StormControl#MAX_PPS}. */
        private static StormControl stormControl(ConfigNode node) throws ConfigException {
            node.requireMapping(STORM_CONTROL_KEYS);
            long[] pps = new long[STORM_CONTROL_KEYS.size()];
            for (int i = 0; i < pps.length; i++) {
                ConfigNode limit = node.child(STORM_CONTROL_KEYS.get(i));
                pps[i] = limit.isMissing() ? StormControl.UNLIMITED : limit.longInteger(0, StormControl.MAX_PPS);
            }
            return new StormControl(pps[0], pps[1], pps[2]);
        }

        /** {@code socket-mode}, {@code socket-group} and {@code allowed-uids}. */
        private static SocketAccess socketAccess(ConfigNode node, Mode mode) throws ConfigException {
            ConfigNode modeNode = node.child("socket-mode");
            ConfigNode groupNode = node.child("socket-group");
            ConfigNode uidsNode = node.child("allowed-uids");
            for (ConfigNode fileKey : List.of(modeNode, groupNode)) {
                if (!fileKey.isMissing() && mode != Mode.SERVER) {
                    throw fileKey.error("only valid for a server-mode vhost-user port (a socket jvhost creates)");
                }
            }
            if (!uidsNode.isMissing() && mode == null) {
                throw uidsNode.error("only valid for a vhost-user port (one with 'socket')");
            }
            int fileMode = -1;
            if (!modeNode.isMissing()) {
                if (modeNode.json().isNumber()) { // YAML reads an unquoted 0660 as the number 432
                    throw modeNode.error("expected " + SOCKET_MODE_RULE + ", got the number " + modeNode.json()
                            + " (quote the mode)");
                }
                String text = modeNode.text(SOCKET_MODE_RULE);
                if (!SOCKET_MODE.matcher(text).matches()) {
                    throw modeNode.error("expected " + SOCKET_MODE_RULE + ", got '" + text + "'");
                }
                fileMode = Integer.parseInt(text, 8);
            }
            String group = groupNode.isMissing() ? null : group(groupNode);
            List<Long> uids = null;
            if (!uidsNode.isMissing()) {
                uids = new ArrayList<>();
                for (ConfigNode element : uidsNode.elements("a list of user ids")) {
                    uids.add(element.longInteger(0, MAX_UID));
                }
                if (uids.isEmpty()) {
                    throw uidsNode.error("expected at least one user id (leave the key out to accept any peer)");
                }
            }
            return new SocketAccess(fileMode, group, uids);
        }

        private static String group(ConfigNode node) throws ConfigException {
            String group = node.text(GROUP_RULE);
            if (!GROUP.matcher(group).matches()) {
                throw node.error("expected " + GROUP_RULE + ", got '" + group + "'");
            }
            return group;
        }

        private static Path socketPath(ConfigNode node) throws ConfigException {
            String text = node.text("a socket path");
            if (text.isEmpty()) {
                throw node.error("expected a socket path, got ''");
            }
            if (text.indexOf('\0') >= 0) {
                throw node.error("the path contains a NUL character");
            }
            int bytes = text.getBytes(StandardCharsets.UTF_8).length;
            if (bytes > MAX_SOCKET_PATH_BYTES) {
                throw node.error("the path is " + bytes + " bytes long, a unix socket path has at most "
                        + MAX_SOCKET_PATH_BYTES);
            }
            if (text.endsWith("/")) {
                throw node.error("expected a socket path, got the directory '" + text + "'");
            }
            return Path.of(text);
        }

        private static String tapName(ConfigNode node) throws ConfigException {
            String rule = "an interface name of 1 to " + MAX_TAP_NAME_BYTES
                    + " bytes without '/', ':' or white space";
            String tap = node.text(rule);
            boolean valid = !tap.isEmpty()
                    && tap.getBytes(StandardCharsets.UTF_8).length <= MAX_TAP_NAME_BYTES
                    && !tap.equals(".") && !tap.equals("..")
                    && tap.chars().noneMatch(c -> c == '/' || c == ':' || Character.isWhitespace(c) || c == 0);
            if (!valid) {
                throw node.error("expected " + rule + ", got '" + tap + "'");
            }
            return tap;
        }

        private static ManagementConfig management(ConfigNode node) throws ConfigException {
            ManagementConfig defaults =
                    new ManagementConfig(ManagementConfig.DEFAULT_HOST, ManagementConfig.DEFAULT_PORT);
            if (node.isMissingOrNull()) {
                return defaults;
            }
            node.requireMapping(MANAGEMENT_KEYS);
            ManagementConfig listen = listen(node.child("listen"), defaults);
            Path controlSocket = ManagementConfig.DEFAULT_CONTROL_SOCKET;
            if (!node.child("control-socket").isMissing()) {
                controlSocket = socketPath(node.child("control-socket"));
            }
            String controlGroup = null;
            if (!node.child("control-group").isMissing()) {
                controlGroup = group(node.child("control-group"));
            }
            return listen.withControl(controlSocket, controlGroup);
        }

        private static ManagementConfig listen(ConfigNode listenNode, ManagementConfig defaults) throws ConfigException {
            if (listenNode.isMissing()) {
                return defaults;
            }
            String expected = "host:port like '127.0.0.1:9180'";
            String listen = listenNode.text(expected);
            String host;
            String portText;
            if (listen.startsWith("[")) {
                int close = listen.indexOf("]:");
                if (close < 0) {
                    throw listenNode.error("expected " + expected + " or '[::1]:9180', got '" + listen + "'");
                }
                host = listen.substring(1, close);
                portText = listen.substring(close + 2);
                if (!IPV6.matcher(host).matches()) {
                    throw listenNode.error("invalid IPv6 address '" + host + "' in '" + listen + "'");
                }
            } else {
                int colon = listen.lastIndexOf(':');
                if (colon < 0) {
                    throw listenNode.error("expected " + expected + ", got '" + listen + "'");
                }
                host = listen.substring(0, colon);
                portText = listen.substring(colon + 1);
                if (!HOST.matcher(host).matches()) {
                    throw listenNode.error("expected " + expected + ", got '" + listen + "'");
                }
            }
            if (!PORT_NUMBER.matcher(portText).matches() || Integer.parseInt(portText) > 65_535) {
                throw listenNode.error("port '" + portText + "' in '" + listen
                        + "' is not a number from 0 to 65535");
            }
            return new ManagementConfig(host, Integer.parseInt(portText));
        }
    }
}

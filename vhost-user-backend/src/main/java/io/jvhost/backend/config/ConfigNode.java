package io.jvhost.backend.config;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.MissingNode;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

/**
 * A node of the parsed YAML tree together with its key path ({@code ports[1].mode}) and the name of
 * the file, so that every check can say where it failed in one message.
 */
final class ConfigNode {

    private final String source;
    private final String path;
    private final JsonNode json;

    private ConfigNode(String source, String path, JsonNode json) {
        this.source = source;
        this.path = path;
        this.json = json;
    }

    static ConfigNode root(String source, JsonNode json) {
        return new ConfigNode(source, "", json);
    }

    String path() {
        return path;
    }

    JsonNode json() {
        return json;
    }

    ConfigNode child(String key) {
        JsonNode value = json.isObject() ? json.get(key) : null;
        return new ConfigNode(source, path.isEmpty() ? key : path + "." + key,
                value == null ? MissingNode.getInstance() : value);
    }

    /** The key is not in its mapping at all. */
    boolean isMissing() {
        return json.isMissingNode();
    }

    /** The key is absent or has no value ({@code workers:} with everything below commented out). */
    boolean isMissingOrNull() {
        return json.isMissingNode() || json.isNull();
    }

    ConfigException error(String what) {
        return new ConfigException(path.isEmpty() ? source + ": " + what : source + ": " + path + ": " + what);
    }

    ConfigException missing() {
        return error("missing required key");
    }

    /** Checks that this is a mapping whose keys are all among {@code known}. */
    void requireMapping(List<String> known) throws ConfigException {
        if (!json.isObject()) {
            throw error("expected a mapping, got " + describe(json));
        }
        for (Map.Entry<String, JsonNode> field : json.properties()) {
            String key = field.getKey();
            if (!known.contains(key)) {
                throw child(key).error("unknown key (known keys: " + String.join(", ", known) + ")");
            }
        }
    }

    /** Element {@code i} of this list (missing when this is no list or a shorter one). */
    ConfigNode element(int i) {
        JsonNode value = json.isArray() ? json.get(i) : null;
        return new ConfigNode(source, path + "[" + i + "]", value == null ? MissingNode.getInstance() : value);
    }

    /** The elements of a list, each with its {@code [i]} path. */
    List<ConfigNode> elements(String expected) throws ConfigException {
        if (!json.isArray()) {
            throw error("expected " + expected + ", got " + describe(json));
        }
        List<ConfigNode> elements = new ArrayList<>(json.size());
        for (int i = 0; i < json.size(); i++) {
            elements.add(element(i));
        }
        return elements;
    }

    /** A string value; {@code expected} completes "expected ..." when it is not one. */
    String text(String expected) throws ConfigException {
        if (!json.isTextual()) {
            throw error("expected " + expected + ", got " + describe(json));
        }
        return json.textValue();
    }

    /** An integer value in {@code min..max}. */
    int integer(int min, int max) throws ConfigException {
        if (!json.isIntegralNumber() || !json.canConvertToInt() || json.intValue() < min || json.intValue() > max) {
            throw error("expected an integer from " + min + " to " + max + ", got " + describe(json));
        }
        return json.intValue();
    }

    /** An integer value in {@code min..max}, for ranges beyond {@code int}. */
    long longInteger(long min, long max) throws ConfigException {
        if (!json.isIntegralNumber() || !json.canConvertToLong() || json.longValue() < min || json.longValue() > max) {
            throw error("expected an integer from " + min + " to " + max + ", got " + describe(json));
        }
        return json.longValue();
    }

    /** A boolean value ({@code true} or {@code false}). */
    boolean bool() throws ConfigException {
        if (!json.isBoolean()) {
            throw error("expected true or false, got " + describe(json));
        }
        return json.booleanValue();
    }

    /** One of the constants of {@code type}, by {@link ConfigEnum#configName()}. */
    <E extends Enum<E> & ConfigEnum> E enumValue(Class<E> type) throws ConfigException {
        E[] constants = type.getEnumConstants();
        if (json.isTextual()) {
            for (E constant : constants) {
                if (constant.configName().equals(json.textValue())) {
                    return constant;
                }
            }
        }
        String[] names = Arrays.stream(constants).map(c -> "'" + c.configName() + "'").toArray(String[]::new);
        String choices = names.length == 2
                ? names[0] + " or " + names[1]
                : "one of " + String.join(", ", names);
        throw error("expected " + choices + ", got " + describe(json));
    }

    /** How a value is shown in a message: strings quoted, numbers and booleans as is, else its kind. */
    static String describe(JsonNode value) {
        if (value == null || value.isMissingNode() || value.isNull()) {
            return "nothing";
        }
        if (value.isTextual()) {
            return "'" + value.textValue() + "'";
        }
        if (value.isObject()) {
            return "a mapping";
        }
        if (value.isArray()) {
            return "a list";
        }
        return value.asText();
    }
}

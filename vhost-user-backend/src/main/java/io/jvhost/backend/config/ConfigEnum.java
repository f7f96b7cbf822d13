package io.jvhost.backend.config;

/** An enum whose constants are spelled in the config file as {@link #configName()}. */
public interface ConfigEnum {

    /** The spelling in the config file, for example {@code per-cpu}. */
    String configName();
}

package io.jvhost.backend.cli;

import io.netty.util.internal.logging.InternalLoggerFactory;
import io.netty.util.internal.logging.JdkLoggerFactory;
import java.util.Locale;
import java.util.logging.ConsoleHandler;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogManager;
import java.util.logging.Logger;

/**
 * Sets up {@code java.util.logging} (behind {@link System.Logger}; Netty is pointed at it too) for the
 * launcher: one {@link CompactFormatter} line per record on stderr, level from the system property
 * {@value #LEVEL_PROPERTY} (ERROR, WARN, INFO, DEBUG or TRACE; default INFO). A
 * {@code java.util.logging.config.file} given on the command line wins.
 */
final class Logging {

    static final String LEVEL_PROPERTY = "jvhost.log.level";

    private Logging() {
    }

    static void configure() {
        // slf4j-api is on the class path (net.openhft:affinity) without a provider: left to itself Netty
        // would pick SLF4J, print a warning and drop its own log records.
        InternalLoggerFactory.setDefaultFactory(JdkLoggerFactory.INSTANCE);
        if (System.getProperty("java.util.logging.config.file") != null) {
            return;
        }
        LogManager.getLogManager().reset();
        Logger root = Logger.getLogger("");
        ConsoleHandler handler = new ConsoleHandler();
        handler.setFormatter(new CompactFormatter());
        handler.setLevel(Level.ALL);
        root.addHandler(handler);
        root.setLevel(level(System.getProperty(LEVEL_PROPERTY, "INFO")));
    }

    static Level level(String name) {
        return switch (name.toUpperCase(Locale.ROOT)) {
            case "ERROR" -> Level.SEVERE;
            case "WARN", "WARNING" -> Level.WARNING;
            case "DEBUG" -> Level.FINE;
            case "TRACE" -> Level.FINEST;
            case "OFF" -> Level.OFF;
            default -> Level.INFO;
        };
    }

    static void flush() {
        for (Handler handler : Logger.getLogger("").getHandlers()) {
            handler.flush();
        }
    }
}

package io.jvhost.backend.cli;

import java.lang.System.Logger;
import java.lang.System.Logger.Level;
import java.lang.reflect.Constructor;
import java.lang.reflect.Method;
import java.lang.reflect.Proxy;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.IntConsumer;

/**
 * SIGINT and SIGTERM as a {@link StopSignal}, so that a stop by signal is a clean stop with exit
 * status 0.
 *
 * <p>Why not only a shutdown hook: when the JVM shuts down because of a signal its exit status is
 * 128 + the signal number (143 for SIGTERM) whatever the hooks do, short of {@code Runtime.halt}; and
 * the hooks run concurrently with {@code java.util.logging}'s own hook, which removes the log handlers,
 * so the stop would not be logged. Catching the two signals instead lets the main thread close the
 * management endpoint, then the daemon, log, and call {@code System.exit(0)} itself.
 *
 * <p>The signals are caught with {@code sun.misc.Signal} (module {@code jdk.unsupported}), called
 * reflectively: javac cannot silence its "internal proprietary API" warnings, and should the class go
 * away the process falls back to the shutdown hook alone (still an ordered stop, exit status 128+n).
 * A shutdown hook also covers the other ways the JVM can be asked to exit (SIGHUP, a library calling
 * {@code System.exit}): it requests the stop and waits for main to finish closing.
 *
 * <p>A second SIGINT or SIGTERM while stopping ends the process at once with status 1.
 */
final class ProcessSignals implements StopSignal {

    private static final Logger LOG = System.getLogger(Main.class.getName());
    /** How long the shutdown hook waits for main to close everything. */
    static final long HOOK_WAIT_SECONDS = 20;

    private final CountDownLatch stopRequested = new CountDownLatch(1);
    private final CountDownLatch finished = new CountDownLatch(1);
    private final IntConsumer halt;

    ProcessSignals(IntConsumer halt) {
        this.halt = halt;
    }

    /** Catches SIGINT and SIGTERM and adds the shutdown hook. */
    static ProcessSignals install() {
        ProcessSignals signals = new ProcessSignals(status -> Runtime.getRuntime().halt(status));
        signals.trap("INT");
        signals.trap("TERM");
        Runtime.getRuntime().addShutdownHook(new Thread(signals::onShutdown, "jvhost-shutdown"));
        return signals;
    }

    @Override
    public void await() throws InterruptedException {
        stopRequested.await();
    }

    @Override
    public void finished(int status) {
        finished.countDown();
    }

    /** A caught signal, on the JVM's signal dispatch thread. */
    void onSignal(String name) {
        if (stopRequested.getCount() > 0) {
            LOG.log(Level.INFO, "received SIG" + name + ", stopping");
            stopRequested.countDown();
        } else if (finished.getCount() > 0) {
            LOG.log(Level.WARNING, "received SIG" + name + " again, exiting at once without a clean stop");
            Logging.flush();
            halt.accept(Main.EXIT_FAILURE);
        }
    }

    /** The JVM is shutting down for another reason than a caught signal. */
    void onShutdown() {
        if (finished.getCount() == 0) {
            return; // main is exiting on its own
        }
        stopRequested.countDown();
        try {
            if (!finished.await(HOOK_WAIT_SECONDS, TimeUnit.SECONDS)) {
                LOG.log(Level.WARNING, "shutdown: not stopped after " + HOOK_WAIT_SECONDS + " s, exiting anyway");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private void trap(String name) {
        try {
            Class<?> signalType = Class.forName("sun.misc.Signal");
            Class<?> handlerType = Class.forName("sun.misc.SignalHandler");
            Constructor<?> newSignal = signalType.getConstructor(String.class);
            Method handle = signalType.getMethod("handle", signalType, handlerType);
            Object handler = Proxy.newProxyInstance(handlerType.getClassLoader(), new Class<?>[] {handlerType},
                    (proxy, method, args) -> switch (method.getName()) {
                        case "handle" -> {
                            onSignal(name);
                            yield null;
                        }
                        case "hashCode" -> System.identityHashCode(proxy);
                        case "equals" -> proxy == args[0];
                        default -> "jvhost SIG" + name + " handler";
                    });
            handle.invoke(null, newSignal.newInstance(name), handler);
        } catch (ReflectiveOperationException | RuntimeException | LinkageError e) {
            // For example SIGINT ignored by the parent shell (a background job) or -Xrs.
            LOG.log(Level.DEBUG, "cannot catch SIG" + name + " (" + e + "); relying on the shutdown hook");
        }
    }
}

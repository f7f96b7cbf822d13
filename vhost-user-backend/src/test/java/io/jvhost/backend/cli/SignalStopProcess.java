package io.jvhost.backend.cli;

/**
 * {@code jvhost} with a {@link FakeDaemon}, run as a child process by {@link CliMainProcessTest} to test
 * the real signal handling and exit status.
 */
public final class SignalStopProcess {

    private SignalStopProcess() {
    }

    @SuppressWarnings("try")
    public static void main(String[] args) {
        System.exit(Main.runProcess(args, config -> new FakeDaemon() {
            @Override
            public void close() throws Exception {
                super.close();
                System.err.println("fake daemon closed");
            }
        }));
    }
}

package io.jvhost.it.harness;

/**
 * An awaited line, marker or state did not show up in time. The message carries the tail of the
 * log that was being watched, so the failure report says what the guest or testpmd did instead.
 */
public final class HarnessTimeoutException extends RuntimeException {

    public HarnessTimeoutException(String message) {
        super(message);
    }
}

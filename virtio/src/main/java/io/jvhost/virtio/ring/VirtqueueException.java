package io.jvhost.virtio.ring;

/**
 * A virtqueue configuration the front-end gave cannot be used (size, alignment, ring areas outside the
 * memory table). Thrown by {@link SplitVirtqueue#configure} and {@link SplitVirtqueue#updateMemory};
 * never on the data path. The message names the queue and the offending value.
 *
 * <p>An {@link IllegalArgumentException}: the caller passed values from the front-end that violate the
 * virtio or vhost-user rules; the usual reaction is to log the message and drop the connection.
 */
public final class VirtqueueException extends IllegalArgumentException {

    public VirtqueueException(String message) {
        super(message);
    }
}

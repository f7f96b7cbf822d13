package io.jvhost.backend.protocol;

import io.jvhost.backend.linux.Fds;
import io.jvhost.backend.linux.LinuxException;
import io.jvhost.backend.linux.Mapping;

/** The front-end's side of guest RAM: a memfd of {@code fileSize} bytes, mapped for the test to write. */
final class GuestRam implements AutoCloseable {

    final int fd;
    final Mapping mapping;

    GuestRam(long fileSize) throws LinuxException {
        fd = Fds.memfdCreate("guest-ram");
        Fds.ftruncate(fd, fileSize);
        mapping = Mapping.map(fd, fileSize, 0);
    }

    @Override
    public void close() {
        mapping.close();
        Fds.closeQuietly(fd);
    }
}

package io.jvhost.backend.linux;

import java.io.IOException;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.GroupPrincipal;
import java.nio.file.attribute.PosixFileAttributeView;
import java.nio.file.attribute.UserPrincipalNotFoundException;
import java.util.List;
import java.util.Objects;

/**
 * Who may use a vhost-user socket: the mode and group of a socket file jvhost creates, and the peer
 * uids (SO_PEERCRED) it accepts. QEMU started by libvirt runs as an unprivileged user (Debian:
 * {@code libvirt-qemu}, group {@code kvm}) and cannot connect to a socket created with the umask's
 * 0755 and owner root; {@code allowed-uids} narrows a group-writable socket to the users meant.
 *
 * @param mode        permission bits of the socket file (0..0777), or -1 to keep what bind(2) made
 * @param group       group name (or numeric gid) of the socket file, or {@code null} to keep it
 * @param allowedUids peer uids allowed to connect, or {@code null} for anyone the file mode lets in
 */
public record SocketAccess(int mode, String group, List<Long> allowedUids) {

    /** The file as bind(2) made it; every peer accepted. */
    public static final SocketAccess ANY = new SocketAccess(-1, null, null);

    public SocketAccess {
        if (mode < -1 || mode > 0777) {
            throw new IllegalArgumentException("socket mode out of range: " + Integer.toOctalString(mode));
        }
        allowedUids = allowedUids == null ? null : List.copyOf(allowedUids);
    }

    /** Whether a peer with this uid may talk to the socket. */
    public boolean allows(long uid) {
        return allowedUids == null || allowedUids.contains(uid);
    }

    /** Whether a socket file jvhost creates needs a chmod or chown. */
    public boolean changesFile() {
        return mode >= 0 || group != null;
    }

    /**
     * Sets the file's group, then its mode. Called after bind(2) and before listen(2): nobody can
     * connect in between, so no peer ever sees the socket with the umask's mode.
     */
    public void applyTo(Path socketFile) throws IOException {
        if (group != null) {
            GroupPrincipal principal;
            try {
                principal = FileSystems.getDefault().getUserPrincipalLookupService().lookupPrincipalByGroupName(group);
            } catch (UserPrincipalNotFoundException e) {
                throw new IOException("no such group: " + group, e);
            }
            Files.getFileAttributeView(socketFile, PosixFileAttributeView.class, LinkOption.NOFOLLOW_LINKS)
                    .setGroup(principal);
        }
        if (mode >= 0) {
            // chmod(2) on the path: the JDK's attribute views open(2) the file, which a socket refuses.
            Errors.check("chmod(" + socketFile + ")", Libc.chmod(socketFile.toString(), mode));
        }
    }

    /** How the management endpoint and logs show it: {@code "0660"}. */
    public String modeText() {
        return mode < 0 ? null : String.format("%04o", mode);
    }

    @Override
    public String toString() {
        return "SocketAccess[mode=" + Objects.requireNonNullElse(modeText(), "umask") + ", group="
                + Objects.requireNonNullElse(group, "unchanged") + ", allowed-uids="
                + (allowedUids == null ? "any" : allowedUids) + "]";
    }
}

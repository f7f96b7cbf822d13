#!/usr/bin/env bash
# Builds the release bundle dist/jvhost-VERSION.tar.gz: the launcher, the one shaded jar, an example
# config and a systemd unit. It runs with only a Java 25 runtime: no Maven, no source tree.
#
#   scripts/dist.sh [--no-build] [--out DIR]
#
#   --no-build  bundle the jar as it is in vhost-user-backend/target (do not run Maven)
#   --out DIR   where the tarball goes (default <repo>/dist)
#
# Layout inside the tarball (one top directory, jvhost-VERSION/):
#   bin/jvhost             the launcher (the same script as in the source tree; it runs lib/jvhost.jar)
#   lib/jvhost.jar         vhost-user-backend's shaded jar (jvhost and its dependencies)
#   etc/jvhost.yaml        an example config (sockets in /run/jvhost, group kvm for libvirt's QEMU)
#   systemd/jvhost.service a systemd unit for /opt/jvhost
#   README.md              how to install it
# Prints the tarball's path on stdout.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="$root/dist"
build=1
while [[ $# -gt 0 ]]; do
    case "$1" in
        --no-build) build=0; shift ;;
        --out) [[ $# -ge 2 ]] || { echo "dist: --out needs a directory" >&2; exit 2; }; out="$2"; shift 2 ;;
        -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2; exit 2 ;;
        *) echo "dist: unknown argument $1" >&2; exit 2 ;;
    esac
done

export JAVA_HOME="${JVHOST_JAVA_HOME:-${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}}"
if [[ $build -eq 1 ]]; then
    (cd "$root" && mvn -B -ntp -q -DskipTests package) >&2
fi
jar=$(ls -t "$root"/vhost-user-backend/target/vhost-user-backend-*-all.jar 2>/dev/null | head -n 1 || true)
[[ -n "$jar" ]] || { echo "dist: no vhost-user-backend/target/vhost-user-backend-*-all.jar (build first)" >&2; exit 1; }
version=$(basename "$jar")
version=${version#vhost-user-backend-}
version=${version%-all.jar}

name="jvhost-$version"
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
top="$stage/$name"
mkdir -p "$top/bin" "$top/lib" "$top/etc" "$top/systemd"
install -m 0755 "$root/bin/jvhost" "$top/bin/jvhost"
install -m 0644 "$jar" "$top/lib/jvhost.jar"
install -m 0644 "$root/packaging/jvhost.yaml" "$top/etc/jvhost.yaml"
install -m 0644 "$root/packaging/jvhost.service" "$top/systemd/jvhost.service"
cat > "$top/README.md" <<README
# jvhost $version

A vhost-user-net backend for QEMU/KVM guests. Needs a Java 25 runtime (JAVA_HOME, or
/usr/lib/jvm/temurin-25-jdk-amd64, or \`java\` on the PATH).

Try it: \`bin/jvhost serve\` serves two ports, run/vm0.sock and run/vm1.sock (relative to the current
directory), in one network, management on http://127.0.0.1:9180/.

As a service:

    tar -xzf $name.tar.gz && mv $name /opt/jvhost
    mkdir -p /etc/jvhost && cp /opt/jvhost/etc/jvhost.yaml /etc/jvhost/
    cp /opt/jvhost/systemd/jvhost.service /etc/systemd/system/
    systemctl daemon-reload && systemctl enable --now jvhost
README
mkdir -p "$out"
tarball="$(cd "$out" && pwd)/$name.tar.gz"
tar -C "$stage" --owner=0 --group=0 --numeric-owner -czf "$tarball" "$name"
echo "$tarball"

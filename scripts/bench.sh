#!/usr/bin/env bash
# jvhost's benchmark against DPDK testpmd (the reference), both measured in the same run; for guests
# with offloads also against QEMU's own virtio-net on a TAP in a Linux bridge (no vhost backend).
#
#   scripts/bench.sh [--quick] [--runs N] [--out DIR] [--only CASES] [--offload-setups S]
#                    [--offload-directions D] [--no-build]
#
#   --quick      tiny setting (short windows, a subset of cases, 1 run): checks the machinery, ~3 min
#   --runs N     repetitions of every measurement; tables show medians (default 3; 1 with --quick)
#   --out DIR    results root (default <repo>/results; with --quick <repo>/results/tmp, which git
#                ignores): the report goes to DIR/<yyyy-mm-dd-hhmm>/ (…-quick/ for --quick), a full
#                run of every case is also copied to DIR/latest/, process logs stay in DIR/tmp/<stamp>/
#   --only CASES comma-separated subset of loopback,scaling,guests,offloads,mesh,migration (default: all)
#   --offload-setups S      case 4's setups, a subset of percpu,bridge,jvoff,bridgeoff,dpdktso (default all)
#   --offload-directions D  case 4's boots, a subset of g2g,host (default both)
#   --no-build   use the jars and classes as they are (JVBENCH_CLASSPATH, JVBENCH_JVHOST_CLASSPATH
#                override where they are)
#   JVBENCH_JVHOST_WORKERS    more `workers:` keys for every jvhost, ';'-separated, e.g.
#                "busy-poll-us: 0" (the configs, linked from the report, show them)
#   JVBENCH_JVHOST_JAVA_OPTS  extra JVM options for jvhost (as bin/jvhost's JVHOST_JAVA_OPTS), e.g.
#                "-XX:+UseTransparentHugePages"; the report's command lines show them
#
# Cases (see README "Benchmarks"): 1. loopback packet rate, testpmd front-end through jvhost and
# through testpmd's vhost PMD, 64/256/1518-byte frames; 2. scaling with 1..16 port pairs, jvhost
# per-cpu vs per-device (context switches, CPU time per packet); 3. two TCG guests, TCP stream at
# 256/1K/4K/16K writes and request/response with 1/10/30 connections; 4. offloads: TCP stream at
# 256/1K/4K/16K writes guest -> guest, host -> guest and guest -> host (the host is a network
# namespace the bench creates), through jvhost with offloads on and off (port key `offloads: false`),
# TAP + Linux bridge with QEMU's virtio-net, offloads on and off, and testpmd with tso=1 (for the
# host a net_tap port); ratios jvhost/bridge and jvhost/DPDK. --quick runs case 4 at 1K writes with
# jvhost (offloads on), the bridge (on) and DPDK; 5. mesh: 2, 4 and 8 ports in one network, each
# port's frames spread round-robin over all the others (our own front-end generator), jvhost CPU per
# frame against the 2-port loopback through the same generator; 6. migration: a TCG guest moves live
# (QMP migrate to a QEMU with -incoming, 32 MiB/s) from port 1 to port 2, idle and while pinging a
# second guest through the backend: QEMU's downtime, total time, MiB sent, dirty syncs, pings lost;
# jvhost and testpmd (whose destination in the ping row shares the source's net_vhost socket: io
# forwarding pairs its ports). Case 1's table lists its runs as pairs too (jvhost then DPDK, ratio
# per pair, the machine's level).
#
# Needs root for case 4: namespaces, bridges and TAP devices (random names, deleted afterwards).
#
# Sets up what it needs: Debian packages (scripts/install-test-deps.sh, needs root), the guest image,
# the jvhost build when a source is newer than the jar. Every process it starts has its own socket
# directory and DPDK --file-prefix and is stopped by pid. Two benches never run at once (a lock in
# /tmp): they would skew each other. Exit status: 0 all measured, 1 some measurement failed (the
# report lists it), 2 bad usage.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

usage() {
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2
    exit 2
}

args=()
build=1
while [[ $# -gt 0 ]]; do
    case "$1" in
        --quick) args+=(--quick); shift ;;
        --runs) [[ $# -ge 2 ]] || usage; args+=(--runs "$2"); shift 2 ;;
        --out) [[ $# -ge 2 ]] || usage; args+=(--out "$(mkdir -p "$2" && cd "$2" && pwd)"); shift 2 ;;
        --only) [[ $# -ge 2 ]] || usage; args+=(--only "$2"); shift 2 ;;
        --offload-setups|--offload-directions) [[ $# -ge 2 ]] || usage; args+=("$1" "$2"); shift 2 ;;
        --no-build) build=0; shift ;;
        -h|--help) usage ;;
        *) echo "bench: unknown argument $1" >&2; usage ;;
    esac
done

export JAVA_HOME="${JVHOST_JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}"
export PATH="$JAVA_HOME/bin:$PATH"
[[ -x $JAVA_HOME/bin/java ]] || { echo "bench: needs Java 25 at $JAVA_HOME" >&2; exit 1; }

scripts/install-test-deps.sh
scripts/build-guest-image.sh >/dev/null

jar_of() { ls -t "$root"/vhost-user-backend/target/vhost-user-backend-*-all.jar 2>/dev/null | head -n 1 || true; }

# True when the shaded jar or the bench classes are missing or a main source or pom is newer.
needs_build() {
    local jar
    jar=$(jar_of)
    [[ -z $jar || ! -f $root/integration-tests/target/classes/io/jvhost/it/bench/BenchMain.class ]] && return 0
    [[ -n "$(find "$root" \( -name target -o -name .git -o -name results -o -name build \) -prune -o -type f \
        \( -path '*/src/main/*' -o -name pom.xml \) -newer "$jar" -print -quit)" ]]
}

if [[ $build -eq 1 ]] && needs_build; then
    echo "bench: building (mvn -B -q -DskipTests package) ..." >&2
    mvn -B -q -DskipTests package >&2
fi

# One bench at a time on this machine.
exec 8>/tmp/jvhost-bench.lock
if ! flock -n 8; then
    echo "bench: another bench holds /tmp/jvhost-bench.lock; waiting for it" >&2
    flock 8
fi

# Snapshots of the jar and classes: a rebuild while the bench runs must not change what it measures.
snap=$(mktemp -d /tmp/jvbench-snap.XXXXXX)
trap 'rm -rf "$snap"' EXIT
if [[ -n ${JVBENCH_JVHOST_CLASSPATH:-} ]]; then
    jvhost_cp=$JVBENCH_JVHOST_CLASSPATH
else
    jar=$(jar_of)
    [[ -n $jar ]] || { echo "bench: no vhost-user-backend/target/*-all.jar; run without --no-build" >&2; exit 1; }
    cp "$jar" "$snap/jvhost.jar"
    jvhost_cp=$snap/jvhost.jar
fi
if [[ -n ${JVBENCH_CLASSPATH:-} ]]; then
    bench_cp=$JVBENCH_CLASSPATH
else
    [[ -d $root/integration-tests/target/classes/io/jvhost/it/bench ]] \
        || { echo "bench: integration-tests classes missing; run without --no-build" >&2; exit 1; }
    cp -r "$root/integration-tests/target/classes" "$snap/classes"
    bench_cp=$snap/classes
fi

set +e
# jvhost's jar on the bench's own classpath too: the mesh generator drives rings with its classes.
java --enable-native-access=ALL-UNNAMED -cp "$bench_cp:$jvhost_cp" -Djvhost.projectRoot="$root" io.jvhost.it.bench.BenchMain \
    --jvhost-classpath "$jvhost_cp" --project-root "$root" \
    --command "scripts/bench.sh${args[*]:+ ${args[*]}}" "${args[@]}"
status=$?
set -e
exit $status

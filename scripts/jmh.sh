#!/usr/bin/env bash
# Builds the JMH benchmarks (module benchmarks/) and runs them with the allocation profiler.
#
# Usage: scripts/jmh.sh [JMH options and benchmark regexps]
#   scripts/jmh.sh                                   every benchmark, -prof gc, results in benchmarks/target/jmh-result.txt
#   scripts/jmh.sh ChainWalk                         only the chain walk (a regexp over benchmark names)
#   scripts/jmh.sh TxToRx -p arena=shared -p frameSize=64
#   scripts/jmh.sh -l                                list the benchmarks
#   scripts/jmh.sh -h                                JMH's own help
# Options given replace the default "-prof gc"; add it back if you want it ("-prof gc TxToRx").
#
# Environment:
#   JAVA_HOME       a Java 25 JDK (default /usr/lib/jvm/temurin-25-jdk-amd64)
#   JMH_NO_BUILD=1  run the jar already in benchmarks/target without rebuilding
#   MVN_ARGS        extra Maven arguments for the build, e.g. "-o" once JMH is in the local repository
#
# Results are noisy on a shared or small machine: run nothing else meanwhile, and compare numbers from
# the same run (every parameter combination runs in its own forked JVM).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
default_java_home=/usr/lib/jvm/temurin-25-jdk-amd64
if [[ -z "${JAVA_HOME:-}" || ! -x "${JAVA_HOME}/bin/java" ]] \
        || ! "${JAVA_HOME}/bin/java" -version 2>&1 | grep -Eq 'version "(2[5-9]|[3-9][0-9])'; then
    export JAVA_HOME="$default_java_home"
fi
[[ -x "$JAVA_HOME/bin/java" ]] || { echo "jmh.sh: needs a Java 25 JDK (set JAVA_HOME)" >&2; exit 1; }
export PATH="$JAVA_HOME/bin:$PATH"

jar="$root/benchmarks/target/benchmarks.jar"
if [[ "${JMH_NO_BUILD:-}" != 1 ]]; then
    echo "jmh.sh: building benchmarks/ (mvn -B -q -DskipTests package -pl benchmarks -am) ..." >&2
    # shellcheck disable=SC2086 # MVN_ARGS is a list of options on purpose
    (cd "$root" && mvn -B -q -ntp ${MVN_ARGS:-} -DskipTests package -pl benchmarks -am) >&2
fi
[[ -f "$jar" ]] || { echo "jmh.sh: $jar was not built" >&2; exit 1; }

if [[ $# -eq 0 ]]; then
    set -- -prof gc -rf text -rff "$root/benchmarks/target/jmh-result.txt"
fi
exec "$JAVA_HOME/bin/java" --enable-native-access=ALL-UNNAMED -jar "$jar" "$@"

#!/usr/bin/env bash
# Runs every jvhost test: unit tests, protocol tests over real sockets, in-process front-ends on real
# memfd memory, and real QEMU guests (TCG) through jvhost. Installs what it needs first.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
export JAVA_HOME="${JVHOST_JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}"
export PATH="$JAVA_HOME/bin:$PATH"
scripts/install-test-deps.sh
scripts/build-guest-image.sh >&2
status=0
mvn -B -ntp verify "$@" || status=$?
# Executions per fuzz target in this run (each *FuzzTest writes target/fuzz-stats/<Class>.txt).
for stats in */target/fuzz-stats/*.txt; do
  if [ -e "$stats" ]; then
    echo "fuzz $(basename "$stats" .txt): $(cat "$stats")" >&2
  fi
done
exit "$status"

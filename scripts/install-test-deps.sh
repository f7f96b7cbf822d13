#!/usr/bin/env bash
# Installs the Debian packages jvhost's tests use (real peers, not mocks): QEMU for guests, DPDK's
# testpmd, iperf3, iperf, busybox and iputils ping for the guest image, iproute2 for namespaces,
# bridges and TAP devices, libvirt (its daemon, which LibvirtGuestTest starts itself) for a guest as users run one.
# Idempotent: does nothing when everything is present. Needs root (CI runs as root).
set -euo pipefail

packages=(qemu-system-x86 iperf3 busybox-static cpio kmod dpdk-dev iproute2 iperf iputils-ping sockperf qperf gnuplot-nox
  libvirt-daemon-system libvirt-clients)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "install-test-deps: missing packages ${missing[*]}; run as root to install them" >&2
  exit 1
fi
echo "install-test-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >&2
apt-get install -y -q --no-install-recommends "${missing[@]}" >&2

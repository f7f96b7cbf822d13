#!/usr/bin/env bash
# Starts one test guest (QEMU, TCG) whose virtio-net device is served over vhost-user at SOCKET.
#   scripts/run-guest.sh MAC SOCKET 'KERNEL-ARGS' [EXTRA QEMU ARGS...]
# KERNEL-ARGS are the jv.* keys of scripts/guest/init, e.g. 'jv.ip=192.0.2.1/24 jv.role=server'.
# QEMU connects to SOCKET as a client (jvhost listens) and reconnects if jvhost restarts.
# The guest's console is this script's standard output; QEMU replaces this shell (kill $! stops it).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ $# -lt 3 ]; then
  echo "usage: $0 MAC SOCKET 'KERNEL-ARGS' [QEMU ARGS...]" >&2
  exit 2
fi
mac=$1 socket=$2 args=$3
shift 3
"$root/scripts/build-guest-image.sh" >/dev/null
# -name ...,debug-threads=on names the vCPU threads ("CPU 0/TCG"), which jvhost's placement needs.
exec qemu-system-x86_64 -name "guest-${mac//:/},debug-threads=on" -accel tcg -m 256M -smp 1 -nographic -display none -no-reboot -nodefaults \
  -serial stdio -kernel "$root/build/guest/vmlinuz" -initrd "$root/build/guest/initramfs.cpio.gz" \
  -append "console=ttyS0 quiet panic=-1 $args" \
  -object memory-backend-memfd,id=mem,size=256M,share=on -numa node,memdev=mem \
  -chardev "socket,id=c0,path=$socket,reconnect=1" \
  -netdev vhost-user,id=n0,chardev=c0 \
  -device "virtio-net-pci,netdev=n0,mac=$mac,vectors=0,romfile=" "$@"

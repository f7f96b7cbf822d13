#!/usr/bin/env bash
# Build the jvhost test guest: a Debian cloud kernel plus a small initramfs (static busybox, iperf3,
# iperf 2 for request/response (--bounceback), iputils ping as /usr/bin/iputils-ping (busybox ping
# has no -M do for path-MTU tests), the virtio-net modules, scripts/guest/init), for QEMU
# -kernel/-initrd under TCG.
#
# Usage: scripts/build-guest-image.sh [OUTDIR]      (default: <repo>/build/guest)
# Prints on stdout, last:   KERNEL=<OUTDIR>/vmlinuz
#                           INITRD=<OUTDIR>/initramfs.cpio.gz
# Also writes <OUTDIR>/manifest.txt (kernel package, version, release, sha256 of both outputs).
#
# - Cached: nothing is done when both outputs are newer than this script and the init.
# - Independent of the host's kernel: the kernel package the metapackage (JV_KERNEL_META, default
#   linux-image-cloud-amd64) depends on is fetched with apt-get download (or taken from
#   /var/cache/apt/archives when the same version is there), checked against apt's SHA256 and
#   unpacked with dpkg-deb -x into a temporary directory.
# - Reproducible: for one kernel package version and one set of host binaries the initramfs is
#   byte-identical (sorted cpio newc, owner 0:0, fixed mtimes, gzip -n).
# - Needs root on a fresh machine: missing packages are installed with apt-get (apt-get update is
#   run at most once, and only when something has to be fetched).
# - Safe to run concurrently: a lock file in OUTDIR serialises builders.
set -euo pipefail

readonly SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
readonly REPO_ROOT=$(cd "$SCRIPT_DIR/.." && pwd)
readonly SCRIPT_PATH="$SCRIPT_DIR/$(basename "${BASH_SOURCE[0]}")"
readonly INIT_SRC="$SCRIPT_DIR/guest/init"
readonly KERNEL_META=${JV_KERNEL_META:-linux-image-cloud-amd64}
readonly HOST_PACKAGES=(busybox-static cpio kmod iperf3 iperf iputils-ping)
# Load order as the guest needs it; dependencies found in modules.dep are added in front of each.
readonly WANTED_MODULES=(virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci
                         failover net_failover virtio_net)
# Every file in the initramfs gets this mtime (2023-11-14T22:13:20Z), so the archive is reproducible.
readonly EPOCH=${SOURCE_DATE_EPOCH:-1700000000}

OUTDIR=${1:-$REPO_ROOT/build/guest}
mkdir -p "$OUTDIR"
OUTDIR=$(cd "$OUTDIR" && pwd)
readonly OUTDIR
readonly KERNEL_OUT="$OUTDIR/vmlinuz"
readonly INITRD_OUT="$OUTDIR/initramfs.cpio.gz"
readonly MANIFEST="$OUTDIR/manifest.txt"
readonly DEB_CACHE="$OUTDIR/cache"

log() { printf 'build-guest-image: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }
emit() { printf 'KERNEL=%s\nINITRD=%s\n' "$KERNEL_OUT" "$INITRD_OUT"; }

up_to_date() {
    local out
    for out in "$KERNEL_OUT" "$INITRD_OUT" "$MANIFEST"; do
        [[ -s $out && $out -nt $SCRIPT_PATH && $out -nt $INIT_SRC ]] || return 1
    done
}

[[ -f $INIT_SRC ]] || die "missing $INIT_SRC"

exec 9>"$OUTDIR/.lock"
flock 9
# Checked again under the lock: another builder may just have finished.
if up_to_date; then
    log "up to date: $OUTDIR"
    emit
    exit 0
fi

START=$(date +%s)
APT_UPDATED=0
apt_update_once() {
    if [[ $APT_UPDATED -eq 0 ]]; then
        log "apt-get update"
        apt-get update -qq >&2
        APT_UPDATED=1
    fi
}

is_installed() {
    [[ $(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true) == "install ok installed" ]]
}

ensure_packages() {
    local missing=() pkg
    for pkg in "$@"; do
        is_installed "$pkg" || missing+=("$pkg")
    done
    [[ ${#missing[@]} -eq 0 ]] && return 0
    [[ $(id -u) -eq 0 ]] || die "not root, cannot install: ${missing[*]}"
    apt_update_once
    log "apt-get install ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}

ensure_packages "${HOST_PACKAGES[@]}"

# ---- kernel package ---------------------------------------------------------------------------

# Prints "name version sha256" of the package the metapackage currently depends on.
resolve_kernel_package() {
    local name version sha
    name=$(apt-cache depends --no-recommends --no-suggests "$KERNEL_META" 2>/dev/null |
           awk '$1 == "Depends:" && $2 ~ /^linux-image-/ { print $2; exit }')
    [[ -n $name ]] || return 1
    version=$(apt-cache show --no-all-versions "$name" 2>/dev/null | awk '$1 == "Version:" { print $2; exit }')
    sha=$(apt-cache show --no-all-versions "$name" 2>/dev/null | awk '$1 == "SHA256:" { print $2; exit }')
    [[ -n $version && -n $sha ]] || return 1
    printf '%s %s %s\n' "$name" "$version" "$sha"
}

# Prints the path of a verified .deb for "name version sha256", downloading it if needed.
fetch_deb() {
    local name=$1 version=$2 sha=$3 file candidate
    file="${name}_${version//:/%3a}_amd64.deb"
    for candidate in "$DEB_CACHE/$file" "/var/cache/apt/archives/$file"; do
        if [[ -f $candidate ]] && echo "$sha  $candidate" | sha256sum --quiet -c - >/dev/null 2>&1; then
            printf '%s\n' "$candidate"
            return 0
        fi
    done
    mkdir -p "$DEB_CACHE"
    log "apt-get download $name=$version"
    # Sandbox user root: the cache directory need not be writable by _apt.
    (cd "$DEB_CACHE" && apt-get download -qq -o APT::Sandbox::User=root "$name=$version" >&2) || return 1
    echo "$sha  $DEB_CACHE/$file" | sha256sum --quiet -c - >&2 || { rm -f "$DEB_CACHE/$file"; return 1; }
    printf '%s\n' "$DEB_CACHE/$file"
}

read -r KPKG KVER KSHA < <(resolve_kernel_package || true) || true
if [[ -z ${KPKG:-} ]]; then
    apt_update_once
    read -r KPKG KVER KSHA < <(resolve_kernel_package) || die "cannot resolve $KERNEL_META"
fi
if ! DEB=$(fetch_deb "$KPKG" "$KVER" "$KSHA"); then
    # The package lists may name a version the mirror no longer has.
    apt_update_once
    read -r KPKG KVER KSHA < <(resolve_kernel_package) || die "cannot resolve $KERNEL_META"
    DEB=$(fetch_deb "$KPKG" "$KVER" "$KSHA") || die "cannot download $KPKG=$KVER"
fi
log "kernel package $KPKG $KVER ($DEB)"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/jv-guest-image.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
KROOT="$WORK/kernel"
STAGE="$WORK/initramfs"
mkdir -p "$KROOT" "$STAGE"
dpkg-deb -x "$DEB" "$KROOT"

shopt -s nullglob
vmlinuz=("$KROOT"/boot/vmlinuz-*)
shopt -u nullglob
[[ ${#vmlinuz[@]} -eq 1 ]] || die "expected one /boot/vmlinuz-* in $KPKG, found ${#vmlinuz[@]}"
KREL=${vmlinuz[0]##*/vmlinuz-}
MODSRC=""
for d in "$KROOT/lib/modules/$KREL" "$KROOT/usr/lib/modules/$KREL"; do
    [[ -f $d/modules.builtin ]] && MODSRC=$d && break
done
[[ -n $MODSRC ]] || die "no lib/modules/$KREL/modules.builtin in $KPKG"
# modules.dep is not shipped: the package's postinst runs depmod. Do the same in the temp tree.
depmod -b "${MODSRC%/lib/modules/$KREL}" "$KREL" || die "depmod failed for $KREL"
[[ -f $MODSRC/modules.dep ]] || die "depmod wrote no modules.dep for $KREL"
log "kernel release $KREL"

# ---- modules: dependency order from modules.dep -----------------------------------------------

declare -A MOD_PATH=() MOD_DEPS=() VISITED=()
ORDER=()
modname() { local b=${1##*/}; b=${b%%.ko*}; printf '%s' "${b//-/_}"; }
while IFS= read -r line; do
    path=${line%%:*}
    deps=${line#*:}
    name=$(modname "$path")
    MOD_PATH[$name]=$path
    MOD_DEPS[$name]=$deps
done < "$MODSRC/modules.dep"

# modules.dep lists a module's dependencies outermost first; load them innermost first.
visit() {
    local name=$1 dep i
    [[ -n ${VISITED[$name]:-} ]] && return 0
    VISITED[$name]=1
    local -a deps
    read -r -a deps <<< "${MOD_DEPS[$name]}"
    for ((i = ${#deps[@]} - 1; i >= 0; i--)); do
        visit "$(modname "${deps[$i]}")"
    done
    ORDER+=("$name")
}
for name in "${WANTED_MODULES[@]}"; do
    if [[ -n ${MOD_PATH[$name]:-} ]]; then
        visit "$name"
    elif grep -q "/$name\.ko" "$MODSRC/modules.builtin"; then
        log "module $name is built into $KREL"
    else
        die "module $name neither in modules.dep nor in modules.builtin of $KREL"
    fi
done

# ---- initramfs tree ---------------------------------------------------------------------------

mkdir -p "$STAGE"/{bin,sbin,usr/bin,usr/sbin,etc,proc,sys,dev,tmp,run,root,lib64}
MODDST="$STAGE/lib/modules/$KREL"
mkdir -p "$MODDST"
cp "$MODSRC/modules.builtin" "$MODSRC/modules.dep" "$MODDST/"
: > "$STAGE/etc/jv-modules"
for name in "${ORDER[@]}"; do
    src="$MODSRC/${MOD_PATH[$name]}"
    rel="lib/modules/$KREL/${MOD_PATH[$name]%.ko*}.ko"
    mkdir -p "$(dirname "$STAGE/$rel")"
    # busybox insmod reads plain ELF only.
    case "$src" in
        *.ko)     cp "$src" "$STAGE/$rel" ;;
        *.ko.xz)  ensure_packages xz-utils; xz -dc "$src" > "$STAGE/$rel" ;;
        *.ko.zst) ensure_packages zstd; zstd -qdc "$src" > "$STAGE/$rel" ;;
        *.ko.gz)  gzip -dc "$src" > "$STAGE/$rel" ;;
        *)        die "unknown module format: $src" ;;
    esac
    printf '%s %s\n' "$name" "$rel" >> "$STAGE/etc/jv-modules"
done
log "modules: ${ORDER[*]}"

BUSYBOX=/bin/busybox
[[ -x $BUSYBOX ]] || die "missing $BUSYBOX (busybox-static)"
file_is_static() { ! ldd "$1" >/dev/null 2>&1; }
file_is_static "$BUSYBOX" || die "$BUSYBOX is not static"
cp "$BUSYBOX" "$STAGE/bin/busybox"
while IFS= read -r applet; do
    [[ -e $STAGE/$applet || $applet == bin/busybox ]] && continue
    mkdir -p "$(dirname "$STAGE/$applet")"
    ln -s /bin/busybox "$STAGE/$applet"
done < <("$BUSYBOX" --list-full | LC_ALL=C sort)

# A host binary and everything ldd says it loads, at the paths the loader will look for them;
# installed as /usr/bin/NAME, NAME defaulting to the binary's own name.
copy_with_libs() {
    local bin
    bin=$(command -v "$1") || die "$1 not found"
    cp -L "$bin" "$STAGE/usr/bin/${2:-$1}"
    while read -r lib; do
        mkdir -p "$(dirname "$STAGE$lib")"
        cp -L "$lib" "$STAGE$lib"
    done < <(ldd "$bin" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' | LC_ALL=C sort -u)
}
copy_with_libs iperf3
# iperf 2 (2.1.x): --bounceback is the request/response test (jv.role=bench, scripts/bench.sh).
copy_with_libs iperf
# iputils ping for jv.role=pmtu (-M do); busybox's applet keeps the name ping.
copy_with_libs /usr/bin/ping iputils-ping

install -m 0755 "$INIT_SRC" "$STAGE/init"
printf 'root:x:0:0:root:/root:/bin/sh\n' > "$STAGE/etc/passwd"
printf 'root:x:0:\n' > "$STAGE/etc/group"
printf '%s\n' "$KREL" > "$STAGE/etc/jv-kernel"
# The kernel opens /dev/console before /init runs; init reopens it after mounting devtmpfs anyway.
if [[ $(id -u) -eq 0 ]]; then
    mknod -m 0600 "$STAGE/dev/console" c 5 1
    mknod -m 0666 "$STAGE/dev/null" c 1 3
fi

chmod -R u+rwX,go+rX,go-w "$STAGE"
chmod 1777 "$STAGE/tmp"
find "$STAGE" -exec touch -h -d "@$EPOCH" {} +

(cd "$STAGE" && find . -mindepth 1 -print0 | LC_ALL=C sort -z |
    cpio --null --create --format=newc --reproducible --owner=0:0 --quiet) |
    gzip -9n > "$INITRD_OUT.tmp"
cp "${vmlinuz[0]}" "$KERNEL_OUT.tmp"
mv -f "$KERNEL_OUT.tmp" "$KERNEL_OUT"
mv -f "$INITRD_OUT.tmp" "$INITRD_OUT"

{
    printf 'kernel_package=%s\nkernel_version=%s\nkernel_release=%s\n' "$KPKG" "$KVER" "$KREL"
    printf 'modules=%s\n' "${ORDER[*]}"
    printf 'iperf3=%s\n' "$(dpkg-query -W -f='${Version}' iperf3)"
    printf 'iperf=%s\n' "$(dpkg-query -W -f='${Version}' iperf)"
    printf 'iputils_ping=%s\n' "$(dpkg-query -W -f='${Version}' iputils-ping)"
    printf 'busybox=%s\n' "$(dpkg-query -W -f='${Version}' busybox-static)"
    printf 'vmlinuz_sha256=%s\n' "$(sha256sum < "$KERNEL_OUT" | cut -d' ' -f1)"
    printf 'initramfs_sha256=%s\n' "$(sha256sum < "$INITRD_OUT" | cut -d' ' -f1)"
} > "$MANIFEST.tmp"
mv -f "$MANIFEST.tmp" "$MANIFEST"

log "built in $(($(date +%s) - START)) s: $(du -h "$INITRD_OUT" | cut -f1) initramfs, kernel $KREL"
emit

#!/usr/bin/env bash
# The linux-arm64 toolchain on a Debian 12 (bookworm) x86-64 machine, from the
# Debian archive only (rustup needs no target download).
#
#   scripts/cross-toolchain.sh install      apt packages for cross-building and qemu (idempotent)
#   scripts/cross-toolchain.sh node-root    an arm64 Node in target/cross/arm64-root for qemu-user (idempotent)
#   scripts/cross-toolchain.sh all          both
#
# install: Debian's rustc-web/cargo-web (bookworm-security; they install
# /usr/bin/rustc and /usr/bin/cargo, behind rustup's ~/.cargo/bin on PATH) with
# the arm64 standard library, the aarch64 GNU cross gcc as linker, and
# qemu-user-static. Skips the Rust part when the default rustc already has the
# aarch64 standard library. node-root: Debian's arm64 nodejs (Node 18; N-API
# is ABI-stable, so it loads an addon built for Node 20) and the libraries it
# links, unpacked with dpkg-deb -x: nothing arm64 is installed on the host.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

ARCH=arm64
ROOT_DIR="${SCRIPTCAGE_ARM64_ROOT:-target/cross/arm64-root}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
apt_get() { $SUDO env DEBIAN_FRONTEND=noninteractive apt-get -o APT::Sandbox::User=root "$@"; }

updated=""
apt_update() {
  [ -n "$updated" ] && return 0
  apt_get update -qq
  updated=1
}

add_arch() {
  if ! dpkg --print-foreign-architectures | grep -qx "$ARCH"; then
    echo "dpkg --add-architecture $ARCH"
    $SUDO dpkg --add-architecture "$ARCH"
    updated=""
  fi
  # The arm64 package lists appear only after an update.
  if ! apt-cache show "libc6:$ARCH" >/dev/null 2>&1; then apt_update; fi
}

installed() { dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null | grep -qx installed; }

install() {
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "apt-get is not available: install a Rust aarch64-unknown-linux-gnu standard library, aarch64-linux-gnu-gcc and qemu-aarch64 by hand" >&2
    exit 1
  fi
  local want=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user-static)
  if ! node -e "process.exit(require('./scripts/cross-build.js').toolchainFor('aarch64-unknown-linux-gnu') ? 0 : 1)"; then
    want+=(rustc-web cargo-web "libstd-rust-web-dev:$ARCH")
  fi
  local missing=()
  for p in "${want[@]}"; do installed "$p" || missing+=("$p"); done
  if [ "${#missing[@]}" -eq 0 ]; then
    echo "cross toolchain: nothing to install (${want[*]} present)"
    return 0
  fi
  add_arch
  apt_update
  echo "installing: ${missing[*]}"
  apt_get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# Debian's arm64 Node and what it links (libnode108's dependencies); the
# node-* packages are the JavaScript Debian's Node loads from /usr/share.
NODE_DEBS=(
  "nodejs:$ARCH" "libnode108:$ARCH" "libc6:$ARCH" "libgcc-s1:$ARCH" "libstdc++6:$ARCH"
  "libbrotli1:$ARCH" "libc-ares2:$ARCH" "libicu72:$ARCH" "libnghttp2-14:$ARCH" "libssl3:$ARCH"
  "libuv1:$ARCH" "zlib1g:$ARCH" node-acorn node-cjs-module-lexer node-undici node-busboy node-xtend
)

node_root() {
  if [ -x "$ROOT_DIR/usr/bin/node" ]; then
    echo "arm64 node: $ROOT_DIR/usr/bin/node is present"
    return 0
  fi
  add_arch
  local debs="target/cross/debs"
  mkdir -p "$debs"
  (cd "$debs" && apt_get download -qq "${NODE_DEBS[@]}")
  rm -rf "$ROOT_DIR.tmp"
  mkdir -p "$ROOT_DIR.tmp"
  for d in "$debs"/*.deb; do dpkg-deb -x "$d" "$ROOT_DIR.tmp"; done
  rm -rf "$ROOT_DIR"
  mv "$ROOT_DIR.tmp" "$ROOT_DIR"
  echo "arm64 node: unpacked into $ROOT_DIR ($(du -sh "$ROOT_DIR" | cut -f1))"
}

case "${1:-}" in
  install) install ;;
  node-root) node_root ;;
  all) install; node_root ;;
  *) echo "usage: $0 install|node-root|all" >&2; exit 2 ;;
esac

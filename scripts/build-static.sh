#!/usr/bin/env bash
# Builds the statically linked Linux binary (musl), to copy onto machines without a Rust
# toolchain: target/x86_64-unknown-linux-musl/release/mcp-remote. Installs what it needs if it is
# missing (the rustup target, and musl-tools from the distribution), checks with `file` that the
# result is statically linked, and prints its size.
#
#   STATIC_PIE=1 scripts/build-static.sh   # static-pie instead (about 90 KB larger)
#
#   scripts/build-static.sh            # x86_64
#   ARCH=aarch64 scripts/build-static.sh   (needs an aarch64 musl C compiler on PATH)
set -euo pipefail
cd "$(dirname "$0")/.."

ARCH=${ARCH:-$(uname -m)}
TARGET="$ARCH-unknown-linux-musl"

if ! rustup target list --installed 2>/dev/null | grep -qx "$TARGET"; then
  echo "# rustup target add $TARGET" >&2
  rustup target add "$TARGET"
fi
if ! command -v musl-gcc >/dev/null 2>&1; then
  echo "# installing musl-tools" >&2
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq musl-tools
fi
command -v file >/dev/null 2>&1 || { echo "error: the 'file' command is missing" >&2; exit 1; }

# ring (TLS) compiles C: use the musl wrapper for the target's C code.
export "CC_${TARGET//-/_}=musl-gcc"
# A plain static executable by default: a static-pie carries ~90 KB of relocations that it
# applies to itself at start, which is what keeps the binary under 2.5 MB. STATIC_PIE=1 builds
# the position-independent variant instead (address-space randomization for the binary image).
if [ "${STATIC_PIE:-0}" != 1 ]; then
  export RUSTFLAGS="${RUSTFLAGS:-} -C relocation-model=static"
fi
# Link with the rust-lld every rustup toolchain ships (through its gcc-ld wrapper), folding
# identical functions into one (--icf=all, about 25 KB here). Nothing in this synchronous
# program tells functions apart by address (no waker vtables, no fn-pointer identity), and
# scripts/test.sh runs the integration tests against the result. Without rust-lld, the system
# linker does the job unfolded.
GCC_LD="$(rustc --print sysroot)/lib/rustlib/$(rustc -vV | sed -n 's/^host: //p')/bin/gcc-ld"
if [ -x "$GCC_LD/ld.lld" ]; then
  export RUSTFLAGS="${RUSTFLAGS:-} -C link-arg=-B$GCC_LD -C link-arg=-fuse-ld=lld -C link-arg=-Wl,--icf=all"
fi
cargo build --release --locked --target "$TARGET"

BIN="${CARGO_TARGET_DIR:-target}/$TARGET/release/mcp-remote"
info=$(file -L "$BIN")
echo "$info"
case "$info" in
  *"statically linked"* | *"static-pie linked"*) ;;
  *) echo "error: $BIN is not statically linked" >&2; exit 1 ;;
esac
size=$(stat -c %s "$BIN")
awk -v s="$size" -v b="$BIN" 'BEGIN { printf "%s: %d bytes (%.2f MB)\n", b, s, s / 1e6 }'
"$BIN" --version

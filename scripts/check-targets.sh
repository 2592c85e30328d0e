#!/usr/bin/env bash
# `cargo check` for Windows (x86_64-pc-windows-gnu) and macOS (aarch64-apple-darwin), so the code
# paths of those systems (config directory, browser opening, file modes, the OS trust store)
# at least compile here. Installs what it needs: the rustup targets, MinGW from the distribution
# for ring's C code on Windows, and zig (PyPI `ziglang`, in a venv under target/) as the C
# compiler for macOS. Nothing is linked, so no macOS SDK is needed.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
T="$ROOT/target"

for t in x86_64-pc-windows-gnu aarch64-apple-darwin; do
  rustup target list --installed 2>/dev/null | grep -qx "$t" || rustup target add "$t"
done
if ! command -v x86_64-w64-mingw32-gcc >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gcc-mingw-w64-x86-64
fi
ZIG_VENV="$T/zigvenv"
if ! "$ZIG_VENV/bin/python" -m ziglang version >/dev/null 2>&1; then
  python3 -m venv "$ZIG_VENV"
  "$ZIG_VENV/bin/pip" install -q --disable-pip-version-check "ziglang==0.15.1" || "$ZIG_VENV/bin/pip" install -q ziglang
fi
# The cc crate adds Apple-only flags (-arch, --target=arm64-apple-macosx) that zig's clang does
# not take; the wrapper drops them and names the target zig's way.
mkdir -p "$T/zigcc"
cat >"$T/zigcc/cc-aarch64-apple-darwin" <<SH
#!/usr/bin/env bash
args=(); skip=0
for a in "\$@"; do
  if [ \$skip = 1 ]; then skip=0; continue; fi
  case "\$a" in
    -arch|-target) skip=1 ;;
    --target=*|-mmacosx-version-min=*) ;;
    *) args+=("\$a") ;;
  esac
done
exec "$ZIG_VENV/bin/python" -m ziglang cc -target aarch64-macos "\${args[@]}"
SH
printf '#!/usr/bin/env bash\nexec "%s/bin/python" -m ziglang ar "$@"\n' "$ZIG_VENV" >"$T/zigcc/ar-aarch64-apple-darwin"
chmod +x "$T/zigcc/cc-aarch64-apple-darwin" "$T/zigcc/ar-aarch64-apple-darwin"

echo "== cargo check --target x86_64-pc-windows-gnu"
cargo check --locked --target x86_64-pc-windows-gnu --all-targets
echo "== cargo check --target aarch64-apple-darwin"
CC_aarch64_apple_darwin="$T/zigcc/cc-aarch64-apple-darwin" AR_aarch64_apple_darwin="$T/zigcc/ar-aarch64-apple-darwin" \
  cargo check --locked --target aarch64-apple-darwin --all-targets
echo "both targets check"

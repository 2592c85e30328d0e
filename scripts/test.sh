#!/usr/bin/env bash
# The one test command (README "Running the tests"): unit + integration tests, the interop checks
# against official MCP SDK servers, the official conformance suite, the static musl build (and
# the integration tests run against it), a `cargo check` for Windows and macOS, and a short
# benchmark run (which never fails on a number).
# Each part installs what it needs (under target/ where it can). Exits non-zero if any part failed.
set -uo pipefail
cd "$(dirname "$0")/.."

failed=()
run() {
  local name=$1; shift
  echo "== $name: $*"
  if "$@"; then echo "== $name: ok"; else echo "== $name: FAILED"; failed+=("$name"); fi
}

run cargo-test cargo test --locked
run interop bash scripts/interop.sh
run conformance bash scripts/conformance.sh
run static-build bash scripts/build-static.sh
# The integration tests once more, against the static binary users copy onto their machines.
static_bin="target/$(uname -m)-unknown-linux-musl/release/mcp-remote"
run static-tests env MCP_REMOTE_TEST_BIN="$PWD/$static_bin" cargo test --locked --test it
run other-targets bash scripts/check-targets.sh
run bench-quick bash scripts/bench.sh --quick

if [ ${#failed[@]} -gt 0 ]; then
  echo "failed parts: ${failed[*]}"
  exit 1
fi
echo "all parts passed"

#!/usr/bin/env bash
# The one test command (README "Running the tests"): unit + integration tests, then the interop
# checks against official MCP SDK servers, then the official conformance suite. Each part
# installs what it needs under target/. Exits non-zero if any part failed.
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

if [ ${#failed[@]} -gt 0 ]; then
  echo "failed parts: ${failed[*]}"
  exit 1
fi
echo "all parts passed"

#!/usr/bin/env bash
# Official MCP conformance suite (client scenarios) against mcp-remote.
#
#   scripts/conformance.sh [scenario ...]        (default: the SCENARIOS list below)
#
# For each scenario:  conformance client --command <repo>/scripts/conformance_driver.py --scenario <s>
# The runner starts its mock server, runs the driver with the server URL as the last argument; the
# driver runs target/release/mcp-remote <url> and plays the MCP host over its stdio.
# Installs (idempotent) into target/: Node 22 (npm node@22) in target/node22 and
# @modelcontextprotocol/conformance@$CONFORMANCE_VERSION in target/conformance. Runs every scenario
# inside a private network + PID namespace (unshare) with only loopback up.
# Prints one line per scenario (PASS/FAIL), then `N passed, N failed`; exit 1 if any failed.
# Per-scenario runner output: target/conformance/logs/<scenario>.log; checks.json, stdout.txt and
# stderr.txt (driver + proxy stderr) under target/conformance/results/<scenario>-<timestamp>/.
# Set MCP_REMOTE_ARGS=--debug to get the proxy's debug log in stderr.txt.
set -euo pipefail
export PYTHONDONTWRITEBYTECODE=1

# Scenarios to run by default (see `conformance list --client`); an entry may carry runner
# arguments after `|`. The driver also knows json-schema-2020-12-preservation (pass it as an argument).
# The client scenarios of the suite's 2025-11-25 requirement set (plus the 2025-03-26 back-compat
# ones), run at that wire with a 2025-era host, then the 2026-07-28 requirement set at its wire
# with a 2026-era host (conformance_driver.py picks the host's era from the version).
AUTH_2025=(
  auth/metadata-default auth/metadata-var1 auth/metadata-var2 auth/metadata-var3 auth/basic-cimd
  auth/scope-from-www-authenticate auth/scope-from-scopes-supported auth/scope-omitted-when-undefined
  auth/scope-step-up auth/scope-retry-limit
  auth/token-endpoint-auth-basic auth/token-endpoint-auth-post auth/token-endpoint-auth-none
  auth/pre-registration
)
AUTH_2026=(
  auth/resource-mismatch auth/offline-access-scope auth/offline-access-not-supported
  auth/authorization-server-migration
  auth/iss-supported auth/iss-not-advertised auth/iss-supported-missing auth/iss-wrong-issuer
  auth/iss-unexpected auth/iss-normalized auth/metadata-issuer-mismatch
)
SCENARIOS=(
  initialize tools_call sse-retry elicitation-sep1034-client-defaults
  "${AUTH_2025[@]}"
  auth/2025-03-26-oauth-metadata-backcompat auth/2025-03-26-oauth-endpoint-fallback
)
for s in tools_call request-metadata http-standard-headers http-custom-headers http-invalid-tool-headers \
  sep-2322-client-request-state json-schema-ref-no-deref "${AUTH_2025[@]}" "${AUTH_2026[@]}"; do
  SCENARIOS+=("$s|--spec-version 2026-07-28")
done
CONFORMANCE_VERSION=0.2.0-alpha.12
NODE_MAJOR=22
TIMEOUT_MS=30000

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
T="$ROOT/target"
case "$ROOT" in *" "*)
  echo "FAIL setup: repository path contains a space; the conformance runner splits --command on spaces"
  echo "0 passed, 1 failed"; exit 1 ;;
esac
mkdir -p "$T/conformance/logs"
INSTALL_LOG="$T/conformance/install.log"
: >"$INSTALL_LOG"
. "$ROOT/scripts/lib.sh"

for tool in cargo python3 npm; do command -v "$tool" >/dev/null || die_setup "$tool not found"; done
ensure_namespace_tools

# --- Node 22 (the suite needs fs.globSync: Node >= 22) --------------------------------------------
ensure_node
export PATH="$(dirname "$NODE"):$PATH"

# --- the conformance suite --------------------------------------------------------------------------
CPKG="$T/conformance/node_modules/@modelcontextprotocol/conformance"
if [ "$(node -p "require('$CPKG/package.json').version" 2>/dev/null)" != "$CONFORMANCE_VERSION" ]; then
  note "installing @modelcontextprotocol/conformance@$CONFORMANCE_VERSION into target/conformance"
  [ -f "$T/conformance/package.json" ] || echo '{"name":"conformance-run","private":true}' >"$T/conformance/package.json"
  (cd "$T/conformance" && run_logged npm install --no-audit --no-fund "@modelcontextprotocol/conformance@$CONFORMANCE_VERSION") ||
    die_setup "npm install @modelcontextprotocol/conformance@$CONFORMANCE_VERSION failed"
fi
RUNNER="$CPKG/dist/index.js"
[ -f "$RUNNER" ] || die_setup "$RUNNER missing"

# --- the binary --------------------------------------------------------------------------------------
note "cargo build --release"
if ! cargo build --release --quiet >>"$INSTALL_LOG" 2>&1; then
  tail -n 30 "$INSTALL_LOG" >&2
  die_setup "cargo build --release failed"
fi
[ -x "$T/release/mcp-remote" ] || die_setup "target/release/mcp-remote not built"
export MCP_REMOTE_BIN="$T/release/mcp-remote"
DRIVER="$ROOT/scripts/conformance_driver.py"
chmod +x "$DRIVER" 2>/dev/null || true

if [ "$(id -u)" = 0 ]; then
  NS=(unshare --net --pid --fork --kill-child)
else
  NS=(unshare --map-root-user --net --pid --fork --kill-child)
fi

[ $# -gt 0 ] && SCENARIOS=("$@")
passed=0
failed=0
child=""
trap '[ -n "$child" ] && kill -TERM "$child" 2>/dev/null; exit 130' INT TERM
for entry in "${SCENARIOS[@]}"; do
  # an entry is `scenario` or `scenario|extra runner args` (e.g. `request-metadata|--spec-version 2026-07-28`)
  s=${entry%%|*}
  extra=()
  [ "$entry" != "$s" ] && read -r -a extra <<<"${entry#*|}"
  log="$T/conformance/logs/${s//\//_}.log"
  set +e
  # hard bound on top of the runner's own --timeout
  timeout -k 5 $((TIMEOUT_MS / 1000 + 60)) "${NS[@]}" sh -c 'ip link set lo up && exec "$@"' sh \
    node "$RUNNER" client --command "$DRIVER" --scenario "$s" --timeout "$TIMEOUT_MS" \
    -o "$T/conformance/results" ${extra[@]+"${extra[@]}"} >"$log" 2>&1 &
  child=$!
  wait "$child"
  rc=$?
  child=""
  set -e
  summary=$(sed 's/\x1b\[[0-9;]*m//g' "$log" | grep -E '^(Passed: |Test Results)' | grep '^Passed' | tail -n 1 || true)
  if [ "$rc" = 0 ] && grep -q 'OVERALL: PASSED' "$log"; then
    passed=$((passed + 1))
    echo "PASS $s ($summary)"
  else
    failed=$((failed + 1))
    reasons=$(sed 's/\x1b\[[0-9;]*m//g' "$log" | grep -E '^\s+(- |Error: |Warning: )|CLIENT EXITED|TIMED OUT|timed out' | head -n 8 | sed 's/^\s*/    /' || true)
    echo "FAIL $s (runner exit $rc; ${summary:-no summary}; log: target/conformance/logs/$(basename "$log"))"
    [ -n "$reasons" ] && echo "$reasons"
  fi
done
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]

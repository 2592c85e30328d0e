#!/usr/bin/env bash
# Interop tests: run the mcp-remote proxy against real MCP servers (Python SDK servers written
# in scripts/interop_servers.py, @modelcontextprotocol/server-everything, and the TypeScript SDK's
# OAuth example server for sign-in), driving it the way an MCP host would (scripts/mcphost.py,
# scripts/interop_checks.py), and its one-shot commands (--list-tools, --call) from the shell.
#
#   scripts/interop.sh [-v] [--no-debug] [--only py-stateful,py-resumable,py-stateless,everything,py-sse,everything-sse,ts-oauth,ts2-strict,py-dual]
#
# 2026-07-28: the TypeScript SDK v2 server in modern-only mode (scripts/ts2_server.mjs) and the
# Python SDK's dual-era server, each driven by a 2025 host (the TS client's default `initialize`)
# and by modern hosts (the TS client with version negotiation `auto`, the Python client), the
# SDKs' own clients launching the proxy over stdio (scripts/ts2_host.mjs, scripts/py2_host.py).
# A bridged 2025 host must hear notifications/tools/list_changed too (the proxy's own listen).
#
# Self-installing and idempotent; everything it downloads goes under target/ (git-ignored):
#   target/node22      Node 22 from the npm package node@22 (server-everything, conformance)
#   target/interop     Python venv with mcp==$MCP_PY_VERSION, npm server-everything@$EVERYTHING_VERSION,
#                      npm @modelcontextprotocol/sdk@$TS_SDK_VERSION (its example simpleStreamableHttp.js
#                      --oauth: MCP server + demo authorization server; needs express, an SDK dependency), logs
#   target/interop/ts2 npm ${TS2_PACKAGES[*]} (the TypeScript SDK v2)
# Needs: cargo, python3 (with venv), npm/node, and iproute2 + util-linux (installed with apt-get if
# missing and possible). All servers and the proxy run inside a private network namespace (and PID
# namespace, so nothing survives the run), bound to 127.0.0.1 there (the TS OAuth example listens on
# all interfaces, which in that namespace means its loopback only).
#
# Output: one line per check (`ok ...` / `FAIL ...: reason`), then `N passed, N failed`.
# Exit status 1 if any check failed. Logs (server output, the proxy's --debug stderr per host):
# target/interop/logs/ (emptied at the start of each run).
set -euo pipefail
export PYTHONDONTWRITEBYTECODE=1

MCP_PY_VERSION=2.3.0
EVERYTHING_VERSION=2026.8.31
TS_SDK_VERSION=1.32.2
# The TypeScript SDK v2 (2026-07-28): its server in modern-only mode, and its client as a host
TS2_PACKAGES=(@modelcontextprotocol/server@2.4.0 @modelcontextprotocol/node@2.1.2 @modelcontextprotocol/client@2.4.0
  zod@4.6.7)
NODE_MAJOR=22

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
T="$ROOT/target"
mkdir -p "$T/interop"
INSTALL_LOG="$T/interop/install.log"
: >"$INSTALL_LOG"
. "$ROOT/scripts/lib.sh"

# --- system tools -------------------------------------------------------------------------------
for tool in cargo python3 npm; do
  command -v "$tool" >/dev/null || die_setup "$tool not found"
done
ensure_namespace_tools

# --- Node 22 ------------------------------------------------------------------------------------
ensure_node
note "node $("$NODE" --version) at $NODE"

# --- Python venv with the MCP SDK -----------------------------------------------------------------
VENV="$T/interop/venv"
if [ "$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("mcp"))' 2>/dev/null)" != "$MCP_PY_VERSION" ]; then
  note "creating venv target/interop/venv with mcp==$MCP_PY_VERSION"
  [ -x "$VENV/bin/python" ] || run_logged python3 -m venv "$VENV" || die_setup "python3 -m venv failed (install python3-venv?)"
  run_logged "$VENV/bin/pip" install --disable-pip-version-check "mcp==$MCP_PY_VERSION" || die_setup "pip install mcp==$MCP_PY_VERSION failed"
fi

# --- server-everything ----------------------------------------------------------------------------
SE_PKG="$T/interop/node_modules/@modelcontextprotocol/server-everything/package.json"
if [ "$("$NODE" -p "require('$SE_PKG').version" 2>/dev/null)" != "$EVERYTHING_VERSION" ]; then
  note "installing @modelcontextprotocol/server-everything@$EVERYTHING_VERSION into target/interop"
  [ -f "$T/interop/package.json" ] || echo '{"name":"interop","private":true}' >"$T/interop/package.json"
  (cd "$T/interop" && PATH="$(dirname "$NODE"):$PATH" run_logged npm install --no-audit --no-fund \
    "@modelcontextprotocol/server-everything@$EVERYTHING_VERSION") || die_setup "npm install server-everything failed"
fi

# --- the TypeScript SDK (its OAuth example server) ---------------------------------------------------
TS_SDK_PKG="$T/interop/node_modules/@modelcontextprotocol/sdk/package.json"
if [ "$("$NODE" -p "require('$TS_SDK_PKG').version" 2>/dev/null)" != "$TS_SDK_VERSION" ] ||
  ! (cd "$T/interop" && "$NODE" -e "require.resolve('express')" 2>/dev/null); then
  note "installing @modelcontextprotocol/sdk@$TS_SDK_VERSION into target/interop"
  [ -f "$T/interop/package.json" ] || echo '{"name":"interop","private":true}' >"$T/interop/package.json"
  (cd "$T/interop" && PATH="$(dirname "$NODE"):$PATH" run_logged npm install --no-audit --no-fund \
    "@modelcontextprotocol/sdk@$TS_SDK_VERSION" express) || die_setup "npm install @modelcontextprotocol/sdk failed"
fi

# --- the TypeScript SDK v2 (scripts/ts2_server.mjs, scripts/ts2_host.mjs) ---------------------------
# Its own directory: zod 4 and the v1 SDK above must not share one node_modules.
TS2="$T/interop/ts2"
ts2_installed() {
  local spec
  for spec in "${TS2_PACKAGES[@]}"; do
    [ "$("$NODE" -p "require('$TS2/node_modules/${spec%@*}/package.json').version" 2>/dev/null)" = "${spec##*@}" ] ||
      return 1
  done
}
if ! ts2_installed; then
  note "installing ${TS2_PACKAGES[*]} into target/interop/ts2"
  mkdir -p "$TS2"
  [ -f "$TS2/package.json" ] || echo '{"name":"interop-ts2","private":true}' >"$TS2/package.json"
  (cd "$TS2" && PATH="$(dirname "$NODE"):$PATH" run_logged npm install --no-audit --no-fund "${TS2_PACKAGES[@]}") ||
    die_setup "npm install ${TS2_PACKAGES[*]} failed"
fi

# --- the binary -----------------------------------------------------------------------------------
note "cargo build --release"
if ! cargo build --release --quiet >>"$INSTALL_LOG" 2>&1; then
  tail -n 30 "$INSTALL_LOG" >&2
  die_setup "cargo build --release failed"
fi
# MCP_REMOTE_TEST_BIN runs the checks against another build (e.g. the static one).
PROXY="${MCP_REMOTE_TEST_BIN:-$T/release/mcp-remote}"
[ -x "$PROXY" ] || die_setup "$PROXY not built"

# --- the test phase, in private network + PID namespaces ------------------------------------------
if [ "$(id -u)" = 0 ]; then
  NS=(unshare --net --pid --fork --kill-child)
else
  NS=(unshare --map-root-user --net --pid --fork --kill-child)
fi
note "running checks (logs: target/interop/logs)"
timeout -k 10 1200 "${NS[@]}" sh -c 'ip link set lo up && exec "$@"' sh \
  python3 "$ROOT/scripts/interop_checks.py" --proxy "$PROXY" --python "$VENV/bin/python" \
  --node "$NODE" --everything-dir "$T/interop" --ts2-dir "$TS2" --logdir "$T/interop/logs" "$@" &
child=$!
trap 'kill -TERM "$child" 2>/dev/null; wait "$child" 2>/dev/null; exit 130' INT TERM
set +e
wait "$child"
rc=$?
set -e
trap - INT TERM
exit "$rc"

#!/usr/bin/env bash
# Speed and size of mcp-remote against a direct HTTP client, both talking to a local MCP server
# built with the official Python SDK (PyPI `mcp`). Prints a table of ratios proxy/direct.
#
#   scripts/bench.sh           full run (1000 sequential calls, 5000 at 50 in flight, 10 MiB x 7)
#   scripts/bench.sh --quick   a short run that only keeps the script working (CI)
#
# A benchmark, not a test: it exits non-zero only when something failed to run.
set -euo pipefail
cd "$(dirname "$0")/.."
MCP_PY_VERSION=2.3.0
VENV=target/interop/venv
if [ "$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("mcp"))' 2>/dev/null)" != "$MCP_PY_VERSION" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check "mcp==$MCP_PY_VERSION"
fi
cargo build --release --quiet
# The server binds 127.0.0.1 only; as root the run also gets a private network namespace.
if [ "$(id -u)" = 0 ] && command -v unshare >/dev/null; then
  exec unshare --net sh -c 'ip link set lo up && exec "$@"' sh \
    "$VENV/bin/python" scripts/bench.py --proxy target/release/mcp-remote --python "$VENV/bin/python" "$@"
fi
exec "$VENV/bin/python" scripts/bench.py --proxy target/release/mcp-remote --python "$VENV/bin/python" "$@"

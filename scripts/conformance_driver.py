#!/usr/bin/env python3
"""`--command` for `conformance client`: plays an MCP host driving `mcp-remote <url>`.

The conformance runner appends the mock server's URL as the LAST argument and sets
MCP_CONFORMANCE_SCENARIO (and MCP_CONFORMANCE_PROTOCOL_VERSION, MCP_CONFORMANCE_CONTEXT).
This driver starts the proxy on that URL and, over the proxy's stdio, does what a host would:
initialize, notifications/initialized, tools/list, then per scenario (SCENARIO_ACTIONS below)
calls tools; then it closes the proxy's stdin and exits.

Exit status: 0 if every request got its answer, stdout carried only JSON-RPC lines and the proxy
exited 0 within 5 s of stdin EOF; 1 otherwise (reasons on stderr, which the runner saves).

Environment knobs:  MCP_REMOTE_BIN   proxy binary (default <repo>/target/release/mcp-remote)
                    MCP_REMOTE_ARGS  extra proxy arguments, space separated (e.g. --debug)
                    MCP_DRIVER_PAUSE seconds to wait after tools/list before the scenario's calls
"""

from __future__ import annotations

import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True  # no scripts/__pycache__ in the work tree
sys.path.insert(0, HERE)
from mcphost import Host, RequestTimeout, args_from_schema  # noqa: E402

ROOT = os.path.dirname(HERE)
REQUEST_TIMEOUT = 10.0  # the runner kills us after 30 s in total
PAUSE = float(os.environ.get("MCP_DRIVER_PAUSE") or 0)


def log(msg: str) -> None:
    sys.stderr.write(f"driver: {msg}\n")
    sys.stderr.flush()


def call_all_tools(h: Host, tools: list[dict], problems: list[str]) -> None:
    for tool in tools:
        args = args_from_schema(tool.get("inputSchema"))
        log(f"tools/call {tool['name']} {json.dumps(args)}")
        resp = h.request("tools/call", {"name": tool["name"], "arguments": args}, REQUEST_TIMEOUT)
        log(f"  -> {json.dumps(resp)[:400]}")
        if "error" in resp:
            problems.append(f"tools/call {tool['name']} answered with error {json.dumps(resp['error'])[:200]}")


def echo_schema(h: Host, tools: list[dict], problems: list[str]) -> None:
    """json-schema-2020-12-preservation: pass the focal tool's inputSchema, verbatim, to the echo tool."""
    echo = next((t for t in tools if "schema" in ((t.get("inputSchema") or {}).get("properties") or {})), None)
    focal = next((t for t in tools if t is not echo), None)
    if not echo or not focal:
        problems.append(f"expected a focal tool and a schema-echo tool, got {[t.get('name') for t in tools]}")
        return
    resp = h.request("tools/call", {"name": echo["name"], "arguments": {"schema": focal.get("inputSchema")}},
                     REQUEST_TIMEOUT)
    log(f"  -> {json.dumps(resp)[:400]}")
    if "error" in resp:
        problems.append(f"tools/call {echo['name']} answered with error {json.dumps(resp['error'])[:200]}")


# scenario name -> what to do after initialize + tools/list (extend here)
SCENARIO_ACTIONS = {
    "initialize": lambda h, tools, problems: None,
    "tools_call": call_all_tools,
    "sse-retry": call_all_tools,  # the scenario exposes test_reconnection; its result arrives on a GET
    "elicitation-sep1034-client-defaults": call_all_tools,  # mcphost fills schema defaults
    "json-schema-2020-12-preservation": echo_schema,
}


def main() -> int:
    if len(sys.argv) < 2:
        log("usage: conformance_driver.py <server-url>")
        return 2
    url = sys.argv[-1]
    scenario = os.environ.get("MCP_CONFORMANCE_SCENARIO", "")
    version = os.environ.get("MCP_CONFORMANCE_PROTOCOL_VERSION") or "2025-11-25"
    proxy = os.environ.get("MCP_REMOTE_BIN") or os.path.join(ROOT, "target/release/mcp-remote")
    extra = (os.environ.get("MCP_REMOTE_ARGS") or "").split()
    log(f"scenario={scenario!r} url={url} protocol={version} proxy={proxy} {' '.join(extra)}")
    action = SCENARIO_ACTIONS.get(scenario, call_all_tools)

    problems: list[str] = []
    t0 = time.monotonic()
    h = Host([proxy, url, *extra], name="mcp-remote", echo_stderr=True,
             log=lambda s: log(f"{time.monotonic() - t0:6.2f}s {s}"))
    try:
        init = h.initialize(protocol_version=version, client_name="mcp-remote-conformance-driver",
                            timeout=REQUEST_TIMEOUT)
        log(f"negotiated {init.get('protocolVersion')}")
        tools = h.call("tools/list", {}, REQUEST_TIMEOUT).get("tools", [])
        log(f"tools: {[t.get('name') for t in tools]}")
        if PAUSE:
            log(f"pausing {PAUSE:g}s before the scenario's calls (MCP_DRIVER_PAUSE)")
            time.sleep(PAUSE)
        action(h, tools, problems)
    except (RequestTimeout, RuntimeError) as e:
        problems.append(str(e))
    finally:
        rc, secs = h.close(timeout=5)
        log(f"proxy exit code {rc} after {secs:.2f}s")
    if rc != 0:
        problems.append(f"proxy exit code {rc} ({secs:.2f}s after stdin EOF)")
    problems.extend(f"stdout violation: {v}" for v in h.violations)
    for p in problems:
        log(f"PROBLEM: {p}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

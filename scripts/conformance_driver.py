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


MODERN = "2026-07-28"


def answer_input(req: dict) -> dict:
    """What a host answers to one input request of an `input_required` result."""
    method = req.get("method", "")
    if method == "elicitation/create":
        return {"action": "accept", "content": {}}
    if method == "sampling/createMessage":
        return {"role": "assistant", "content": {"type": "text", "text": "ok"}, "model": "driver"}
    if method == "roots/list":
        return {"roots": []}
    return {}


class Session:
    """The host's side of a protocol era. 2025: plain requests after initialize. 2026-07-28: every
    request carries `_meta`; a -32022 is retried once with a supported version; `input_required`
    results are answered and retried with `inputResponses` and the same `requestState`."""

    def __init__(self, h: Host, version: str):
        self.h = h
        self.version = version
        self.modern = version >= MODERN

    def meta(self) -> dict:
        return {
            "io.modelcontextprotocol/protocolVersion": self.version,
            "io.modelcontextprotocol/clientCapabilities": {"elicitation": {}, "sampling": {}, "roots": {}},
            "io.modelcontextprotocol/clientInfo": {"name": "mcp-remote-conformance-driver", "version": "0.1.0"},
        }

    def request(self, method: str, params: dict | None = None, timeout: float = 0) -> dict:
        timeout = timeout or REQUEST_TIMEOUT
        params = dict(params or {})
        if not self.modern:
            return self.h.request(method, params, timeout)
        resp: dict = {}
        for attempt in range(2):
            resp = self.h.request(method, {**params, "_meta": self.meta()}, timeout)
            err = resp.get("error") or {}
            if err.get("code") != -32022 or attempt:
                break
            supported = (err.get("data") or {}).get("supported") or [self.version]
            log(f"{method}: version {self.version} refused (-32022); retrying with {supported[0]}")
            self.version = supported[0]
        for _round in range(10):
            result = resp.get("result") or {}
            if result.get("resultType") != "input_required":
                break
            answers = {k: answer_input(r) for k, r in (result.get("inputRequests") or {}).items()}
            retry = {**params, "_meta": self.meta(), "inputResponses": answers}
            if "requestState" in result:
                retry["requestState"] = result["requestState"]
            resp = self.h.request(method, retry, timeout)
        return resp

    def call(self, method: str, params: dict | None = None) -> dict:
        resp = self.request(method, params)
        if "error" in resp:
            raise RuntimeError(f"{method} -> error {json.dumps(resp['error'])[:300]}")
        return resp["result"]


def context_calls(h: "Session", tools: list[dict], problems: list[str]) -> None:
    """http-custom-headers: make exactly the calls the scenario's context lists."""
    ctx = json.loads(os.environ.get("MCP_CONFORMANCE_CONTEXT") or "{}")
    for c in ctx.get("toolCalls") or []:
        log(f"tools/call {c.get('name')} {json.dumps(c.get('arguments'))}")
        resp = h.request("tools/call", {"name": c.get("name"), "arguments": c.get("arguments") or {}})
        log(f"  -> {json.dumps(resp)[:300]}")


def call_everything(h: "Session", tools: list[dict], problems: list[str]) -> None:
    """http-standard-headers: exercise tools, resources and prompts."""
    call_all_tools(h, tools, problems)
    for r in (h.request("resources/list").get("result") or {}).get("resources") or []:
        h.request("resources/read", {"uri": r.get("uri")})
    for pr in (h.request("prompts/list").get("result") or {}).get("prompts") or []:
        h.request("prompts/get", {"name": pr.get("name"), "arguments": {}})


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
    "http-custom-headers": context_calls,
    "http-standard-headers": call_everything,
    "json-schema-ref-no-deref": lambda h, tools, problems: None,
}


def browser(url: str) -> int:
    """BROWSER for the auth scenarios: follow the authorization URL (the mock answers with a
    redirect to mcp-remote's loopback callback) the way a person's browser would."""
    import urllib.request
    try:
        urllib.request.urlopen(url, timeout=10).read()
    except Exception as e:  # noqa: BLE001 - a refused sign-in answers 400; mcp-remote reports it
        log(f"browser: {e}")
    return 0


STORES: list[str] = []  # token stores made for this run, removed at exit


def auth_args(scenario: str) -> tuple[list[str], dict[str, str]]:
    """Proxy arguments and environment for an auth scenario: a fresh token store, this script as
    the browser, and the client the scenario asks for."""
    if not scenario.startswith("auth/"):
        return [], {}
    import tempfile
    store = tempfile.mkdtemp(prefix="mcp-remote-conformance-")
    STORES.append(store)
    args = ["--config-dir", store]
    ctx = json.loads(os.environ.get("MCP_CONFORMANCE_CONTEXT") or "{}")
    if scenario == "auth/pre-registration" and ctx.get("client_id"):
        info = {"client_id": ctx["client_id"]}
        if ctx.get("client_secret"):
            info["client_secret"] = ctx["client_secret"]
        args += ["--static-oauth-client-info", json.dumps(info)]
    if scenario == "auth/basic-cimd":
        args += ["--client-metadata-url", "https://conformance-test.local/client-metadata.json"]
    env = dict(os.environ)
    env["BROWSER"] = f"{sys.executable} {os.path.abspath(__file__)} --browser"
    return args, env


def main() -> int:
    if len(sys.argv) == 3 and sys.argv[1] == "--browser":
        return browser(sys.argv[2])
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
    more, env = auth_args(scenario)
    h = Host([proxy, url, *extra, *more], name="mcp-remote", echo_stderr=True, env=env or None,
             log=lambda s: log(f"{time.monotonic() - t0:6.2f}s {s}"))
    try:
        session = Session(h, version)
        if not session.modern:
            init = h.initialize(protocol_version=version, client_name="mcp-remote-conformance-driver",
                                timeout=REQUEST_TIMEOUT)
            log(f"negotiated {init.get('protocolVersion')}")
        else:
            log(f"2026-era host: no initialize; _meta names {version} on every request")
        tools = session.call("tools/list", {}).get("tools", [])
        log(f"tools: {[t.get('name') for t in tools]}")
        if PAUSE:
            log(f"pausing {PAUSE:g}s before the scenario's calls (MCP_DRIVER_PAUSE)")
            time.sleep(PAUSE)
        action(session, tools, problems)
    except (RequestTimeout, RuntimeError) as e:
        problems.append(str(e))
    finally:
        rc, secs = h.close(timeout=5)
        import shutil
        for store in STORES:
            shutil.rmtree(store, ignore_errors=True)
        log(f"proxy exit code {rc} after {secs:.2f}s")
    if rc != 0:
        problems.append(f"proxy exit code {rc} ({secs:.2f}s after stdin EOF)")
    problems.extend(f"stdout violation: {v}" for v in h.violations)
    for p in problems:
        log(f"PROBLEM: {p}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

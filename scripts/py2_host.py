#!/usr/bin/env python3
"""An MCP host for scripts/interop_checks.py built on the Python SDK 2.x client (PyPI `mcp`
`Client`): it launches mcp-remote over stdio, runs a plan of steps through it and prints one
JSON line per step, like scripts/ts2_host.mjs (same plan, same output; it judges nothing).

    python py2_host.py <auto|legacy> <plan JSON> -- <proxy> <args...>

Run with the interop venv's Python. `auto` is the SDK's default: `server/discover` first, in the
same process (unlike the TypeScript client, no throw-away sibling), then the 2026-07-28 per-request
`_meta`, or `initialize` if the answer is not modern. The proxy's stderr is this process's stderr.

Plan steps: connect, list, call {name, args}, read {uri}, listen {filter, name, args, method, ms}
(see ts2_host.mjs; `touch` is not offered: a modern host hears nothing unsolicited).
"""

from __future__ import annotations

import json
import sys
from contextlib import AsyncExitStack
from typing import Any

import anyio
import mcp_types as types
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from mcp import Client, StdioServerParameters

REQUEST_S = 20.0


def emit(line: dict) -> None:
    sys.stdout.write(json.dumps(line, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def dump(model: Any) -> Any:
    return model.model_dump(mode="json", by_alias=True, exclude_none=True)


async def main(mode: str, plan: list[dict], cmd: list[str]) -> None:
    elicitations = 0

    async def elicit(_ctx: Any, _params: types.ElicitRequestParams) -> types.ElicitResult:
        nonlocal elicitations
        elicitations += 1
        return types.ElicitResult(action="accept", content={"ok": True})

    # cache=None: a list or read the client answered from its cache would not test the proxy.
    client = Client(StdioServerParameters(command=cmd[0], args=cmd[1:]), mode=mode, elicitation_callback=elicit,
                    read_timeout_seconds=REQUEST_S, cache=None,
                    client_info=types.Implementation(name=f"py2-host-{mode}", version="2.3.0"))

    async def connect(_s: dict) -> dict:
        await stack.enter_async_context(client)
        caps = client.server_capabilities
        info = client.server_info
        version = client.protocol_version
        return {"era": "modern" if version in MODERN_PROTOCOL_VERSIONS else "legacy", "version": version,
                "server": dump(info) if info else None, "capabilities": dump(caps)}

    async def list_(_s: dict) -> dict:
        res = await client.list_tools()
        return {"names": [t.name for t in res.tools], "tools": [dump(t) for t in res.tools]}

    async def call(s: dict) -> dict:
        res = await client.call_tool(s["name"], s.get("args") or {})
        return {"result": dump(res), "elicitations": elicitations}

    async def read(s: dict) -> dict:
        return {"result": dump(await client.read_resource(s["uri"]))}

    async def listen(s: dict) -> dict:
        f = s.get("filter") or {}
        async with client.listen(tools_list_changed=bool(f.get("toolsListChanged")),
                                 resources_list_changed=bool(f.get("resourcesListChanged"))) as sub:
            res = await client.call_tool(s["name"], s.get("args") or {})
            notified = False
            with anyio.move_on_after(s["ms"] / 1000):
                async for _event in sub:
                    notified = True
                    break
            return {"honored": dump(sub.honored), "result": dump(res), "notified": notified}

    ops = {"connect": connect, "list": list_, "call": call, "read": read, "listen": listen}
    connected = False
    async with AsyncExitStack() as stack:
        for step in plan:
            if step["op"] != "connect" and not connected:
                emit({"id": step["id"], "ok": False, "error": "not connected"})
                continue
            op = ops.get(step["op"])
            if op is None:
                emit({"id": step["id"], "ok": False, "error": f"op {step['op']} not offered by this host"})
                continue
            try:
                if step["op"] == "connect":
                    # Not under a cancel scope: the client's task group outlives this step. The
                    # read timeout bounds the handshake, and the checks bound this process.
                    value = await op(step)
                else:
                    with anyio.fail_after(REQUEST_S + 15):
                        value = await op(step)
                connected = connected or step["op"] == "connect"
                emit({"id": step["id"], "ok": True, "value": value})
            except Exception as e:  # noqa: BLE001 - every failure is one reported line
                emit({"id": step["id"], "ok": False, "error": f"{type(e).__name__}: {e}"[:600]})


if __name__ == "__main__":
    if "--" not in sys.argv or len(sys.argv) < 5 or sys.argv[1] not in ("auto", "legacy"):
        print("usage: py2_host.py <auto|legacy> <plan JSON> -- <proxy> <args...>", file=sys.stderr)
        sys.exit(2)
    sep = sys.argv.index("--")
    anyio.run(main, sys.argv[1], json.loads(sys.argv[2]), sys.argv[sep + 1:])

#!/usr/bin/env python3
"""Small MCP test servers for scripts/interop.sh, written against the public API of
the Python SDK (PyPI `mcp` 2.x: `mcp.server.mcpserver.MCPServer`, the renamed FastMCP).

    python interop_servers.py stateful  --port 3300   # Streamable HTTP, sessions, SSE responses
    python interop_servers.py stateless --port 3301   # stateless, application/json responses
    python interop_servers.py resumable --port 3302   # stateful + event store: priming events,
                                                      # `retry`, resumption with Last-Event-ID
    python interop_servers.py sse --port 3303         # legacy HTTP+SSE transport (2024-11-05):
                                                      # GET /sse + POST /messages/?session_id=...
    python interop_servers.py dual --port 3401        # stateful, as the SDK serves it: 2025-era
                                                      # `initialize` sessions and, on the same URL,
                                                      # 2026-07-28 stateless requests; + get_weather

All serve http://127.0.0.1:<port>/mcp (legacy `sse`: /sse) and expose:
  tools     echo(text), add(a, b), slow_progress(steps), ask_llm(prompt), ask_user(question),
            whoami()  (reports the process start token, so a test can tell a restarted server),
            interrupted(steps)  (closes its SSE stream halfway; meaningful on `resumable` only),
            fail(message)  (always raises: the result is a tool error, `isError: true`)
            get_weather(city, days)  (`dual` only: city and days carry `x-mcp-header`, so a
                      2026-07-28 call without matching Mcp-Param-City / Mcp-Param-Days headers is
                      rejected with -32020; answers with the arguments and the headers it got)
  resource  interop://greeting           (text/plain)
  prompt    greet(name)
Sampling/elicitation need a back-channel, so they only work on the stateful server.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import anyio
from mcp_types import SamplingMessage, TextContent
from typing import Annotated

from pydantic import BaseModel, Field

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.streamable_http import EventCallback, EventId, EventMessage, EventStore, StreamId

START_TOKEN = f"{os.getpid()}-{time.time_ns()}"


class Answer(BaseModel):
    answer: str = Field(description="What the user typed")


class MemoryEventStore(EventStore):
    """Keeps every event in memory; replays the events of one stream after a given id."""

    def __init__(self) -> None:
        self.events: list[tuple[str, StreamId, object]] = []  # (event id, stream id, message or None)
        self.counter = 0

    async def store_event(self, stream_id: StreamId, message) -> EventId:
        self.counter += 1
        event_id = f"{stream_id}:{self.counter}"
        self.events.append((event_id, stream_id, message))
        return event_id

    async def replay_events_after(self, last_event_id: EventId, send_callback: EventCallback) -> StreamId | None:
        ids = [e[0] for e in self.events]
        if last_event_id not in ids:
            return None
        idx = ids.index(last_event_id)
        stream_id = self.events[idx][1]
        for event_id, sid, message in self.events[idx + 1:]:
            if sid == stream_id and message is not None:
                await send_callback(EventMessage(message, event_id))
        return stream_id


def build(name: str, *, weather: bool = False) -> MCPServer:
    app = MCPServer(name=name, version="0.0.1", instructions="interop test server for mcp-remote")

    @app.tool(description="Return the given text unchanged")
    def echo(text: str) -> str:
        return text

    @app.tool(description="Add two integers")
    def add(a: int, b: int) -> str:
        return str(a + b)

    @app.tool(description="Report progress `steps` times, then return 'done <steps>'")
    async def slow_progress(steps: int, ctx: Context) -> str:
        for i in range(1, steps + 1):
            await ctx.report_progress(i, steps, f"step {i}/{steps}")
            await anyio.sleep(0.05)
        return f"done {steps}"

    @app.tool(description="Ask the client's LLM (sampling/createMessage) and return its text")
    async def ask_llm(prompt: str, ctx: Context) -> str:
        result = await ctx.session.create_message(
            messages=[SamplingMessage(role="user", content=TextContent(type="text", text=prompt))],
            max_tokens=50,
            related_request_id=ctx.request_id,
        )
        content = result.content
        if isinstance(content, list):
            content = content[0]
        return f"llm said: {getattr(content, 'text', content)}"

    @app.tool(description="Ask the user (elicitation/create) and return the answer")
    async def ask_user(question: str, ctx: Context) -> str:
        result = await ctx.elicit(message=question, schema=Answer)
        if result.action == "accept" and result.data is not None:
            return f"user said: {result.data.answer}"
        return f"user {result.action}"

    @app.tool(description="Send progress, close the SSE stream halfway (client must resume), finish")
    async def interrupted(steps: int, ctx: Context) -> str:
        # Events 1..half go out on the POST stream; half+1..half+2 are stored while the client is
        # disconnected (they must be replayed after GET + Last-Event-ID); the rest and the result
        # are sent live on the resumed stream, 1.5 s later. The pause keeps events away from the
        # moment of reconnection: mcp 2.3.0 can drop an event stored while it sets up a replay.
        half = steps // 2
        for i in range(1, steps + 1):
            await ctx.report_progress(i, steps, f"step {i}/{steps}")
            if i == half:
                await anyio.sleep(0.05)
                await ctx.close_sse_stream()
            elif i == half + 2:
                await anyio.sleep(1.5)
        return f"survived {steps}"

    @app.tool(description="Always fail with the given message (a tool error: isError true)")
    def fail(message: str) -> str:
        raise ValueError(message)

    @app.tool(description="Identify this server process")
    def whoami() -> str:
        return START_TOKEN

    if weather:
        @app.tool(description="Weather for a city; city and days are mirrored into Mcp-Param-* headers")
        def get_weather(city: Annotated[str, Field(json_schema_extra={"x-mcp-header": "City"})],
                        ctx: Context,
                        days: Annotated[int, Field(json_schema_extra={"x-mcp-header": "Days"})] = 1) -> str:
            request = ctx.request_context.request
            headers = getattr(request, "headers", None) or {}
            return json.dumps({"city": city, "days": days, "header_city": headers.get("mcp-param-city"),
                               "header_days": headers.get("mcp-param-days")}, ensure_ascii=False)

    @app.resource("interop://greeting", name="greeting", mime_type="text/plain",
                  description="A fixed greeting")
    def greeting() -> str:
        return "hello from the interop server"

    @app.prompt(description="Greet someone")
    def greet(name: str) -> str:
        return f"Please greet {name} warmly."

    return app


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["stateful", "stateless", "resumable", "sse", "dual"])
    ap.add_argument("--retry-ms", type=int, default=300)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--log-level", default="WARNING")
    args = ap.parse_args()
    app = build(f"interop-{args.mode}", weather=args.mode == "dual")
    stateless = args.mode == "stateless"
    print(f"interop server {args.mode} pid={os.getpid()} port={args.port}", file=sys.stderr, flush=True)
    app.settings.log_level = args.log_level
    if args.mode == "sse":
        app.run("sse", host="127.0.0.1", port=args.port)
        return
    extra = {}
    if args.mode == "resumable":
        extra = {"event_store": MemoryEventStore(), "retry_interval": args.retry_ms}
    app.run(
        "streamable-http",
        host="127.0.0.1",
        port=args.port,
        stateless_http=stateless,
        json_response=stateless,
        **extra,
    )


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Interop checks: drive the mcp-remote proxy (through scripts/mcphost.py, and for 2026-07-28
through the SDKs' own clients) against real MCP servers nobody here wrote the transport of:

  py-stateful   scripts/interop_servers.py stateful  (Python SDK, sessions, SSE responses)
  py-resumable  scripts/interop_servers.py resumable (same + event store: priming events, retry,
                mid-call stream close that the client must resume with GET + Last-Event-ID)
  py-stateless  scripts/interop_servers.py stateless (Python SDK, stateless, JSON responses)
  everything    @modelcontextprotocol/server-everything `streamableHttp` (TypeScript SDK)
  py-sse, everything-sse   the same servers on the legacy HTTP+SSE transport (/sse): the proxy's
                fallback (POST /sse fails with 4xx, then GET /sse and the `endpoint` event)
  ts-oauth      the TypeScript SDK's example `simpleStreamableHttp.js --oauth` (MCP server on :3200,
                its demo authorization server on :3201): OAuth sign-in through a headless $BROWSER
                program (this file, run as `interop_checks.py --browser LOG URL`), token reuse,
                --auth-status, --logout
  ts2-strict    scripts/ts2_server.mjs: the TypeScript SDK v2 (`@modelcontextprotocol/server`) in
                modern-only mode (2026-07-28; `initialize` is refused)
  py-dual       scripts/interop_servers.py dual: the Python SDK's dual-era server (2025 sessions
                and 2026-07-28 on the same URL)
                Both are driven by the SDKs' own clients as stdio hosts, each launching the proxy:
                ts-2025 (the TS client's default `initialize`: against ts2-strict the proxy bridges),
                ts-modern (the TS client, version negotiation `auto`) and py-modern (the Python
                client's default `auto`); see run_era. A bridged 2025 host must also hear
                notifications/tools/list_changed (the proxy's own subscriptions/listen).

For py-stateful and everything, the one-shot CLI is checked too (--list-tools, --list-tools
--json, --call with key=value, a tool error -> exit 1).

Normally started by scripts/interop.sh inside a private network namespace. Prints one line per
check (`ok <target>: <check>` / `FAIL <target>: <check>: <reason>`) and finally the line
`N passed, N failed`; exit status 1 if anything failed. Lines starting with `#` are information
(what a server offers; after a FAIL, the last lines the proxy wrote to stderr).

Checks that cannot apply to a server are not run (a stateless JSON-response server has no
back-channel, so no progress / sampling / elicitation / session checks there).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Callable

sys.dont_write_bytecode = True  # no scripts/__pycache__ in the work tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mcphost import Host, HostError, RequestTimeout, _pdeathsig, text_of  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PASSED: list[str] = []
FAILED: list[str] = []
VERBOSE = False


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def dbg(line: str) -> None:
    if VERBOSE:
        sys.stderr.write(f"  [{time.strftime('%H:%M:%S')}] {line}\n")


class CheckFailed(Exception):
    pass


def expect(cond: Any, why: str) -> None:
    if not cond:
        raise CheckFailed(why)


LAST_HOST: list[Host] = []


def explain() -> None:
    """After a failure: show what the most recent proxy printed (as '#' lines)."""
    if not LAST_HOST:
        return
    h = LAST_HOST[-1]
    for v in h.violations[:3]:
        say(f"#   stdout violation: {v[:300]}")
    tail = [l for l in h.stderr_text(6).splitlines() if l.strip()]
    for l in tail[-4:]:
        say(f"#   proxy stderr: {l[:300]}")
    if not h.alive():
        say(f"#   proxy exited with {h.proc.returncode}")


def check(label: str, fn: Callable[[], Any]) -> bool:
    try:
        fn()
    except CheckFailed as e:
        FAILED.append(label)
        say(f"FAIL {label}: {e}")
        explain()
        return False
    except RequestTimeout as e:
        FAILED.append(label)
        say(f"FAIL {label}: timeout: {e}")
        explain()
        return False
    except Exception as e:  # noqa: BLE001 - a harness bug must still show up as one line
        FAILED.append(label)
        say(f"FAIL {label}: {type(e).__name__}: {e}")
        explain()
        if VERBOSE:
            traceback.print_exc()
        return False
    PASSED.append(label)
    say(f"ok {label}")
    return True


# ---------------------------------------------------------------------------- servers
class Server:
    """One server process on a fixed loopback port; start/stop are bounded."""

    def __init__(self, name: str, cmd: list[str], port: int, logdir: str, env: dict | None = None,
                 cwd: str | None = None, path: str = "/mcp", host: str = "127.0.0.1",
                 extra_ports: tuple[int, ...] = ()):
        self.name, self.cmd, self.port, self.env, self.cwd = name, cmd, port, env, cwd
        self.ports = (port,) + tuple(extra_ports)  # all must listen before the server counts as up
        self.url = f"http://{host}:{port}{path}"
        self.logpath = os.path.join(logdir, f"server-{name}.log")
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 30) -> None:
        for p in self.ports:
            wait_port_free(p, 10)
        log = open(self.logpath, "ab")
        log.write(f"\n===== start {time.strftime('%H:%M:%S')} {' '.join(self.cmd)}\n".encode())
        log.flush()
        env = dict(os.environ, **(self.env or {}))
        self.proc = subprocess.Popen(self.cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     env=env, cwd=self.cwd, preexec_fn=_pdeathsig)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server {self.name} exited with {self.proc.returncode}; see {self.logpath}")
            if all(port_open(p) for p in self.ports):
                dbg(f"server {self.name} up on {self.ports} (pid {self.proc.pid})")
                return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"server {self.name} did not listen on {self.ports} within {timeout}s")

    def stop(self) -> None:
        p, self.proc = self.proc, None
        if p and p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)
        for port in self.ports:
            wait_port_free(port, 10)

    def restart(self) -> None:
        self.stop()
        self.start()

    def log_text(self) -> str:
        try:
            with open(self.logpath, encoding="utf-8", errors="replace") as f:
                return f.read()
        except OSError:
            return ""


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_port_free(port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while port_open(port) and time.monotonic() < deadline:
        time.sleep(0.1)


# ---------------------------------------------------------------------------- targets
class Target:
    """What a server offers, with the tool names and arguments to use for each check."""

    def __init__(self, key: str, server: Server, *, echo: tuple[str, str], add: tuple[str, str, str] | None,
                 progress: tuple[str, dict] | None, sampling: tuple[str, dict] | None,
                 elicitation: tuple[str, dict] | None, roots: str | None, session: bool,
                 delete_log: str | None, whoami: str | None = None, discover: bool = False,
                 get_log: str | None = None, resume: tuple[str, dict] | None = None):
        self.key, self.server = key, server
        self.echo, self.add, self.progress, self.sampling = echo, add, progress, sampling
        self.elicitation, self.roots, self.session = elicitation, roots, session
        self.delete_log, self.whoami, self.discover = delete_log, whoami, discover
        self.get_log = get_log
        self.resume = resume
        self.tool_names: list[str] = []  # what tools/list returned through the proxy (set by the first check)


class Ctx:
    def __init__(self, proxy: str, logdir: str, debug: bool):
        self.proxy, self.logdir, self.debug = proxy, logdir, debug
        self.nhost = 0

    def host(self, target: Target, tag: str, extra: list[str] | None = None, env: dict | None = None) -> Host:
        self.nhost += 1
        cmd = [self.proxy, target.server.url] + (extra or []) + (["--debug"] if self.debug else [])
        path = os.path.join(self.logdir, f"proxy-{target.key}-{tag}.stderr")
        h = Host(cmd, name=f"{target.key}/{tag}", stderr_path=path, env=env,
                 log=(lambda s, t=target.key: dbg(f"{t}: {s}")) if VERBOSE else None)
        LAST_HOST.append(h)
        return h


def tool_text(h: Host, name: str, args: dict, timeout: float = 20, meta: dict | None = None) -> str:
    params: dict[str, Any] = {"name": name, "arguments": args}
    if meta:
        params["_meta"] = meta
    resp = h.request("tools/call", params, timeout)
    expect("result" in resp, f"tools/call {name} answered with error {json.dumps(resp.get('error'))[:300]}")
    res = resp["result"]
    expect(not res.get("isError"), f"tools/call {name} returned isError: {text_of(res)[:300]}")
    return text_of(res)


def no_violations(h: Host) -> None:
    expect(not h.violations, "stdout protocol violations: " + " | ".join(h.violations[:5]))


def discover_everything(tools: list[dict]) -> dict:
    names = [t["name"] for t in tools]

    def find(*words: str, avoid: tuple[str, ...] = ("async", "url")) -> str | None:
        for n in names:
            if all(w in n for w in words) and not any(a in n for a in avoid):
                return n
        return None

    found = {
        "echo": find("echo"),
        "add": find("sum") or find("add"),
        "progress": find("long-running") or find("progress"),
        "sampling": find("sampling"),
        "elicitation": find("elicitation"),
        "roots": find("roots"),
    }
    return found


# ---------------------------------------------------------------------------- the checks
def run_target(ctx: Ctx, t: Target) -> None:
    k = t.key
    state: dict[str, Any] = {}

    def fresh(tag: str) -> Host:
        h = ctx.host(t, tag)
        h.initialize()
        return h

    # -- 1. initialize + tools/list
    def c_init() -> None:
        h = ctx.host(t, "main")
        state["h"] = h
        res = h.initialize()
        expect(res.get("protocolVersion"), f"initialize result has no protocolVersion: {json.dumps(res)[:300]}")
        expect(res.get("serverInfo", {}).get("name"), "initialize result has no serverInfo.name")
        tools = h.call("tools/list", {}, 15)["tools"]
        names = [x["name"] for x in tools]
        t.tool_names = names
        say(f"# {k}: negotiated {res['protocolVersion']}, server {res['serverInfo'].get('name')}, "
            f"{len(names)} tools: {', '.join(names)}")
        if t.discover:
            d = discover_everything(tools)
            if not d["sampling"]:
                # server-everything registers its capability-dependent tools while it handles
                # notifications/initialized; a tools/list that overtakes that POST misses them.
                state["ordering"] = (f"the tools/list sent right after notifications/initialized lacked the "
                                     f"capability-dependent tools ({len(names)} tools): the proxy POSTed "
                                     f"tools/list before the notification's POST completed")
                time.sleep(0.5)
                tools = h.call("tools/list", {}, 15)["tools"]
                names = [x["name"] for x in tools]
                t.tool_names = names
                d = discover_everything(tools)
            dbg(f"{k}: discovered {d}")
            t.echo = (d["echo"], "message") if d["echo"] else t.echo
            if d["add"]:
                t.add = (d["add"], "a", "b")
            t.progress = (d["progress"], {"duration": 1, "steps": 4}) if d["progress"] else None
            t.sampling = (d["sampling"], {"prompt": "say hi", "maxTokens": 10}) if d["sampling"] else None
            t.elicitation = (d["elicitation"], {}) if d["elicitation"] else None
            t.roots = d["roots"]
            missing = [x for x in ("echo", "progress", "sampling", "elicitation", "roots") if not d[x]]
            expect(not missing, f"server-everything tools not found by name: {missing} (have {names})")
        else:
            expect(t.echo[0] in names, f"tool {t.echo[0]} not listed: {names}")
        no_violations(h)

    if not check(f"{k}: initialize + tools/list", c_init):
        if "h" in state:
            state["h"].kill()
        return
    h: Host = state["h"]
    if t.discover:
        def c_order() -> None:
            expect("ordering" not in state, state.get("ordering", ""))

        check(f"{k}: stdin order kept: notifications/initialized reaches the server before tools/list", c_order)

    def live() -> Host:
        nonlocal h
        if not h.alive():
            say(f"# {k}: proxy exited (rc {h.proc.returncode}); starting a new one for the next check")
            h = fresh("respawn")
        return h

    # -- 2. echo
    def c_echo() -> None:
        name, arg = t.echo
        txt = tool_text(live(), name, {arg: "héllo wörld ✓ \"quoted\" \\n"})
        expect("héllo wörld ✓ \"quoted\" \\n" in txt, f"echo text not returned: {txt[:200]!r}")

    check(f"{k}: tools/call echo (unicode)", c_echo)

    if t.add:
        def c_add() -> None:
            name, a, b = t.add
            txt = tool_text(live(), name, {a: 20, b: 22})
            expect("42" in txt, f"add result lacks 42: {txt[:200]!r}")

        check(f"{k}: tools/call add", c_add)

    # -- 3. progress before result
    if t.progress:
        def c_progress() -> None:
            hh = live()
            name, args = t.progress
            token = f"prog-{k}-{time.monotonic_ns()}"
            rid = hh.start_request("tools/call", {"name": name, "arguments": args, "_meta": {"progressToken": token}})
            resp = hh.wait_response(rid, 30)
            expect("result" in resp and not resp["result"].get("isError"), f"call failed: {json.dumps(resp)[:300]}")
            rseq = hh.response_seq[rid]
            time.sleep(0.3)  # anything arriving late would be a misordering
            prog = [(s, m) for s, m in hh.notifications_for("notifications/progress")
                    if m.get("params", {}).get("progressToken") == token]
            expect(prog, "no notifications/progress with our token reached stdout")
            late = [s for s, _ in prog if s > rseq]
            expect(not late, f"{len(late)} of {len(prog)} progress notifications arrived after the result")
            vals = [m["params"]["progress"] for _, m in prog]
            expect(vals == sorted(vals), f"progress values out of order: {vals}")

        check(f"{k}: progress notifications arrive before the result", c_progress)

    # -- 3b. the server closes the SSE stream mid-call; the proxy must resume (GET + Last-Event-ID)
    if t.resume:
        def c_resume() -> None:
            hh = live()
            name, args = t.resume
            token = f"resume-{time.monotonic_ns()}"
            t0 = time.monotonic()
            rid = hh.start_request("tools/call", {"name": name, "arguments": args, "_meta": {"progressToken": token}})
            resp = hh.wait_response(rid, 30)
            took = time.monotonic() - t0
            expect("result" in resp and not resp["result"].get("isError"), f"call failed: {json.dumps(resp)[:300]}")
            want = f"survived {args['steps']}"
            expect(want in text_of(resp["result"]), f"result {text_of(resp['result'])[:100]!r}, want {want!r}")
            time.sleep(0.3)
            prog = [(sq, m) for sq, m in hh.notifications_for("notifications/progress")
                    if m.get("params", {}).get("progressToken") == token]
            vals = [m["params"]["progress"] for _, m in prog]
            expect(vals == list(range(1, args["steps"] + 1)),
                   f"progress values {vals} (want each of 1..{args['steps']} exactly once: lost or replayed twice?)")
            expect(all(sq < hh.response_seq[rid] for sq, _ in prog), "progress after the result")
            dbg(f"{k}: resumed call took {took:.2f}s")

        check(f"{k}: server closes the SSE stream mid-call -> proxy resumes, nothing lost or doubled", c_resume)

    # -- 4. sampling
    if t.sampling:
        def c_sampling() -> None:
            hh = live()
            before = len(hh.requests_for("sampling/createMessage"))
            name, args = t.sampling
            txt = tool_text(hh, name, args, 30)
            expect(len(hh.requests_for("sampling/createMessage")) > before,
                   "no sampling/createMessage request reached stdout")
            expect("mock llm answer" in txt, f"tool result does not contain the host's sampling answer: {txt[:300]!r}")

        check(f"{k}: sampling round trip", c_sampling)

    # -- 5. elicitation
    if t.elicitation:
        def c_elicitation() -> None:
            hh = live()
            before = len(hh.requests_for("elicitation/create"))
            orig = hh.handlers["elicitation/create"]

            def answer(p: dict) -> dict:
                res = orig(p)
                if "answer" in (p.get("requestedSchema") or {}).get("properties", {}):
                    res["content"]["answer"] = "forty-two"
                if "name" in res["content"]:
                    res["content"]["name"] = "forty-two"
                return res

            hh.handlers["elicitation/create"] = answer
            try:
                name, args = t.elicitation
                txt = tool_text(hh, name, args, 30)
            finally:
                hh.handlers["elicitation/create"] = orig
            expect(len(hh.requests_for("elicitation/create")) > before, "no elicitation/create request reached stdout")
            expect("forty-two" in txt, f"tool result does not contain the elicited answer: {txt[:300]!r}")

        check(f"{k}: elicitation round trip", c_elicitation)

    # -- 5a. the host's decline / error answers reach the server
    if t.elicitation and t.sampling:
        def c_negative_answers() -> None:
            hh = live()
            orig_e, orig_s = hh.handlers["elicitation/create"], hh.handlers["sampling/createMessage"]
            hh.handlers["elicitation/create"] = lambda p: {"action": "decline"}

            def refuse(p: dict) -> dict:
                raise HostError(-1, "user rejected sampling")

            hh.handlers["sampling/createMessage"] = refuse
            try:
                name, args = t.elicitation
                resp = hh.request("tools/call", {"name": name, "arguments": args}, 30)
                txt = text_of(resp.get("result") or {}) + json.dumps(resp.get("error") or {})
                expect("decline" in txt.lower(), f"declined elicitation not reflected: {txt[:200]!r}")
                name, args = t.sampling
                resp = hh.request("tools/call", {"name": name, "arguments": args}, 30)
                txt = text_of(resp.get("result") or {}) + json.dumps(resp.get("error") or {})
                expect("rejected" in txt or "error" in txt.lower(),
                       f"host's sampling error did not reach the server: {json.dumps(resp)[:300]}")
                expect("mock llm answer" not in txt, "got a sampling answer although the host refused")
            finally:
                hh.handlers["elicitation/create"], hh.handlers["sampling/createMessage"] = orig_e, orig_s

        check(f"{k}: host's elicitation decline and sampling error reach the server", c_negative_answers)

    # -- 5b. roots/list (server-everything asks on its standalone GET stream)
    if t.roots:
        def c_roots() -> None:
            hh = live()
            txt = tool_text(hh, t.roots, {}, 20)
            expect(hh.requests_for("roots/list"), "no roots/list request reached stdout")
            expect("mcphost-root" in txt, f"tool result does not list the host's root: {txt[:300]!r}")

        check(f"{k}: roots/list round trip (server request without a related client request)", c_roots)

    # -- 6. resources
    def c_resources() -> None:
        hh = live()
        res = hh.call("resources/list", {}, 15)["resources"]
        expect(res, "resources/list is empty")
        uri = res[0]["uri"]
        contents = hh.call("resources/read", {"uri": uri}, 15)["contents"]
        expect(contents and contents[0].get("uri") == uri, f"resources/read {uri} gave {json.dumps(contents)[:200]}")
        expect(contents[0].get("text") or contents[0].get("blob"), "resource has no text/blob")

    check(f"{k}: resources/list + resources/read", c_resources)

    # -- 7. prompts
    def c_prompts() -> None:
        hh = live()
        prompts = hh.call("prompts/list", {}, 15)["prompts"]
        expect(prompts, "prompts/list is empty")
        p = next((x for x in prompts if x.get("arguments")
                  and all(a.get("name") in ("name", "city", "state") for a in x["arguments"])), prompts[0])
        args = {a["name"]: "Ada" for a in p.get("arguments") or []}
        got = hh.call("prompts/get", {"name": p["name"], "arguments": args}, 15)
        expect(got.get("messages"), f"prompts/get {p['name']} has no messages")
        if args:
            expect("Ada" in text_of(got), f"prompt text lacks the argument: {text_of(got)[:200]!r}")

    check(f"{k}: prompts/list + prompts/get", c_prompts)

    # -- 8. concurrency
    def c_concurrent() -> None:
        hh = live()
        name, arg = t.echo
        ids = {}
        for i in range(8):
            ids[hh.start_request("tools/call", {"name": name, "arguments": {arg: f"msg-{i}"}})] = f"msg-{i}"
        ids[hh.start_request("tools/list", {})] = None
        ids[hh.start_request("ping", {})] = None
        if t.progress:
            pname, pargs = t.progress
            ids[hh.start_request("tools/call", {"name": pname, "arguments": pargs})] = None
        deadline = time.monotonic() + 40
        for rid, want in ids.items():
            resp = hh.wait_response(rid, max(0.1, deadline - time.monotonic()))
            expect("result" in resp, f"request {rid} got error {json.dumps(resp.get('error'))[:200]}")
            if want:
                got = text_of(resp["result"])
                expect(want in got, f"request {rid} got the wrong answer {got[:100]!r} (wanted {want})")

    check(f"{k}: {10 + bool(t.progress)} concurrent requests all answered with their own ids", c_concurrent)

    # -- 9. a string id and a large payload
    def c_ids() -> None:
        hh = live()
        name, arg = t.echo
        big = "x" * 200_000
        resp = hh.request("tools/call", {"name": name, "arguments": {arg: big}}, 20, id="string-id-ü")
        expect("result" in resp, f"error: {json.dumps(resp.get('error'))[:200]}")
        expect(big in text_of(resp["result"]), "200 kB echo came back altered")

    check(f"{k}: string request id + 200 kB message", c_ids)

    # -- 9b. error pass-through, garbage on stdin, a blocked call does not block others
    def c_unknown_method() -> None:
        hh = live()
        resp = hh.request("no/such-method", {}, 15, id="unknown-1")
        err = resp.get("error")
        expect(err, f"expected the server's JSON-RPC error, got {json.dumps(resp)[:200]}")
        expect(err.get("code") == -32601 and not str(err.get("message", "")).startswith("mcp-remote:"),
               f"expected the server's own -32601 error passed through, got {json.dumps(err)[:200]}")

    check(f"{k}: unknown method -> the server's -32601 error passed through", c_unknown_method)

    def c_garbage() -> None:
        hh = live()
        hh.send_raw(b"this is not json\n\n{\"jsonrpc\":\"2.0\",\"id\":\n")
        name, arg = t.echo
        txt = tool_text(hh, name, {arg: "still alive"}, 15)
        expect("still alive" in txt, f"echo after garbage gave {txt[:100]!r}")
        # a JSON-RPC parse error with id null is an allowed answer to a garbage line
        with hh._lock:
            hh.violations[:] = [v for v in hh.violations
                                if not (v.startswith("response without id") and "-32700" in v)]

    check(f"{k}: garbage stdin lines are survived", c_garbage)

    if t.elicitation:
        def c_blocked() -> None:
            hh = live()
            orig = hh.handlers["elicitation/create"]
            release = threading.Event()

            def slow(p: dict) -> dict:
                release.wait(15)
                return orig(p)

            hh.handlers["elicitation/create"] = slow
            try:
                name, args = t.elicitation
                # counted before the call starts: the elicitation can arrive before
                # start_request returns
                n_el = len(hh.requests_for("elicitation/create"))
                slow_id = hh.start_request("tools/call", {"name": name, "arguments": args})
                expect(hh.wait_for(lambda: len(hh.requests_for("elicitation/create")) > n_el, 15),
                       "no elicitation/create arrived")
                ename, earg = t.echo
                t0 = time.monotonic()
                ids = [hh.start_request("tools/call", {"name": ename, "arguments": {earg: f"b{i}"}}) for i in range(5)]
                for rid in ids:
                    r = hh.wait_response(rid, 10)
                    expect("result" in r, f"echo during blocked call failed: {json.dumps(r)[:200]}")
                took = time.monotonic() - t0
                release.set()
                r = hh.wait_response(slow_id, 15)
                expect("result" in r, f"blocked call failed after release: {json.dumps(r)[:200]}")
                # a blocked proxy would take the host's full 15 s
                expect(took < 10, f"echo calls took {took:.1f}s while another call waited for the host")
            finally:
                release.set()
                hh.handlers["elicitation/create"] = orig

        check(f"{k}: a call waiting on the host does not block other calls", c_blocked)

    def c_many() -> None:
        hh = live()
        name, arg = t.echo
        ids = {hh.start_request("tools/call", {"name": name, "arguments": {arg: f"many-{i}"}}): f"many-{i}"
               for i in range(40)}
        deadline = time.monotonic() + 40
        for rid, want in ids.items():
            r = hh.wait_response(rid, max(0.1, deadline - time.monotonic()))
            expect("result" in r and want in text_of(r["result"]), f"request {rid}: {json.dumps(r)[:200]}")

    check(f"{k}: 40 requests in flight at once", c_many)

    def c_clean() -> None:
        no_violations(h)

    check(f"{k}: stdout carried only JSON-RPC lines", c_clean)

    # -- 10. stdin EOF -> exit 0 within 2 s (+ DELETE seen by the server)
    def c_eof() -> None:
        before = len(re.findall(t.delete_log, t.server.log_text())) if t.delete_log else 0
        rc, secs = h.close(timeout=5)
        expect(rc == 0 and secs <= 2.0, f"exit code {rc} after {secs:.2f}s (want 0 within 2s)")
        if t.delete_log:
            deadline = time.monotonic() + 2
            while time.monotonic() < deadline:
                if len(re.findall(t.delete_log, t.server.log_text())) > before:
                    break
                time.sleep(0.1)
            else:
                raise CheckFailed("exit ok, but the server never saw a DELETE for the session")

    check(f"{k}: stdin EOF -> exit 0 within 2s" + (" and DELETE sent" if t.delete_log else ""), c_eof)

    # -- 10b. stdin EOF while a call is still running
    if t.progress:
        def c_eof_inflight() -> None:
            hh = fresh("eof-inflight")
            pname, pargs = t.progress
            big = dict(pargs)
            if "steps" in big and "duration" not in big:
                big["steps"] = 200  # ~10 s
            else:
                big.update(duration=10, steps=10)
            before = len(re.findall(t.delete_log, t.server.log_text())) if t.delete_log else 0
            rid = hh.start_request("tools/call", {"name": pname, "arguments": big})
            time.sleep(1)
            rc, secs = hh.close(timeout=5)
            expect(rc == 0 and secs <= 2.0, f"exit code {rc} after {secs:.2f}s with a call in flight (want 0 within 2s)")
            if rid in hh.responses:
                err = hh.responses[rid].get("error") or {}
                expect(str(err.get("message", "")).startswith("mcp-remote:"),
                       f"in-flight call answered with {json.dumps(hh.responses[rid])[:200]}")
            if t.delete_log:
                deadline = time.monotonic() + 2
                while len(re.findall(t.delete_log, t.server.log_text())) <= before:
                    expect(time.monotonic() < deadline, "exit ok, but the server never saw a DELETE for the session")
                    time.sleep(0.1)

        check(f"{k}: stdin EOF with a call in flight -> exit 0 within 2s"
              + (" and DELETE sent" if t.delete_log else ""), c_eof_inflight)

    # -- 11. session loss: restart the server between two calls
    if t.session:
        def c_session_loss() -> None:
            hh = fresh("restart")
            try:
                name, arg = t.echo
                tool_text(hh, name, {arg: "before"})
                tok1 = tool_text(hh, t.whoami, {}) if t.whoami else None
                t.server.restart()
                txt = tool_text(hh, name, {arg: "after restart"}, 30)
                expect("after restart" in txt, f"echo after restart gave {txt[:200]!r}")
                if t.whoami:
                    tok2 = tool_text(hh, t.whoami, {})
                    expect(tok1 != tok2, "whoami unchanged: server did not really restart?")
                txt = tool_text(hh, name, {arg: "again"}, 15)
                expect("again" in txt, "second call after re-initialize failed")
                if t.sampling:  # the replayed initialize must carry the host's capabilities
                                # (server-everything only offers its sampling tool if it does)
                    sname, sargs = t.sampling
                    txt = tool_text(hh, sname, sargs, 30)
                    expect("mock llm answer" in txt, f"sampling after re-initialize gave {txt[:200]!r}")
                no_violations(hh)
                if t.get_log:
                    n0 = len(re.findall(t.get_log, t.server.log_text()))
                    time.sleep(3)
                    n1 = len(re.findall(t.get_log, t.server.log_text()))
                    expect(n1 - n0 <= 3, f"{n1 - n0} GET requests in 3 idle seconds after the restart (reconnect loop?)")
            finally:
                hh.close(3)

        check(f"{k}: session lost (server restarted) -> transparent re-initialize", c_session_loss)

    # -- 12. server stopped -> mcp-remote error, proxy keeps running; recovers when it is back
    down: dict[str, Host] = {}

    def c_server_down() -> None:
        hh = down["h"] = fresh("down")
        name, arg = t.echo
        tool_text(hh, name, {arg: "up"})
        t.server.stop()
        t0 = time.monotonic()
        resp = hh.request("tools/call", {"name": name, "arguments": {arg: "down"}}, 45)
        took = time.monotonic() - t0
        if took > 5:
            say(f"# {k}: the request sent while the server was down was answered after {took:.1f}s")
        err = resp.get("error")
        expect(err, f"expected an error while the server is down, got {json.dumps(resp)[:300]}")
        expect(str(err.get("message", "")).startswith("mcp-remote:"),
               f"error message does not start with 'mcp-remote:': {json.dumps(err)[:300]}")
        time.sleep(0.5)
        expect(hh.alive(), f"proxy exited (rc {hh.proc.returncode}) after the failed request")
        resp = hh.request("ping", {}, 45)
        expect("error" in resp or "result" in resp, "no answer to ping while down")

    def c_server_back() -> None:
        hh = down.get("h")
        expect(hh is not None and hh.alive(), "no live proxy left from the previous check")
        t.server.start()
        name, arg = t.echo
        txt = tool_text(hh, name, {arg: "back"}, 30)
        expect("back" in txt, f"call after server came back gave {txt[:200]!r}")
        no_violations(hh)

    try:
        check(f"{k}: server stopped -> 'mcp-remote:' error, proxy keeps running", c_server_down)
        check(f"{k}: server restarted after an outage -> the same proxy works again", c_server_back)
    finally:
        if t.server.proc is None:
            t.server.start()
        if "h" in down:
            down["h"].close(3)


def run_url_forms(ctx: Ctx, t: Target) -> None:
    def c_localhost() -> None:
        url = t.server.url.replace("127.0.0.1", "localhost")
        h = Host([ctx.proxy, url], name="localhost", stderr_path=os.path.join(ctx.logdir, "proxy-localhost.stderr"))
        LAST_HOST.append(h)
        try:
            h.initialize()
            name, arg = t.echo
            expect("via localhost" in tool_text(h, name, {arg: "via localhost"}), "echo via localhost failed")
            rc, secs = h.close(5)
            expect(rc == 0, f"exit code {rc}")
        finally:
            h.kill()

    check(f"{t.key}: http://localhost URL (server bound to 127.0.0.1 only; ::1 refuses)", c_localhost)

    def c_refuse_plain_http() -> None:
        h = Host([ctx.proxy, "http://192.0.2.1:3300/mcp"], name="plain-http",
                 stderr_path=os.path.join(ctx.logdir, "proxy-plain-http.stderr"))
        LAST_HOST.append(h)
        try:
            rid = h.start_request("initialize", {"protocolVersion": "2025-11-25", "capabilities": {},
                                                 "clientInfo": {"name": "x", "version": "1"}})
        except OSError:
            rid = None
        try:
            if h.wait_for(lambda: h.eof, 5):
                h.proc.wait(5)
                expect(h.proc.returncode != 0, "proxy exited 0 although it refused the URL")
                expect(rid is None or rid not in h.responses or "error" in h.responses[rid],
                       "initialize succeeded over plain http to a non-loopback host")
            else:
                resp = h.wait_response(rid, 1) if rid is not None else {}
                expect("error" in resp, f"initialize over plain http to a non-loopback host gave {json.dumps(resp)[:200]}")
            expect(not h.violations, f"stdout violations: {h.violations[:2]}")
        finally:
            h.kill()

    check("plain http:// to a non-loopback host is refused without a flag", c_refuse_plain_http)


def run_versions(ctx: Ctx, t: Target) -> None:
    for ver in ("2025-03-26", "2025-06-18", "2025-11-25"):
        def c() -> None:
            h = ctx.host(t, f"v{ver}")
            try:
                res = h.initialize(protocol_version=ver)
                expect(res.get("protocolVersion") == ver, f"negotiated {res.get('protocolVersion')}")
                name, arg = t.echo
                txt = tool_text(h, name, {arg: ver})
                expect(ver in txt, f"echo gave {txt[:100]!r}")
                if t.progress:
                    pname, pargs = t.progress
                    tool_text(h, pname, pargs, 30, meta={"progressToken": 7})
                    expect(h.notifications_for("notifications/progress"), "no progress notifications")
                no_violations(h)
                rc, secs = h.close(5)
                expect(rc == 0, f"exit code {rc} after {secs:.2f}s")
            finally:
                h.kill()

        check(f"{t.key}: protocol {ver}: initialize, tools/call, progress, clean exit", c)


# ---------------------------------------------------------------------------- one-shot CLI
class Cli:
    """The result of one bounded run of `mcp-remote <url> <one-shot flags>`."""

    def __init__(self, argv: list[str], rc: int | None, out: str, err: str, secs: float):
        self.argv, self.rc, self.out, self.err, self.secs = argv, rc, out, err, secs

    def tail(self, n: int = 3) -> str:
        lines = [l for l in self.err.splitlines() if l.strip()]
        errs = [l for l in lines if "error" in l.lower()] or lines
        return " | ".join(l[:300] for l in errs[-n:]) or "(no stderr)"

    def expect_rc(self, want: int) -> None:
        if self.rc is None:
            raise CheckFailed(f"`{' '.join(self.argv[1:])}` still running after {self.secs:.0f}s (killed); "
                              f"stderr: {self.tail()}")
        expect(self.rc == want, f"`{' '.join(self.argv[1:])}` exited {self.rc} (want {want}); stderr: {self.tail()}")


def run_oneshot(ctx: Ctx, tag: str, args: list[str], *, env: dict | None = None, timeout: float = 45,
                debug: bool | None = None) -> Cli:
    """Run the proxy binary once with `args` (URL first), stdin closed; killed after `timeout`.
    stdout and stderr are kept and also written to <logdir>/cli-<tag>.log."""
    argv = [ctx.proxy] + args + (["--debug"] if (ctx.debug if debug is None else debug) else [])
    t0 = time.monotonic()
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         env=env, preexec_fn=_pdeathsig)
    try:
        out_b, err_b = p.communicate(timeout=timeout)
        rc: int | None = p.returncode
    except subprocess.TimeoutExpired:
        p.kill()
        out_b, err_b = p.communicate(timeout=10)
        rc = None
    secs = time.monotonic() - t0
    out, err = out_b.decode("utf-8", "replace"), err_b.decode("utf-8", "replace")
    with open(os.path.join(ctx.logdir, f"cli-{tag}.log"), "a", encoding="utf-8") as f:
        f.write(f"===== {' '.join(argv)}\n===== exit {rc} after {secs:.2f}s\n----- stdout\n{out}\n----- stderr\n{err}\n")
    dbg(f"cli {tag}: exit {rc} after {secs:.2f}s")
    return Cli(argv, rc, out, err, secs)


def table_names(out: str) -> list[str]:
    """The first column of the --list-tools table (the lines after the `TOOL ...` header)."""
    lines = out.splitlines()
    heads = [i for i, l in enumerate(lines) if l.split()[:1] == ["TOOL"]]
    if not heads:
        return []
    return [l.split()[0] for l in lines[heads[0] + 1:] if l.strip() and not l.startswith(" ")]


def run_cli(ctx: Ctx, t: Target) -> None:
    """The one-shot commands (`--list-tools`, `--call`) against a running server."""
    k, url = t.key, t.server.url
    # server-everything offers its sampling / elicitation / roots tools only to a client that declares
    # those capabilities, which the one-shot commands do not
    cap_tools = {x[0] for x in (t.sampling, t.elicitation) if x} | ({t.roots} if t.roots else set())
    want = [n for n in (t.tool_names or [t.echo[0]]) if not (t.discover and n in cap_tools)]
    got: dict[str, list[str]] = {}

    def c_list() -> None:
        r = run_oneshot(ctx, f"{k}-list-tools", [url, "--list-tools"])
        r.expect_rc(0)
        names = table_names(r.out)
        got["table"] = names
        missing = [n for n in want if n not in names]
        expect(not missing, f"tools missing from the table: {missing}; stdout: {r.out[:400]!r}")

    check(f"{k}: one-shot --list-tools: exit 0, every tool in the table", c_list)

    def c_list_json() -> None:
        r = run_oneshot(ctx, f"{k}-list-tools-json", [url, "--list-tools", "--json"])
        r.expect_rc(0)
        try:
            doc = json.loads(r.out)
        except ValueError as e:
            raise CheckFailed(f"stdout is not JSON ({e}): {r.out[:300]!r}")
        expect(isinstance(doc, dict) and isinstance(doc.get("tools"), list), f"no `tools` array: {r.out[:300]!r}")
        names = [x.get("name") for x in doc["tools"] if isinstance(x, dict)]
        missing = [n for n in want if n not in names]
        expect(not missing, f"tools missing from the JSON: {missing}")
        expect(all(isinstance(x.get("inputSchema"), dict) for x in doc["tools"]), "a tool without inputSchema")
        if "table" in got:
            expect(sorted(names) == sorted(got["table"]),
                   f"--json lists {sorted(names)}, the table {sorted(got['table'])}")

    check(f"{k}: one-shot --list-tools --json: a JSON object with a `tools` array", c_list_json)

    def c_call() -> None:
        name, arg = t.echo
        text = "héllo wörld ✓ a=b"
        r = run_oneshot(ctx, f"{k}-call", [url, "--call", name, f"{arg}={text}"])
        r.expect_rc(0)
        expect(text in r.out, f"stdout lacks the echoed text: {r.out[:300]!r}")

    check(f"{k}: one-shot --call {t.echo[0]} {t.echo[1]}=...: exit 0, the echoed text on stdout", c_call)

    if t.key.startswith("py-"):  # the Python servers have fail(message), which always raises
        def c_tool_error() -> None:
            r = run_oneshot(ctx, f"{k}-call-fail", [url, "--call", "fail", "message=deliberate failure 7"])
            r.expect_rc(1)
            expect("deliberate failure 7" in r.out + r.err, f"the tool's error text is not shown: "
                                                          f"stdout {r.out[:200]!r}, stderr {r.tail()}")

        check(f"{k}: one-shot --call of a tool that fails (isError) -> exit 1 and its message", c_tool_error)
    elif t.discover:  # server-everything has no failing tool; the SDK answers invalid arguments with isError
        def c_tool_error() -> None:
            name, arg = t.echo
            r = run_oneshot(ctx, f"{k}-call-invalid", [url, "--call", name, json.dumps({arg: 12345})])
            r.expect_rc(1)
            expect("12345" not in r.out, f"stdout has a result: {r.out[:200]!r}")

        check(f"{k}: one-shot --call with arguments the server rejects (isError result) -> exit 1", c_tool_error)


# ---------------------------------------------------------------------------- OAuth
def browser_main(argv: list[str]) -> int:
    """`interop_checks.py --browser LOG URL`: the BROWSER program of the OAuth checks. mcp-remote runs
    it (without a shell, output discarded) with the authorization URL; it records the call in LOG
    (one JSON object per line), then follows the URL like a browser whose user has already consented:
    the demo authorization server redirects to mcp-remote's loopback callback with the code."""
    if len(argv) < 2:
        print("usage: interop_checks.py --browser LOG URL", file=sys.stderr)
        return 2
    log, url = argv[0], argv[-1]

    def note(**rec: Any) -> None:
        with open(log, "a", encoding="utf-8") as f:
            f.write(json.dumps(rec) + "\n")

    note(event="open", url=url, pid=os.getpid())
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback only: no proxies
    try:
        with opener.open(url, timeout=15) as r:
            body = r.read(4000).decode("utf-8", "replace")
            note(event="done", status=r.status, final_url=r.geturl(), body=body[:300])
    except urllib.error.HTTPError as e:
        note(event="done", status=e.code, final_url=e.geturl(), body=e.read(4000).decode("utf-8", "replace")[:300])
        return 1
    except Exception as e:  # noqa: BLE001 - recorded for the check to report
        note(event="error", error=repr(e))
        return 1
    return 0


def browser_events(log: str) -> list[dict]:
    try:
        with open(log, encoding="utf-8") as f:
            return [json.loads(l) for l in f if l.strip()]
    except OSError:
        return []


def stored_secrets(cfg: str) -> tuple[list[str], list[str]]:
    """(the stored state files under a --config-dir, the secret strings in them)."""
    files, secrets = [], []
    for d, _, fs in os.walk(cfg):
        for f in fs:
            path = os.path.join(d, f)
            files.append(os.path.relpath(path, cfg))
            if f.endswith(".json"):
                try:
                    with open(path, encoding="utf-8") as fh:
                        doc = json.load(fh)
                except (OSError, ValueError):
                    continue
                for key in ("access_token", "refresh_token", "client_secret", "registration_access_token"):
                    v = doc.get(key) if isinstance(doc, dict) else None
                    if isinstance(v, str) and len(v) >= 6:
                        secrets.append(v)
    return sorted(files), secrets


def run_oauth(ctx: Ctx, t: Target, as_origin: str) -> None:
    """Sign-in against the TS SDK's OAuth example, then reuse, --auth-status, --logout."""
    k, url = t.key, t.server.url
    tmp = tempfile.mkdtemp(prefix="mcp-remote-interop-oauth-")
    cfg = os.path.join(tmp, "config")  # a fresh --config-dir (created by mcp-remote)
    blog = os.path.join(ctx.logdir, f"browser-{k}.log")
    browser = [sys.executable, os.path.abspath(__file__), "--browser", blog]
    env = dict(os.environ, BROWSER=" ".join(browser))
    auth = ["--config-dir", cfg, "--auth-timeout", "30s"]
    callback_re = re.compile(r"^http://(127\.0\.0\.1|localhost|\[::1\]):\d+/")

    def opens() -> list[dict]:
        return [e for e in browser_events(blog) if e.get("event") == "open"]

    def expect_opens(n: int, when: str) -> None:
        got = opens()
        expect(len(got) == n, f"the browser program was started {len(got)} times {when} (want {n})")

    def expect_browser_done(n: int) -> None:
        """The n-th browser run reached mcp-remote's callback and got its page (bounded wait)."""
        deadline = time.monotonic() + 10
        while True:
            done = [e for e in browser_events(blog) if e.get("event") in ("done", "error")]
            if len(done) >= n or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        expect(len(done) >= n, f"browser program run {n} did not finish within 10s")
        e = done[n - 1]
        expect(e.get("event") == "done" and e.get("status") == 200 and callback_re.match(e.get("final_url", ""))
               and "/callback" in e.get("final_url", ""),
               f"browser program run {n} did not end on the loopback callback with 200: {json.dumps(e)[:300]}")

    try:
        if any(c.isspace() for c in "".join(browser)):
            raise CheckFailed(f"a path has whitespace, so BROWSER cannot be split on spaces: {browser}")

        def c_signin() -> None:
            h = ctx.host(t, "signin", auth, env)
            try:
                res = h.initialize(timeout=60)
                expect(res.get("serverInfo", {}).get("name"), f"initialize result {json.dumps(res)[:200]}")
                expect_opens(1, "for the first run")
                o = opens()[0]["url"]
                expect(o.startswith(as_origin + "/authorize?"), f"authorization URL {o[:200]!r} is not {as_origin}/authorize")
                q = urllib.parse.parse_qs(urllib.parse.urlsplit(o).query)
                expect(q.get("code_challenge_method") == ["S256"] and q.get("code_challenge"),
                       f"no S256 PKCE challenge in the authorization URL: {o[:300]!r}")
                expect(q.get("resource") == [url], f"resource parameter {q.get('resource')} (want {url!r})")
                expect_browser_done(1)
                names = [x["name"] for x in h.call("tools/list", {}, 15)["tools"]]
                t.tool_names = names
                expect(t.echo[0] in names, f"tool {t.echo[0]} not listed: {names}")
                name, arg = t.echo
                txt = tool_text(h, name, {arg: "wörld ✓"})
                expect("wörld ✓" in txt, f"{name} gave {txt[:200]!r}")
                no_violations(h)
                rc, secs = h.close(5)
                expect(rc == 0, f"exit code {rc} after {secs:.2f}s")
                files, secrets = stored_secrets(cfg)
                expect(secrets, f"no token stored under --config-dir (files: {files})")
                say(f"# {k}: signed in; stored {', '.join(files)}; tools: {', '.join(names)}")
            finally:
                h.kill()

        if not check(f"{k}: first run: HTTP 401 -> sign-in through $BROWSER (started once), "
                     f"then tools/list + tools/call", c_signin):
            return

        def c_reuse() -> None:
            h = ctx.host(t, "reuse", auth, env)
            try:
                h.initialize(timeout=30)
                name, arg = t.echo
                expect("again" in tool_text(h, name, {arg: "again"}), "tools/call failed")
                no_violations(h)
                rc, secs = h.close(5)
                expect(rc == 0, f"exit code {rc} after {secs:.2f}s")
                expect_opens(1, "after the second run")
            finally:
                h.kill()

        check(f"{k}: second run with the same --config-dir reuses the stored token (no browser)", c_reuse)

        def c_oneshot_reuse() -> None:
            name, arg = t.echo
            r = run_oneshot(ctx, f"{k}-call", [url, "--call", name, f"{arg}=one shot"] + auth, env=env)
            r.expect_rc(0)
            expect("one shot" in r.out, f"stdout {r.out[:200]!r}")
            expect_opens(1, "after the one-shot --call")

        check(f"{k}: one-shot --call with the stored token (no browser)", c_oneshot_reuse)

        def c_status() -> None:
            files, secrets = stored_secrets(cfg)
            expect(secrets, f"nothing secret stored to compare with (files: {files})")
            r = run_oneshot(ctx, f"{k}-auth-status", [url, "--auth-status"] + auth, env=env, debug=False)
            r.expect_rc(0)
            both = r.out + r.err
            expect(as_origin in both, f"no issuer ({as_origin}) in the output: {both[:400]!r}")
            leaked = [s[:4] + "…" for s in secrets if s in both]
            expect(not leaked, f"--auth-status printed stored secrets ({leaked})")
            expect_opens(1, "after --auth-status")

        check(f"{k}: --auth-status shows the issuer and no token", c_status)

        def c_logout() -> None:
            r = run_oneshot(ctx, f"{k}-logout", [url, "--logout"] + auth, env=env, debug=False)
            r.expect_rc(0)
            files, secrets = stored_secrets(cfg)
            expect(not secrets and not [f for f in files if f.endswith(".json")],
                   f"state left under --config-dir after --logout: {files}")
            r = run_oneshot(ctx, f"{k}-auth-status-after-logout", [url, "--auth-status"] + auth, env=env, debug=False)
            r.expect_rc(0)
            expect("expires" not in r.out + r.err, f"--auth-status after --logout: {(r.out + r.err)[:300]!r}")
            # and the next run has to sign in again
            name, arg = t.echo
            r = run_oneshot(ctx, f"{k}-call-after-logout", [url, "--call", name, f"{arg}=signed in again"] + auth, env=env)
            r.expect_rc(0)
            expect("signed in again" in r.out, f"stdout {r.out[:200]!r}")
            expect_opens(2, "after --logout and one more run")
            expect_browser_done(2)

        check(f"{k}: --logout removes the stored state; the next run signs in again", c_logout)

        # RFC 9728 §3.3 (checklist B5): the PRM names http://localhost:3200/mcp, so the same server
        # reached as 127.0.0.1 must not get a sign-in (no authorization request, no browser).
        def c_mismatch() -> None:
            other = url.replace("://localhost:", "://127.0.0.1:")
            n = len(opens())
            r = run_oneshot(ctx, f"{k}-resource-mismatch",
                            [other, "--list-tools", "--config-dir", os.path.join(tmp, "config2"),
                             "--auth-timeout", "10s"], env=env, timeout=40)
            expect(r.rc not in (0, None), f"exit {r.rc} (want a failure); stderr: {r.tail()}")
            expect_opens(n, f"for {other}")
            expect("resource" in r.err.lower(), f"stderr does not say why: {r.tail()}")

        check(f"{k}: the same server as 127.0.0.1 (PRM resource says localhost) -> no sign-in, exit non-zero",
              c_mismatch)
    except CheckFailed as e:
        FAILED.append(f"{k}: setup")
        say(f"FAIL {k}: setup: {e}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# ---------------------------------------------------------------------------- 2026-07-28 era
# The SDKs' own clients as stdio hosts (scripts/ts2_host.mjs, scripts/py2_host.py) launch the
# proxy against servers that speak 2026-07-28. Each host run executes a plan and prints one JSON
# line per step; the checks below judge those lines.
ERA_ECHO = "héllo wörld ✓ \"quoted\""
CFG_JSON = '{"name":"interop","version":3}'  # file:///cfg.json in scripts/ts2_server.mjs
TOUCH = {"name": "touch_tools", "method": "notifications/tools/list_changed", "ms": 5000}


class EraHosts:
    """How to start each host: (label, runner, negotiation mode, the era it ends up in)."""

    def __init__(self, node: str, ts2_dir: str, python: str):
        self.node, self.ts2_dir, self.python = node, ts2_dir, python

    HOSTS = {
        # the TypeScript client's default: the 2025 `initialize` handshake
        "ts-2025": ("ts", "legacy", "legacy"),
        # the TypeScript client with versionNegotiation auto: server/discover on a throw-away
        # sibling proxy process, then the session in a second one
        "ts-modern": ("ts", "auto", "modern"),
        # the Python client's default (auto): server/discover in place, in the same process
        "py-modern": ("py", "auto", "modern"),
    }

    def command(self, host: str, plan: list[dict], proxy_cmd: list[str], stderr_path: str) -> list[str]:
        kind, mode, _ = self.HOSTS[host]
        if kind == "ts":
            return [self.node, os.path.join(ROOT, "scripts/ts2_host.mjs"), self.ts2_dir, mode, json.dumps(plan),
                    stderr_path, "--"] + proxy_cmd
        return [self.python, os.path.join(ROOT, "scripts/py2_host.py"), mode, json.dumps(plan), "--"] + proxy_cmd


class HostRun:
    """The JSON lines of one bounded host run, by step id."""

    def __init__(self, steps: dict[str, dict], rc: int | None, stderr_path: str, secs: float):
        self.steps, self.rc, self.stderr_path, self.secs = steps, rc, stderr_path, secs

    def tail(self, n: int = 4) -> list[str]:
        try:
            with open(self.stderr_path, encoding="utf-8", errors="replace") as f:
                lines = [l.rstrip() for l in f if l.strip()]
        except OSError:
            return []
        return [l[:300] for l in lines[-n:]]

    def value(self, sid: str) -> Any:
        r = self.steps.get(sid)
        if r is None:
            how = "was killed after 100s" if self.rc is None else f"exited with {self.rc}"
            raise CheckFailed(f"the host printed nothing for step {sid!r} (it {how})")
        expect(r.get("ok"), f"step {sid!r} failed in the host: {r.get('error')}")
        return r.get("value") or {}


def run_host(ctx: Ctx, hosts: EraHosts, host: str, url: str, tag: str, plan: list[dict]) -> HostRun:
    stderr_path = os.path.join(ctx.logdir, f"proxy-{tag}.stderr")
    cmd = hosts.command(host, plan, [ctx.proxy, url] + (["--debug"] if ctx.debug else []), stderr_path)
    t0 = time.monotonic()
    with open(stderr_path, "ab") as err:
        # The Python host passes the proxy's stderr through its own; the TypeScript host writes
        # the proxy's into the same file itself, and its own client errors come here.
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err, preexec_fn=_pdeathsig)
        try:
            out, _ = p.communicate(timeout=100)
            rc: int | None = p.returncode
        except subprocess.TimeoutExpired:
            p.kill()
            out, _ = p.communicate(timeout=10)
            rc = None
    steps: dict[str, dict] = {}
    for line in out.decode("utf-8", "replace").splitlines():
        try:
            msg = json.loads(line)
        except ValueError:
            continue
        if isinstance(msg, dict) and "id" in msg:
            steps[str(msg["id"])] = msg
    secs = time.monotonic() - t0
    dbg(f"{tag}: host exit {rc} after {secs:.1f}s, {len(steps)} steps")
    return HostRun(steps, rc, stderr_path, secs)


def tool_json(v: dict) -> dict:
    """The JSON text a get_weather result carries (both servers answer that way)."""
    res = v.get("result") or {}
    expect(not res.get("isError"), f"isError result: {text_of(res)[:300]!r}")
    try:
        doc = json.loads(text_of(res))
    except ValueError:
        raise CheckFailed(f"result text is not JSON: {text_of(res)[:200]!r}")
    expect(isinstance(doc, dict), f"result text is not an object: {text_of(res)[:200]!r}")
    return doc


def sentinel_decodes_to(header: Any, want: str) -> bool:
    if not (isinstance(header, str) and header.startswith("=?base64?") and header.endswith("?=")):
        return False
    try:
        return base64.b64decode(header[9:-2], validate=True).decode("utf-8") == want
    except ValueError:
        return False


def run_era(ctx: Ctx, hosts: EraHosts, key: str, server: Server) -> None:
    """One 2026-07-28-capable server driven by each host. `ts2-strict` is the TypeScript SDK's
    modern-only server (a 2025 host gets through only by the proxy's bridge); `py-dual` is the
    Python SDK's dual-era server (a 2025 host gets its own 2025 session)."""
    strict = key == "ts2-strict"
    for host, (_, _, era) in EraHosts.HOSTS.items():
        k = f"{key}/{host}"
        modern = era == "modern"
        plan: list[dict] = [
            {"id": "connect", "op": "connect"},
            {"id": "first", "op": "call", "name": "get_weather", "args": {"city": "Seattle"}},
            {"id": "list", "op": "list"},
            {"id": "echo", "op": "call", "name": "echo", "args": {"text": ERA_ECHO}},
            {"id": "weather", "op": "call", "name": "get_weather", "args": {"city": "Lyon", "days": 3}},
            {"id": "utf8", "op": "call", "name": "get_weather", "args": {"city": "Zürich", "days": 2}},
        ]
        if strict:
            plan += [{"id": "confirm", "op": "call", "name": "confirm", "args": {"action": "deploy"}},
                     {"id": "read", "op": "read", "uri": "file:///cfg.json"}]
            if modern:
                plan.append({"id": "listen", "op": "listen", "filter": {"toolsListChanged": True}, **TOUCH})
            else:
                plan.append({"id": "touch", "op": "touch", **TOUCH})
        else:
            plan += [{"id": "add", "op": "call", "name": "add", "args": {"a": 20, "b": 22}},
                     {"id": "read", "op": "read", "uri": "interop://greeting"}]
        run = run_host(ctx, hosts, host, server.url, k.replace("/", "-"), plan)

        def era_check(label: str, fn: Callable[[], None]) -> None:
            if not check(f"{k}: {label}", fn):
                for l in run.tail():
                    say(f"#   proxy/host stderr: {l}")

        def c_connect() -> None:
            v = run.value("connect")
            want = ("modern", "2026-07-28") if modern else ("legacy", "2025-11-25")
            expect((v.get("era"), v.get("version")) == want,
                   f"era {v.get('era')} version {v.get('version')} (want {want[0]} {want[1]})")
            name = (v.get("server") or {}).get("name")
            expect(name == f"interop-{'ts2' if strict else 'dual'}", f"serverInfo.name {name!r}")
            expect("tools" in (v.get("capabilities") or {}), f"no tools capability: {v.get('capabilities')}")
            say(f"# {k}: {v.get('era')} {v.get('version')} with {name}")

        how = {
            "ts-2025": ("initialize answered by the proxy from server/discover (the server refuses 2025)"
                        if strict else "initialize (the server's own 2025 session)"),
            "ts-modern": "server/discover on a throw-away proxy process, then 2026-07-28 requests",
            "py-modern": "server/discover in place, then 2026-07-28 requests",
        }[host]
        era_check(f"connect: {how}", c_connect)

        def weather(sid: str, city: str, days: int | None) -> dict:
            doc = tool_json(run.value(sid))
            expect(doc.get("city") == city, f"city {doc.get('city')!r} (want {city!r})")
            if days is not None:
                expect(doc.get("days") == days, f"days {doc.get('days')!r} (want {days})")
            return doc

        # The strict server and the modern path of the dual one refuse a call whose
        # Mcp-Param-City is missing; the proxy has not seen tools/list yet, so it must list
        # the tools itself after the -32020 and retry.
        def c_first() -> None:
            doc = weather("first", "Seattle", None)
            if strict or modern:
                expect(doc.get("header_city") == "Seattle", f"Mcp-Param-City was {doc.get('header_city')!r}")

        era_check("get_weather before any tools/list" + (" (-32020 -> the proxy lists tools, retries)"
                                                         if strict or modern else ""), c_first)

        def c_list() -> None:
            names = run.value("list").get("names") or []
            want = ["echo", "get_weather"] + (["confirm", "touch_tools"] if strict else ["add"])
            missing = [n for n in want if n not in names]
            expect(not missing, f"tools missing: {missing} (have {names})")

        era_check("tools/list", c_list)

        def c_echo() -> None:
            txt = text_of(run.value("echo").get("result") or {})
            expect(txt == ERA_ECHO, f"echo gave {txt[:200]!r}")

        era_check("tools/call echo (unicode)", c_echo)

        def c_weather() -> None:
            doc = weather("weather", "Lyon", 3)
            if strict or modern:  # the server saw the mirrored headers, or it would have refused
                expect((doc.get("header_city"), doc.get("header_days")) == ("Lyon", "3"),
                       f"Mcp-Param-City / -Days were {doc.get('header_city')!r} / {doc.get('header_days')!r}")

        era_check("tools/call get_weather city + days" + (" -> Mcp-Param-City / Mcp-Param-Days mirrored"
                                                          if strict or modern else ""), c_weather)

        def c_utf8() -> None:
            doc = weather("utf8", "Zürich", 2)
            if strict or modern:
                expect(sentinel_decodes_to(doc.get("header_city"), "Zürich"),
                       f"Mcp-Param-City was {doc.get('header_city')!r} (want =?base64?...?= of Zürich)")

        era_check("tools/call get_weather with a non-ASCII city" + (" -> Base64 sentinel header"
                                                                    if strict or modern else ""), c_utf8)

        if strict:
            def c_confirm() -> None:
                v = run.value("confirm")
                res = v.get("result") or {}
                expect(not res.get("isError"), f"isError result: {text_of(res)[:300]!r}")
                txt = text_of(res)
                expect(txt == 'confirmed deploy: {"ok":true}', f"confirm gave {txt[:200]!r}")
                expect(v.get("elicitations") == 1, f"the host answered {v.get('elicitations')} elicitations (want 1)")

            era_check("confirm: input_required -> " + (
                "the host fulfils it and retries itself, through the proxy" if modern else
                "elicitation/create to the host, retried by the proxy with requestState"), c_confirm)
        else:
            def c_add() -> None:
                txt = text_of(run.value("add").get("result") or {})
                expect("42" in txt, f"add gave {txt[:200]!r}")

            era_check("tools/call add", c_add)

        def c_read() -> None:
            contents = (run.value("read").get("result") or {}).get("contents") or []
            expect(contents, "no contents")
            want = CFG_JSON if strict else "hello from the interop server"
            expect(contents[0].get("text") == want, f"resources/read gave {json.dumps(contents)[:200]}")

        era_check(f"resources/read {'file:///cfg.json' if strict else 'interop://greeting'}", c_read)

        if strict and modern:
            def c_listen() -> None:
                v = run.value("listen")
                expect((v.get("honored") or {}).get("toolsListChanged") is True,
                       f"the acknowledgement honoured {v.get('honored')}")
                expect(v.get("notified"), "no notifications/tools/list_changed within 5s after touch_tools")

            era_check("subscriptions/listen: acknowledged; touch_tools -> notifications/tools/list_changed", c_listen)
        elif strict:
            def c_touch() -> None:
                v = run.value("touch")
                expect(v.get("notified"), "no notifications/tools/list_changed within 5s after touch_tools")

            era_check("touch_tools -> notifications/tools/list_changed reaches the bridged 2025 host", c_touch)


def main() -> int:
    global VERBOSE
    ap = argparse.ArgumentParser()
    ap.add_argument("--proxy", default=os.path.join(ROOT, "target/release/mcp-remote"))
    ap.add_argument("--python", default=os.path.join(ROOT, "target/interop/venv/bin/python"))
    ap.add_argument("--node", default=os.path.join(ROOT, "target/node22/node_modules/node/bin/node"))
    ap.add_argument("--everything-dir", default=os.path.join(ROOT, "target/interop"))
    ap.add_argument("--logdir", default=os.path.join(ROOT, "target/interop/logs"))
    ap.add_argument("--ts2-dir", default=os.path.join(ROOT, "target/interop/ts2"),
                    help="where node_modules holds the TypeScript SDK v2 (server, node, client)")
    ap.add_argument("--only", default="", help="comma-separated targets (py-stateful,py-resumable,py-stateless,"
                                                "everything,py-sse,everything-sse,ts-oauth,ts2-strict,py-dual)")
    ap.add_argument("--no-debug", dest="debug", action="store_false",
                    help="do not pass --debug to the proxy (its stderr goes to --logdir either way)")
    ap.add_argument("-v", "--verbose", action="store_true")
    ap.add_argument("--deadline", type=float, default=900, help="seconds before the watchdog gives up")
    a = ap.parse_args()
    VERBOSE = a.verbose
    os.makedirs(a.logdir, exist_ok=True)
    for f in os.listdir(a.logdir):
        os.unlink(os.path.join(a.logdir, f))
    ctx = Ctx(a.proxy, a.logdir, a.debug)
    srv_py = os.path.join(ROOT, "scripts/interop_servers.py")
    se_js = os.path.join(a.everything_dir, "node_modules/@modelcontextprotocol/server-everything/dist/index.js")
    ts_oauth_js = os.path.join(a.everything_dir,
                               "node_modules/@modelcontextprotocol/sdk/dist/esm/examples/server/simpleStreamableHttp.js")

    servers = {
        "py-stateful": Server("py-stateful", [a.python, srv_py, "stateful", "--port", "3300"], 3300, a.logdir),
        "py-stateless": Server("py-stateless", [a.python, srv_py, "stateless", "--port", "3301"], 3301, a.logdir),
        "py-resumable": Server("py-resumable", [a.python, srv_py, "resumable", "--port", "3302"], 3302, a.logdir),
        "everything": Server("everything", [a.node, se_js, "streamableHttp"], 3101, a.logdir,
                             env={"PORT": "3101"}, cwd=a.everything_dir),
        "py-sse": Server("py-sse", [a.python, srv_py, "sse", "--port", "3303"], 3303, a.logdir, path="/sse"),
        "everything-sse": Server("everything-sse", [a.node, se_js, "sse"], 3102, a.logdir,
                                 env={"PORT": "3102"}, cwd=a.everything_dir, path="/sse"),
        # The TS example listens on all interfaces (fine inside the private network namespace) and
        # names itself http://localhost:3200/mcp in its protected resource metadata, so that is the
        # URL a client must use (RFC 9728 §3.3); its authorization server is http://localhost:3201.
        "ts-oauth": Server("ts-oauth", [a.node, ts_oauth_js, "--oauth"], 3200, a.logdir,
                           env={"MCP_PORT": "3200", "MCP_AUTH_PORT": "3201"}, cwd=a.everything_dir,
                           host="localhost", extra_ports=(3201,)),
        # 2026-07-28: the TypeScript SDK v2 in modern-only mode, and the Python SDK's dual-era server
        "ts2-strict": Server("ts2-strict", [a.node, os.path.join(ROOT, "scripts/ts2_server.mjs"), a.ts2_dir,
                                            "3400", "reject"], 3400, a.logdir),
        "py-dual": Server("py-dual", [a.python, srv_py, "dual", "--port", "3401"], 3401, a.logdir),
    }
    era_hosts = EraHosts(a.node, a.ts2_dir, a.python)
    targets = [
        Target("py-stateful", servers["py-stateful"], echo=("echo", "text"), add=("add", "a", "b"),
               progress=("slow_progress", {"steps": 4}), sampling=("ask_llm", {"prompt": "say hi"}),
               elicitation=("ask_user", {"question": "What is the answer?"}), roots=None, session=True,
               delete_log=r"Terminating session: (?!None)\w+", whoami="whoami"),
        Target("py-resumable", servers["py-resumable"], echo=("echo", "text"), add=("add", "a", "b"),
               progress=("slow_progress", {"steps": 4}), sampling=("ask_llm", {"prompt": "say hi"}),
               elicitation=("ask_user", {"question": "What is the answer?"}), roots=None, session=True,
               delete_log=r"Terminating session: (?!None)\w+", whoami="whoami",
               resume=("interrupted", {"steps": 6})),
        Target("py-stateless", servers["py-stateless"], echo=("echo", "text"), add=("add", "a", "b"),
               progress=None, sampling=None, elicitation=None, roots=None, session=False, delete_log=None),
        Target("everything", servers["everything"], echo=("echo", "message"), add=None, progress=None,
               sampling=None, elicitation=None, roots=None, session=True,
               delete_log=r"Received session termination request for session \S+", discover=True,
               get_log=r"Received MCP GET request"),
        # legacy HTTP+SSE servers: the proxy must fall back (POST to /sse fails with 4xx -> GET /sse)
        Target("py-sse", servers["py-sse"], echo=("echo", "text"), add=("add", "a", "b"),
               progress=("slow_progress", {"steps": 4}), sampling=("ask_llm", {"prompt": "say hi"}),
               elicitation=("ask_user", {"question": "What is the answer?"}), roots=None, session=False,
               delete_log=None),
        Target("everything-sse", servers["everything-sse"], echo=("echo", "message"), add=None, progress=None,
               sampling=None, elicitation=None, roots=None, session=False, delete_log=None, discover=True),
        # OAuth: only the sign-in checks (run_oauth), with greet(name) as the tool to call
        Target("ts-oauth", servers["ts-oauth"], echo=("greet", "name"), add=None, progress=None, sampling=None,
               elicitation=None, roots=None, session=True, delete_log=None),
    ]
    era_targets = ["ts2-strict", "py-dual"]
    only = set(filter(None, a.only.split(",")))
    if only:
        targets = [t for t in targets if t.key in only]
        era_targets = [k for k in era_targets if k in only]

    def cleanup(*_: Any) -> None:
        for s in servers.values():
            try:
                s.stop()
            except Exception:
                pass

    def watchdog() -> None:  # last resort against a hung harness: report and leave
        say(f"FAIL watchdog: checks did not finish within {a.deadline}s")
        FAILED.append("watchdog")
        cleanup()
        say(f"{len(PASSED)} passed, {len(FAILED)} failed")
        sys.stdout.flush()
        os._exit(1)

    wd = threading.Timer(a.deadline, watchdog)
    wd.daemon = True
    wd.start()
    signal.signal(signal.SIGTERM, lambda *x: (cleanup(), sys.exit(143)))
    signal.signal(signal.SIGINT, lambda *x: (cleanup(), sys.exit(130)))
    try:
        if not os.access(a.proxy, os.X_OK):
            say(f"FAIL setup: proxy binary {a.proxy} missing")
            FAILED.append("setup")
        else:
            for t in targets:
                if not check(f"{t.key}: server starts", t.server.start):
                    continue
                if t.key == "ts-oauth":
                    run_oauth(ctx, t, "http://localhost:3201")
                    t.server.stop()
                    continue
                run_target(ctx, t)
                if t.key == "py-stateful":
                    run_versions(ctx, t)
                    run_url_forms(ctx, t)
                if t.key in ("py-stateful", "everything"):
                    run_cli(ctx, t)
                t.server.stop()
            for k in era_targets:
                if check(f"{k}: server starts", servers[k].start):
                    run_era(ctx, era_hosts, k, servers[k])
                    servers[k].stop()
    finally:
        cleanup()
    say(f"{len(PASSED)} passed, {len(FAILED)} failed")
    return 1 if FAILED else 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--browser"]:  # the BROWSER program of the OAuth checks (see browser_main)
        sys.exit(browser_main(sys.argv[2:]))
    sys.exit(main())

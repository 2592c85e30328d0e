"""mcphost: a small, stdlib-only MCP *host* that talks to a stdio MCP server process
(here: the `mcp-remote` proxy) over newline-delimited JSON-RPC.

Used by scripts/interop_checks.py and scripts/conformance_driver.py.

    from mcphost import Host
    h = Host(["target/release/mcp-remote", url], name="demo")
    init = h.initialize()                     # initialize + notifications/initialized
    tools = h.request("tools/list", {}, timeout=10)["result"]["tools"]
    rc, secs = h.close(timeout=5)             # close stdin, wait for exit
    assert not h.violations

Everything that waits takes a timeout. Nothing here ever blocks forever:
  * a reader thread parses every stdout line; a line that is not a JSON-RPC message
    (not UTF-8, not JSON, not an object/array, empty) is recorded in `violations`;
  * server->client requests (sampling/createMessage, elicitation/create, roots/list,
    ping, ...) are answered automatically from `handlers` (configurable);
  * notifications are collected in `notifications` (with a global sequence number so
    callers can check ordering against responses);
  * stderr is drained by its own thread (kept in memory, optionally teed to a file).
"""

from __future__ import annotations

import itertools
import json
import queue
import signal
import subprocess
import sys
import threading
import time
from typing import Any, Callable

DEFAULT_PROTOCOL_VERSION = "2025-11-25"


class HostError(Exception):
    """Raise from a handler to answer a server->client request with a JSON-RPC error."""

    def __init__(self, code: int, message: str, data: Any = None):
        super().__init__(message)
        self.code, self.message, self.data = code, message, data


class RequestTimeout(TimeoutError):
    pass


def _pdeathsig() -> None:  # runs in the child between fork and exec (Linux only)
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:
        pass


def fill_from_schema(schema: dict | None) -> dict:
    """Build a plausible value for an elicitation `requestedSchema` (flat object of primitives)."""
    out: dict[str, Any] = {}
    for name, prop in ((schema or {}).get("properties") or {}).items():
        if "default" in prop:
            out[name] = prop["default"]
            continue
        if prop.get("enum"):
            out[name] = prop["enum"][0]
            continue
        if prop.get("oneOf"):
            first = prop["oneOf"][0]
            out[name] = first.get("const", first.get("title", "x"))
            continue
        t = prop.get("type")
        if t == "array":
            items = prop.get("items") or {}
            choices = items.get("enum") or [c.get("const") for c in items.get("anyOf", []) if "const" in c]
            out[name] = choices[:1] if choices else []
        elif t in ("integer", "number"):
            lo = prop.get("minimum", 1)
            out[name] = int(lo) if t == "integer" else lo
        elif t == "boolean":
            out[name] = True
        else:
            fmt = prop.get("format")
            out[name] = {
                "email": "interop@example.com",
                "uri": "https://example.com/",
                "date": "2000-01-01",
                "date-time": "2000-01-01T00:00:00Z",
            }.get(fmt, "interop")
    return out


def args_from_schema(schema: dict | None) -> dict:
    """Arguments for a tools/call built from a tool's inputSchema (numbers -> small ints)."""
    out: dict[str, Any] = {}
    props = (schema or {}).get("properties") or {}
    required = set((schema or {}).get("required") or [])
    for i, (name, prop) in enumerate(props.items()):
        if name not in required and "default" in prop:
            continue
        if prop.get("enum"):
            out[name] = prop["enum"][0]
            continue
        t = prop.get("type")
        if isinstance(t, list):
            t = next((x for x in t if x != "null"), "string")
        if t in ("integer", "number"):
            out[name] = max(int(prop.get("minimum", 0)), i + 1)
        elif t == "boolean":
            out[name] = False
        elif t == "array":
            out[name] = []
        elif t == "object":
            out[name] = {}
        else:
            out[name] = "interop"
    return out


class Host:
    """An MCP host driving one stdio server process. Thread-safe for concurrent requests."""

    def __init__(
        self,
        cmd: list[str],
        *,
        name: str = "mcphost",
        env: dict[str, str] | None = None,
        stderr_path: str | None = None,
        echo_stderr: bool = False,
        log: Callable[[str], None] | None = None,
    ):
        self.name = name
        self.cmd = cmd
        self._log = log or (lambda s: None)
        self._ids = itertools.count(1)
        self._seq = itertools.count(1)
        self._lock = threading.RLock()  # re-entrant: wait_for() predicates may call the accessors
        self._cond = threading.Condition(self._lock)
        self._wlock = threading.Lock()
        self._wq: "queue.Queue[tuple[bytes | None, threading.Event]]" = queue.Queue()
        self.write_timeout = 20.0  # a child that stops reading stdin must not hang us forever
        self.responses: dict[Any, dict] = {}  # id -> message
        self.response_seq: dict[Any, int] = {}  # id -> sequence number when it arrived
        self.pending: set[Any] = set()
        self.notifications: list[tuple[int, dict]] = []
        self.server_requests: list[tuple[int, dict]] = []
        self.violations: list[str] = []
        self.stdout_lines = 0
        self.stderr_tail: list[str] = []
        self.eof = False
        self.initialize_params: dict | None = None
        self.handlers: dict[str, Callable[[dict], Any]] = {
            "ping": lambda p: {},
            "roots/list": lambda p: {"roots": [{"uri": "file:///tmp/mcphost-root", "name": "mcphost-root"}]},
            "sampling/createMessage": lambda p: {
                "role": "assistant",
                "content": {"type": "text", "text": "mock llm answer"},
                "model": "mcphost-mock-model",
                "stopReason": "endTurn",
            },
            "elicitation/create": lambda p: {
                "action": "accept",
                "content": fill_from_schema(p.get("requestedSchema")),
            },
        }
        self._stderr_file = open(stderr_path, "ab") if stderr_path else None
        self._echo_stderr = echo_stderr
        self.started_at = time.monotonic()
        self.proc = subprocess.Popen(
            cmd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            preexec_fn=_pdeathsig,
        )
        self._wt = threading.Thread(target=self._write_stdin, name=f"{name}-stdin", daemon=True)
        self._wt.start()
        self._rt = threading.Thread(target=self._read_stdout, name=f"{name}-stdout", daemon=True)
        self._et = threading.Thread(target=self._read_stderr, name=f"{name}-stderr", daemon=True)
        self._rt.start()
        self._et.start()

    # ------------------------------------------------------------------ reading
    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        for raw in iter(self.proc.stderr.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\n")
            with self._lock:
                self.stderr_tail.append(line)
                if len(self.stderr_tail) > 2000:
                    del self.stderr_tail[:1000]
            if self._stderr_file:
                self._stderr_file.write(raw)
                self._stderr_file.flush()
            if self._echo_stderr:
                sys.stderr.write(f"[{self.name} stderr] {line}\n")

    def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        try:
            for raw in iter(self.proc.stdout.readline, b""):
                self.stdout_lines += 1
                self._handle_line(raw)
        finally:
            with self._cond:
                self.eof = True
                self._cond.notify_all()

    def _violation(self, what: str) -> None:
        with self._lock:
            self.violations.append(what)
        self._log(f"VIOLATION: {what}")

    def _handle_line(self, raw: bytes) -> None:
        if not raw.endswith(b"\n"):
            self._violation(f"stdout line not newline-terminated at EOF: {raw[:200]!r}")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            self._violation(f"stdout line is not UTF-8: {raw[:200]!r}")
            return
        text = text.rstrip("\n").rstrip("\r")
        if not text.strip():
            self._violation("empty line on stdout")
            return
        try:
            msg = json.loads(text)
        except ValueError:
            self._violation(f"non-JSON line on stdout: {text[:300]!r}")
            return
        self._log(f"<- {text[:500]}")
        if isinstance(msg, list):
            self._violation(f"JSON-RPC batch array on stdout ({len(msg)} elements)")
            for m in msg:
                self._dispatch(m, text)
        else:
            self._dispatch(msg, text)

    def _dispatch(self, msg: Any, text: str) -> None:
        if not isinstance(msg, dict) or msg.get("jsonrpc") != "2.0":
            self._violation(f"stdout line is not a JSON-RPC 2.0 message: {text[:300]!r}")
            return
        seq = next(self._seq)
        if "method" in msg:
            if "id" in msg and msg["id"] is not None:
                with self._lock:
                    self.server_requests.append((seq, msg))
                threading.Thread(target=self._answer, args=(msg,), daemon=True).start()
            else:
                with self._cond:
                    self.notifications.append((seq, msg))
                    self._cond.notify_all()
            return
        if "result" in msg or "error" in msg:
            rid = msg.get("id")
            with self._cond:
                if rid is None:
                    self.violations.append(f"response without id on stdout: {text[:300]!r}")
                elif rid in self.responses:
                    self.violations.append(f"second response for id {rid!r}: {text[:300]!r}")
                elif rid not in self.pending:
                    self.violations.append(f"response for unknown id {rid!r}: {text[:300]!r}")
                else:
                    self.pending.discard(rid)
                    self.responses[rid] = msg
                    self.response_seq[rid] = seq
                self._cond.notify_all()
            return
        self._violation(f"unclassifiable JSON-RPC message on stdout: {text[:300]!r}")

    def _answer(self, req: dict) -> None:
        handler = self.handlers.get(req["method"])
        try:
            if handler is None:
                raise HostError(-32601, f"Method not found: {req['method']}")
            result = handler(req.get("params") or {})
            reply = {"jsonrpc": "2.0", "id": req["id"], "result": result}
        except HostError as e:
            err: dict[str, Any] = {"code": e.code, "message": e.message}
            if e.data is not None:
                err["data"] = e.data
            reply = {"jsonrpc": "2.0", "id": req["id"], "error": err}
        except Exception as e:  # a broken handler must still answer
            reply = {"jsonrpc": "2.0", "id": req["id"], "error": {"code": -32603, "message": repr(e)}}
        try:
            self.send(reply)
        except (OSError, RequestTimeout):
            pass

    # ------------------------------------------------------------------ writing
    def _write_stdin(self) -> None:
        """The only thread that touches the child's stdin; `None` data means close it."""
        assert self.proc.stdin is not None
        while True:
            data, done = self._wq.get()
            try:
                if data is None:
                    self.proc.stdin.close()
                    return
                self.proc.stdin.write(data)
                self.proc.stdin.flush()
            except OSError as e:  # child gone: remember it, keep draining so nobody waits
                self.write_error = e
            finally:
                done.set()

    write_error: OSError | None = None

    def send_raw(self, data: bytes | None, timeout: float | None = None) -> None:
        """Queue bytes for the child's stdin (None closes it); wait (bounded) until written."""
        done = threading.Event()
        with self._wlock:
            if self._stdin_closed:
                raise BrokenPipeError("stdin already closed")
            if data is None:
                self._stdin_closed = True
            self._wq.put((data, done))
        if not done.wait(self.write_timeout if timeout is None else timeout):
            raise RequestTimeout(f"writing to the child's stdin blocked for {self.write_timeout:g}s")
        if self.write_error is not None and data is not None:
            raise BrokenPipeError(f"child's stdin: {self.write_error}")

    _stdin_closed = False

    def send(self, msg: Any) -> None:
        line = json.dumps(msg, separators=(",", ":"), ensure_ascii=False) + "\n"
        self._log(f"-> {line.rstrip()[:500]}")
        self.send_raw(line.encode("utf-8"))

    def notify(self, method: str, params: dict | None = None) -> None:
        msg: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            msg["params"] = params
        self.send(msg)

    def start_request(self, method: str, params: dict | None = None, *, id: Any = None) -> Any:
        rid = next(self._ids) if id is None else id
        msg: dict[str, Any] = {"jsonrpc": "2.0", "id": rid, "method": method}
        if params is not None:
            msg["params"] = params
        with self._lock:
            self.pending.add(rid)
        self.send(msg)
        return rid

    def wait_response(self, rid: Any, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        with self._cond:
            while rid not in self.responses:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise RequestTimeout(f"no response for id {rid!r} within {timeout:g}s")
                if self.eof:
                    raise RequestTimeout(f"stdout closed before a response for id {rid!r}")
                self._cond.wait(min(left, 0.2))
            return self.responses[rid]

    def request(self, method: str, params: dict | None = None, timeout: float = 15, *, id: Any = None) -> dict:
        """Send a request and return the full response message (with `result` or `error`)."""
        return self.wait_response(self.start_request(method, params, id=id), timeout)

    def call(self, method: str, params: dict | None = None, timeout: float = 15) -> Any:
        """Like request() but returns `result`, raising RuntimeError on a JSON-RPC error."""
        resp = self.request(method, params, timeout)
        if "error" in resp:
            raise RuntimeError(f"{method} -> error {json.dumps(resp['error'])[:300]}")
        return resp["result"]

    def initialize(
        self,
        protocol_version: str = DEFAULT_PROTOCOL_VERSION,
        capabilities: dict | None = None,
        client_name: str = "mcphost",
        timeout: float = 20,
    ) -> dict:
        if capabilities is None:
            capabilities = {"sampling": {}, "elicitation": {"form": {}}, "roots": {"listChanged": True}}
        params = {
            "protocolVersion": protocol_version,
            "capabilities": capabilities,
            "clientInfo": {"name": client_name, "version": "0.1.0"},
        }
        self.initialize_params = params
        result = self.call("initialize", params, timeout)
        self.notify("notifications/initialized")
        return result

    # ------------------------------------------------------------------ helpers
    def wait_for(self, pred: Callable[[], bool], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not pred():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.1))
            return True

    def notifications_for(self, method: str) -> list[tuple[int, dict]]:
        with self._lock:
            return [(s, m) for s, m in self.notifications if m.get("method") == method]

    def requests_for(self, method: str) -> list[tuple[int, dict]]:
        with self._lock:
            return [(s, m) for s, m in self.server_requests if m.get("method") == method]

    def stderr_text(self, last: int = 40) -> str:
        with self._lock:
            return "\n".join(self.stderr_tail[-last:])

    def alive(self) -> bool:
        return self.proc.poll() is None

    def close(self, timeout: float = 5) -> tuple[int | None, float]:
        """Close stdin; wait up to `timeout` for exit. Returns (exit code or None if killed, seconds)."""
        try:
            self.send_raw(None, timeout=timeout)  # after everything queued before it
        except (OSError, RequestTimeout):
            pass
        t0 = time.monotonic()  # measured from the moment stdin is actually closed
        try:
            rc: int | None = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            rc = None
            self.kill()
        elapsed = time.monotonic() - t0
        self._rt.join(2)
        self._et.join(2)
        if self._stderr_file:
            self._stderr_file.close()
            self._stderr_file = None
        return rc, elapsed

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                pass

    def __enter__(self) -> "Host":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.kill()


def text_of(result: dict) -> str:
    """Concatenated text content of a tools/call or prompts/get result."""
    parts = []
    for c in result.get("content") or []:
        if isinstance(c, dict) and c.get("type") == "text":
            parts.append(c.get("text", ""))
    for m in result.get("messages") or []:
        c = m.get("content") or {}
        for cc in c if isinstance(c, list) else [c]:
            if cc.get("type") == "text":
                parts.append(cc.get("text", ""))
    return "\n".join(parts)


if __name__ == "__main__":  # tiny self-test: python3 scripts/mcphost.py
    h = Host([sys.executable, "-c", "import sys\nfor l in sys.stdin: print(l.strip(), flush=True)\nprint('oops')"])
    h.send({"jsonrpc": "2.0", "method": "x"})
    print(h.wait_for(lambda: len(h.notifications) == 1, 2), h.close(), h.violations)

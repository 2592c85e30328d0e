#!/usr/bin/env python3
"""Benchmark: mcp-remote against a direct HTTP client, both talking to the same local MCP server
built with the official Python SDK. Prints a table with ratios proxy/direct. Not a test: it never
fails on a number (exit 1 only if something did not work at all).

    python bench.py --proxy target/release/mcp-remote --python target/interop/venv/bin/python [--quick]

Run it through scripts/bench.sh, which installs the SDK and builds the binaries.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import queue
import statistics
import subprocess
import sys
import threading
import time

SERVER_CODE = r'''
import sys
from mcp.server.mcpserver import MCPServer
app = MCPServer(name="bench", version="1")

@app.tool(description="echo")
def echo(text: str) -> str:
    return text

@app.tool(description="a result of n bytes")
def blob(n: int) -> str:
    return "x" * n

app.settings.log_level = "ERROR"
app.run("streamable-http", host="127.0.0.1", port=int(sys.argv[1]), stateless_http=False, json_response=True)
'''

INIT = {"jsonrpc": "2.0", "id": 0, "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                   "clientInfo": {"name": "bench", "version": "1"}}}


def call(i, tool="echo", args=None):
    return {"jsonrpc": "2.0", "id": i, "method": "tools/call",
            "params": {"name": tool, "arguments": args if args is not None else {"text": f"hello {i}"}}}


class Direct:
    """A plain keep-alive HTTP client doing what the proxy does, minus the proxy."""

    def __init__(self, port):
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.headers = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}

    def post(self, msg):
        try:
            self.conn.request("POST", "/mcp", body=json.dumps(msg), headers=self.headers)
            r = self.conn.getresponse()
        except (BrokenPipeError, ConnectionResetError, http.client.RemoteDisconnected):
            # The server closed an idle keep-alive connection (uvicorn does after 5 s): reconnect once.
            self.conn.close()
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            self.conn.request("POST", "/mcp", body=json.dumps(msg), headers=self.headers)
            r = self.conn.getresponse()
        body = r.read()
        if body:
            json.loads(body)  # a host parses every answer; so does the proxy's side of the bench
        return r, body

    def initialize(self):
        r, body = self.post(INIT)
        sid = r.getheader("mcp-session-id")
        if sid:
            self.headers["Mcp-Session-Id"] = sid
        self.headers["MCP-Protocol-Version"] = json.loads(body)["result"]["protocolVersion"]
        self.post({"jsonrpc": "2.0", "method": "notifications/initialized"})

    def clone(self):
        d = Direct(self.port)
        d.headers = dict(self.headers)
        return d


class Proxied:
    def __init__(self, proxy, url):
        self.t0 = time.perf_counter()
        # Reads the pipe 64 KiB at a time, as hosts do (the MCP Python SDK's stdio client through
        # anyio, Node's pipe streams); Python's default 8 KiB would wake the proxy for every 8 KiB.
        self.p = subprocess.Popen([proxy, url, "--silent"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.DEVNULL, bufsize=1 << 16)
        self.lines: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.p.stdout:
            self.lines.put(line)

    def send(self, msg):
        self.p.stdin.write(json.dumps(msg).encode() + b"\n")
        self.p.stdin.flush()

    def recv(self):
        return json.loads(self.lines.get(timeout=60))

    def rpc(self, msg):
        self.send(msg)
        while True:
            m = self.recv()
            if m.get("id") == msg["id"] and "method" not in m:
                return m

    def status(self, field):
        with open(f"/proc/{self.p.pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])  # kB
        return 0

    def cpu_seconds(self):
        with open(f"/proc/{self.p.pid}/stat") as f:
            parts = f.read().rsplit(")", 1)[1].split()
        return (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")

    def close(self):
        self.p.stdin.close()
        self.p.wait(timeout=10)


def pct(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def timed(fn, n):
    out = []
    for i in range(n):
        t = time.perf_counter()
        fn(i)
        out.append(time.perf_counter() - t)
    return out


def wait_port(port, deadline=30):
    end = time.time() + deadline
    while time.time() < end:
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            c.request("GET", "/")
            c.getresponse().read()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"bench server did not start on port {port}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--proxy", required=True)
    ap.add_argument("--static", help="static binary whose size to report")
    ap.add_argument("--python", required=True)
    ap.add_argument("--port", type=int, default=3390)
    ap.add_argument("--quick", action="store_true", help="few iterations: keeps the script working in CI")
    a = ap.parse_args()
    n_seq, n_thr, big, n_big, cold_runs = (50, 200, 1 << 20, 1, 3) if a.quick else (1000, 5000, 10 << 20, 7, 20)

    server = subprocess.Popen([a.python, "-c", SERVER_CODE, str(a.port)], stderr=subprocess.DEVNULL)
    try:
        wait_port(a.port)
        url = f"http://127.0.0.1:{a.port}/mcp"
        rows = []

        # Cold start: a new process (proxy) or a new connection (direct) to the initialize answer.
        direct_cold, proxy_cold = [], []
        for _ in range(cold_runs):
            t = time.perf_counter()
            d = Direct(a.port)
            d.post(INIT)
            direct_cold.append(time.perf_counter() - t)
            p = Proxied(a.proxy, url)
            p.rpc(INIT)
            proxy_cold.append(time.perf_counter() - p.t0)
            p.close()
        rows.append(("cold start to initialize (median)", statistics.median(direct_cold), statistics.median(proxy_cold), "ms"))

        d = Direct(a.port)
        d.initialize()
        p = Proxied(a.proxy, url)
        p.rpc(INIT)
        p.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        time.sleep(0.3)
        rss_idle = p.status("VmRSS")

        dl = timed(lambda i: d.post(call(i)), n_seq)
        cpu0 = p.cpu_seconds()
        pl = timed(lambda i: p.rpc(call(i + 1)), n_seq)
        cpu_per_call = (p.cpu_seconds() - cpu0) / n_seq
        rows.append((f"echo latency p50 ({n_seq} sequential)", pct(dl, 50), pct(pl, 50), "ms"))
        rows.append((f"echo latency p99 ({n_seq} sequential)", pct(dl, 99), pct(pl, 99), "ms"))

        # Throughput: 50 requests in flight.
        def direct_throughput():
            counter = iter(range(n_thr))
            lock = threading.Lock()

            def worker():
                c = d.clone()
                while True:
                    with lock:
                        i = next(counter, None)
                    if i is None:
                        return
                    c.post(call(i))
            ts = [threading.Thread(target=worker) for _ in range(50)]
            t = time.perf_counter()
            for th in ts:
                th.start()
            for th in ts:
                th.join()
            return n_thr / (time.perf_counter() - t)

        def proxy_throughput():
            base = 100000
            t = time.perf_counter()
            sent = 0
            for _ in range(50):
                p.send(call(base + sent))
                sent += 1
            got = 0
            while got < n_thr:
                m = p.recv()
                if "method" in m:
                    continue
                got += 1
                if sent < n_thr:
                    p.send(call(base + sent))
                    sent += 1
            return n_thr / (time.perf_counter() - t)

        dt, pt = direct_throughput(), proxy_throughput()
        rows.append(("throughput, 50 in flight (calls/s)", dt, pt, "/s"))

        # A big result. Reset the proxy's peak RSS first so the peak belongs to this phase.
        mib = big >> 20
        rss_before_big = p.status("VmRSS")
        try:
            with open(f"/proc/{p.p.pid}/clear_refs", "w") as f:
                f.write("5")
        except OSError:
            pass
        # One call is at the mercy of whatever else the machine does in its 100-odd ms: take the
        # median of several, direct and proxy in turn. The RSS target is about one of them; the
        # peak after all of them shows what the allocator keeps.
        dbs, pbs = [], []
        for i in range(n_big):
            t = time.perf_counter()
            r, body = d.post(call(1 + i, "blob", {"n": big}))
            dbs.append(time.perf_counter() - t)
            assert len(body) > big
            t = time.perf_counter()
            m = p.rpc(call(200000 + i, "blob", {"n": big}))
            pbs.append(time.perf_counter() - t)
            assert len(m["result"]["content"][0]["text"]) == big
            if i == 0:
                rss_peak = p.status("VmHWM")
        name = f"{mib} MiB tool result" + (f" (median of {n_big})" if n_big > 1 else "")
        rows.append((name, statistics.median(dbs), statistics.median(pbs), "ms"))
        rss_peak_all = p.status("VmHWM")
        p.close()
        rss_before_big = rss_before_big
    finally:
        server.terminate()
        server.wait(timeout=10)

    print(f"{'measure':44} {'direct':>12} {'mcp-remote':>12} {'ratio':>8}")
    for name, dv, pv, unit in rows:
        if unit == "ms":
            print(f"{name:44} {dv * 1000:10.2f}ms {pv * 1000:10.2f}ms {pv / dv:8.2f}")
        else:
            print(f"{name:44} {dv:10.0f}/s {pv:10.0f}/s {pv / dv:8.2f}")
    print(f"{'cold start difference':44} {'':12} {(statistics.median(proxy_cold) - statistics.median(direct_cold)) * 1000:10.2f}ms")
    print(f"{'peak RSS idle':44} {'':12} {rss_idle / 1024:8.2f} MiB")
    print(f"{f'peak RSS passing {mib} MiB':44} {'':12} {rss_peak / 1024:8.2f} MiB (RSS before: {rss_before_big / 1024:.2f} MiB)")
    if n_big > 1:
        print(f"{f'peak RSS passing {mib} MiB {n_big} times':44} {'':12} {rss_peak_all / 1024:8.2f} MiB")
    print(f"{'CPU time per echo call':44} {'':12} {cpu_per_call * 1e6:8.1f} us")
    for label, path in (("release binary size", a.proxy), ("static binary size", a.static)):
        if path and os.path.exists(path):
            print(f"{label:44} {'':12} {os.path.getsize(path) / 1e6:8.2f} MB")


if __name__ == "__main__":
    main()

"""Load test of the web API: many concurrent estimates against a local ``memfit serve`` (127.0.0.1 only).

Bounded in count and in time. Reports requests per second, latency percentiles and errors; the target is
zero errors and p99 under 50 ms for an estimate::

    .venv/bin/python benchmarks/bench_web_load.py                      # 2,000 requests, 50 at a time, 60 s cap
    .venv/bin/python benchmarks/bench_web_load.py -n 5000 -c 100 --json
    .venv/bin/python benchmarks/bench_web_load.py --url http://127.0.0.1:8000   # a server already running

The server runs in its own process (``python -m memfit serve``), as a user would start it, so the client's
work does not share the server's interpreter; the client is a minimal keep-alive HTTP/1.1 client (one
connection per concurrent request) so that it takes as little of the machine as it can. Latency is measured
by the client, request sent to response read; the server's own time per request (its ``Server-Timing``
header) is reported beside it, which separates the cost of an estimate from queueing on a busy machine.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlparse

import httpx

# A mix of what the page asks for: the weights of a catalog model, an inference estimate at a few
# contexts, a training estimate, a bare parameter count.
REQUESTS: dict[str, dict[str, Any]] = {
    "weights llama-3.1-8b": {"model": "llama-3.1-8b", "mode": "weights"},
    "inference llama-3.1-8b 4K": {"model": "llama-3.1-8b", "mode": "inference", "context": 4096, "new_tokens": 256},
    "inference qwen2.5-7b 32K x8": {"model": "qwen2.5-7b", "mode": "inference", "context": 32768, "batch": 8},
    "lora llama-3.1-8b 2K": {"model": "llama-3.1-8b", "mode": "lora", "context": 2048, "batch": 2},
    "bare 7B int4": {"model": "7B", "dtype": "int4"},
}
TARGET_P99_MS = 50.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def local_server(timeout: float = 30.0) -> Iterator[str]:
    """``memfit serve`` on a free loopback port, in a subprocess; yields its URL."""
    port = free_port()
    cmd = [sys.executable, "-m", "memfit", "serve", "--host", "127.0.0.1", "--port", str(port)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env={**os.environ, "HF_HUB_OFFLINE": "1"})
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                err = proc.stderr.read().decode() if proc.stderr else ""
                raise SystemExit(f"the server exited: {err[-2000:]}")
            try:
                if httpx.get(url + "/api/info", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("the server did not answer within {timeout} s")
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def check_loopback(url: str) -> None:
    host = urlparse(url).hostname or ""
    try:
        ok = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        ok = False
    if not ok:
        raise SystemExit(f"{url}: this load test only runs against a server on this machine (127.0.0.1)")


def percentile(sorted_ms: list[float], q: float) -> float:
    if not sorted_ms:
        return float("nan")
    k = min(len(sorted_ms) - 1, max(0, round(q / 100 * len(sorted_ms) + 0.5) - 1))  # nearest rank
    return sorted_ms[k]


class Connection:
    """One keep-alive HTTP/1.1 connection, as light as a client can be (the client shares the machine)."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
        if self.writer is None or self.reader is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        head = (f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode()
        self.writer.write(head + body)
        await self.writer.drain()
        raw = await self.reader.readuntil(b"\r\n\r\n")
        lines = raw.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:] if ln)}
        if "content-length" not in headers:
            raise ConnectionError("response without Content-Length")
        payload = await self.reader.readexactly(int(headers["content-length"]))
        if headers.get("connection", "").lower() == "close":
            await self.close()
        return status, headers, payload

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(OSError):
                await self.writer.wait_closed()
        self.reader = self.writer = None


def _app_ms(headers: dict[str, str]) -> float | None:
    timing = headers.get("server-timing", "")
    if "dur=" in timing:
        try:
            return float(timing.split("dur=", 1)[1].split(";")[0].split(",")[0])
        except ValueError:
            return None
    return None


async def run_load(url: str, n: int, concurrency: int, cap_s: float, kinds: list[str],
                   distinct: bool = False) -> dict[str, Any]:
    parsed = urlparse(url)
    host, port = parsed.hostname or "127.0.0.1", parsed.port or 80
    bodies = {k: json.dumps(REQUESTS[k]).encode() for k in kinds}
    latencies: dict[str, list[float]] = {k: [] for k in kinds}
    app_ms: list[float] = []
    errors: dict[str, int] = {}
    warm = Connection(host, port)
    for k in kinds:  # warm-up: imports, caches
        status, _, payload = await warm.post("/api/estimate", bodies[k])
        if status != 200:
            raise SystemExit(f"{k}: HTTP {status}: {payload[:300]!r}")
    await warm.close()
    next_i = 0
    deadline = time.perf_counter() + cap_s

    async def worker() -> None:
        nonlocal next_i
        conn = Connection(host, port)
        try:
            while next_i < n and time.perf_counter() < deadline:
                i = next_i
                next_i += 1
                kind = kinds[i % len(kinds)]
                body = bodies[kind]
                if distinct and REQUESTS[kind].get("mode", "weights") != "weights":  # a context never asked before:
                    # the server computes, nothing is remembered (the weights alone do not read a context)
                    body = json.dumps({**REQUESTS[kind], "context": 1000 + i}).encode()
                t0 = time.perf_counter()
                try:
                    status, headers, payload = await conn.post("/api/estimate", body)
                    ok = status == 200 and b'"total_bytes"' in payload
                    why = f"HTTP {status}"
                except (OSError, ConnectionError, asyncio.IncompleteReadError, ValueError) as e:
                    ok, why, headers = False, type(e).__name__, {}
                    await conn.close()
                ms = (time.perf_counter() - t0) * 1000
                if ok:
                    latencies[kind].append(ms)
                    a = _app_ms(headers)
                    if a is not None:
                        app_ms.append(a)
                else:
                    errors[why] = errors.get(why, 0) + 1
        finally:
            await conn.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - t0
    every = sorted(x for v in latencies.values() for x in v)
    app_sorted = sorted(app_ms)
    ok_count = len(every)
    failed = sum(errors.values())
    out: dict[str, Any] = {
        "url": url, "distinct": distinct, "requests": n, "completed": ok_count + failed, "ok": ok_count,
        "errors": failed,
        "error_kinds": errors, "not_finished_in_cap": n - ok_count - failed, "concurrency": concurrency,
        "elapsed_s": round(elapsed, 3), "requests_per_s": round((ok_count + failed) / elapsed, 1),
        "latency_ms": {"p50": round(percentile(every, 50), 2), "p95": round(percentile(every, 95), 2),
                       "p99": round(percentile(every, 99), 2), "max": round(every[-1], 2) if every else None,
                       "mean": round(statistics.fmean(every), 2) if every else None},
        "server_time_ms": {"p50": round(percentile(app_sorted, 50), 3), "p99": round(percentile(app_sorted, 99), 3)},
        "by_request": {k: {"n": len(v), "p50": round(percentile(sorted(v), 50), 2),
                           "p99": round(percentile(sorted(v), 99), 2)} for k, v in latencies.items()},
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}, "
                   f"Python {platform.python_version()}",
    }
    out["target_met"] = failed == 0 and out["not_finished_in_cap"] == 0 and out["latency_ms"]["p99"] < TARGET_P99_MS
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", "--requests", type=int, default=2000, help="total requests (default 2000)")
    ap.add_argument("-c", "--concurrency", type=int, default=50, help="requests in flight (default 50)")
    ap.add_argument("--cap", type=float, default=60.0, help="stop after this many seconds (default 60)")
    ap.add_argument("--url", default=None, help="a server already running on 127.0.0.1 (default: start one)")
    ap.add_argument("--only", choices=sorted(REQUESTS), action="append", help="request kinds (default: all)")
    ap.add_argument("--distinct", action="store_true",
                    help="give every request its own context, so that none is answered from the server's cache")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    args = ap.parse_args()
    if not 1 <= args.requests <= 100_000 or not 1 <= args.concurrency <= 1000 or not 0 < args.cap <= 600:
        raise SystemExit("bounds: 1 ≤ requests ≤ 100,000, 1 ≤ concurrency ≤ 1,000, 0 < cap ≤ 600 s")
    kinds = args.only or list(REQUESTS)
    if args.url:
        check_loopback(args.url)
        result = asyncio.run(run_load(args.url.rstrip("/"), args.requests, args.concurrency, args.cap, kinds,
                                      args.distinct))
    else:
        with local_server() as url:
            result = asyncio.run(run_load(url, args.requests, args.concurrency, args.cap, kinds, args.distinct))
    if args.json:
        print(json.dumps(result, indent=2))
        return
    lat = result["latency_ms"]
    print(f"{result['completed']:,} of {result['requests']:,} {'distinct ' if result['distinct'] else ''}requests, "
          f"{result['concurrency']} concurrent, "
          f"in {result['elapsed_s']:.2f} s: {result['requests_per_s']:,.1f} requests/s")
    print(f"latency ms: p50 {lat['p50']}, p95 {lat['p95']}, p99 {lat['p99']}, max {lat['max']}")
    srv = result["server_time_ms"]
    print(f"time inside the app (Server-Timing) ms: p50 {srv['p50']}, p99 {srv['p99']}")
    print(f"errors: {result['errors']} {result['error_kinds'] or ''}; unfinished at the cap: "
          f"{result['not_finished_in_cap']}")
    for k, v in result["by_request"].items():
        print(f"  {k:30s} n={v['n']:5d}  p50 {v['p50']:7.2f} ms  p99 {v['p99']:7.2f} ms")
    print(f"target (0 errors, p99 < {TARGET_P99_MS:g} ms): {'met' if result['target_met'] else 'NOT met'}"
          f"  [{result['machine']}]")


if __name__ == "__main__":
    main()

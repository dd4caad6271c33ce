"""A bounded fuzz run of the web API against a real ``memfit serve`` process (runs in CI, well under a minute).

Every endpoint of the OpenAPI schema gets bodies generated from that schema (valid ones that reach the
arithmetic, ones with a field spoiled: lone UTF-16 surrogates, huge or negative numbers, NaN, wrong types,
unknown keys) plus raw bytes that are not JSON or not UTF-8. Asserted: no 5xx, every answer within 2 s of the
server's time (its Server-Timing header: from the request's arrival to the answer; the client's own wall
clock, which a loaded CI machine stretches, is held to 5 s), and ``GET /`` answering within 2 s throughout,
polled from another thread while the fuzz runs.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")
import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from _openapi_strategies import Schemas, encode

LIMIT_S = 2.0  # the server's time for one request
CLIENT_LIMIT_S = 5.0  # the client's wall clock, scheduling of a busy machine included
EXAMPLES = {"/api/estimate": 150, "/api/curve": 80, "/api/fit": 100, "/api/plan": 80, "/api/advise": 60,
            "/api/matrix": 60,
            "/api/fits": 40}
OPTIONAL = {"/api/fits"}  # only where memfit has memfit.whatfits
RAW = [b"", b"{", b"\xff\xfe\x00", b'{"model": "\xed\xa0\x80"}', b'{"model": "llama-3.1-8b", "context": 1e999}',
       b"[" * 50_000 + b"]" * 50_000, b'{"model": {"a": ' * 3000 + b"1" + b"}" * 3001, b'"\\ud800"',
       b'{"model": "llama-3.1-8b", "batch": NaN}', b"null"]


@dataclass
class Run:
    url: str
    sent: int = 0
    slowest: tuple[float, str] = (0.0, "")
    slowest_client: float = 0.0
    statuses: dict[int, int] = field(default_factory=dict)
    over_budget: int = 0
    index_polls: list[float] = field(default_factory=list)
    times: list[float] = field(default_factory=list)  # the server's time for each request
    index_failures: list[str] = field(default_factory=list)

    def post(self, client: Any, path: str, raw: bytes) -> None:
        t = time.perf_counter()
        r = client.post(path, content=raw, headers={"content-type": "application/json"})
        wall = time.perf_counter() - t
        took = server_time(r, wall)
        self.sent += 1
        self.times.append(took)
        self.statuses[r.status_code] = self.statuses.get(r.status_code, 0) + 1
        self.slowest_client = max(self.slowest_client, wall)
        if took > self.slowest[0]:
            self.slowest = (took, f"{path} {raw[:200]!r}")
        assert r.status_code < 500, f"{path} answered {r.status_code} to {raw[:300]!r}: {r.text[:300]}"
        assert took < LIMIT_S, f"{path} took {took:.2f} s for {raw[:300]!r}"
        assert wall < CLIENT_LIMIT_S, f"{path}: {wall:.2f} s on the client's clock for {raw[:300]!r}"
        assert "Traceback" not in r.text
        self.over_budget += '"budget_s"' in r.text


def server_time(r: Any, wall: float) -> float:
    """Seconds the server spent on the request, from its Server-Timing header (app;dur=MILLISECONDS); the
    guard's own early refusals (413 and the like) have none: then the client's wall clock."""
    timing = r.headers.get("server-timing", "")
    return float(timing.removeprefix("app;dur=")) / 1000 if timing.startswith("app;dur=") else wall


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def run() -> Iterator[Run]:
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "memfit", "serve", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(url + "/", timeout=1)
                break
            except httpx.HTTPError:
                assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                assert time.monotonic() < deadline, "memfit serve did not answer"
                time.sleep(0.1)
        state = Run(url)
        stop = threading.Event()
        poller = threading.Thread(target=_poll_index, args=(state, stop), daemon=True)
        poller.start()
        yield state
        stop.set()
        poller.join(10)
        ts = sorted(state.times) or [0.0]
        print(f"\nfuzz: {state.sent} requests, statuses {dict(sorted(state.statuses.items()))} "
              f"server time median {ts[len(ts) // 2] * 1000:.1f} ms, p95 {ts[int(len(ts) * 0.95)] * 1000:.1f} ms, "
              f"p99 {ts[int(len(ts) * 0.99)] * 1000:.1f} ms; "
              f"({state.over_budget} stopped by the time budget), slowest {state.slowest[0]:.3f} s on the server "
              f"({state.slowest[1][:80]}), {state.slowest_client:.3f} s on the client; GET / polled "
              f"{len(state.index_polls)} times, slowest {max(state.index_polls, default=0):.3f} s")
        assert not state.index_failures, state.index_failures[:5]
        assert state.index_polls and max(state.index_polls) < LIMIT_S  # the event loop was never held
    finally:
        proc.terminate()
        proc.wait(10)


def _poll_index(state: Run, stop: threading.Event) -> None:
    with httpx.Client(base_url=state.url, timeout=10) as c:
        while not stop.is_set():
            t = time.perf_counter()
            try:
                r = c.get("/")
                if r.status_code != 200:
                    state.index_failures.append(f"GET / answered {r.status_code}")
            except httpx.HTTPError as e:
                state.index_failures.append(f"GET /: {e!r}")
            state.index_polls.append(time.perf_counter() - t)
            stop.wait(0.1)


@pytest.fixture(scope="module")
def schemas(run: Run) -> Schemas:
    return Schemas(httpx.get(run.url + "/openapi.json", timeout=10).json())


def test_every_endpoint_is_fuzzed(schemas: Schemas) -> None:
    posts = {p for p, ops in schemas.doc["paths"].items() if "post" in ops}
    assert set(EXAMPLES) - OPTIONAL <= posts <= set(EXAMPLES), "a new endpoint: give it examples in EXAMPLES"


@pytest.mark.parametrize("path", sorted(EXAMPLES))
def test_fuzz_post(run: Run, schemas: Schemas, path: str) -> None:
    if path not in schemas.doc["paths"]:
        pytest.skip(f"this memfit has no {path}")
    with httpx.Client(base_url=run.url, timeout=30) as client:

        @settings(max_examples=EXAMPLES[path], deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))
        @given(body=schemas.body(path))
        def one(body: Any) -> None:
            run.post(client, path, encode(body))

        one()
        for raw in RAW:
            run.post(client, path, raw)


def test_fuzz_get(run: Run, schemas: Schemas) -> None:
    gets = [p for p, ops in schemas.doc["paths"].items() if "get" in ops]
    with httpx.Client(base_url=run.url, timeout=30) as client:

        @settings(max_examples=20, deadline=None, database=None, derandomize=True)
        @given(path=st.sampled_from([*gets, "/", "/static/main.js", "/openapi.json"]),
               query=st.text(max_size=40))
        def one(path: str, query: str) -> None:
            t = time.perf_counter()
            r = client.get(path, params={"q": query})
            run.sent += 1
            assert r.status_code < 500 and time.perf_counter() - t < LIMIT_S, (path, r.status_code)

        one()
        for path in ("/static/%ED%A0%80", "/static/..%2f..%2fserver.py", "/api/%ff", "/" + "a" * 5000):
            r = client.get(path)
            assert r.status_code < 500, (path, r.status_code)

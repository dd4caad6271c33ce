""""What runs on my GPU" on the web: POST /api/fits answers at once (202 while the list is computed, then the list
itself, remembered), and the list is the function's, unchanged. The job's plumbing is tested here with a stand-in
for ``memfit.whatfits.models_that_fit`` (the real one takes tens of seconds over the whole catalog); the page's
browser test runs the real one once. Skipped where memfit has no whatfits."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from conftest import WEB_TEST_BUDGET_S

pytest.importorskip("fastapi")
pytest.importorskip("memfit.whatfits")
from fastapi.testclient import TestClient

from memfit.errors import ConfigError
from memfit.hardware import get_device
from memfit.web import fits
from memfit.web.server import create_app

CALLS: list[tuple[Any, ...]] = []


@dataclass(frozen=True)
class Row:
    model: str
    fits: bool

    def to_json(self) -> dict[str, Any]:
        return {"model": self.model, "fits": self.fits}


def stand_in(gpu: str, *, context: int | None = None, runtime: str = "transformers",
             memory: int | str | None = None) -> list[Row]:
    """models_that_fit's signature and answer shape, answered in a quarter of a second."""
    CALLS.append((gpu, context, runtime, memory))
    time.sleep(0.25)
    if context == 999:
        raise ConfigError("context = 999 is refused by the stand-in")
    return [Row(f"{get_device(gpu).id}-{runtime}-{context}", True), Row("too-big", False)]


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    real = fits.available
    fits.available = lambda: stand_in  # type: ignore[assignment]
    try:
        with TestClient(create_app(budget_s=WEB_TEST_BUDGET_S), raise_server_exceptions=False) as c:
            yield c
    finally:
        fits.available = real


def ask(client: TestClient, body: dict[str, Any], timeout: float = 120) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        t = time.perf_counter()
        r = client.post("/api/fits", json=body)
        assert time.perf_counter() - t < 2.0  # every answer at once, the list or "computing"
        if r.status_code not in (202, 429):
            return r
        assert r.json()["status"] in ("computing", "busy")
        assert time.monotonic() < deadline, "the list never came"
        time.sleep(0.2)


def test_the_list_is_the_functions_and_computed_once(client: TestClient) -> None:
    assert client.get("/api/info").json()["features"]["fits"] is True
    body = {"gpu": "rtx 4090", "runtime": "llamacpp", "context": 8192}
    first = client.post("/api/fits", json=body)
    assert first.status_code == 202 and first.json()["status"] == "computing"
    r = ask(client, body)
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["status"] == "done" and doc["device"] == "rtx-4090"
    assert doc["models"] == [{"model": "rtx-4090-llamacpp-8192", "fits": True}, {"model": "too-big", "fits": False}]
    again = client.post("/api/fits", json=body)
    assert again.status_code == 200 and again.json() == doc  # remembered
    assert CALLS.count(("rtx 4090", 8192, "llamacpp", None)) == 1  # one job, however often the page asks


def test_one_list_at_a_time_and_no_queue(client: TestClient) -> None:
    first = client.post("/api/fits", json={"gpu": "rtx-4090", "context": 1111})
    assert first.status_code == 202
    other = client.post("/api/fits", json={"gpu": "rtx-4090", "context": 2222})
    assert other.status_code == 429 and other.json()["status"] == "busy"
    assert ask(client, {"gpu": "rtx-4090", "context": 1111}).status_code == 200
    assert ask(client, {"gpu": "rtx-4090", "context": 2222}).status_code == 200  # its turn once the first is done


def test_a_refusal_is_said_and_remembered(client: TestClient) -> None:
    r = ask(client, {"gpu": "rtx-4090", "context": 999})
    assert r.status_code == 422 and r.json() == {"status": "refused",
                                                  "error": "context = 999 is refused by the stand-in"}


@pytest.mark.parametrize(("body", "status"), [
    ({"gpu": "rtx 9090"}, 400), ({"gpu": "rtx-4090", "runtime": "tensorrt"}, 422),
    ({"gpu": "rtx-4090", "context": 0}, 422), ({"gpu": "rtx-4090", "extra": 1}, 422), ({}, 422),
    ({"gpu": "rtx-4090\ud800"}, 422),
])
def test_bad_questions_are_refused_at_once(client: TestClient, body: dict[str, Any], status: int) -> None:
    raw = json.dumps(body).encode("ascii")  # a lone surrogate travels as a \\uXXXX escape
    r = client.post("/api/fits", content=raw, headers={"content-type": "application/json"})
    assert r.status_code == status, r.text
    assert r.json()["error"]

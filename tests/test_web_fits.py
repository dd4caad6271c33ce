""""What runs on my GPU" on the web: POST /api/fits answers at once (202 while the list is computed, then the list
itself), and the list is memfit.whatfits.models_that_fit's, unchanged. Skipped where memfit has no whatfits."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("memfit.whatfits")
from fastapi.testclient import TestClient

from memfit import whatfits
from memfit.web.server import create_app


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    with TestClient(create_app(), raise_server_exceptions=False) as c:
        yield c


def ask(client: TestClient, body: dict[str, Any], timeout: float = 120) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        t = time.perf_counter()
        r = client.post("/api/fits", json=body)
        assert time.perf_counter() - t < 2.0  # every answer at once, the list or "computing"
        if r.status_code != 202:
            return r
        assert r.json()["status"] == "computing"
        assert time.monotonic() < deadline, "the list never came"
        time.sleep(0.2)


def test_the_list_is_models_that_fit(client: TestClient) -> None:
    assert client.get("/api/info").json()["features"]["fits"] is True
    r = ask(client, {"gpu": "rtx-4090", "runtime": "llamacpp", "context": 8192})
    assert r.status_code == 200, r.text
    doc = r.json()
    expected = [m.to_json() for m in whatfits.models_that_fit("rtx-4090", context=8192, runtime="llamacpp")]
    assert doc["status"] == "done" and doc["device"] == "rtx-4090" and doc["models"] == expected
    again = client.post("/api/fits", json={"gpu": "rtx-4090", "runtime": "llamacpp", "context": 8192})
    assert again.status_code == 200 and again.json() == doc  # remembered


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

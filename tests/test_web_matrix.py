"""POST /api/matrix: memfit.fit_matrix on the web, through the same validation and time budget as every other
computation: the answer is the library's, bad input is a 4xx naming the field, and a request too heavy for the
budget is a 422 at once."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from conftest import WEB_TEST_BUDGET_S

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient

from memfit import fit_matrix
from memfit.web.server import create_app


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    with TestClient(create_app(budget_s=WEB_TEST_BUDGET_S), raise_server_exceptions=False) as c:
        yield c


@pytest.mark.parametrize(("body", "kwargs"), [
    ({"model": "llama-3.1-8b", "gpu": "rtx-4090"}, {}),
    ({"model": "llama-3.1-8b", "gpu": "rtx 4090", "runtime": "vllm", "context": 8192}, {"runtime": "vllm",
                                                                                       "context": 8192}),
    ({"model": "qwen3-30b-a3b", "gpu": "h100", "runtime": "llamacpp", "batch": 2}, {"runtime": "llamacpp",
                                                                                    "batch": 2}),
    ({"model": "gpt-oss-20b", "gpu": "rtx-4090", "runtime": "ollama", "memory": "20GB"}, {"runtime": "ollama",
                                                                                          "memory": "20GB"}),
])
def test_the_answer_is_the_librarys(client: TestClient, body: dict[str, Any], kwargs: dict[str, Any]) -> None:
    r = client.post("/api/matrix", json=body)
    assert r.status_code == 200, r.text
    assert r.json() == fit_matrix(body["model"], body["gpu"], **kwargs).to_json()
    cells = r.json()["cells"]
    assert len(cells) == 16 and {c["fits"] for c in cells} <= {True, False, None}


@pytest.mark.parametrize(("body", "status", "field"), [
    ({"model": "llama-3.1-8b", "gpu": "rtx-4090", "runtime": "tensorrt"}, 422, "runtime"),
    ({"model": "llama-3.1-8b", "gpu": "rtx-4090", "context": 0}, 422, "context"),
    ({"model": "llama-3.1-8b", "gpu": "rtx-4090", "batch": "2"}, 422, "batch"),
    ({"model": "llama-3.1-8b", "gpu": "rtx-4090", "mode": "train"}, 422, "mode"),  # not a field of the matrix
    ({"model": "llama-3.1-8b"}, 422, "gpu"),
    ({"model": "llama-3.1-8b", "gpu": "rtx-9999"}, 400, None),
    ({"model": "no-such-model", "gpu": "rtx-4090"}, 400, None),
    ({"model": "/etc/passwd", "gpu": "rtx-4090"}, 400, None),
])
def test_bad_input_is_refused_with_the_field(client: TestClient, body: dict[str, Any], status: int,
                                             field: str | None) -> None:
    r = client.post("/api/matrix", json=body)
    assert r.status_code == status, r.text
    assert "Traceback" not in r.text
    if field:
        assert field in r.json()["error"]


def test_a_lone_surrogate_is_a_422(client: TestClient) -> None:
    raw = json.dumps({"model": "llama-3.1-8b\ud800", "gpu": "rtx-4090"}).encode("ascii")
    r = client.post("/api/matrix", content=raw, headers={"content-type": "application/json"})
    assert r.status_code == 422 and "surrogate" in r.text


def test_a_heavy_matrix_is_stopped_by_the_budget() -> None:
    from test_web_bounds import deep_llama

    with TestClient(create_app(budget_s=0.2), raise_server_exceptions=False) as c:
        t = time.perf_counter()
        r = c.post("/api/matrix", json={"model": deep_llama(), "gpu": "h100", "context": 131_072})
        took = time.perf_counter() - t
    assert r.status_code == 422 and r.json()["budget_s"] == 0.2, r.text[:300]
    assert took < 2.0

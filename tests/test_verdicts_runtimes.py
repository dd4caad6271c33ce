"""Every runtime memfit knows, everywhere (issue 15): the web accepts each of ``memfit.options.RUNTIMES``; Ollama
(a preset over llama.cpp's graph) follows llama.cpp's rules through one predicate; and a ``--context`` the
user gives under ``--runtime ollama`` is taken as it is, even at memfit's default of 2,048 tokens."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

import memfit
from _cli import run
from conftest import WEB_TEST_BUDGET_S
from memfit.errors import UnsupportedError
from memfit.levers import cheapest_fixes
from memfit.options import RUNTIMES
from memfit.plan import layouts
from memfit.rules import LLAMACPP_GRAPH, on_llamacpp, resolve
from memfit.whatfits import FORMATS_BY_RUNTIME
from memfit.workload import Workload

# llama-3.1-8b: 32 layers × 8 KV heads × 128 × (K + V) × 2 bytes (f16) = 131,072 bytes per token
KV_PER_TOKEN = 32 * 8 * 128 * 2 * 2
OLLAMA_24GIB = 32_768  # Ollama's default context for 24 GiB of VRAM (data/ollama.toml, tests/test_ollama.py)


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    pytest.importorskip("fastapi")
    pytest.importorskip("httpx")
    from fastapi.testclient import TestClient

    from memfit.web.server import create_app

    with TestClient(create_app(budget_s=WEB_TEST_BUDGET_S), raise_server_exceptions=False) as c:
        yield c


def test_the_web_knows_every_runtime(client: Any) -> None:
    schema = client.get("/openapi.json").json()["components"]["schemas"]
    assert schema["FitsRequest"]["properties"]["runtime"]["enum"] == list(RUNTIMES)
    from memfit.web.schemas import FitsRequest

    for rt in ("sglang", "ollama"):  # before: a 422 on /api/fits
        assert FitsRequest.model_validate({"gpu": "rtx-4090", "runtime": rt}).runtime == rt
    r = client.post("/api/fits", json={"gpu": "rtx-4090", "runtime": "no-such-runtime"})
    assert r.status_code == 422 and "runtime" in r.json()["error"]
    assert set(FORMATS_BY_RUNTIME) == set(RUNTIMES)


def test_one_predicate_for_the_runtimes_on_llamacpps_graph() -> None:
    assert LLAMACPP_GRAPH == ("llamacpp", "ollama")
    assert [rt for rt in RUNTIMES if on_llamacpp(rt)] == ["llamacpp", "ollama"]
    spec = memfit.load_model("llama-3.1-8b")
    for rt in LLAMACPP_GRAPH:
        with pytest.raises(UnsupportedError, match=r"llama\.cpp has no --tp/--pp"):
            memfit.fit(spec, "h100", mode="inference", runtime=rt, gpus=2, tp=2, context=4096)
        assert all(lay["tp"] == 1 for lay in layouts(spec, 4, "inference", rt))  # layers split, no tensor split
        wl, _ = resolve(Workload(mode="inference", runtime=rt, n_gpu_layers=10), {"mode", "runtime", "n_gpu_layers"})
        assert wl.runtime == rt  # -ngl is read by Ollama too (its num_gpu); before: refused under ollama
        assert FORMATS_BY_RUNTIME[rt] == FORMATS_BY_RUNTIME["llamacpp"]
    # the cheapest fixes under Ollama are llama.cpp's: a q8_0 KV cache and GGUF types, never bitsandbytes
    wl = Workload(mode="inference", runtime="ollama", dtype="bf16", context=8192)
    fixes = cheapest_fixes(wl, lambda w: memfit.fit(spec, "rtx-4060-ti-16gb", w))
    changes = [f.change for f in fixes]
    assert changes and all("quant" not in c for c in changes)
    assert any(c.get("dtype") in ("q8_0", "q6_k", "q4_k_m") or c.get("kv_dtype") == "q8_0" for c in changes)
    ans = memfit.plan(spec, "rtx-4090", mode="inference", runtime="ollama", context=4096)
    assert "gpu_layers" in ans.to_json()["answers"]  # plan asks the -ngl question under Ollama as under llama.cpp


@pytest.mark.parametrize(("given", "context"), [([], OLLAMA_24GIB), (["--context", "2048"], 2048),
                                                 (["--context", "8192"], 8192)])
def test_a_given_context_is_taken_as_it_is_under_ollama(given: list[str], context: int, client: Any,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    # before: --context 2048 (memfit's default) was read as "not given" and replaced by 32,768 on a 4090
    base = ["llama-3.1-8b", "--gpu", "rtx-4090", "--mode", "inference", "--runtime", "ollama", "--dtype", "q4_k_m"]
    kw: dict[str, Any] = {"mode": "inference", "runtime": "ollama", "dtype": "q4_k_m",
                          **({"context": int(given[1])} if given else {})}
    seen = []
    for cmd in (["estimate", *base, *given, "--json"], ["fit", *base, *given, "--json"]):
        code, out, err = run(cmd, capsys)
        assert code == 0, err
        doc = json.loads(out)
        seen.append((doc.get("estimate") or doc)["details"])
    seen.append(memfit.fit("llama-3.1-8b", "rtx-4090", **kw).estimate.details)
    seen.append(memfit.estimate("llama-3.1-8b", device=memfit.get_device("rtx-4090"), **kw).details)
    r = client.post("/api/fit", json={"model": "llama-3.1-8b", "gpu": "rtx-4090", **kw})
    assert r.status_code == 200, r.text
    seen.append(r.json()["estimate"]["details"])
    for d in seen:
        assert d["ollama_context"] == context and d["kv_cache_bytes"] == context * KV_PER_TOKEN
    ans = memfit.plan("llama-3.1-8b", "rtx-4090", questions=("gpus",), **kw).to_json()["answers"]["min_gpus"]
    assert ans["workload"]["context"] == context


def test_ollama_without_a_gpu_needs_a_context(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["estimate", "llama-3.1-8b", "--mode", "inference", "--runtime", "ollama"], capsys)
    assert code == 2 and "pass --gpu" in err and "--context" in err
    est = memfit.estimate("llama-3.1-8b", mode="inference", runtime="ollama", dtype="q4_k_m", context=2048)
    assert est.details["ollama_context"] == 2048 and est.details["kv_cache_bytes"] == 2048 * KV_PER_TOKEN


def test_what_runs_listing_asks_ollamas_context() -> None:
    from memfit.whatfits import asked_context

    dev = memfit.get_device("rtx-4090")
    assert asked_context(dev, "ollama", None) == OLLAMA_24GIB  # models --fits --runtime ollama: Ollama's own
    assert asked_context(dev, "ollama", 2048) == 2048 and asked_context(dev, "llamacpp", None) == 2048

"""One verdict per question across the CLI, the Python API and the web API (issue 15): for every command × mode ×
runtime × format of the matrix, ``POST /api/fit``, ``/api/estimate`` and ``/api/plan`` answer what ``memfit fit``
and ``memfit.fit`` answer — the same fits / does not fit, the same bytes, or the same refusal line.

The web API takes the options the way the command line does: the fields a request sets decide the mode (a
runtime or a context implies inference), and a request with no mode asks whether the model runs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

from fastapi.testclient import TestClient

import memfit
from _cli import run
from memfit.errors import MemfitError
from memfit.fit import meant_workload
from memfit.hardware import get_device
from memfit.options import RUNTIMES
from memfit.web.server import create_app

GPU = "rtx-4090"
FORMATS = (None, "bf16", "q4_k_m", "awq", "nf4", "fp8")
CASES = [("inference", rt, fmt) for rt in RUNTIMES for fmt in FORMATS] + \
        [(mode, None, fmt) for mode in ("train", "lora", "qlora") for fmt in (None, "bf16", "q4_k_m", "nf4")]


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    # a generous budget: these tests compare verdicts across CLI, Python and web, not the web's deadline
    # (test_web_bounds.py tests the deadline); under a loaded machine the default 1.5 s can pass before a plan ends
    with TestClient(create_app(budget_s=30.0), raise_server_exceptions=False) as c:
        yield c


def _flags(kw: dict[str, Any]) -> list[str]:
    out: list[str] = []
    for k, v in kw.items():
        out += ["--" + k.replace("_", "-"), str(v)]
    return out


def _same_verdict(client: TestClient, model: str, gpu: str, kw: dict[str, Any],
                  capsys: pytest.CaptureFixture[str]) -> bool | None:
    """Assert that CLI, Python and web API give one verdict for ``model`` on ``gpu`` with options ``kw``;
    return it (None: all three refuse with the same line)."""
    body = {"model": model, "gpu": gpu, **kw}
    code, out, err = run(["fit", model, "--gpu", gpu, *_flags(kw), "--json"], capsys)
    fit_r, est_r = client.post("/api/fit", json=body), client.post("/api/estimate", json={"model": model, **kw})
    plan_r = client.post("/api/plan", json={**body, "questions": ["context"]})
    try:
        api = memfit.fit(model, gpu, **kw)
    except MemfitError as e:
        assert code == 2 and err.strip() == f"error: {e}"
        for r in (fit_r, plan_r):
            assert r.status_code == 400 and r.json()["error"] == str(e), (r.url, r.text)
        try:
            memfit.estimate(model, **kw)
        except MemfitError as e2:  # estimate refuses what fit refuses, with its own line
            assert est_r.status_code == 400 and est_r.json()["error"] == str(e2), est_r.text
        return None
    assert code == 0, err
    doc, web = json.loads(out), fit_r.json()
    assert fit_r.status_code == 200, fit_r.text
    assert doc["fits"] == api.fits == web["fits"]
    assert doc["per_gpu_bytes"] == list(api.per_gpu_bytes) == web["per_gpu_bytes"]
    assert web["notes"] == list(api.notes) and web["estimate"]["mode"] == api.estimate.mode
    wl, _ = meant_workload(None, kw)
    py_est = None
    try:  # estimate answers its own question (with no mode: the weights), the same in Python and on the web
        py_est = memfit.estimate(model, **kw)
        assert est_r.status_code == 200, est_r.text
        assert est_r.json()["total_bytes"] == py_est.total_bytes
    except MemfitError as e:  # the engines that plan for the device may need one (Ollama picks its context by it)
        assert wl.runtime == "ollama" and est_r.status_code == 400 and est_r.json()["error"] == str(e)
    planned = wl.mode == "inference" and wl.runtime in ("vllm", "sglang", "ollama")  # for the device, by the device
    if py_est is not None and py_est.mode == api.estimate.mode and not planned:
        # on the same GPU: the CUDA context is its generation's (data/runtime_overheads.toml)
        on_gpu = memfit.estimate(model, device=get_device(gpu), **kw)
        assert on_gpu.total_bytes == api.estimate.total_bytes
    if wl.mode != "weights":
        assert plan_r.status_code == 200, plan_r.text
        ans = plan_r.json()["answers"]["max_context"]
        assert (ans["value"] is not None and ans["value"] >= wl.context) == api.fits, ans["explanation"]
    else:  # a weights-only question has no context to plan: the same refusal as `memfit plan -q context`
        c2, o2, _ = run(["plan", model, "--gpu", gpu, *_flags(kw), "-q", "context"], capsys)
        assert plan_r.status_code == 400 and c2 == 2 and f"context: cannot answer: {plan_r.json()['error']}" in o2
    return api.fits


@pytest.mark.parametrize("model", ["llama-3.2-3b", "gpt-oss-20b"])
@pytest.mark.parametrize(("mode", "runtime", "fmt"), CASES)
def test_one_verdict_across_cli_python_and_web(client: TestClient, model: str, mode: str, runtime: str | None,
                                               fmt: str | None, capsys: pytest.CaptureFixture[str]) -> None:
    kw: dict[str, Any] = {"mode": mode, "context": 4096, **({"runtime": runtime} if runtime else {}),
                          **({"dtype": fmt} if fmt else {})}
    _same_verdict(client, model, GPU, kw, capsys)


@pytest.mark.parametrize(("model", "gpu", "kw", "fits"), [
    # the README's vLLM example with no --mode: the runtime and context imply inference; vLLM's pool on each
    # H100 (0.9 × 79.18 GiB less 70.55 GB of weights) cannot hold one 8,192-token sequence. Before: the web
    # API judged the weights alone and said it fits.
    ("llama-3.1-70b", "h100", {"gpus": 2, "tp": 2, "runtime": "vllm", "context": 8192}, False),
    ("llama-3.1-8b", "t4", {}, False),  # no option at all: does it run? (16.06 GB of weights, 15 GiB)
    ("llama-3.2-1b", "rtx-4090", {"context": 8192}, True),
    ("llama-3.1-8b", "t4", {"mode": "weights"}, False),
    ("llama-3.2-3b", "t4", {"mode": "weights"}, True),
    ("llama-3.1-8b", "rtx-4090", {"n_gpu_layers": 20}, True),  # -ngl implies inference under llama.cpp
    ("llama-3.1-8b", "rtx-4090", {"mode": "weights", "context": 8192}, None),  # unread option: one refusal
])
def test_implied_modes_give_one_verdict(client: TestClient, model: str, gpu: str, kw: dict[str, Any],
                                        fits: bool | None, capsys: pytest.CaptureFixture[str]) -> None:
    assert _same_verdict(client, model, gpu, kw, capsys) is fits


def test_web_notes_say_what_the_options_implied(client: TestClient) -> None:
    doc = client.post("/api/fit", json={"model": "llama-3.1-8b", "gpu": "rtx-4090", "n_gpu_layers": 20}).json()
    assert doc["estimate"]["mode"] == "inference" and doc["estimate"]["details"]["runtime"] == "llamacpp"
    assert doc["notes"][:2] == ["-ngl implies --mode inference (KV cache and runtime buffers counted)",
                                "-ngl implies --runtime llamacpp"]
    est = client.post("/api/estimate", json={"model": "llama-3.2-1b", "context": 4096}).json()
    assert est["mode"] == "inference" and est["notes"][0].startswith("--context implies --mode inference")


# ZeRO-3 offloading llama-3.1-8b's parameters and optimizer states needs 8.03 B parameters x 16 B = 128.5 GB of
# host RAM per GPU (FSDP2's CPUOffloadPolicy: fp32 parameters, gradients and AdamW's two states): 128 GB is too
# little, 160 GB enough (full checkpointing, so that the GPU side fits a 4090). host_memory is the CLI's
# --host-memory: judged by fit when given, and the only way plan's gpus question searches offload.
OFFLOAD = {"mode": "train", "zero": 3, "offload": "params", "checkpointing": "full"}


@pytest.mark.parametrize(("host", "fits"), [("128GB", False), ("160GB", True), (160_000_000_000, True)])
def test_host_memory_gives_one_fit_verdict(client: TestClient, host: str | int, fits: bool,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    web = client.post("/api/fit", json={"model": "llama-3.1-8b", "gpu": GPU, "host_memory": host, **OFFLOAD})
    api = memfit.fit("llama-3.1-8b", GPU, host_memory=host, **OFFLOAD)
    code, out, err = run(["fit", "llama-3.1-8b", "--gpu", GPU, "--host-memory", str(host), *_flags(OFFLOAD),
                          "--json"], capsys)
    assert code == 0 and web.status_code == 200, (err, web.text)
    doc, w = json.loads(out), web.json()
    assert doc["fits"] is api.fits is w["fits"] is fits
    assert doc["per_gpu_bytes"] == list(api.per_gpu_bytes) == w["per_gpu_bytes"]
    assert 128e9 < api.host_bytes == doc["host_bytes"] == w["host_bytes"] < 160e9  # type: ignore[operator]
    assert w["notes"] == list(api.notes) == doc["notes"]
    assert any("more than the 128.00 GB" in n for n in w["notes"]) is not fits


def test_host_memory_lets_web_plan_search_offload(client: TestClient, capsys: pytest.CaptureFixture[str]) -> None:
    body = {"model": "llama-3.1-8b", "gpu": GPU, "mode": "train", "questions": ["gpus"]}
    without = client.post("/api/plan", json=body)
    web = client.post("/api/plan", json={**body, "host_memory": "160GB"})
    assert without.status_code == web.status_code == 200, (without.text, web.text)
    api = memfit.plan("llama-3.1-8b", GPU, mode="train", questions=("gpus",), host_memory="160GB").to_json()
    code, out, err = run(["plan", "llama-3.1-8b", "--gpu", GPU, "--mode", "train", "-q", "gpus",
                          "--host-memory", "160GB", "--json"], capsys)
    assert code == 0, err
    cli = json.loads(out)["answers"]["min_gpus"]
    assert web.json() == json.loads(json.dumps(api))  # memfit.plan's answer, as JSON
    ans = web.json()["answers"]["min_gpus"]
    assert ans["value"] == cli["value"] == 1 and ans["at_value"] == cli["at_value"]
    assert 128e9 < ans["at_value"]["host_bytes"] < 160e9
    assert without.json()["answers"]["min_gpus"]["value"] > 1  # no offload searched without the host RAM


@pytest.mark.parametrize(("host", "status"), [(-1, 422), (0, 422), (1.5, 422), ("", 422), ("x" * 25, 422),
                                              ("lots", 400), ("0GB", 400)])
@pytest.mark.parametrize("path", ["/api/fit", "/api/plan"])
def test_bad_host_memory_is_refused_as_the_cli_refuses_it(client: TestClient, path: str, host: Any, status: int,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    r = client.post(path, json={"model": "llama-3.1-8b", "gpu": GPU, "host_memory": host, **OFFLOAD})
    assert r.status_code == status, r.text
    if status == 422:  # the wrong type or range: named before any arithmetic
        assert r.json()["detail"][0]["field"].split(".")[0] == "host_memory", r.text
        assert r.json()["error"].startswith("invalid request: host_memory")
    else:  # a size the CLI cannot read: the CLI's line
        code, _, err = run(["fit", "llama-3.1-8b", "--gpu", GPU, "--host-memory", host, *_flags(OFFLOAD)], capsys)
        assert code == 2 and err.strip().splitlines()[-1] == f"error: {r.json()['error']}"


def test_advise_takes_no_host_memory(client: TestClient) -> None:  # as `memfit advise` has no --host-memory
    r = client.post("/api/advise", json={"model": "llama-3.1-8b", "gpu": GPU, "host_memory": "64GB"})
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "host_memory", r.text

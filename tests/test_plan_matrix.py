"""Every plan answer, over a matrix of questions (gpus, context, batch, layers, quant) × workloads (inference on
three runtimes, training, LoRA, QLoRA) × models and GPUs, fits at the answer and not one step beyond it — each
checked by an independent ``memfit.fit`` on the answered workload; for the fewest GPUs, no layout and lever
setting (offload with the host RAM given, every micro-batch) fits on one GPU fewer, by brute force (issue 15)."""

from __future__ import annotations

from typing import Any

import pytest

import memfit
from memfit.errors import MemfitError
from memfit.workload import Workload
from test_plan_search import every_layout

LARGEST: list[tuple[str, str, str, dict[str, Any]]] = [
    ("context", "llama-3.1-8b", "rtx-4090", {"mode": "inference"}),
    ("context", "llama-3.1-8b", "rtx-4090", {"mode": "inference", "runtime": "vllm"}),
    ("context", "qwen2.5-7b", "t4", {"mode": "inference", "runtime": "llamacpp", "dtype": "q4_k_m"}),
    ("context", "qwen2.5-0.5b-instruct", "t4", {"mode": "train", "checkpointing": "full"}),
    ("context", "gpt-oss-20b", "rtx-4090", {"mode": "inference", "runtime": "vllm"}),
    ("context", "llama-3.1-8b", "a100-80gb", {"mode": "lora"}),
    ("context", "mistral-7b-v0.3", "rtx-4090", {"mode": "qlora"}),
    ("batch", "llama-3.1-8b", "h100", {"mode": "inference", "context": 4096}),
    ("batch", "llama-3.1-8b", "h100", {"mode": "inference", "runtime": "vllm", "context": 8192}),
    ("batch", "qwen2.5-7b", "rtx-4090", {"mode": "inference", "runtime": "llamacpp", "dtype": "q4_k_m"}),
    ("batch", "llama-3.2-1b", "rtx-4090", {"mode": "train", "context": 1024}),
    ("batch", "qwen2.5-7b", "a100-80gb", {"mode": "lora", "context": 1024}),
    ("n_gpu_layers", "llama-3.1-70b", "rtx-4090", {"mode": "inference", "runtime": "llamacpp", "dtype": "q4_k_m"}),
    ("n_gpu_layers", "mixtral-8x7b-v0.1", "rtx-3090", {"mode": "inference", "runtime": "llamacpp",
                                                       "dtype": "q4_k_m", "context": 8192}),
]


def _fits(model: str, gpu: str, wl: Workload, **device: Any) -> bool:
    """Fits as plan answers: without the caching allocator's retries at the capacity (memfit.fit.without_retries)."""
    try:
        r = memfit.fit(model, gpu, wl, **device)
        return r.fits and not r.needs_retries
    except MemfitError:  # a workload the runtime cannot run does not fit
        return False


@pytest.mark.parametrize(("variable", "model", "gpu", "opts"), LARGEST,
                         ids=[f"{v}-{m}-{g}-{o.get('runtime', o['mode'])}" for v, m, g, o in LARGEST])
def test_the_largest_value_fits_and_one_more_does_not(variable: str, model: str, gpu: str,
                                                      opts: dict[str, Any]) -> None:
    if variable == "n_gpu_layers":
        a = memfit.plan_gpu_layers(model, gpu, **opts)
    else:
        a = {"context": memfit.plan_context, "batch": memfit.plan_batch}[variable](model, gpu, **opts)
    assert a.value is not None, a.explanation
    at = a.workload
    assert getattr(at, variable) == a.value
    assert _fits(model, gpu, at)  # an independent fit on the answered workload
    if not a.capped:
        assert not _fits(model, gpu, at.replace(**{variable: a.value + 1})), a.explanation


GPUS: list[tuple[str, str, dict[str, Any], dict[str, Any]]] = [
    ("llama-3.1-70b", "rtx-3090", {}, {"mode": "inference", "context": 8192}),
    ("llama-3.1-70b", "rtx-3090", {}, {"mode": "inference", "quant": "nf4"}),
    ("llama-3.1-70b", "l40s", {}, {"mode": "inference", "runtime": "vllm", "context": 8192}),
    ("llama-3.1-70b", "rtx-4090", {}, {"mode": "inference", "runtime": "llamacpp", "dtype": "q4_k_m"}),
    ("llama-3.1-8b", "t4", {"host_memory": "64GB"}, {"mode": "train", "batch": 4, "context": 1024}),
    ("qwen2.5-7b", "rtx-4090", {"host_memory": "96GB"}, {"mode": "lora", "batch": 2, "context": 2048}),
]  # QLoRA on more than one GPU is FSDP1 (tests/test_plan_qlora.py), MoE LoRA refused (tests/test_parallel_fsdp.py)


@pytest.mark.parametrize(("model", "gpu", "device", "opts"), GPUS,
                         ids=[f"{m}-{g}-{o.get('runtime', o['mode'])}" for m, g, d, o in GPUS])
def test_the_fewest_gpus_fit_and_one_fewer_does_not(model: str, gpu: str, device: dict[str, Any],
                                                   opts: dict[str, Any]) -> None:
    a = memfit.plan_gpus(model, gpu, limit=64, **device, **opts)
    assert a.value is not None, a.explanation
    assert _fits(model, gpu, a.workload, **device)
    assert a.workload.gpus == a.value
    if a.value > 1:
        below = list(every_layout(memfit.load_model(model), a.value - 1, opts["mode"],
                                  opts.get("runtime", "transformers"), "host_memory" in device, opts.get("batch", 1),
                                  opts.get("grad_accum", 1)))
        assert below
        for lay in below:
            assert not _fits(model, gpu, Workload(**{**opts, **lay}), **device), lay


@pytest.mark.parametrize(("model", "gpu", "opts"), [
    ("llama-3.1-8b", "rtx-4060-ti-16gb", {"mode": "inference", "context": 8192}),
    ("llama-3.1-70b", "rtx-4090", {"mode": "inference", "runtime": "llamacpp"}),
    ("qwen2.5-7b", "t4", {"mode": "inference", "runtime": "vllm"}),
])
def test_every_format_the_advisor_lists_is_the_verdict_of_fit(model: str, gpu: str, opts: dict[str, Any]) -> None:
    adv = memfit.advise(model, gpu, **opts)
    assert adv.rows
    for row in adv.rows:
        if row.error:
            continue
        wl = Workload(**opts).replace(dtype=row.format, runtime=row.runtime)
        assert _fits(model, gpu, wl) == row.fits, row.format


def test_nothing_fits_lists_the_cheapest_changes() -> None:
    a = memfit.plan_gpus("llama-3.1-70b", "rtx-3090", mode="inference", limit=2)
    assert a.value is None
    assert a.extra["fixes"] and a.extra["fixes"][0]["change"] == {"quant": "nf4"}  # the first that fits
    fix = a.extra["fixes"][0]
    assert _fits("llama-3.1-70b", "rtx-3090", Workload(mode="inference", quant="nf4", gpus=fix["gpus"]))
    t = memfit.plan_gpus("llama-3.1-8b", "rtx-4090", mode="train", limit=1)  # offload not searched: no host RAM
    first = t.extra["fixes"][0]
    assert "host_memory" in first["change"] and first["gpus"] == 1 and "--host-memory" in first["text"]
    # with that much host RAM the search itself finds it
    again = memfit.plan_gpus("llama-3.1-8b", "rtx-4090", mode="train", limit=1, host_memory=first["host_bytes"])
    assert again.value == 1 and again.extra["layout"]["offload"] != "none"

"""plan -q gpus as a search (issue 15): every answer fits at the answer, and on one GPU fewer no layout fits with
any lever the search may use (checked here by brute force over every layout and lever); answers in bounded
work for up to 100,000 GPUs (the timing target lives in benchmarks/bench_plan.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import memfit
from memfit.errors import MemfitError
from memfit.rules import tp_problem
from memfit.spec import ModelSpec


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def every_layout(spec: ModelSpec, n: int, mode: str, runtime: str, offload: bool = False,
                 batch: int = 1, grad_accum: int = 1) -> Iterator[dict[str, Any]]:
    """Every layout and lever setting on exactly n GPUs that the engines accept (written independently of
    plan_search: the divisibility rules, DeepSpeed's ZeRO ≤ 1 with pipeline stages, all checkpointing modes;
    with ``offload``, DeepSpeed's offload_optimizer (ZeRO ≥ 1) and offload_param (ZeRO-3), on one GPU too;
    every micro-batch dividing ``batch`` with the same tokens per optimizer step)."""
    for lay in _layouts(spec, n, mode, runtime, offload):
        if mode == "inference":
            yield lay
            continue
        for micro in _divisors(batch):
            yield {**lay, "batch": micro, "grad_accum": grad_accum * batch // micro}


def _layouts(spec: ModelSpec, n: int, mode: str, runtime: str, offload: bool) -> Iterator[dict[str, Any]]:
    layers = spec.num_layers
    if mode == "inference" and runtime != "vllm":
        yield {"gpus": n}
        return
    engine = "vllm" if mode == "inference" else "megatron"
    for tp in (t for t in _divisors(n) if t <= 8 and tp_problem(spec, t, engine) is None):
        for pp in _divisors(n // tp):
            if mode == "inference":
                if tp * pp == n and pp <= layers:
                    yield {"gpus": n, "tp": tp, "pp": pp}
                continue
            if layers % pp:
                continue
            dp = n // (tp * pp)
            experts = spec.moe_layers[0].num_experts if spec.is_moe else 1
            for ep in (e for e in _divisors(dp) if experts % e == 0):
                for zero in ((0, 1) if pp > 1 else (0, 1, 2, 3)) if dp > 1 or offload else (0,):
                    offs = ["none"] + (["optimizer"] if offload and zero >= 1 else []) + \
                        (["params"] if offload and zero == 3 else [])
                    for off in offs:
                        for ckpt in ("none", "selective", "full"):
                            for sp in ((False, True) if tp > 1 else (False,)):
                                yield {"gpus": n, "tp": tp, "pp": pp, "ep": ep, "zero": zero, "offload": off,
                                       "checkpointing": ckpt, "sequence_parallel": sp}


def _fits(model: str, gpu: str, opts: dict[str, Any], lay: dict[str, Any], **device: Any) -> bool:
    try:
        return memfit.fit(model, gpu, **device, **{**opts, **lay}).fits
    except MemfitError:
        return False


@pytest.mark.parametrize(("model", "gpu", "opts", "expected"), [
    ("llama-3.1-70b", "a100-80gb", {"mode": "train"}, 16),
    ("llama-3.1-8b", "rtx-4090", {"mode": "train", "context": 1024}, None),
    ("qwen3-30b-a3b", "h100", {"mode": "train"}, None),
    ("qwen2.5-7b", "t4", {"mode": "inference", "runtime": "vllm", "context": 8192}, None),
    ("llama-3.1-70b", "rtx-3090", {"mode": "inference", "context": 4096}, None),
])  # Mixtral LoRA on several GPUs is refused: tests/test_parallel_fsdp.py
def test_answer_fits_and_one_fewer_does_not(model: str, gpu: str, opts: dict[str, Any], expected: int | None) -> None:
    a = memfit.plan_gpus(model, gpu, limit=64, **opts)
    assert a.value is not None, a.explanation
    if expected is not None:
        assert a.value == expected
    assert a.at_value is not None and a.at_value.fits
    assert memfit.fit(model, gpu, **{**opts, **a.extra["layout"]}).fits
    spec = memfit.load_model(model)
    if a.value > 1:
        below = list(every_layout(spec, a.value - 1, opts["mode"], opts.get("runtime", "transformers")))
        assert below
        for lay in below:
            assert not _fits(model, gpu, opts, lay), lay


# all levers allowed: ZeRO-Offload with the host RAM per GPU given, micro-batches with accumulation
@pytest.mark.parametrize(("model", "gpu", "device", "opts"), [
    ("llama-3.1-8b", "rtx-4090", {"host_memory": "128GB"}, {"mode": "train"}),
    ("llama-3.1-8b", "rtx-4090", {"host_memory": "160GB"}, {"mode": "train"}),  # one GPU with offload_param
    ("llama-3.2-1b", "t4", {"memory": "6GB", "host_memory": "16GB"}, {"mode": "train", "batch": 4, "context": 1024}),
    ("llama-3.2-1b", "t4", {}, {"mode": "lora", "batch": 6, "context": 2048}),
    ("qwen2.5-0.5b", "t4", {"memory": "4GB", "host_memory": "4GB"}, {"mode": "train", "batch": 2,
                                                                   "grad_accum": 2, "context": 1024}),
    ("llama-3.2-1b", "t4", {"memory": "3GB", "host_memory": "6GB"}, {"mode": "train", "batch": 2, "context": 512}),
    ("qwen2.5-7b", "rtx-4090", {"host_memory": "64GB"}, {"mode": "train", "batch": 4, "context": 1024}),
])  # llama-3.1-8b LoRA on T4s, b4 s4096, has no FSDP answer: tests/test_parallel_fsdp.py
def test_with_offload_and_micro_batch_the_answer_fits_and_one_fewer_does_not(
        model: str, gpu: str, device: dict[str, str], opts: dict[str, Any]) -> None:
    a = memfit.plan_gpus(model, gpu, limit=64, **device, **opts)
    assert a.value is not None, a.explanation
    lay = a.extra["layout"]
    r = memfit.fit(model, gpu, **device, **{**opts, **lay})  # an independent fit on the answered layout
    assert r.fits and r.max_gpu_bytes == a.at_value.max_gpu_bytes  # type: ignore[union-attr]
    if "host_memory" in device and lay["offload"] != "none":
        assert 0 < r.host_bytes <= memfit.get_device(gpu, host_memory=device["host_memory"]).host_bytes  # type: ignore[operator]
    if a.value > 1:
        spec = memfit.load_model(model)
        below = list(every_layout(spec, a.value - 1, opts["mode"], "transformers", "host_memory" in device,
                                  opts.get("batch", 1), opts.get("grad_accum", 1)))
        assert below
        for b in below:
            assert not _fits(model, gpu, opts, b, **device), b


def test_offload_needs_the_host_ram_and_zero() -> None:
    one = memfit.plan_gpus("llama-3.1-8b", "rtx-4090", mode="train", host_memory="160GB", limit=8)
    assert one.value == 1 and one.extra["layout"]["offload"] == "params" and one.extra["layout"]["zero"] == 3
    # 8.03 B parameters × 16 B: FSDP2's CPUOffloadPolicy keeps the fp32 parameters, gradients and AdamW's two states
    # on the host (what --offload params means, on one GPU as on several: memory/training/parallel_fsdp.py)
    assert one.extra["host_bytes"] == 16 * 8_030_261_248
    short = memfit.plan_gpus("llama-3.1-8b", "rtx-4090", mode="train", host_memory="128GB", limit=8)
    assert short.value == 2  # 144 GB of states do not fit 128 GB of host RAM on one GPU
    unknown = memfit.plan_gpus("llama-3.1-8b", "rtx-4090", mode="train", limit=8)
    assert unknown.extra["offload_searched"] is False and "--host-memory" in unknown.explanation
    assert unknown.extra["layout"]["offload"] == "none"


def test_levers_the_user_set_are_kept() -> None:
    a = memfit.plan_gpus("llama-3.1-70b", "a100-80gb", mode="train", checkpointing="selective", zero=1, limit=64)
    assert a.extra["layout"]["checkpointing"] == "selective" and a.extra["layout"]["zero"] == 1
    b = memfit.plan_gpus("llama-3.1-70b", "a100-80gb", mode="train", limit=64)
    assert b.value is not None and a.value is not None and b.value <= a.value


def test_deepseek_r1_training_on_t4s_is_bounded_work() -> None:
    # before: a scan of every count and layout (over 10 minutes for --limit 100000); now a few dozen estimates.
    # The layouts that fit 16 GB T4s put tensor and expert parallelism inside pipeline stages (it answered 1,952 GPUs:
    # tp 8 x pp 61 x ep 2), which plan no longer searches (torch's PP x TP ranks are not modelled): it says so.
    a = memfit.plan_gpus("deepseek-r1", "t4", mode="train", limit=100_000)
    assert a.value is None and a.extra["layouts_tried"] < 200
    assert "no layout of up to 100,000 GPUs fits" in a.explanation
    assert "tensor or expert parallelism inside pipeline stages" in a.explanation
    none = memfit.plan_gpus("deepseek-r1", "t4", mode="train", limit=512)  # 16 bytes × 671 B / 512 > 14.56 GiB
    assert none.value is None and none.extra["layouts_tried"] == 0

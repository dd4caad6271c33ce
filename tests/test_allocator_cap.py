"""At the device's capacity PyTorch's caching allocator frees its cached segments and retries cudaMalloc
(c10/cuda/CUDACachingAllocator.cpp, DeviceCachingAllocator::malloc: release_available_cached_blocks, then
release_cached_blocks, then alloc_block(isRetry=true), num_alloc_retries): the device total of a run whose allocated
peak fits is at most the capacity, and `fit` says it fits with retries (memory/allocator_cap.py)."""

from __future__ import annotations

from dataclasses import replace

import memfit
from memfit.inventory import ParameterCount
from memfit.memory.allocator_cap import RETRIES_KEY, cap_reserve
from memfit.result import Component, Estimate

GB = 10**9


def _est(per_gpu: bool = False) -> Estimate:
    comps = (Component("weights", 10 * GB), Component("allocator_reserve", 6 * GB), Component("cuda_context", GB),
             Component("offloaded", 5 * GB, on_device=False))
    details = {"per_gpu": [{"rank": 0, "components": {"weights": 10 * GB, "allocator_reserve": 6 * GB,
                                                      "cuda_context": GB}}]} if per_gpu else {}
    return Estimate("m", "train", "bf16", ParameterCount(1, {}, 1), comps, allocated_bytes=10 * GB, details=details)


def test_reserve_cut_to_the_capacity() -> None:
    # 10 GB allocated + 6 GB reserve + 1 GB context = 17 GB on an unbounded device; a 14 GB device: the reserve is
    # 14 - (10 + 1) = 3 GB, 3 GB freed; the host component is not on the device and is left alone
    capped = cap_reserve(_est(), 14 * GB)
    assert capped.total_bytes == 14 * GB
    assert capped.component("allocator_reserve") == 3 * GB
    assert capped.allocated_bytes == 10 * GB and capped.host_bytes == 5 * GB
    assert capped.details[RETRIES_KEY] == {"uncapped_total_bytes": 17 * GB, "capacity_bytes": 14 * GB,
                                           "freed_bytes": 3 * GB}
    assert any("allocator retries" in n for n in capped.notes)


def test_one_gpu_breakdown_follows() -> None:
    capped = cap_reserve(_est(per_gpu=True), 14 * GB)
    assert capped.details["per_gpu"][0]["components"]["allocator_reserve"] == 3 * GB
    assert capped.details["per_gpu"][0]["rank"] == 0


def test_left_as_is_without_a_device_when_it_fits_or_when_the_peak_does_not() -> None:
    est = _est()
    assert cap_reserve(est, None) is est  # no GPU given: the total is uncapped
    assert cap_reserve(est, 17 * GB) is est  # the whole reserve fits
    assert cap_reserve(est, 11 * GB - 1) is est  # allocated + context = 11 GB does not fit: an OOM, no retry helps
    assert cap_reserve(est, 11 * GB).component("allocator_reserve") == 0  # every cached segment freed
    two = replace(est, details={"per_gpu": [{"components": {"allocator_reserve": 6 * GB}}] * 2})
    assert cap_reserve(two, 14 * GB) is two  # several GPUs: not rewritten


def test_fit_with_a_small_memory_says_retries() -> None:
    wl = dict(mode="train", batch=2, context=512, dtype="bf16")
    est = memfit.estimate("gpt2", memfit.Workload(**wl))  # type: ignore[arg-type]
    reserve = est.component("allocator_reserve")
    assert reserve > 0
    memory = est.total_bytes - reserve // 2  # below the replayed total, above allocated + context
    r = memfit.fit("gpt2", "h100", memory=memory, **wl)
    assert r.fits and r.per_gpu_bytes == (memory,) and r.headroom_bytes == 0
    assert r.estimate.component("allocator_reserve") == reserve - reserve // 2
    assert "only with allocator retries" in r.summary()
    r = memfit.fit("gpt2", "h100", memory=est.total_bytes - reserve - 1, **wl)  # allocated + context: 1 byte short
    assert not r.fits and r.headroom_bytes == -reserve - 1 and "short by" in r.summary()


def test_a_capped_total_is_a_bound_and_not_compared() -> None:
    """retried_total: "" for an estimate that was not capped; for one that was, why its device total is not scored.
    The hand-made estimate: 10 GB weights + 6 GB reserve + 1 GB context on a 12 GB device -> capped (17 > 12 >= 11)."""
    from memfit.memory.allocator_cap import retried_total

    assert retried_total(_est()) == ""
    capped = cap_reserve(_est(), 12 * GB)
    why = retried_total(capped)
    assert why.startswith("device total not compared: the unbounded pool (17.00 GB") and "12.00 GB" in why


def test_validate_leaves_the_capped_published_rows_out_of_the_device_total() -> None:
    """published-dev.jsonl's full bf16 b8 row (A100-80GB): the allocated peak is still predicted (72,484,429,824 B),
    the device total is not (the unbounded pool, 91.20 GB, exceeds the A100's 84.92 GB), its reason in the note; the
    b4 row, which fits unbounded, keeps its total."""
    import json
    from pathlib import Path

    from memfit.validate import _predict

    path = Path(__file__).parent / "data" / "groundtruth" / "published-dev.jsonl"
    recs = {r["case"]: r for r in map(json.loads, path.read_text().splitlines()) if "case" in r}
    alloc, total, why = _predict(recs["mistral-7b-v0.1/fms-full-bf16-adamw-ckpt-fa2-b8-s4096"])
    assert (alloc, total) == (72_484_429_824, None) and "not compared" in why and "91.20 GB" in why
    lora = next(c for c in recs if "fms-lora" in c and "-b4-" in c)
    assert _predict(recs[lora])[1] is not None and _predict(recs[lora])[2] == ""

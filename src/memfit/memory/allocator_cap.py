"""The device's capacity bounds the caching allocator's reserve: at capacity it empties its cache and retries.

PyTorch's CUDA caching allocator (``c10/cuda/CUDACachingAllocator.cpp``, ``DeviceCachingAllocator::malloc``), when no
cached block fits a request, asks ``cudaMalloc`` for a new segment (``alloc_block``); when that fails it frees cached
unused segments large enough for the request (``release_available_cached_blocks``) and retries, then frees every
unused cached segment (``release_cached_blocks``) and retries once more (``alloc_block(..., isRetry=true)``, which
counts ``num_alloc_retries`` in ``torch.cuda.memory_stats()``); only then does it raise the out-of-memory error. So a
run whose allocated peak fits never holds more reserved memory than the device has: the reserve the replay finds
(cached segments kept after frees) is what the allocator keeps *while it can*, and at the device's capacity it is
emptied instead, slower (every retry synchronizes and frees segments that are then ``cudaMalloc``-ed again).

:func:`cap_reserve` applies that to an estimate: with a device whose capacity (the CUDA total, ``hardware.Device``;
``--memory`` where given) is below the estimate's device total, while the total without the reserve fits, the
reserve is cut so the total is the capacity, and the estimate says the run needs allocator retries. Without a device
the total is uncapped (the replay's reserve, as an unbounded device would hold it). What is not modelled: the part of
the reserve in segments that hold a live block at that moment (``release_cached_blocks`` frees whole unused segments
only), so a run within a few hundred MB of its capacity may still fail where memfit says it fits with retries.
Estimates with a per-GPU breakdown of more than one GPU (multi-GPU) are left as they are.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ..result import Component, Estimate
from ..units import fmt_bytes

__all__ = ["RETRIES_KEY", "cap_reserve", "retried_total"]

RETRIES_KEY = "allocator_retries"  # Estimate.details key: the capped run's figures (uncapped total, capacity, freed)


def cap_reserve(est: Estimate, capacity: int | None) -> Estimate:
    """``est`` with its ``allocator_reserve`` cut so that the device total is ``capacity``, where the total is
    above it and the total less the reserve (the allocated peak + the CUDA context + what else is on the device) is
    not; otherwise ``est`` as it is (no capacity, no reserve, a per-GPU breakdown, or a run that does not fit)."""
    reserve = est.component("allocator_reserve")
    total = est.total_bytes
    one = _one_gpu_entry(est)
    if not capacity or capacity <= 0 or reserve <= 0 or total <= capacity or one is False:
        return est
    if sum(c.name == "allocator_reserve" for c in est.components) != 1:
        return est
    rest = total - reserve
    if rest > capacity:  # the allocated peak itself does not fit: out of memory, no retry helps
        return est
    kept = capacity - rest
    freed = reserve - kept
    comp = Component("allocator_reserve", kept, (
        f"caching-allocator reserve capped by the device: the replay keeps {fmt_bytes(reserve)} of cached segments, "
        f"but at the capacity ({fmt_bytes(capacity)}) cudaMalloc fails and PyTorch frees its unused cached segments "
        f"and retries (CUDACachingAllocator.cpp malloc: release_available_cached_blocks, release_cached_blocks; "
        f"num_alloc_retries > 0): {fmt_bytes(capacity)} - {fmt_bytes(rest)} = {fmt_bytes(kept)}"))
    note = (f"fits only with allocator retries: the caching allocator would keep {fmt_bytes(total)} on an unbounded "
            f"device; at this device's {fmt_bytes(capacity)} it frees {fmt_bytes(freed)} of cached segments and "
            "retries cudaMalloc (slower: each retry synchronizes and re-allocates; torch.cuda.memory_stats() counts "
            "num_alloc_retries)")
    comps = tuple(comp if c.name == "allocator_reserve" else c for c in est.components)
    details = dict(est.details)
    if isinstance(one, dict):  # a one-GPU breakdown (training's rank 0) carries the same reserve
        details["per_gpu"] = [{**one, "components": {**one["components"], "allocator_reserve": kept}}]
    details = {**details, RETRIES_KEY: {"uncapped_total_bytes": total, "capacity_bytes": capacity,
                                            "freed_bytes": freed}}
    return replace(est, components=comps, details=details, notes=(*est.notes, note))


def _one_gpu_entry(est: Estimate) -> dict[str, Any] | bool | None:
    """The single GPU entry of ``details["per_gpu"]`` (a dict whose components hold the reserve), None where the
    estimate has no breakdown, False where it has several GPUs or a shape this does not rewrite."""
    per = est.details.get("per_gpu")
    if per is None:
        return None
    if isinstance(per, list) and len(per) == 1 and isinstance(per[0], dict):
        parts = per[0].get("components")
        if isinstance(parts, dict) and parts.get("allocator_reserve") == est.component("allocator_reserve"):
            return dict(per[0])
    return False


def retried_total(est: Estimate) -> str:
    """Why a capped estimate's device total is not compared with a measured nvidia-smi peak ("" when it was not
    capped). Where the unbounded pool exceeds the device, the run's allocator empties its cache and retries (above);
    how much it holds afterwards, and what a once-a-second nvidia-smi sample catches of the moment before, depend on
    the retries' timing, which memfit does not model: its total there is a bound (the capacity), not a prediction."""
    capped = est.details.get(RETRIES_KEY)
    if not isinstance(capped, dict):
        return ""
    return (f"device total not compared: the unbounded pool ({fmt_bytes(int(capped['uncapped_total_bytes']))}) "
            f"exceeds the GPU's {fmt_bytes(int(capped['capacity_bytes']))}, so the run's allocator freed its cache "
            "and retried (CUDACachingAllocator.cpp malloc); its nvidia-smi peak is set by those retries and by when "
            "it was sampled, which memfit does not model")

"""When it does not fit: the cheapest single changes that would make it fit, ranked.

Each lever is one change an engine accepts, listed from the cheapest (costs nothing in speed or quality) to the
dearest (a smaller quantization, a different fine-tuning method); every one is judged with a real estimate on
the same device, and only those that fit are kept: ``add --checkpointing full: fits at 58.80 GB``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .errors import MemfitError
from .fit import TRAIN_MODES, FitResult
from .memory.runtimes.engine_profile import vllm_utilization
from .rules import flag, on_llamacpp
from .units import fmt_bytes
from .workload import Workload

__all__ = ["Fix", "change_text", "cheapest_fixes", "gpu_count_changes"]


@dataclass(frozen=True)
class Fix:
    """One change (Workload fields) that makes the workload fit, with the bytes per GPU it then needs."""

    change: dict[str, Any]
    per_gpu_bytes: int
    capacity_bytes: int
    text: str

    def to_json(self) -> dict[str, Any]:
        return {"change": self.change, "per_gpu_bytes": self.per_gpu_bytes, "capacity_bytes": self.capacity_bytes,
                "text": self.text}


def _candidates(wl: Workload) -> list[dict[str, Any]]:
    """Single changes, cheapest first (cost in speed or quality, as engines document them)."""
    out: list[dict[str, Any]] = []
    if wl.mode in TRAIN_MODES:
        if wl.checkpointing != "full":
            out += [{"checkpointing": "selective"}] if wl.checkpointing == "none" else []
            out.append({"checkpointing": "full"})
        if wl.gpus > 1 and wl.zero < 3 and wl.pp == 1:
            out.append({"zero": 3})
        if wl.optimizer in ("adamw", "adamw-fused", "adamw-foreach"):
            out.append({"optimizer": "adamw8bit"})
        if wl.batch > 1:
            out.append({"batch": 1, "grad_accum": wl.grad_accum * wl.batch})
        if wl.offload == "none":  # DeepSpeed ZeRO-Offload, on one GPU too: optimizer (ZeRO >= 1), params (ZeRO-3)
            out.append({"offload": "optimizer"} if wl.zero >= 1 else {"zero": 1 if wl.pp > 1 else 3,
                                                                        "offload": "optimizer"})
            if wl.pp == 1:
                out.append({"zero": 3, "offload": "params"})
        if wl.mode == "train":
            out.append({"mode": "lora"})
        if wl.mode in ("train", "lora"):
            out.append({"mode": "qlora", "quant": "nf4-dq"})
        return out
    if wl.mode == "inference":
        if wl.runtime == "vllm":
            out += [{"gpu_memory_utilization": 0.95}] if vllm_utilization(wl) < 0.95 else []
            out += [{"kv_dtype": "fp8"}] if wl.kv_dtype is None else []
            out += [{"dtype": "fp8"}, {"dtype": "awq"}]
        elif on_llamacpp(wl.runtime):
            out += [{"kv_dtype": "q8_0"}] if wl.kv_dtype is None else []
            out += [{"dtype": d} for d in ("q8_0", "q6_k", "q4_k_m", "q3_k_m")]
        else:
            out += [{"quant": q} for q in ("int8", "nf4") if wl.quant is None]
        if wl.batch > 1:
            out.append({"batch": 1})
    else:
        out += [{"dtype": d} for d in ("fp8", "int8", "nf4", "q4_k_m")]
    return out


def gpu_count_changes(wl: Workload) -> list[dict[str, Any]]:
    """Changes that ``plan -q gpus`` does not search, cheapest first, for when no GPU count fits: a smaller
    optimizer, LoRA, QLoRA (training); a smaller format or KV cache (inference)."""
    if wl.mode in TRAIN_MODES:
        keep = ("optimizer", "mode")
        return [c for c in _candidates(wl) if set(c) - {"quant"} <= set(keep) and "checkpointing" not in c]
    return [c for c in _candidates(wl) if "batch" not in c and "gpu_memory_utilization" not in c]


def change_text(change: dict[str, Any]) -> str:
    """``{"optimizer": "adamw8bit"}`` → ``--optimizer adamw8bit``."""
    parts: list[str] = []
    for k, v in change.items():
        if k == "mode":
            parts.append(f"--mode {v}")
        elif isinstance(v, bool):
            parts.append(flag(k) if v else f"--no-{k.replace('_', '-')}")
        else:
            parts.append(f"{flag(k)} {v}")
    return " ".join(parts)


def _text(change: dict[str, Any], r: FitResult) -> str:
    parts: list[str] = []
    for k, v in change.items():
        if k == "mode":
            parts.append(f"--mode {v}")
        elif k == "grad_accum":
            parts.append(f"--grad-accum {v} (same tokens per step)")
        elif isinstance(v, bool):
            parts.append(flag(k) if v else f"--no-{k.replace('_', '-')}")
        else:
            parts.append(f"{flag(k)} {v}")
    text = f"add {' '.join(parts)}: fits at {fmt_bytes(r.max_gpu_bytes)} of {fmt_bytes(r.capacity_bytes)} per GPU"
    if r.host_bytes and "offload" in change:
        text += f", with {fmt_bytes(r.host_bytes)} of host RAM per GPU" + \
            ("" if r.device.host_bytes is not None else " (give --host-memory to check it)")
    return text


def cheapest_fixes(wl: Workload, judge: Callable[[Workload], FitResult], limit: int = 4) -> list[Fix]:
    """Up to ``limit`` single changes to ``wl`` that fit under ``judge``, cheapest first."""
    out: list[Fix] = []
    for change in _candidates(wl):
        try:
            cand = wl.replace(**change).validate()
            r = judge(cand)
        except MemfitError:  # a change this model or runtime cannot take
            continue
        if r.fits:
            out.append(Fix(change, r.max_gpu_bytes, r.capacity_bytes, _text(change, r)))
            if len(out) >= limit:
                break
    if not out:  # no single change: the cheapest levers together, added one at a time until it fits
        together: dict[str, Any] = {}
        for change in _candidates(wl):
            together.update(change)
            try:
                r = judge(wl.replace(**together).validate())
            except MemfitError:
                continue
            if r.fits:
                together, r = _pruned(wl, together, r, judge)
                out.append(Fix(dict(together), r.max_gpu_bytes, r.capacity_bytes, _text(together, r)))
                break
    return out


def _pruned(wl: Workload, together: dict[str, Any], r: FitResult, judge: Callable[[Workload], FitResult]
            ) -> tuple[dict[str, Any], FitResult]:
    """Drop each lever the set does not need (it still fits without it)."""
    for key in [k for k in together if k not in ("grad_accum", "quant")]:
        trial = {k: v for k, v in together.items() if k != key and not (key == "batch" and k == "grad_accum")}
        if key == "mode":
            trial.pop("quant", None)
        try:
            rt = judge(wl.replace(**trial).validate())
        except MemfitError:
            continue
        if rt.fits:
            together, r = trial, rt
    return together, r

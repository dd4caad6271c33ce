"""What runs on my GPU: every catalog model with the best weight format and the longest context that fit.

For each model the formats the runtime runs are tried best first (the checkpoint's own format, 16-bit, then
8-bit, then 4-bit and below); the first whose weights fit and whose inference at the asked context fits is
the answer, with the longest context in it (up to the model's own maximum, as ``plan_context`` answers it).
A model that fits in no format is listed with the reason. The same function serves the CLI
(``memfit models --fits``) and the page.

It computes less than asking each question in full, never something else: the weights alone (cached per model
and format) rule a format out before any inference estimate; the longest context is searched between the asked
context (which fits) and the model's maximum (tried first: most models fit there), each step guessing the
crossing from the two bracketing estimates (bytes grow almost linearly with the context; vLLM's pool says its
longest sequence) and halving the bracket whenever a guess does not; ``plan_largest`` then confirms the answer
at it and one token beyond and words it. ``tests/test_whatfits.py`` compares the answers with the full
``plan_context`` search for models × GPUs × runtimes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .errors import MemfitError
from .estimate import default_format, estimate, runtime_context
from .fit import FitResult, estimate_on, fit_estimate
from .hardware import Device, get_device
from .plan import DEFAULT_CONTEXT_LIMIT, plan_largest
from .sources.catalog import catalog
from .sources.loader import load_model
from .workload import Workload

__all__ = ["FORMATS_BY_RUNTIME", "ModelFit", "asked_context", "models_that_fit"]

# best first; the checkpoint's own format is tried before these
FORMATS_BY_RUNTIME: dict[str, tuple[str, ...]] = {
    "transformers": ("bfloat16", "bnb-int8", "nf4"),
    "vllm": ("bfloat16", "fp8", "awq"),
    "llamacpp": ("bfloat16", "q8_0", "q6_k", "q5_k_m", "q4_k_m", "q3_k_m", "q2_k"),
}
FORMATS_BY_RUNTIME["ollama"] = FORMATS_BY_RUNTIME["llamacpp"]  # Ollama runs GGUF files through llama.cpp
FORMATS_BY_RUNTIME["sglang"] = FORMATS_BY_RUNTIME["vllm"]  # SGLang serves the same checkpoint formats


@dataclass(frozen=True)
class ModelFit:
    """One catalog model on the device: the best format that fits and the longest context in it."""

    model: str
    parameters: int
    fits: bool
    format: str | None
    max_context: int | None
    bytes_at_context: int | None  # per GPU at ``context`` (the asked one, or 2,048)
    capacity_bytes: int
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {"model": self.model, "parameters": self.parameters, "fits": self.fits, "format": self.format,
                "max_context": self.max_context, "bytes_at_context": self.bytes_at_context,
                "capacity_bytes": self.capacity_bytes, "reason": self.reason}


def _formats(spec: Any, runtime: str) -> list[str]:
    own = default_format(spec, "inference")
    out = [own] + [f for f in FORMATS_BY_RUNTIME[runtime] if f != own]
    return out


def _judge(spec: Any, device: Device, w: Workload, context: int) -> FitResult:
    at = w.replace(context=context)
    return fit_estimate(estimate_on(spec, at, device), device, at)


def _guess(good: tuple[int, FitResult], bad: tuple[int, FitResult]) -> int:
    """Where the bracket (``good`` fits, ``bad`` does not) most likely crosses: the engine's own longest
    sequence when it says one, else the linear interpolation of the bytes per GPU against the capacity."""
    (g, rg), (b, rb) = good, bad
    hint = rg.estimate.details.get("max_context_one_sequence")
    if isinstance(hint, int) and g < hint < b:
        return hint
    span = rb.max_gpu_bytes - rg.max_gpu_bytes
    if span > 0:
        return g + (b - g) * max(0, rg.capacity_bytes - rg.max_gpu_bytes) // span
    return (g + b) // 2


def longest_context(spec: Any, device: Device, w: Workload, lo: int, hi: int, at_lo: FitResult) -> int:
    """The largest context in [lo, hi] that fits, given that ``lo`` fits (``at_lo``): ``hi`` first, then a
    bracket narrowed by guesses (each checked with its neighbour), halved whenever a guess does not halve it."""
    if hi <= lo:
        return lo
    at_hi = _judge(spec, device, w, hi)
    if at_hi.fits:
        return hi
    good, bad = (lo, at_lo), (hi, at_hi)
    while bad[0] - good[0] > 1:
        width = bad[0] - good[0]
        v = min(max(_guess(good, bad), good[0] + 1), bad[0] - 1)
        r = _judge(spec, device, w, v)
        if r.fits:
            good = (v, r)
            if v + 1 < bad[0]:  # the guess is likely the boundary: its neighbour settles it
                r1 = _judge(spec, device, w, v + 1)
                good, bad = ((v + 1, r1), bad) if r1.fits else (good, (v + 1, r1))
        else:
            bad = (v, r)
            if v - 1 > good[0]:
                r1 = _judge(spec, device, w, v - 1)
                good, bad = ((v - 1, r1), bad) if r1.fits else (good, (v - 1, r1))
        if bad[0] - good[0] > width // 2 and bad[0] - good[0] > 1:  # the guess did not halve it: bisect once
            mid = (good[0] + bad[0]) // 2
            r = _judge(spec, device, w, mid)
            good, bad = ((mid, r), bad) if r.fits else (good, (mid, r))
    return good[0]


def _context_limit(spec: Any, w: Workload) -> int:
    """``plan_context``'s limit: the model's positions minus the generated tokens."""
    return max(1, (spec.max_position_embeddings or DEFAULT_CONTEXT_LIMIT) - w.new_tokens)


def _one(model_id: str, device: Device, wl: Workload) -> ModelFit:
    spec = load_model(model_id)
    params = estimate(spec, Workload()).parameters.total
    reasons: list[str] = []
    for fmt in _formats(spec, wl.runtime):
        try:
            weights = estimate(spec, Workload(dtype=fmt)).total_bytes  # a lower bound: skip the format at once
            if weights > device.capacity_bytes:
                reasons.append(f"{fmt} weights alone need {weights / 1e9:.1f} GB")
                continue
            w = wl.replace(dtype=fmt)
            r = _judge(spec, device, w, wl.context)
            if not r.fits:
                reasons.append(f"{fmt} at {wl.context:,} tokens needs {r.max_gpu_bytes / 1e9:.1f} GB")
                continue
            hi = _context_limit(spec, w)
            if wl.context > hi:  # asked beyond the model's positions: the full search, as plan_context does
                ans = plan_largest(spec, device, "context", w, limit=hi, question="max_context")
            else:  # plan_largest words the answer from the estimates at it and one token beyond
                best = longest_context(spec, device, w, wl.context, hi, r)
                ans = plan_largest(spec, device, "context", w, lowest=best, limit=min(best + 1, hi),
                                   question="max_context")
            return ModelFit(spec.name, params, True, fmt, ans.value, r.max_gpu_bytes, device.capacity_bytes,
                            ans.explanation)
        except MemfitError as e:  # the runtime cannot run this format or model: try the next
            reasons.append(f"{fmt}: {e}")
    return ModelFit(spec.name, params, False, None, None, None, device.capacity_bytes,
                    "; ".join(reasons[:3]) or "no format to try")


def asked_context(device: Device, runtime: str, context: int | None) -> int:
    """The context the listing asks for: ``context``, else 2,048 (Ollama: its default for the device's VRAM)."""
    wl, _ = runtime_context(Workload(mode="inference", runtime=runtime, context=context or 2048),
                            ("context",) if context else (), device)
    return wl.context


def models_that_fit(gpu: str | Device, *, context: int | None = None, runtime: str = "transformers",
                    memory: int | str | None = None) -> list[ModelFit]:
    """Every catalog model on ``gpu`` (inference with ``runtime``, one sequence of at least ``context``
    tokens, 2,048 when not given), in catalog order: the best format that fits and the longest context in it."""
    device = get_device(gpu, memory=memory)
    wl = Workload(mode="inference", runtime=runtime, context=asked_context(device, runtime, context)).validate()
    return [_one(e.id, device, wl) for e in catalog()]

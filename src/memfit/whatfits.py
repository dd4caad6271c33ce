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

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from .errors import MemfitError
from .estimate import default_format, estimate, runtime_context
from .fit import FitResult, estimate_on, fit_estimate, without_retries
from .hardware import Device, get_device
from .plan import DEFAULT_CONTEXT_LIMIT, plan_largest
from .result import Estimate
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


class _Estimates:
    """One model and format on the device: every estimate made for the list, kept for ``plan_largest`` to reuse
    (it words the answer from the estimates at it and one token beyond, which the search has already made)."""

    def __init__(self, device: Device) -> None:
        self.device = device
        self.done: dict[Workload, Estimate] = {}

    def __call__(self, spec: Any, wl: Workload) -> Estimate:
        est = self.done.get(wl)
        if est is None:
            est = self.done[wl] = estimate_on(spec, wl, self.device)
        return est


def _judge(spec: Any, device: Device, w: Workload, context: int, seen: _Estimates | None = None) -> FitResult:
    at = w.replace(context=context)
    est = seen(spec, at) if seen is not None else estimate_on(spec, at, device)
    return without_retries(fit_estimate(est, device, at))  # as plan answers: the allocator keeps its cache


def _margin(r: FitResult) -> float:
    return float(r.capacity_bytes - r.max_gpu_bytes)


def longest_context(judge: Callable[[int], FitResult], lo: int, hi: int, at_lo: FitResult) -> int:
    """The largest context in [lo, hi] that fits (``judge(context)``), given that ``lo`` fits (``at_lo``): ``hi``
    first, then the bracket narrowed by regula falsi on the bytes left (the Illinois variant: an end kept twice
    counts half, so a convex curve cannot pin it), starting from the engine's own longest sequence where it says
    one (vLLM's pool), with a bisection step whenever two guesses in a row have not halved the bracket (so at most
    three estimates per halving, whatever the curve)."""
    if hi <= lo:
        return lo
    at_hi = judge(hi)
    if at_hi.fits:
        return hi
    (g, fg), (b, fb) = (lo, _margin(at_lo)), (hi, _margin(at_hi))
    hint = at_lo.estimate.details.get("max_context_one_sequence")
    width, slow, kept = hi - lo, 0, 0
    while b - g > 1:
        if isinstance(hint, int) and g < hint < b:
            v, hint = hint, None
        elif slow >= 2 or fg == fb:  # the guesses are not closing in: halve the bracket
            v, slow = (g + b) // 2, 0
        else:
            v = g + int((b - g) * fg / (fg - fb))
        v = min(max(v, g + 1), b - 1)
        r = judge(v)
        # the same bytes as the end it replaces, on a curve that does grow: a step curve
        plateau = fg != fb and _margin(r) == (fg if r.fits else fb)
        if r.fits:
            g, fg = v, _margin(r)
            kept = kept + 1 if kept > 0 else 1
            if kept >= 2:
                fb /= 2
        else:
            b, fb = v, _margin(r)
            kept = kept - 1 if kept < 0 else -1
            if kept <= -2:
                fg /= 2
        if 2 * (b - g) <= width:
            width, slow = b - g, 0
        else:
            slow = 2 if plateau else slow + 1  # a step (llama.cpp's 256 cells, allocator blocks): halve next
    return g


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
            seen = _Estimates(device)
            r = _judge(spec, device, w, wl.context, seen)
            if not r.fits:
                reasons.append(f"{fmt} at {wl.context:,} tokens needs {r.max_gpu_bytes / 1e9:.1f} GB")
                continue
            hi = _context_limit(spec, w)
            if wl.context > hi:  # asked beyond the model's positions: the full search, as plan_context does
                ans = plan_largest(spec, device, "context", w, limit=hi, question="max_context", estimator=seen)
            else:  # plan_largest words the answer from the estimates at it and one token beyond
                best = longest_context(partial(_judge, spec, device, w, seen=seen), wl.context, hi, r)
                ans = plan_largest(spec, device, "context", w, lowest=best, limit=min(best + 1, hi),
                                   question="max_context", estimator=seen)
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

"""What runs on my GPU: every catalog model with the best weight format and the longest context that fit.

For each model the formats the runtime runs are tried best first (the checkpoint's own format, 16-bit, then
8-bit, then 4-bit and below); the first whose weights fit and whose inference at the asked context fits is
the answer, and ``plan_context`` finds the longest context in it (up to the model's own maximum). A model that
fits in no format is listed with the reason. The same function serves the CLI (``memfit models --fits``) and
the page.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .errors import MemfitError
from .estimate import default_format, estimate, runtime_context
from .fit import fit_estimate
from .hardware import Device, get_device
from .plan import plan_context
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


def _one(model_id: str, device: Device, wl: Workload) -> ModelFit:
    spec = load_model(model_id)
    params = estimate(spec, Workload()).parameters.total
    reasons: list[str] = []
    for fmt in _formats(spec, wl.runtime):
        try:
            weights = estimate(spec, Workload(dtype=fmt)).total_bytes
            if weights > device.capacity_bytes:
                reasons.append(f"{fmt} weights alone need {weights / 1e9:.1f} GB")
                continue
            w = wl.replace(dtype=fmt)
            from .fit import estimate_on

            r = fit_estimate(estimate_on(spec, w, device), device, w)
            if not r.fits:
                reasons.append(f"{fmt} at {wl.context:,} tokens needs {r.max_gpu_bytes / 1e9:.1f} GB")
                continue
            ans = plan_context(spec, device, w)
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

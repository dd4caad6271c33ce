"""The transformers profile's estimate: the allocated peak of ``transformers.py``'s moments, the caching
allocator's reserve from the emulated run (``transformers_pool.py``) and the CUDA context of the GPU."""

from __future__ import annotations

from ...formats import bnb_format
from ...hardware import Device
from ...inventory import count_parameters
from ...result import Component, Estimate
from ...spec import ModelSpec
from ...units import fmt_bytes
from ...workload import Workload
from ..kv_cache import kv_cache_bytes
from ..moe_release import expert_linears
from ..overhead import allocator_reserve_component, context_on_device, cublas_workspace_bytes, cuda_context_component
from ..weights import weights_component
from .int8_outliers import outlier_range_note
from .transformers import _cache_dtype, _model_dtype
from .transformers_moments import cache_reset_length
from .transformers_pool import transformers_pool, transformers_reserve
from .transformers_release import buffer_bytes, inference_release, release_moments, release_note

__all__ = ["estimate_transformers"]


def estimate_transformers(spec: ModelSpec, wl: Workload, device: Device | None = None) -> Estimate:
    """The transformers profile: allocated peak and what nvidia-smi shows (on ``device``; None: an H100)."""
    fmt = bnb_format(wl.quant).name if wl.quant else _model_dtype(spec, wl)
    # transformers 4.x's nn.Linear experts, quantized one by one by bitsandbytes (moe_release.py)
    weights = weights_component(spec, fmt, bool(wl.quant) and expert_linears(wl.transformers_version, spec.family))
    workspace = cublas_workspace_bytes()
    moments = release_moments(spec, wl)  # transformers 5's (peak_moments) unless an older release is given
    peak = max(moments, key=lambda m: m.total)
    comps: list[Component] = [weights]
    if peak.kv_cache:
        kv_text = peak.kv_formula or fmt_bytes(peak.kv_cache)
        comps.append(Component("kv_cache", peak.kv_cache, f"{peak.name}: {kv_text}"))
    comps.append(Component("activations", peak.activations, f"{peak.name}: {peak.formula}"))
    if peak.logits:
        comps.append(Component("logits", peak.logits, f"{peak.name}: {fmt_bytes(peak.logits)}"))
    buffers, buffers_text = buffer_bytes(spec, wl, inference_release(wl.transformers_version, spec.family))
    if buffers:
        comps.append(Component("buffers", buffers, f"model buffers of transformers {wl.transformers_version}: "
                                                   f"{buffers_text}"))
    comps.append(Component("overhead", workspace, f"cuBLAS workspace (Hopper) = {fmt_bytes(workspace)}"))
    allocated = sum(c.bytes for c in comps)
    pool = transformers_pool(spec, wl, weights.bytes, wl.expandable_segments)
    reserve = transformers_reserve(spec, wl, weights.bytes, wl.expandable_segments)
    comps.append(allocator_reserve_component(
        reserve, f"caching allocator emulated over the run's large tensors (reserved − allocated peak, replayed "
                 f"at {wl.context:,} tokens)"))
    comps.append(cuda_context_component())  # an H100's; on ``device``, its generation's (context_on_device below)
    details = {
        "runtime": "transformers",
        "peak_moment": peak.name,
        "moments": {m.name: m.total for m in moments},
        "kv_cache_final_bytes": (kv_cache_bytes(spec, wl.context + max(wl.new_tokens - 1, 0), wl.batch,
                                                "transformers", _cache_dtype(spec, wl))
                                 if wl.task != "forward" else 0),
        "allocator": {"peak_reserved": pool.peak_reserved, "peak_allocated": pool.peak_allocated,
                      "reserved_after_build": pool.reserved_after_build,
                      "expandable_segments": wl.expandable_segments},
    }
    reset = cache_reset_length(spec, wl)
    notes: tuple[str, ...] = ()
    inner = max((layer.mlp.intermediate_size for layer in spec.layers if layer.mlp is not None), default=0)
    if wl.quant == "int8" and inner:
        notes += (outlier_range_note(wl.batch * wl.context, inner, spec.hidden_size, wl.int8_outliers),)
    note = release_note(spec, wl)
    if note:
        notes += (note,)
    if reset is not None:
        notes += (f"generation crosses original_max_position_embeddings ({reset - 1:,}): transformers drops the KV "
                  f"cache and re-runs all {reset:,} tokens, holding the old and the new cache at once",)
    return context_on_device(Estimate(spec.name, "inference", fmt, count_parameters(spec), tuple(comps),
                                      allocated_bytes=allocated, notes=notes, details=details), device)

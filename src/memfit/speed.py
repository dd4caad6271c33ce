"""Decode speed ceiling: an UPPER BOUND on tokens per second from memory bandwidth alone.

Each decode step reads every weight it multiplies by — the active parameters (top-k experts for MoE), minus
the input embedding table when the head is untied (a lookup reads one row) — plus each sequence's KV cache
up to its current length. Tokens per second per sequence ≤ bandwidth / (weight bytes + KV bytes per
sequence); with B sequences in a batch the weights are read once per step for all of them:
aggregate ≤ B · bandwidth / (weight bytes + B · KV bytes). With tensor parallelism the ``tp`` GPUs read
their shards at once (bandwidth × tp); pipeline stages run one after another and add nothing. Real decoding
is slower (kernels reach a share of peak bandwidth, compute and overheads add time); this is the ceiling,
never a prediction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .errors import ConfigError, MemfitError
from .estimate import ModelRef, estimate
from .hardware import Device, get_device
from .inventory import count_parameters
from .memory.weights import weights_bytes
from .sources.loader import load_model
from .spec import ModelSpec
from .units import fmt_bytes
from .workload import Workload

__all__ = ["SpeedBound", "decode_ceiling"]

LABEL = "upper bound (memory bandwidth only)"


@dataclass(frozen=True)
class SpeedBound:
    """The ceiling and the arithmetic behind it."""

    device: str
    bandwidth: float  # bytes per second
    weight_bytes_per_step: int
    kv_bytes_per_sequence: int
    batch: int
    tokens_per_s_per_sequence: float
    tokens_per_s_total: float
    formula: str
    label: str = LABEL

    def to_json(self) -> dict[str, Any]:
        return {"label": self.label, "device": self.device, "bandwidth_bytes_per_s": self.bandwidth,
                "weight_bytes_per_step": self.weight_bytes_per_step,
                "kv_bytes_per_sequence": self.kv_bytes_per_sequence, "batch": self.batch,
                "tokens_per_s_per_sequence_upper_bound": self.tokens_per_s_per_sequence,
                "tokens_per_s_total_upper_bound": self.tokens_per_s_total, "formula": self.formula}


def weight_bytes_read(spec: ModelSpec, dtype: str) -> int:
    """Bytes of weights one decode step reads: active parameters minus an untied input embedding,
    at the format's average bytes per parameter."""
    pc = count_parameters(spec)
    read = pc.active
    if "lm_head" in pc.by_group:  # untied: the input embedding is a lookup
        read -= pc.by_group.get("embeddings", 0)
    total_bytes = weights_bytes(spec, dtype)
    return round(total_bytes * read / pc.total) if pc.total else 0


def decode_ceiling(model: ModelRef, gpu: str | Device, workload: Workload | None = None, *,
                   bandwidth: float | None = None, **options: Any) -> SpeedBound:
    """Upper bound on decode tokens/s of ``model`` on ``gpu`` (``bandwidth`` in bytes/s overrides the catalog).

    KV bytes come from the inference estimate's ``kv_cache`` component at ``context + new_tokens`` (divided by
    the batch); in other modes only the weights count.
    """
    device = get_device(gpu, bandwidth=bandwidth) if not isinstance(gpu, Device) or bandwidth else gpu
    if device.bandwidth is None:
        raise ConfigError(f"{device.name} has no published memory bandwidth; pass it, e.g. --bandwidth 600e9")
    spec = model if isinstance(model, ModelSpec) else load_model(model)
    wl = (workload or Workload()).replace(**options) if options else (workload or Workload())
    wl.validate()
    dtype = wl.dtype or spec.dtype
    w = weight_bytes_read(spec, dtype)
    kv = 0
    if wl.mode == "inference":
        try:
            est = estimate(spec, wl)
        except MemfitError:
            est = None
        if est is not None and est.details.get("runtime") == "vllm" and "block_bytes" in est.details:
            # the pool is preallocated; one sequence reads only its own blocks
            kv = int(est.details["block_bytes"]) * -(-(wl.context + wl.new_tokens) // wl.block_size)
        elif est is not None:
            kv = est.component("kv_cache") // wl.batch
    b = wl.batch if wl.mode == "inference" else 1
    per_step = w + b * kv
    bw = device.bandwidth * wl.tp  # tensor parallelism reads the shards in parallel; pipeline stages take turns
    total = b * bw / per_step if per_step else 0.0
    per_seq = total / b if b else 0.0
    gpus = f"{wl.tp} × " if wl.tp > 1 else ""
    formula = (f"{b} × {gpus}{device.bandwidth / 1e9:,.0f} GB/s / ({fmt_bytes(w)} weights + {b} × {fmt_bytes(kv)} "
               f"KV) = {total:,.1f} tokens/s ({per_seq:,.1f} per sequence), {LABEL}")
    return SpeedBound(device.id, bw, w, kv, b, per_seq, total, formula)

"""Recorded llama.cpp measurements (tests/data/llamacpp/*.jsonl) against the llama.cpp profile.

One JSON object per line, written by tools/measure_llamacpp.py::

    {"case": "...", "runtime": "llamacpp", "model": "<catalog id>", "split": "dev" | "heldout",
     "config": {<the model's config.json>},
     "params": {"n_ctx": <llama.cpp -c, all sequences>, "n_batch": …, "n_ubatch": …, "n_seq": …,
                "flash_attn": bool, "type_k": "f16", "type_v": "f16", "swa_full": bool,
                "kv_unified": bool, "weights": "f16" | "q8_0" | "q4_0"},
     "measured": {"model_bytes": int, "kv_bytes": int, "compute_bytes": int, "output_mib": float},
     "llamacpp": {"build": "b10605", "backend": "CPU", "no_alloc": true}}

``measured`` holds what llama.cpp reported (``llama_get_memory_breakdown`` in bytes; the output
buffer as its log line prints it, MiB with two decimals). Only ``config`` and ``params`` feed the
prediction.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any

from ...errors import MemfitError
from ...workload import Workload

__all__ = ["BUFFERS", "BufferResult", "predict_case", "summarize_buffers", "workload_for_llamacpp_case"]

BUFFERS = ("model", "kv", "compute", "output")
MIB = 1024 * 1024


def workload_for_llamacpp_case(params: dict[str, Any]) -> Workload:
    """The Workload of a recorded case: ``--batch`` = sequences, ``--context`` = cells per sequence."""
    n_seq = int(params.get("n_seq", 1))
    return Workload(mode="inference", runtime="llamacpp", batch=n_seq, context=int(params["n_ctx"]) // n_seq,
                    n_batch=int(params.get("n_batch", 2048)), n_ubatch=int(params.get("n_ubatch", 512)),
                    flash_attn=bool(params.get("flash_attn", True)), kv_dtype=str(params.get("type_k", "f16")),
                    swa_full=bool(params.get("swa_full", False)), kv_unified=bool(params.get("kv_unified", False)),
                    dtype=str(params.get("weights", "f16")))


@dataclass(frozen=True)
class BufferResult:
    """One case: measured and predicted bytes per buffer (output in bytes from its MiB line)."""

    case: str
    split: str
    measured: dict[str, int]
    predicted: dict[str, int]
    note: str = ""

    def error(self, buf: str) -> float | None:
        m, p = self.measured.get(buf), self.predicted.get(buf)
        if m is None or p is None or m == 0:
            return None
        return (p - m) / m


def predict_case(rec: dict[str, Any]) -> BufferResult:
    """Predict one recorded case's buffers from its config and params."""
    from ...sources.hf_config import spec_from_config
    from .llamacpp import llamacpp_buffers

    meas = rec.get("measured") or {}
    measured = {"model": int(meas.get("model_bytes", 0)), "kv": int(meas.get("kv_bytes", 0)),
                "compute": int(meas.get("compute_bytes", 0)),
                "output": round(float(meas.get("output_mib") or 0) * MIB)}
    name = str(rec.get("case", "case"))
    try:
        spec = spec_from_config(dict(rec["config"]), str(rec.get("model") or name))
        wl = workload_for_llamacpp_case(dict(rec["params"])).validate()
        b = llamacpp_buffers(spec, wl)
    except (MemfitError, KeyError) as e:
        return BufferResult(name, str(rec.get("split", "")), measured, {}, str(e))
    # the output buffer is known as printed (MiB, two decimals): compare it at that precision
    output = round(round(b.output_bytes / MIB, 2) * MIB)
    predicted = {"model": b.model_bytes, "kv": b.kv_bytes, "compute": b.compute_bytes, "output": output}
    return BufferResult(name, str(rec.get("split", "")), measured, predicted)


def summarize_buffers(results: list[BufferResult]) -> dict[str, Any]:
    """Per buffer: cases, exact matches, median and max |error|, the most under-predicted case."""
    out: dict[str, Any] = {"cases": len(results)}
    for buf in BUFFERS:
        errs = [(e, r.case) for r in results if (e := r.error(buf)) is not None]
        if not errs:
            continue
        worst = max(errs, key=lambda x: abs(x[0]))
        under = min(errs)
        out[buf] = {"predicted": len(errs), "exact": sum(1 for e, _ in errs if e == 0),
                    "median_abs_error": statistics.median(abs(e) for e, _ in errs),
                    "max_abs_error": abs(worst[0]), "worst_case": worst[1],
                    "most_under": under[0], "most_under_case": under[1]}
    return out

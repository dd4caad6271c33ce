"""Score memfit against what vLLM and SGLang printed at start-up (``tests/data/serving/*.jsonl``).

One JSON object per line, one engine start-up each::

    {"case": "...", "engine": "vllm" | "sglang", "version": "0.6.4.post1", "model": "llama-3.1-8b",
     "gpu": "rtx-3090", "device_total_gib": 23.58, "tp": 1, "dtype": "bfloat16", "kv_dtype": null,
     "max_model_len": 20000, "gpu_memory_utilization": 0.9, "mem_fraction_static": null,
     "max_num_seqs": null, "max_num_batched_tokens": null, "enforce_eager": false,
     "printed": {"weights_gib": 14.99, "kv_cache_gib": 3.81, "kv_tokens": 31232, "num_gpu_blocks": 1952,
                 "max_concurrency": 1.56, ...},
     "split": "dev" | "heldout", "source": "https://github.com/..."}

``device_total_gib`` is the total the log itself prints (vLLM's ``total_gpu_memory``); for SGLang,
``free_at_start_gib`` (its ``Load weight begin. avail mem``) gives the free memory at start instead; without either
the catalog's CUDA total of ``gpu`` is used. Only the inputs feed the prediction; ``printed`` is only compared.
Errors are signed, ``(predicted - printed) / printed``, for the weights, the KV pool (vLLM's "Available KV cache
memory" / ``kv_cache_size``, SGLang's K + V size), the KV tokens and the concurrency ratio.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ConfigError, MemfitError
from .units import GIB

__all__ = ["ServingResult", "is_serving_file", "score_serving_file", "summarize_serving"]

MAX_FILE_BYTES = 8 << 20
QUANTITIES = ("weights", "kv_pool", "kv_tokens", "max_concurrency")


@dataclass(frozen=True)
class ServingResult:
    """One recorded start-up: what memfit predicts for each quantity the log printed, and the errors."""

    case: str
    engine: str
    split: str
    predicted: dict[str, float]
    printed: dict[str, float]
    note: str = ""

    def error(self, q: str) -> float | None:
        p, m = self.predicted.get(q), self.printed.get(q)
        if p is None or m is None or m == 0:
            return None
        return (p - m) / m

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"case": self.case, "engine": self.engine, "split": self.split,
                               "predicted": self.predicted, "printed": self.printed,
                               "errors": {q: self.error(q) for q in QUANTITIES if self.error(q) is not None}}
        if self.note:
            out["note"] = self.note
        return out


def _read(path: Path) -> list[dict[str, Any]]:
    if path.stat().st_size > MAX_FILE_BYTES:
        raise ConfigError(f"{path}: larger than {MAX_FILE_BYTES >> 20} MiB; a serving-case file is a few KiB")
    rows = []
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as e:
            raise ConfigError(f"{path}:{i}: not JSON ({e})") from None
        if not isinstance(row, dict):
            raise ConfigError(f"{path}:{i}: each line must be a JSON object")
        rows.append(row)
    return rows


def is_serving_file(path: str | Path) -> bool:
    """Whether the file's first record is a serving start-up (it names an ``engine``)."""
    p = Path(path)
    try:
        with p.open(encoding="utf-8") as f:
            first = f.readline(1 << 16)
        row = json.loads(first)
    except (OSError, ValueError, UnicodeDecodeError):
        return False
    return isinstance(row, dict) and row.get("engine") in ("vllm", "sglang")


def _printed(row: dict[str, Any]) -> dict[str, float]:
    p = row.get("printed") or {}
    out: dict[str, float] = {}
    if "weights_gib" in p:
        out["weights"] = float(p["weights_gib"])
    if "kv_cache_gib" in p:
        out["kv_pool"] = float(p["kv_cache_gib"])
    if "kv_tokens" in p:
        out["kv_tokens"] = float(p["kv_tokens"])
    elif "num_gpu_blocks" in p:
        out["kv_tokens"] = float(p["num_gpu_blocks"]) * int(row.get("block_size", 16))
    if "max_concurrency" in p:
        out["max_concurrency"] = float(p["max_concurrency"])
    return out


def _predict(row: dict[str, Any]) -> dict[str, float]:
    from .estimate import estimate
    from .hardware import get_device

    total = row.get("device_total_gib")
    if total is None and row.get("free_at_start_gib") is not None:  # SGLang prints the free memory at start
        from .memory.runtimes.sglang import init_used_gib
        from .memory.runtimes.sglang_first_kernel import first_kernel_in_load
        from .sources.loader import load_model

        world = int(row.get("tp", 1)) * int(row.get("pp") or 1)
        in_load = first_kernel_in_load(row.get("version"), world, load_model(str(row["model"])).is_moe)
        total = float(row["free_at_start_gib"]) + init_used_gib(get_device(str(row["gpu"])), world, in_load)
    device = get_device(str(row["gpu"]), memory=None if total is None else round(float(total) * GIB))
    tp, pp = int(row.get("tp", 1)), int(row.get("pp") or 1)
    opts: dict[str, Any] = {
        "mode": "inference", "runtime": row["engine"], "context": int(row["max_model_len"]),
        "dtype": row.get("dtype"), "kv_dtype": row.get("kv_dtype"), "tp": tp, "pp": pp, "gpus": tp * pp,
        "max_num_seqs": row.get("max_num_seqs"), "max_num_batched_tokens": row.get("max_num_batched_tokens"),
        "enforce_eager": bool(row.get("enforce_eager", False)),
    }
    if row["engine"] == "vllm":
        opts.update(gpu_memory_utilization=float(row.get("gpu_memory_utilization", 0.9)),
                    vllm_version=row.get("version"), vllm_sampler=row.get("sampler"),
                    vllm_compile_cache=row.get("compile_cache"),
                    block_size=int(row.get("block_size", 16)))
    else:
        opts.update(mem_fraction_static=row.get("mem_fraction_static"), sglang_version=row.get("version"))
    est = estimate(str(row["model"]), device=device, **{k: v for k, v in opts.items() if v is not None})
    d = est.details
    return {"weights": est.component("weights") / GIB, "kv_pool": int(d["kv_pool_bytes"]) / GIB,
            "kv_tokens": float(d["kv_cache_tokens"]), "max_concurrency": float(d["max_concurrency"])}


def score_serving_file(path: str | Path) -> list[ServingResult]:
    """Predict every recorded start-up of ``path``; a case memfit cannot predict gets a note instead."""
    out = []
    for row in _read(Path(path)):
        case, engine = str(row.get("case", "?")), str(row.get("engine", "?"))
        try:
            pred, note = _predict(row), ""
        except (MemfitError, KeyError, TypeError, ValueError) as e:
            pred, note = {}, f"not predicted: {e}"
        out.append(ServingResult(case, engine, str(row.get("split", "dev")), pred, _printed(row), note))
    return out


def summarize_serving(results: list[ServingResult]) -> dict[str, Any]:
    """Per split and quantity: cases, median and max |error|, and the largest over-prediction."""
    summary: dict[str, Any] = {}
    for split in sorted({r.split for r in results}):
        group: dict[str, Any] = {"cases": sum(r.split == split for r in results)}
        for q in QUANTITIES:
            errs = [(e, r.case) for r in results if r.split == split and (e := r.error(q)) is not None]
            if not errs:
                continue
            worst = max(errs, key=lambda x: abs(x[0]))
            group[q] = {"n": len(errs), "median_abs_error": statistics.median(abs(e) for e, _ in errs),
                        "max_abs_error": abs(worst[0]), "worst_case": worst[1],
                        "most_over": max(e for e, _ in errs)}
        summary[split] = group
    return summary

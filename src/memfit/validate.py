"""Hold memfit against measurements: read a ground-truth JSON-lines file, predict every case.

The file format (one ``{"env": …}`` line, then one line per case with ``case``, ``kind``,
``params``, ``config`` and the measured ``peak_alloc``) is the one of the H100 measurements.
Each case is predicted from its own ``config`` (a transformers ``to_dict``) and ``params``:

* ``generate`` / ``forward`` / ``prefill`` → ``mode="inference"``, ``task=kind``, batch, context=seq,
  new_tokens=new, attn (default sdpa), dtype (default bfloat16), quant;
* ``train`` → ``mode="train"``, optimizer=opt, mixed_precision=amp, dtype (default bfloat16; fp32 weights
  under amp whatever it says), checkpointing full if ckpt;
* ``lora`` → ``mode="qlora"`` with quant else ``"lora"``, lora_rank=r, lora_targets, optimizer, dtype, amp.

The prediction compared is ``Estimate.allocated_bytes`` (what ``torch.cuda.max_memory_allocated``
shows), else ``total_bytes``; the error is signed: ``(predicted - measured) / measured``. Only the case's
``config`` and ``params`` feed the prediction: no measured field (``alloc_before_build``, ``n_params``,
``kv_cache_bytes_final`` …) is read, so the comparison is an honest prediction. (A measuring process
that already ran a backward pass holds a second 32 MiB cuBLAS workspace; memfit predicts a fresh process.)
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ConfigError, MemfitError
from .workload import Workload

__all__ = ["INFERENCE_KINDS", "TRAINING_KINDS", "CaseResult", "summarize", "validate_file", "workload_for_case"]

INFERENCE_KINDS = ("generate", "forward", "prefill")
TRAINING_KINDS = ("train", "lora")
DEFAULT_LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@dataclass(frozen=True)
class CaseResult:
    """One measured case and memfit's prediction of it."""

    case: str
    kind: str
    measured_bytes: int
    predicted_bytes: int | None
    note: str = ""

    @property
    def relative_error(self) -> float | None:
        if self.predicted_bytes is None or not self.measured_bytes:
            return None
        return (self.predicted_bytes - self.measured_bytes) / self.measured_bytes

    @property
    def group(self) -> str:
        return "inference" if self.kind in INFERENCE_KINDS else "training"

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"case": self.case, "kind": self.kind, "predicted_bytes": self.predicted_bytes,
                               "measured_bytes": self.measured_bytes, "relative_error": self.relative_error}
        if self.note:
            out["note"] = self.note
        return out


def workload_for_case(kind: str, params: dict[str, Any]) -> Workload:
    """The Workload that reproduces a measured case (mapping agreed with the training profile)."""
    p = params
    if kind in INFERENCE_KINDS:
        return Workload(mode="inference", task=kind, batch=int(p["batch"]), context=int(p["seq"]),
                        new_tokens=int(p.get("new", 0)) if kind == "generate" else 0,
                        attn=str(p.get("attn", "sdpa")), dtype=str(p.get("dtype", "bfloat16")), quant=p.get("quant"))
    if kind == "train":
        return Workload(mode="train", batch=int(p["batch"]), context=int(p["seq"]),
                        optimizer=str(p.get("opt", "adamw-fused")), mixed_precision=bool(p.get("amp", False)),
                        dtype=str(p.get("dtype", "bfloat16")), checkpointing="full" if p.get("ckpt") else "none",
                        attn=str(p.get("attn", "sdpa")), quant=p.get("quant"))
    if kind == "lora":
        targets = p.get("targets")
        return Workload(mode="qlora" if p.get("quant") else "lora", batch=int(p["batch"]), context=int(p["seq"]),
                        lora_rank=int(p.get("r", 16)),
                        lora_targets=tuple(targets) if targets else DEFAULT_LORA_TARGETS, quant=p.get("quant"),
                        checkpointing="full" if p.get("ckpt") else "none",
                        optimizer=str(p.get("opt", "adamw-fused")), mixed_precision=bool(p.get("amp", False)),
                        dtype=str(p.get("dtype", "bfloat16")),
                        attn=str(p.get("attn", "sdpa")))
    raise ConfigError(f"case kind {kind!r} is not one of {', '.join(INFERENCE_KINDS + TRAINING_KINDS)}")


def _predict(record: dict[str, Any]) -> tuple[int | None, str]:
    from .sources.hf_config import spec_from_config

    config, params = record.get("config"), record.get("params") or {}
    if not isinstance(config, dict):
        return None, "the case has no 'config' object (the model's config.json)"
    if not isinstance(params, dict):
        return None, f"the case's 'params' must be an object, not {type(params).__name__}"
    if record.get("kind") is None:
        return None, "the case has no 'kind' (generate, forward, train, lora …)"
    try:
        spec = spec_from_config(config, str(record.get("model") or record.get("case") or "case"))
        wl = workload_for_case(str(record["kind"]), dict(params)).validate()
        if wl.mode == "inference":
            from .memory.inference import estimate_inference

            est = estimate_inference(spec, wl)
        else:
            import importlib

            training = importlib.import_module("memfit.memory.training")  # built by the training profile
            est = training.estimate_training(spec, wl)
    except ImportError as e:
        return None, f"not modelled yet: {e}"
    except MemfitError as e:
        return None, str(e)
    allocated = est.allocated_bytes
    if allocated is None:
        return int(est.total_bytes), ""
    return int(allocated), ""


def validate_file(path: str | Path) -> tuple[list[CaseResult], dict[str, Any]]:
    """Predict every case of a ground-truth file; returns the per-case results and the summary."""
    results: list[CaseResult] = []
    skipped: list[dict[str, str]] = []
    env: dict[str, Any] = {}
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{path} is not a text file (not UTF-8); give a JSON lines file such as the H100 "
                          "ground truth") from None
    except OSError as e:
        raise ConfigError(f"cannot read {path}: {e.strerror or e}") from None
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as e:
            raise ConfigError(f"{path}:{n} is not JSON ({e.msg}); the file must be JSON lines") from None
        if not isinstance(rec, dict):
            raise ConfigError(f"{path}:{n} is a JSON {type(rec).__name__}; each line must be one object "
                              "(a case, or the env line)")
        if "env" in rec:
            if not isinstance(rec["env"], dict):
                raise ConfigError(f"{path}:{n}: 'env' must be an object")
            env = dict(rec["env"])
            continue
        if "peak_alloc" not in rec:
            why = "oom" if "oom" in rec else "skipped" if "skipped" in rec else "error" if "error" in rec else "?"
            skipped.append({"case": str(rec.get("case", f"line {n}")), "reason": why})
            continue
        peak = rec["peak_alloc"]
        if isinstance(peak, bool) or not isinstance(peak, int) or peak < 1:
            raise ConfigError(f"{path}:{n}: peak_alloc = {peak!r} must be a positive integer (bytes measured)")
        pred, note = _predict(rec)
        results.append(CaseResult(str(rec.get("case", f"line {n}")), str(rec.get("kind", "")), peak, pred,
                                  note))
    if not results and not skipped:
        raise ConfigError(f"{path} holds no cases: each line must be a JSON object with 'case', 'kind', 'config', "
                          "'params' and 'peak_alloc' (see the ground truth's README)")
    summary = summarize(results)
    summary["not_measured"] = skipped
    if env:
        summary["env"] = env
    return results, summary


def summarize(results: list[CaseResult]) -> dict[str, Any]:
    """Median and max |error| per group (inference, training), and the most under-predicted case."""
    out: dict[str, Any] = {"cases": len(results)}
    for group in ("inference", "training"):
        rows = [r for r in results if r.group == group]
        errs = [(r.relative_error, r.case) for r in rows if r.relative_error is not None]
        stats: dict[str, Any] = {"cases": len(rows), "predicted": len(errs), "missing": len(rows) - len(errs)}
        if errs:
            worst = max(errs, key=lambda e: abs(e[0]))
            under = min(errs)
            stats.update({"median_abs_error": statistics.median(abs(e) for e, _ in errs),
                          "max_abs_error": abs(worst[0]), "worst_case": worst[1],
                          "most_under": under[0], "most_under_case": under[1]})
        out[group] = stats
    return out

"""Hold memfit against measurements: read a ground-truth JSON-lines file, predict every case.

The file format (one ``{"env": …}`` line, then one line per case with ``case``, ``kind``,
``params``, ``config`` and the measured ``peak_alloc``) is the one of the H100 measurements.
Each case is predicted from its own ``config`` (a transformers ``to_dict``) and ``params``:

* ``generate`` / ``forward`` / ``prefill`` → ``mode="inference"``, ``task=kind``, batch, context=seq,
  new_tokens=new, attn (default sdpa), dtype (default bfloat16), quant;
* ``train`` → ``mode="train"``, optimizer=opt, mixed_precision=amp, dtype (default bfloat16; fp32 weights
  under amp whatever it says), checkpointing full if ckpt;
* ``lora`` → ``mode="qlora"`` with quant else ``"lora"``, lora_rank=r, lora_targets, optimizer, dtype, amp.

A line with ``"runtime": "llamacpp"`` is a llama.cpp buffer record (tests/data/llamacpp/, format in
memory/runtimes/llamacpp_cases.py and docs/llamacpp.md): the model, KV, compute and output buffers
llama.cpp reported, compared summed, each buffer's error named in the case's note.

Two figures are compared per case:

* the allocated peak: ``Estimate.allocated_bytes`` (what ``torch.cuda.max_memory_allocated`` shows) against
  ``peak_alloc``;
* the device total: ``Estimate.total_bytes`` (allocated + the allocator's reserve + the CUDA context, what
  ``nvidia-smi`` shows) against ``peak_reserved`` plus the process's memory outside the pool measured at the
  end of the case (``device_used_end - reserved_end``), where the file has those fields, less the kernel modules
  earlier cases of the same process loaded that a fresh process of this case would not (``_LoadedModules``). For a
  simulated case the reserved peak is the emulated caching allocator's and the context is the measured H100
  figure memfit uses (so only the reserve is tested there). A published case (``groundtruth/published.md``) may
  give instead ``device_used_peak``, the whole device's peak as nvidia-smi showed it, which is the measured total
  as it stands, and ``gpu`` (a ``gpus.toml`` id), the GPU whose CUDA context the predicted total then carries.

Errors are signed: ``(predicted - measured) / measured``. Only the case's ``config`` and ``params`` feed the
prediction: no measured figure of the model (``n_params``, ``kv_cache_bytes_final`` …) is read. memfit
predicts a fresh process; the measuring process ran its cases one after another, and what it still held from
earlier cases before this one was built (``alloc_before_build`` beyond the cuBLAS workspaces a fresh process of
this kind holds at its peak: a second 32 MiB workspace of the autograd thread after a training case, a few MiB
of leftovers) is taken off the measured figures before comparing (``prior_bytes``; the raw error is reported too).
"""

from __future__ import annotations

import json
import os
import statistics
from dataclasses import dataclass, replace
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
    prior_bytes: int = 0  # held by the measuring process from earlier cases (see the module docstring)
    measured_total: int | None = None  # peak_reserved + memory outside the pool, prior_bytes taken off
    predicted_total: int | None = None
    failed: bool = False  # memfit raised on the case (its error in ``note``): counted, not fatal to the file

    @property
    def relative_error(self) -> float | None:
        """Allocated peak: (predicted - measured) / measured, for a fresh process."""
        fresh = self.measured_bytes - self.prior_bytes
        if self.predicted_bytes is None or fresh <= 0:
            return None
        return (self.predicted_bytes - fresh) / fresh

    @property
    def raw_relative_error(self) -> float | None:
        """Allocated peak against the figure as recorded, earlier cases' leftovers on both sides."""
        if self.predicted_bytes is None or not self.measured_bytes:
            return None
        return (self.predicted_bytes + self.prior_bytes - self.measured_bytes) / self.measured_bytes

    @property
    def total_error(self) -> float | None:
        """Device total against the measured reserved peak + memory outside the pool."""
        if self.predicted_total is None or not self.measured_total:
            return None
        return (self.predicted_total - self.measured_total) / self.measured_total

    @property
    def group(self) -> str:
        return "inference" if self.kind in INFERENCE_KINDS else "training"

    def to_json(self) -> dict[str, Any]:
        p = self.predicted_bytes  # "predicted_bytes" predicts peak_alloc as recorded: + the process's leftovers
        out: dict[str, Any] = {"case": self.case, "kind": self.kind, "predicted_bytes": p and p + self.prior_bytes,
                               "fresh_predicted_bytes": p, "measured_bytes": self.measured_bytes,
                               "prior_bytes": self.prior_bytes, "relative_error": self.relative_error,
                               "raw_relative_error": self.raw_relative_error, "predicted_total": self.predicted_total,
                               "measured_total": self.measured_total, "total_error": self.total_error}
        if self.note:
            out["note"] = self.note
        if self.failed:
            out["failed"] = True
        return out


def workload_for_case(kind: str, params: dict[str, Any]) -> Workload:
    """The Workload that reproduces a measured case (mapping agreed with the training profile)."""
    p = params
    if kind in INFERENCE_KINDS:
        return Workload(mode="inference", task=kind, batch=int(p["batch"]), context=int(p["seq"]),
                        new_tokens=int(p.get("new", 0)) if kind == "generate" else 0,
                        attn=str(p.get("attn", "sdpa")), dtype=str(p.get("dtype", "bfloat16")), quant=p.get("quant"),
                        # recorded models are randomly initialised (groundtruth README): LLM.int8 with their
                        # computed outlier columns per layer where memfit has the profile, else every column
                        int8_outliers=str(p.get("int8_outliers", "random")), images=int(p.get("images", 0)),
                        transformers_version=_release(p), random_init=_rejection_init(p.get("torch")),
                        forward_cache=kind == "forward" and p.get("use_cache") is True)
    if kind == "train":
        return Workload(mode="train", batch=int(p["batch"]), context=int(p["seq"]),
                        optimizer=str(p.get("opt", "adamw-fused")), mixed_precision=bool(p.get("amp", False)),
                        dtype=str(p.get("dtype", "bfloat16")), checkpointing=_checkpointing(p.get("ckpt")),
                        trainer=str(p.get("trainer", "transformers")),
                        attn=str(p.get("attn", "sdpa")), quant=p.get("quant"), images=int(p.get("images", 0)),
                        transformers_version=_release(p), random_init=_rejection_init(p.get("torch")),
                        **_parallel_fields(p))
    if kind == "lora":
        targets = p.get("targets")
        return Workload(mode="qlora" if p.get("quant") else "lora", batch=int(p["batch"]), context=int(p["seq"]),
                        lora_rank=int(p.get("r", 16)), lora_dropout=float(p.get("lora_dropout", 0.0)),
                        images=int(p.get("images", 0)),
                        lora_targets=tuple(targets) if targets else DEFAULT_LORA_TARGETS, quant=p.get("quant"),
                        checkpointing="full" if p.get("ckpt") else "none",
                        optimizer=str(p.get("opt", "adamw-fused")), mixed_precision=bool(p.get("amp", False)),
                        dtype=str(p.get("dtype", "bfloat16")), transformers_version=_release(p),
                        qlora_prep=str(p.get("qlora_prep", "peft")), attn=str(p.get("attn", "sdpa")),
                        peft_version=_peft_layout(p.get("peft")), moe_experts=p.get("experts"),
                        random_init=_rejection_init(p.get("torch")), **_parallel_fields(p))
    raise ConfigError(f"case kind {kind!r} is not one of {', '.join(INFERENCE_KINDS + TRAINING_KINDS)}")


def _release(p: dict[str, Any]) -> str | None:
    """A case's stated transformers release (``params.transformers``): its loss, cache, logits and buffers."""
    return None if (v := p.get("transformers")) is None else str(v)


def _peft_layout(version: Any) -> str:
    """The LoRA layout of a case's PEFT release (``params.peft``, else the file's env line): 0.22 and later price
    as 0.22, earlier ones as 0.21; a case that states none gets the default (the current release)."""
    from .memory.lora import DEFAULT_PEFT

    if version is None:
        return DEFAULT_PEFT
    return "0.22" if _at_least(version, (0, 22), "peft = {!r} is not a release number such as 0.21.2") else "0.21"


def _rejection_init(version: Any) -> bool:
    """A recorded case's model is made with random weights on the device (measure.py and the simulator:
    ``from_config`` under the device); its init allocates from torch 2.12 (``memory/trunc_normal.py``): True when the
    case's torch (``params.torch``, else the file's env line) is 2.12 or later, False for older or unstated."""
    return version is not None and _at_least(version, (2, 12), "torch = {!r} is not a release number such as 2.13.0")


def _at_least(version: Any, release: tuple[int, int], error: str) -> bool:
    """Whether a release number (major.minor…) is ``release`` or later; ``error`` (with {!r} for it) if it is none."""
    parts = str(version).split(".")
    try:
        return (int(parts[0]), int(parts[1])) >= release
    except (ValueError, IndexError):
        raise ConfigError(error.format(version)) from None


def _checkpointing(ckpt: Any) -> str:
    """``ckpt``: true (every layer), "selective" (the attention core), "selective-op" (torchtitan's op SAC), false."""
    return str(ckpt) if ckpt in ("selective", "selective-op") else "full" if ckpt else "none"


def _parallel_fields(p: dict[str, Any]) -> dict[str, Any]:
    """A multi-GPU case (tests/data/parallel/README.md): the layout of the rank measured; absent keys keep one GPU."""
    out: dict[str, Any] = {}
    for key, field, conv in (("gpus", "gpus", int), ("tp", "tp", int), ("zero", "zero", int),
                             ("fsdp", "fsdp_version", int), ("shard_size", "shard_size", int),
                             ("offload", "offload", str),
                             ("sp", "sequence_parallel", bool), ("grad_accum", "grad_accum", int),
                             ("pp", "pp", int), ("pp_schedule", "pp_schedule", str), ("pp_virtual", "pp_virtual", int),
                             ("pp_rank", "pp_rank", int)):
        if p.get(key) is not None:
            out[field] = conv(p[key])
    return out


def _predict_or_fail(record: dict[str, Any]) -> tuple[int | None, int | None, str, bool]:
    """``_predict``, memfit's own failure on a case (a bug) kept in its row (MEMFIT_DEBUG=1 raises it)."""
    try:
        return (*_predict(record), False)
    except Exception as e:
        if os.environ.get("MEMFIT_DEBUG"):
            raise
        return None, None, f"memfit failed: {type(e).__name__}: {e} (a memfit bug: please report it)", True


def _predict(record: dict[str, Any]) -> tuple[int | None, int | None, str]:
    from .sources.hf_config import spec_from_config

    config, params = record.get("config"), record.get("params") or {}
    if not isinstance(config, dict):
        return None, None, "the case has no 'config' object (the model's config.json)"
    if not isinstance(params, dict):
        return None, None, f"the case's 'params' must be an object, not {type(params).__name__}"
    if record.get("kind") is None:
        return None, None, "the case has no 'kind' (generate, forward, train, lora …)"
    try:
        spec = spec_from_config(config, str(record.get("model") or record.get("case") or "case"))
        wl = workload_for_case(str(record["kind"]), dict(params))
        layout = record.get("layout")
        if isinstance(layout, dict) and layout.get("expandable") is True:  # the run's PYTORCH_CUDA_ALLOC_CONF
            wl = replace(wl, expandable_segments=True)
        wl = wl.validate()
        from .memory.images import apply_tower_moment, with_images
        wl, _notes, _details = with_images(spec, wl)  # a case's images add their tokens to its context
        if wl.mode == "inference":
            from .memory.inference import estimate_inference
            est = estimate_inference(spec, wl)
            if wl.images:
                est = apply_tower_moment(spec, wl, est, 4 if (wl.dtype or spec.dtype) in ("float32", "fp32") else 2)
        else:
            import importlib
            training = importlib.import_module("memfit.memory.training")  # built by the training profile
            est = training.estimate_training(spec, wl)
    except ImportError as e:
        return None, None, f"not modelled yet: {e}"
    except MemfitError as e:
        return None, None, str(e)
    gpu = record.get("gpu")
    if gpu is not None:  # the run's GPU: its generation's CUDA context in the device total
        from .hardware import resolve_name
        from .memory.allocator_cap import cap_reserve, retried_total
        from .memory.nccl import context_and_nccl
        device = resolve_name(gpu) if isinstance(gpu, str) else None
        if device is None:
            return None, None, f"the case's 'gpu' {gpu!r} is not a GPU of data/gpus.toml: give its id (e.g. a100-80gb)"
        est = cap_reserve(context_and_nccl(est, device, wl), device.capacity_bytes)  # the allocator's retries
        if why := retried_total(est):  # the unbounded pool exceeds the GPU: its total is a bound, not compared
            return int(est.total_bytes if est.allocated_bytes is None else est.allocated_bytes), None, why
    allocated, total = est.allocated_bytes, int(est.total_bytes)
    return (total if allocated is None else int(allocated)), total, ""


def _int_field(rec: dict[str, Any], key: str) -> int | None:
    v = rec.get(key)
    return v if isinstance(v, int) and not isinstance(v, bool) and v >= 0 else None


def prior_bytes(rec: dict[str, Any]) -> int:
    """What the measuring process held before building this case's model beyond what a fresh process of this
    kind holds at its peak anyway: the cuBLAS workspace of the forward thread, and for training the autograd
    thread's second one (both 32 MiB on Hopper, allocated through the caching allocator)."""
    from .memory.overhead import cublas_workspace_bytes

    before = _int_field(rec, "alloc_before_build")
    if before is None:
        return 0
    handles = 2 if rec.get("kind") in TRAINING_KINDS else 1
    return max(0, before - handles * cublas_workspace_bytes())


def measured_total(rec: dict[str, Any], prior: int, modules: int = 0) -> int | None:
    """Reserved peak + the process's device memory outside PyTorch's pool (CUDA context, kernels, library
    handles: ``device_used_end - reserved_end``), earlier cases' allocations (``prior``) and the kernel modules
    earlier cases loaded (``modules``, ``_LoadedModules``) taken off. A simulated case's reserved peak is the
    emulated caching allocator's (``reserved_source = "emulated"``); it has no memory outside the pool, so the
    measured H100 context of its kind is added (the same figure memfit adds: that part agrees by construction)."""
    published = _int_field(rec, "device_used_peak")  # a published nvidia-smi peak of the whole device
    if published is not None:
        return published - prior if published > prior else None
    reserved, used, end = (_int_field(rec, k) for k in ("peak_reserved", "device_used_end", "reserved_end"))
    if reserved is not None and rec.get("reserved_source") == "emulated":
        from .memory.overhead import cuda_context_bytes
        return reserved + cuda_context_bytes(None, rec.get("kind") in TRAINING_KINDS)[0] - prior
    if reserved is None or used is None or end is None or used < end:
        return None
    return reserved + (used - end) - prior - modules


class _LoadedModules:
    """CUDA loads kernel modules lazily (``CUDA_MODULE_LOADING=LAZY``): the measuring process's memory outside the
    pool grows with every case that runs a kernel no earlier case ran, and a case carries the modules of all the
    cases before it, which a fresh process of that case would not load. memfit predicts a fresh process (its
    context is the file's first case's memory outside the pool). So the modules taken off a case are what the
    earlier cases loaded beyond: the file's first case (the kernels every case of that kind runs), the first case
    of the other kind (the training kernels: backward, optimizer, loss, or, in a training-first file, the inference
    ones), and what the case itself loaded (its growth over the case before it). A case that uses a kernel an
    intermediate case loaded first is credited with less than it would load alone: the measured figure errs low,
    memfit's error high (the safe side)."""

    def __init__(self) -> None:
        self.last: int | None = None
        self.first: dict[bool, int] = {}  # by kind (training?): the outside-pool memory of the first case of it
        self.base_kind: bool | None = None

    def prior(self, rec: dict[str, Any]) -> int:
        used, end = _int_field(rec, "device_used_end"), _int_field(rec, "reserved_end")
        if used is None or end is None:
            return 0
        training = rec.get("kind") in TRAINING_KINDS
        outside = used - end
        growth = max(0, outside - self.last) if self.last is not None else 0
        self.last = outside
        if self.base_kind is None:
            self.base_kind = training
            self.first[training] = outside
            return 0
        base = self.first[self.base_kind]
        if training not in self.first:  # the first case of the other kind: its growth is that kind's kernels
            self.first[training] = base + growth
            return max(0, outside - base - growth)
        return max(0, outside - self.first[training] - growth)


def _llamacpp_result(rec: dict[str, Any], n: int) -> CaseResult:
    """A llama.cpp record: model + KV + compute + output buffers, measured vs predicted, per buffer in the note."""
    from .memory.runtimes.llamacpp_cases import BUFFERS, predict_case

    r = predict_case(rec)
    measured = sum(r.measured.values())
    predicted = sum(r.predicted.values()) if r.predicted else None
    parts = [f"{b} {100 * e:+.2f} %" for b in BUFFERS if (e := r.error(b)) is not None]
    return CaseResult(str(rec.get("case", f"line {n}")), "generate", measured, predicted,
                      r.note or "llama.cpp buffers: " + ", ".join(parts))


def with_env(rec: dict[str, Any], env: dict[str, Any]) -> dict[str, Any]:
    """A case with its file's env line's PEFT (LoRA layout) and torch (initialisation) where the case states none."""
    params = rec.get("params")
    if not isinstance(params, dict):
        return rec
    return {**rec, "params": {**{k: env[k] for k in ("peft", "torch") if k in env}, **params}}


def validate_file(path: str | Path) -> tuple[list[CaseResult], dict[str, Any]]:
    """Predict every case of a ground-truth file; returns the per-case results and the summary."""
    results: list[CaseResult] = []
    skipped: list[dict[str, str]] = []
    env: dict[str, Any] = {}
    loaded = _LoadedModules()
    releases: list[str] = []  # the transformers releases the cases state (params.transformers)
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
        if rec.get("runtime") == "llamacpp":  # a llama.cpp buffer record (memory/runtimes/llamacpp_cases.py)
            if "error" in (rec.get("measured") or {}):
                skipped.append({"case": str(rec.get("case", f"line {n}")), "reason": "error"})
                continue
            results.append(_llamacpp_result(rec, n))
            continue
        if "peak_alloc" not in rec:
            why = "oom" if "oom" in rec else "skipped" if "skipped" in rec else "error" if "error" in rec else "?"
            skipped.append({"case": str(rec.get("case", f"line {n}")), "reason": why})
            continue
        peak = rec["peak_alloc"]
        if isinstance(peak, bool) or not isinstance(peak, int) or peak < 1:
            raise ConfigError(f"{path}:{n}: peak_alloc = {peak!r} must be a positive integer (bytes measured)")
        params = rec.get("params")
        if isinstance(params, dict) and params.get("transformers") is not None:
            releases.append(str(params["transformers"]))
        rec = with_env(rec, env)
        pred, total, note, failed = _predict_or_fail(rec)
        prior = min(prior_bytes(rec), peak - 1)
        results.append(CaseResult(str(rec.get("case", f"line {n}")), str(rec.get("kind", "")), peak, pred,
                                  note, prior, measured_total(rec, prior, loaded.prior(rec)), total, failed))
    if not results and not skipped:
        raise ConfigError(f"{path} holds no cases: each line must be a JSON object with 'case', 'kind', 'config', "
                          "'params' and 'peak_alloc' (see the ground truth's README)")
    summary = summarize(results)
    summary["not_measured"] = skipped
    if any(r.kind in INFERENCE_KINDS + TRAINING_KINDS for r in results):
        summary["transformers"] = _priced_as(releases)
    if env:
        summary["env"] = env
    return results, summary


def _priced_as(releases: list[str]) -> str:
    """Which transformers the predictions describe (published cases ran older releases)."""
    text = ("memfit prices transformers 5 unless a case states its release (inference: DynamicCache, last-position "
            "logits in generate; training: the loss of 4.49 and later)")
    if releases:
        counts = {v: releases.count(v) for v in sorted(set(releases))}
        text += "; cases priced as their stated release: " + ", ".join(f"{v} ({n})" for v, n in counts.items())
    return text


def summarize(results: list[CaseResult]) -> dict[str, Any]:
    """Median and max |error| per group (inference, training), and the most under-predicted case; the same
    against the measured figure as recorded (``as_recorded``: earlier cases' leftovers included, the figure the
    file's contract compares) where any case held leftovers, and for the device total (``total``) where the file
    measured it."""
    out: dict[str, Any] = {"cases": len(results)}
    for group in ("inference", "training"):
        rows = [r for r in results if r.group == group]
        errs = [(e, r.case) for r in rows if (e := r.relative_error) is not None]
        stats: dict[str, Any] = {"cases": len(rows), "predicted": len(errs), "missing": len(rows) - len(errs),
                                 "failed": sum(r.failed for r in rows)}
        stats.update(_error_stats(errs))
        if any(r.prior_bytes for r in rows):
            raw = [(e, r.case) for r in rows if (e := r.raw_relative_error) is not None]
            stats["as_recorded"] = _error_stats(raw)
        totals = [(e, r.case) for r in rows if (e := r.total_error) is not None]
        if totals:
            stats["total"] = {"cases": len(totals), **_error_stats(totals)}
        out[group] = stats
    return out


def _error_stats(errs: list[tuple[float, str]]) -> dict[str, Any]:
    if not errs:
        return {}
    worst = max(errs, key=lambda e: abs(e[0]))
    under = min(errs)
    return {"median_abs_error": statistics.median(abs(e) for e, _ in errs), "max_abs_error": abs(worst[0]),
            "worst_case": worst[1], "most_under": under[0], "most_under_case": under[1]}

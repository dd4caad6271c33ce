"""``fit()``: does this workload fit on these GPUs? Per GPU, with headroom, the component to blame and dtype flags.

The estimate is ``memfit.estimate`` (``total_bytes`` = what ``nvidia-smi`` shows). Multi-GPU numbers come
from ``Estimate.details["per_gpu"]`` when the estimate provides them; otherwise inference splits only the
weights over ``tp × pp`` (or over all GPUs, a layer split, when neither is set) and keeps everything else
whole on every GPU, and training keeps the whole estimate on every GPU (data-parallel replicas). Both are
upper bounds, and the result says which rule was used.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

from .errors import ConfigError
from .estimate import ModelRef, estimate, runtime_context
from .hardware import Device, DtypeCheck, check_dtype, devices, get_device
from .memory.allocator_cap import RETRIES_KEY, cap_reserve
from .memory.nccl import context_and_nccl
from .memory.runtimes.engine_profile import vllm_utilization
from .result import Estimate
from .rules import given_fields, resolve
from .units import fmt_bytes
from .workload import Workload

__all__ = ["FitResult", "estimate_on", "fit", "fit_all", "fit_estimate", "meant_workload", "without_retries"]

TRAIN_MODES = ("train", "lora", "qlora")


@dataclass(frozen=True)
class FitResult:
    """The verdict: ``fits`` when every GPU's bytes are within ``capacity_bytes``."""

    model: str
    device: Device
    gpus: int
    capacity_bytes: int  # the budget per GPU (vLLM: gpu_memory_utilization × capacity)
    per_gpu_bytes: tuple[int, ...]
    fits: bool
    headroom_bytes: int  # capacity − the most loaded GPU (negative: short by that much)
    blame: str  # the largest component on the most loaded GPU
    blame_bytes: int
    split: str  # how the estimate was turned into per-GPU numbers
    dtype_checks: tuple[DtypeCheck, ...]
    host_bytes: int  # host RAM besides the GPUs (offload, CPU layers)
    estimate: Estimate
    notes: tuple[str, ...] = field(default=())

    @property
    def max_gpu_bytes(self) -> int:
        return max(self.per_gpu_bytes)

    @property
    def warnings(self) -> tuple[str, ...]:
        """Messages for formats that are not native on the device."""
        return tuple(c.message for c in self.dtype_checks if c.native is False)

    @property
    def needs_retries(self) -> bool:
        """Fits only because the caching allocator empties its cache at the capacity and retries (slower;
        ``memory.allocator_cap``); plan's answers are the runs that fit without (``without_retries``)."""
        return self.fits and RETRIES_KEY in self.estimate.details

    def summary(self) -> str:
        verdict = "fits" if self.fits else "does not fit"
        head = (f"{self.model} {verdict} on {self.gpus}× {self.device.name}: "
                f"{fmt_bytes(self.max_gpu_bytes)} of {fmt_bytes(self.capacity_bytes)} per GPU")
        if self.fits and RETRIES_KEY in self.estimate.details:
            freed = self.estimate.details[RETRIES_KEY]["freed_bytes"]
            return (f"{head}, only with allocator retries (slower): PyTorch's caching allocator frees "
                    f"{fmt_bytes(freed)} of cached segments and retries cudaMalloc at the capacity")
        if self.fits:
            return f"{head}, {fmt_bytes(self.headroom_bytes)} free"
        if self.headroom_bytes >= 0:  # the bytes fit, the runtime (vLLM's KV pool, …) or the host RAM do not
            why = next((n for n in reversed(self.notes) if "KV pool holds" in n or "no KV cache" in n
                        or n.startswith("host RAM")),
                       "the runtime cannot run this workload in that memory")
            return f"{head}, but {why}"
        return f"{head}, short by {fmt_bytes(-self.headroom_bytes)}; largest part: {self.blame} " \
               f"{fmt_bytes(self.blame_bytes)}"

    def to_json(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "device": self.device.id,
            "device_name": self.device.name,
            "gpus": self.gpus,
            "fits": self.fits,
            "capacity_bytes": self.capacity_bytes,
            "capacity_basis": self.device.capacity_basis,
            "per_gpu_bytes": list(self.per_gpu_bytes),
            "headroom_bytes": self.headroom_bytes,
            "blame": {"component": self.blame, "bytes": self.blame_bytes},
            "split": self.split,
            "dtype_checks": [c.to_json() for c in self.dtype_checks],
            "warnings": list(self.warnings),
            "host_bytes": self.host_bytes,
            **({} if self.device.host_bytes is None else {"host_capacity_bytes": self.device.host_bytes}),
            "notes": list(self.notes),
            "summary": self.summary(),
            "estimate": self.estimate.to_json(),
        }


def _as_bytes(v: Any, host_names: frozenset[str] = frozenset()) -> int | None:
    """Device bytes of one GPU's entry: a number, or a dict with a total or with its components."""
    if isinstance(v, bool):
        return None
    if isinstance(v, int):
        return v
    if isinstance(v, float) and math.isfinite(v):
        return round(v)
    if isinstance(v, dict):
        for k in ("device_bytes", "total_bytes", "bytes", "total"):
            if k in v:
                return _as_bytes(v[k])
        comps = v.get("components")
        if isinstance(comps, dict):
            vals = [_as_bytes(b) for name, b in comps.items()
                    if not str(name).startswith("host_") and name not in host_names]
            return sum(b for b in vals if b is not None)
    return None


def _from_details(est: Estimate, gpus: int) -> tuple[int, ...] | None:
    """Per-GPU bytes from ``details["per_gpu"]``: an int (every GPU), a list or a dict of ranks, each a number
    or a dict with ``total_bytes`` or ``components`` (host-only component names are left out)."""
    raw = est.details.get("per_gpu")
    if raw is None:
        return None
    host_names = frozenset(c.name for c in est.components if not c.on_device) - \
        frozenset(c.name for c in est.components if c.on_device)
    if not isinstance(raw, (list, tuple, dict)) or (isinstance(raw, dict) and any(
            k in raw for k in ("device_bytes", "total_bytes", "bytes", "total", "components"))):
        one = _as_bytes(raw, host_names)  # one entry for every GPU
        return None if one is None else (one,) * gpus
    values: list[Any]
    if isinstance(raw, (list, tuple)):
        values = list(raw)
    elif isinstance(raw, dict):
        values = list(raw.values())
    else:
        return None
    out = [b for b in (_as_bytes(v, host_names) for v in values) if b is not None]
    return tuple(out) if out else None


def split_per_gpu(est: Estimate, wl: Workload) -> tuple[tuple[int, ...], str, dict[str, int]]:
    """Per-GPU bytes, the rule used, and the per-GPU components of the most loaded GPU."""
    comps: dict[str, int] = {}
    for c in est.components:
        if c.on_device:
            comps[c.name] = comps.get(c.name, 0) + c.bytes
    n = wl.gpus
    if n == 1:
        return (est.total_bytes,), "one GPU", comps
    detailed = _from_details(est, n)
    if detailed is not None:
        how = "per-GPU bytes from the estimate (details.per_gpu)"
        if len(detailed) != n:
            how += f": {len(detailed)} distinct GPU{'s' if len(detailed) > 1 else ''} (e.g. one per pipeline stage)"
        return detailed, how, comps
    if est.mode in TRAIN_MODES:
        return (est.total_bytes,) * n, ("the estimate has no per-GPU breakdown: every GPU counted with the whole "
                                        "estimate (data-parallel replicas; an upper bound under ZeRO/TP/PP)"), comps
    if est.mode == "inference" and wl.runtime in ("vllm", "sglang") and wl.tp * wl.pp == 1:
        return (est.total_bytes,) * n, (f"vLLM with tp = pp = 1: {n} independent replicas, each holding the whole "
                                        "estimate"), comps
    shards = wl.tp * wl.pp if wl.tp * wl.pp > 1 else n
    w = comps.get("weights", 0)
    per_w = -(-w // shards)
    comps["weights"] = per_w
    per = est.total_bytes - w + per_w
    how = f"tp × pp = {shards}" if wl.tp * wl.pp > 1 else f"a layer split over {n} GPUs"
    return (per,) * n, (f"weights divided by {shards} ({how}); KV cache, activations and overheads counted "
                        "whole on every GPU (an upper bound)"), comps


def _formats_to_check(est: Estimate, wl: Workload) -> list[str]:
    out = [est.dtype]
    if wl.mode in TRAIN_MODES and wl.mixed_precision and est.dtype.lower() not in ("bfloat16", "bf16"):
        out.append("bfloat16")
    if wl.kv_dtype:
        out.append(wl.kv_dtype)
    seen: list[str] = []
    for f in out:
        if f not in seen:
            seen.append(f)
    return seen


def estimate_on(model: ModelRef, wl: Workload, device: Device) -> Estimate:
    """``memfit.estimate`` on this device: vLLM and SGLang plan their KV pool from the device's memory (the engine
    claims a share of what the device reports, so the estimate depends on the device)."""
    return estimate(model, wl, device=device)


def budget_bytes(device: Device, wl: Workload, est: Estimate | None = None) -> tuple[int, str | None]:
    """The bytes one GPU may use for this workload: vLLM claims ``gpu_memory_utilization`` of the device
    (when the estimate already planned that, from ``details.device_bytes``, the budget is the device)."""
    if est is not None and est.details.get("runtime") in ("vllm", "sglang") and "device_bytes" in est.details:
        return device.capacity_bytes, None
    if wl.mode == "inference" and wl.runtime == "vllm":
        b = math.floor(device.capacity_bytes * vllm_utilization(wl))
        return b, (f"vLLM may use gpu_memory_utilization = {vllm_utilization(wl)} of the device: "
                   f"{fmt_bytes(b)}")
    return device.capacity_bytes, None


def without_retries(r: FitResult) -> FitResult:
    """``r`` judged without the caching allocator's retries: plan's searches (longest context, largest batch, fewest
    GPUs) answer with a run that fits while the allocator keeps its cache, not one that empties it at the capacity on
    every step (``memory.allocator_cap``: slower, and a run within a segment of its capacity may still fail there).
    A one-GPU run that fits only with retries does not fit here; its figure is the uncapped device total."""
    capped = r.estimate.details.get(RETRIES_KEY)
    if not r.fits or not isinstance(capped, dict) or len(r.per_gpu_bytes) != 1:
        return r
    total = int(capped["uncapped_total_bytes"])
    return replace(r, fits=False, per_gpu_bytes=(total,), headroom_bytes=r.capacity_bytes - total, notes=(
        *r.notes, f"fits only with allocator retries ({fmt_bytes(total)} with the cache kept): a plan answer "
                  "must fit without them"))


def fit_estimate(est: Estimate, device: Device, wl: Workload) -> FitResult:
    """Judge an existing estimate against a device (used by ``fit`` and by the plan searches); the estimate's
    CUDA context is the device generation's and, across GPUs, NCCL's communicator is counted
    (``memory.nccl.context_and_nccl``)."""
    est = cap_reserve(context_and_nccl(est, device, wl), device.capacity_bytes)  # + NCCL across GPUs
    per_gpu, split, comps = split_per_gpu(est, wl)
    capacity, budget_note = budget_bytes(device, wl, est)
    worst = max(per_gpu)
    blame, blame_bytes = max(comps.items(), key=lambda kv: kv[1]) if comps else ("weights", 0)
    notes = list(est.notes)
    if budget_note:
        notes.append(budget_note)
    fits = worst <= capacity
    concurrent = est.details.get("max_concurrent_sequences")
    if est.details.get("runtime") in ("vllm", "sglang") and isinstance(concurrent, int):
        if est.details.get("device_bytes") not in (None, device.capacity_bytes):
            notes.append(f"the vLLM estimate was planned for a device of {fmt_bytes(est.details['device_bytes'])}, "
                         f"not {device.name}; use memfit.fit for a device-specific plan")
        if concurrent < wl.batch:
            fits = False
            blame, blame_bytes = "kv_cache", comps.get("kv_cache", 0)
            notes.append(f"vLLM's KV pool holds {concurrent:,} sequences of {wl.context + wl.new_tokens:,} tokens "
                         f"at once; batch = {wl.batch:,} needs more")
    if device.host_bytes is not None and est.host_bytes > device.host_bytes:
        fits = False
        notes.append(f"host RAM: {fmt_bytes(est.host_bytes)} per GPU offloaded, more than the "
                     f"{fmt_bytes(device.host_bytes)} given (--host-memory)")
    if device.logical_devices > 1:
        notes.append(f"{device.name} is {device.logical_devices} logical GPUs; capacity is per logical GPU")
    return FitResult(
        model=est.model, device=device, gpus=wl.gpus, capacity_bytes=capacity, per_gpu_bytes=per_gpu,
        fits=fits, headroom_bytes=capacity - worst, blame=blame, blame_bytes=blame_bytes, split=split,
        dtype_checks=tuple(check_dtype(device, f) for f in _formats_to_check(est, wl)),
        host_bytes=est.host_bytes, estimate=est, notes=tuple(notes),
    )


def fit(model: ModelRef, gpu: str | Device, workload: Workload | None = None, *,
        memory: int | str | None = None, host_memory: int | str | None = None, **options: Any) -> FitResult:
    """Does ``model`` with ``workload`` fit on ``gpu``?

    ``gpu`` is a catalog name (``memfit gpus``), ``memory`` overrides its capacity (bytes or "24GiB"),
    ``host_memory`` is the host RAM per GPU that offloaded states may use (judged too when given), options
    are Workload fields (``gpus=2, tp=2, mode="inference", context=8192`` …)::

        r = memfit.fit("llama-3.1-8b", "rtx 4090", mode="inference", context=8192)
        r.fits, r.headroom_bytes, r.blame, r.warnings, r.to_json()
    """
    device = get_device(gpu, memory=memory, host_memory=host_memory)
    wl, implied = meant_workload(workload, options, device)
    r = _judge_on(model, wl.validate(), device)
    return replace(r, notes=(*implied, *r.notes)) if implied else r


def meant_workload(workload: Workload | None, options: dict[str, Any],
                   device: Device | None = None) -> tuple[Workload, tuple[str, ...]]:
    """The workload a ``fit``/``plan`` call means. A Workload passed alone is taken as it is; keyword options
    mean what the CLI options mean (``rules.resolve``), and with no mode among them the question is whether
    the model runs: inference. On ``device``, a runtime's own default for an option not given applies
    (``rules.runtime_context``: Ollama's context by VRAM)."""
    wl = (workload or Workload()).replace(**options) if options else (workload or Workload())
    if workload is not None and not options:
        return wl, ()
    unknown = set(options) - set(Workload.field_names())
    if unknown:
        raise ConfigError(f"unknown option(s) {', '.join(sorted(unknown))}; use Workload fields")
    wl, notes = resolve(wl, options)
    if "mode" not in options and wl.mode == "weights" and workload is None:
        wl = wl.replace(mode="inference")
        notes = (*notes, f"no mode given: judged for inference ({wl.runtime}, batch {wl.batch}, context "
                         f"{wl.context:,}); mode='weights' judges the weights alone")
    if device is not None:
        wl, more = runtime_context(wl, given_fields(wl, options), device)
        notes = (*notes, *more)
    return wl, notes


def _judge_on(model: ModelRef, wl: Workload, device: Device) -> FitResult:
    """fit_estimate(estimate_on(...)); a vLLM engine that cannot start on the device (no room for one KV
    block) is a verdict, not an error: it does not fit, judged on the weights, and says why."""
    try:
        return fit_estimate(estimate_on(model, wl, device), device, wl)
    except ConfigError as e:
        if not (wl.mode == "inference" and wl.runtime in ("vllm", "sglang") and "no KV cache" in str(e)):
            raise
        base = estimate(model, wl.replace(mode="weights", dtype=wl.quant or wl.dtype))
        r = fit_estimate(base, device, wl)
        # every GPU holds the weights ÷ tp·pp (data-parallel replicas hold them whole), not ÷ gpus
        per = -(-base.total_bytes // (wl.tp * wl.pp))
        return replace(r, fits=False, per_gpu_bytes=(per,) * wl.gpus, headroom_bytes=r.capacity_bytes - per,
                       blame="weights", blame_bytes=per,
                       split=f"{wl.runtime}: the weights divided by tp × pp = {wl.tp * wl.pp} on each GPU",
                       notes=(*r.notes, str(e)))


def fit_all(model: ModelRef, workload: Workload | None = None, **options: Any) -> list[FitResult]:
    """``fit`` on every catalog device with a fixed memory (one estimate, judged per device), in catalog order:
    which GPUs can run this as it is?"""
    wl, _ = meant_workload(workload, options)
    wl.validate()
    devs = [d for d in devices() if d.capacity_bytes > 0]
    if wl.mode == "inference" and wl.runtime in ("vllm", "sglang"):  # the plan depends on the device
        from .sources.loader import load_model
        from .spec import ModelSpec

        spec = model if isinstance(model, ModelSpec) else load_model(model)
        return [_judge_on(spec, wl, d) for d in devs]
    est = estimate(model, wl)
    return [fit_estimate(est, d, wl) for d in devs]

"""Inverse questions, each answered by searching the variable with real estimates (never a closed form).

* ``plan_largest(model, gpu, "context")`` — the largest value of any integer Workload field that fits:
  an exponential probe, then a binary search, assuming more of the variable never needs less memory.
  The answer ``v`` fits and ``v + 1`` does not (or ``v`` is the search limit, e.g. the model's context).
  The context is searched with the allocator reserve interpolated between grid points (monotone in the context),
  then the answer is re-checked with the reserve replayed at each context, as ``fit`` estimates it.
* ``plan_context`` / ``plan_batch`` — the longest context, the most sequences (vLLM: concurrent requests).
* ``plan_gpu_layers`` — llama.cpp ``-ngl``: the most layers on the GPU, and the host RAM the rest needs.
* ``plan_gpus`` — the fewest GPUs, scanning every count upwards and, at each count, every parallel layout
  (TP, PP, ZeRO stage) in order of preference; no layout fits on one GPU fewer.
* ``plan(model, gpu, …)`` — the questions that apply to the workload, as one ``Plan``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field, replace
from typing import Any

from .errors import ConfigError, MemfitError, UnsupportedError
from .estimate import ModelRef, runnable_workload
from .fit import TRAIN_MODES, FitResult, estimate_on, fit_estimate, meant_workload, without_retries
from .hardware import Device, get_device
from .levers import change_text, gpu_count_changes
from .memory.runtimes.transformers_pool import grid_down, grid_up, interpolating_reserve
from .plan_floor import floor_note
from .plan_qlora import qlora_note
from .plan_search import min_gpus
from .result import Estimate
from .rules import on_llamacpp, tp_problem
from .sources.loader import load_model
from .spec import ModelSpec
from .units import fmt_bytes
from .workload import MAX_BATCH, MAX_GPUS, MAX_TOKENS, Workload

__all__ = ["Plan", "PlanAnswer", "layouts", "plan", "plan_batch", "plan_context", "plan_gpu_layers",
           "plan_gpus", "plan_largest"]

DEFAULT_CONTEXT_LIMIT = 1 << 20  # models without max_position_embeddings
DEFAULT_GPU_LIMIT = 64
MAX_TP = 8  # tensor parallelism stays inside one 8-GPU node
_OFFLOADED = {"optimizer": "optimizer states", "params": "parameters and optimizer states"}


@dataclass(frozen=True)
class PlanAnswer:
    """One answer: ``value`` of ``variable`` (None: nothing fits, not even ``lowest``)."""

    question: str
    variable: str
    value: int | None
    lowest: int
    limit: int  # the search stopped here; value == limit means the limit, not memory, decided
    at_value: FitResult | None  # the fit at the answer
    beyond: FitResult | None  # the fit one step beyond (None when capped or nothing fits)
    workload: Workload  # the workload at the answer (or at ``lowest`` when nothing fits)
    explanation: str
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def capped(self) -> bool:
        return self.value is not None and self.value >= self.limit

    def to_json(self) -> dict[str, Any]:
        return {
            "question": self.question, "variable": self.variable, "value": self.value, "lowest": self.lowest,
            "limit": self.limit, "capped": self.capped, "explanation": self.explanation,
            "at_value": None if self.at_value is None else _fit_brief(self.at_value),
            "beyond": None if self.beyond is None else _fit_brief(self.beyond),
            "workload": {k: getattr(self.workload, k) for k in Workload.field_names()},
            **self.extra,
        }


def _fit_brief(r: FitResult) -> dict[str, Any]:
    return {"fits": r.fits, "per_gpu_bytes": list(r.per_gpu_bytes), "capacity_bytes": r.capacity_bytes,
            "headroom_bytes": r.headroom_bytes, "host_bytes": r.host_bytes, "gpus": r.gpus,
            "blame": r.blame}


Estimator = Callable[[ModelSpec, Workload], Estimate]


class _Judge:
    """Estimates a workload once per distinct value and judges it against the device."""

    def __init__(self, spec: ModelSpec, device: Device, estimator: Estimator | None = None,
                 interpolate: bool = False) -> None:
        self.spec, self.device, self.estimator, self.interpolate = spec, device, estimator, interpolate
        self.cache: dict[Workload, FitResult] = {}

    def __call__(self, wl: Workload) -> FitResult:
        r = self.cache.get(wl)
        if r is None:
            wl.validate()
            mode: AbstractContextManager[None] = interpolating_reserve() if self.interpolate else nullcontext()
            with mode:
                est = estimate_on(self.spec, wl, self.device) if self.estimator is None else \
                    self.estimator(self.spec, wl)
            r = without_retries(fit_estimate(est, self.device, wl))  # an answer keeps the allocator's cache
            self.cache[wl] = r
        return r


def _largest(judge: _Judge, base: Workload, variable: str, lo: int, hi: int
             ) -> tuple[int | None, FitResult | None, FitResult | None]:
    """The largest v in [lo, hi] whose workload fits, with the fits at v and v + 1."""

    def at(v: int) -> FitResult:
        return judge(base.replace(**{variable: v}))

    first = at(lo)
    if not first.fits:
        return None, None, first
    good, bad = lo, None
    step = 1
    while bad is None:
        v = min(good + step, hi)
        if v == good:
            break
        if at(v).fits:
            good = v
            step *= 2
        else:
            bad = v
    if bad is None:  # the limit fits
        return good, at(good), None
    while bad - good > 1:
        mid = (good + bad) // 2
        if at(mid).fits:
            good = mid
        else:
            bad = mid
    return good, at(good), at(good + 1)


def _exact_context(judge: _Judge, base: Workload, v: int, lo: int, hi: int
                   ) -> tuple[int | None, FitResult | None, FitResult | None]:
    """The search's answer ``v`` (found on the interpolated reserve) re-checked with the exact one: the boundary is
    moved to where the exact estimate crosses, looked for between the grid points around ``v`` (where both agree)."""

    def at(c: int) -> FitResult:
        return judge(base.replace(context=c))

    good, bad = v, None
    while not at(good).fits:  # down, a grid point at a time
        if good <= lo:
            return None, None, at(lo)
        good, bad = max(lo, grid_down(grid_up(good))), good
    if bad is None:  # v fits exactly: up, a grid point at a time, to the first context that does not
        c = good + 1
        while c <= hi and at(c).fits:
            good, c = c, min(hi + 1, grid_up(c + 1))
        if c > hi:
            return good, at(good), None
        bad = c
    while bad - good > 1:
        mid = (good + bad) // 2
        good, bad = (mid, bad) if at(mid).fits else (good, mid)
    return good, at(good), at(good + 1)


def _setup(model: ModelRef, gpu: str | Device, workload: Workload | None, memory: int | str | None,
           options: dict[str, Any], host_memory: int | str | None = None) -> tuple[ModelSpec, Device, Workload]:
    spec = model if isinstance(model, ModelSpec) else load_model(model)
    device = get_device(gpu, memory=memory, host_memory=host_memory)
    wl, _ = meant_workload(workload, options, device)
    return spec, device, runnable_workload(spec, wl.validate())


def plan_largest(model: ModelRef, gpu: str | Device, variable: str, workload: Workload | None = None, *,
                 lowest: int = 1, limit: int | None = None, memory: int | str | None = None,
                 question: str | None = None, estimator: Estimator | None = None, **options: Any) -> PlanAnswer:
    """The largest value of the integer Workload field ``variable`` that fits on ``gpu``.

    ``plan_largest("llama-3.1-8b", "rtx 4090", "context", mode="inference")`` → PlanAnswer(value=…).
    ``estimator(spec, workload) -> Estimate`` replaces ``memfit.estimate`` (e.g. a custom memory model).
    """
    spec, device, wl = _setup(model, gpu, workload, memory, options)
    if variable not in Workload.field_names() or not isinstance(getattr(wl, variable), int | None) \
            or isinstance(getattr(wl, variable), bool):
        raise ConfigError(f"{variable!r} is not an integer Workload field")
    hi = limit if limit is not None else _default_limit(spec, variable, wl)
    if hi < lowest:
        raise ConfigError(f"limit {hi} is below the lowest value {lowest}")
    judge = _Judge(spec, device, estimator)
    q = question or f"max_{variable}"
    try:
        if variable != "context":
            value, at_v, beyond = _largest(judge, wl, variable, lowest, hi)
        else:  # searched on the interpolated reserve, then re-checked exactly
            value = _largest(_Judge(spec, device, estimator, interpolate=True), wl, variable, lowest, hi)[0]
            value, at_v, beyond = _exact_context(judge, wl, lowest if value is None else value, lowest, hi)
    except UnsupportedError:  # memfit cannot estimate this workload at all: not a verdict about memory
        raise
    except MemfitError as e:  # e.g. vLLM has no room for a single KV block on this device
        return PlanAnswer(q, variable, None, lowest, hi, None, None, wl.replace(**{variable: lowest}),
                          f"nothing fits: {e}")
    if value is None:
        assert beyond is not None
        text = (f"nothing fits: even {variable} = {lowest} needs {fmt_bytes(beyond.max_gpu_bytes)} per GPU, "
                f"more than {fmt_bytes(beyond.capacity_bytes)}; largest part: {beyond.blame}")
        return PlanAnswer(q, variable, None, lowest, hi, None, beyond, wl.replace(**{variable: lowest}), text)
    assert at_v is not None
    if beyond is None:
        text = f"{variable} = {value:,} fits and is the search limit ({fmt_bytes(at_v.headroom_bytes)} left)"
    else:
        text = (f"{variable} = {value:,} fits ({fmt_bytes(at_v.max_gpu_bytes)} of {fmt_bytes(at_v.capacity_bytes)}"
                f" per GPU); ")
        why = [n for n in beyond.notes if "KV pool holds" in n]
        text += f"at {value + 1:,}: {why[-1]}" if beyond.max_gpu_bytes <= beyond.capacity_bytes and why else \
            f"{value + 1:,} needs {fmt_bytes(beyond.max_gpu_bytes)}"
    extra = {f"engine_{k}": at_v.estimate.details[k] for k in ("max_concurrent_sequences", "max_context_one_sequence")
             if k in at_v.estimate.details}
    return PlanAnswer(q, variable, value, lowest, hi, at_v, beyond, wl.replace(**{variable: value}), text, extra)


def _default_limit(spec: ModelSpec, variable: str, wl: Workload) -> int:
    if variable == "context":  # prompt + generated tokens stay within the model's positions
        return max(1, (spec.max_position_embeddings or DEFAULT_CONTEXT_LIMIT) - wl.new_tokens)
    if variable == "n_gpu_layers":
        return spec.num_layers
    if variable in ("batch", "max_num_seqs"):
        return MAX_BATCH
    if variable in ("gpus", "tp", "pp", "ep"):
        return DEFAULT_GPU_LIMIT
    return MAX_TOKENS


def _needs_shapes(wl: Workload, what: str) -> None:
    if wl.mode == "weights":
        raise UnsupportedError(f"{what} does not change a weights-only estimate: choose --mode inference, train, "
                               "lora or qlora")


def plan_context(model: ModelRef, gpu: str | Device, workload: Workload | None = None, *,
                 limit: int | None = None, memory: int | str | None = None, **options: Any) -> PlanAnswer:
    """The longest context (prompt tokens, or training sequence length) that fits; capped at the model's
    ``max_position_embeddings`` minus ``new_tokens`` unless ``limit`` is given."""
    spec, device, wl = _setup(model, gpu, workload, memory, options)
    _needs_shapes(wl, "context")
    return plan_largest(spec, device, "context", wl, limit=limit, question="max_context")


def plan_batch(model: ModelRef, gpu: str | Device, workload: Workload | None = None, *,
               limit: int | None = None, memory: int | str | None = None, **options: Any) -> PlanAnswer:
    """The largest batch (inference: concurrent sequences; training: micro-batch) that fits at the context."""
    spec, device, wl = _setup(model, gpu, workload, memory, options)
    _needs_shapes(wl, "batch")
    return plan_largest(spec, device, "batch", wl, limit=limit, question="max_batch")


def plan_gpu_layers(model: ModelRef, gpu: str | Device, workload: Workload | None = None, *,
                    memory: int | str | None = None, **options: Any) -> PlanAnswer:
    """llama.cpp: the most layers on the GPU (``-ngl``) that fit, and the host RAM the rest needs.
    ``-ngl`` counts the repeating layers and then the output layer: layers + 1 puts everything on the GPU."""
    spec, device, wl = _setup(model, gpu, workload, memory, options)
    wl = wl.replace(mode="inference", runtime=wl.runtime if on_llamacpp(wl.runtime) else "llamacpp")
    ans = plan_largest(spec, device, "n_gpu_layers", wl, lowest=0, limit=spec.num_layers + 1,
                       question="gpu_layers")
    r = ans.at_value or ans.beyond
    if r is not None:
        ans.extra["host_bytes"] = r.host_bytes
        ans.extra["layers"] = spec.num_layers
    return ans


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def layouts(spec: ModelSpec, gpus: int, mode: str, runtime: str = "transformers") -> Iterator[dict[str, int]]:
    """Parallel layouts for ``gpus`` GPUs, most preferred first: less model parallelism first, TP before PP
    (TP ≤ 8 and dividing the attention heads, PP ≤ layers), then the lowest ZeRO stage (training only,
    stages > 0 only with data parallelism). vLLM inference needs tp × pp = gpus (more GPUs are replicas)."""
    engine = "vllm" if mode == "inference" else "megatron"
    cands: list[tuple[int, int]] = []
    for tp in _divisors(gpus):
        if tp > MAX_TP or tp_problem(spec, tp, engine) or (mode == "inference" and on_llamacpp(runtime) and tp > 1):
            continue
        for pp in _divisors(gpus // tp):
            if pp > max(spec.num_layers, 1):
                continue
            if mode == "inference" and runtime == "vllm" and tp * pp != gpus:
                continue
            cands.append((tp, pp))
    cands.sort(key=lambda c: (c[0] * c[1], c[1], c[0]))
    for tp, pp in cands:
        dp = gpus // (tp * pp)
        stages = range(4) if mode in TRAIN_MODES and dp > 1 else range(1)
        for z in stages:
            yield {"gpus": gpus, "tp": tp, "pp": pp, "zero": z}


def plan_gpus(model: ModelRef, gpu: str | Device, workload: Workload | None = None, *,
              limit: int = DEFAULT_GPU_LIMIT, memory: int | str | None = None, estimator: Estimator | None = None,
              host_memory: int | str | None = None, **options: Any) -> PlanAnswer:
    """The fewest GPUs that fit, with the cheapest layout (TP, PP, EP, ZeRO, offload given ``host_memory``,
    checkpointing, SP, micro-batch; QLoRA as FSDP1) at that count; none fits on one GPU fewer (``plan_search``)."""
    spec, device, wl = _setup(model, gpu, workload, memory, options, host_memory)
    if not 1 <= limit <= MAX_GPUS:
        raise ConfigError(f"limit = {limit} must be from 1 to {MAX_GPUS:,} GPUs")
    f = min_gpus(spec, wl, _Judge(spec, device, estimator), device.capacity_bytes, limit, device.host_bytes)
    extra: dict[str, Any] = {"layouts_tried": f.evaluated, "estimates": f.estimates, "families": f.families}
    if wl.mode in TRAIN_MODES and wl.offload == "none" and device.host_bytes is None:
        extra["offload_searched"] = False
        extra["offload_note"] = "ZeRO-Offload not searched: give the host RAM per GPU (--host-memory) to allow it"
    if f.gpus is None or f.workload is None or f.fit is None:
        if f.last is None and f.unsupported is not None:  # nothing could be estimated: say why
            raise f.unsupported
        text = f"no layout of up to {limit:,} GPUs fits"
        if extra.get("offload_searched") is False:
            text += f" ({extra['offload_note']})"
        if f.last is not None:
            text += f" (last tried: {fmt_bytes(f.last.max_gpu_bytes)} per GPU; largest part {f.last.blame})"
        if f.unsupported is not None and any(k in str(f.unsupported) for k in ("pipeline stages", "multi-GPU LoRA")):
            text += f"; {f.unsupported}"
        fixes = _gpu_fixes(spec, device, wl, limit, estimator)
        extra["fixes"] = fixes
        if fixes:
            text += "; to make it fit, cheapest first: " + "; ".join(x["text"] for x in fixes)
        return PlanAnswer("min_gpus", "gpus", None, 1, limit, None, f.last, wl, text, extra)
    w, r, n = f.workload, f.fit, f.gpus
    lay: dict[str, Any] = {"gpus": n, "tp": w.tp, "pp": w.pp}
    lay_text = f"tp = {w.tp}, pp = {w.pp}"
    if wl.mode in TRAIN_MODES:
        lay.update(ep=w.ep, zero=w.zero, fsdp_version=w.fsdp_version, offload=w.offload, checkpointing=w.checkpointing,
                   sequence_parallel=w.sequence_parallel, batch=w.batch, grad_accum=w.grad_accum)
        extra["host_bytes"] = r.host_bytes
        lay_text += f", dp = {n // (w.tp * w.pp)}" + (f", ep = {w.ep}" if w.ep > 1 else "") + \
            f", ZeRO-{w.zero}" + (f" offloading the {_OFFLOADED[w.offload]} to {fmt_bytes(r.host_bytes)} of host "
                                  "RAM per GPU" if w.offload != "none" else "") + \
            f", checkpointing {w.checkpointing}" + \
            (", sequence parallel" if w.sequence_parallel else "") + \
            (f", micro-batch {w.batch} × {w.grad_accum} accumulation steps" if w.batch != wl.batch else "")
        if w.pp > 1:
            lay["pp_schedule"] = w.pp_schedule
            lay_text += f", {_SCHEDULE_TEXT.get(w.pp_schedule, w.pp_schedule)} schedule"
            if w.pp_schedule != wl.pp_schedule:
                lay_text += f" (torch's 1F1B needs at least {w.pp} micro-batches; raise --grad-accum to use it)"
    text = f"{n:,} GPU{'s' if n > 1 else ''} ({lay_text}): {fmt_bytes(r.max_gpu_bytes)} of " \
        f"{fmt_bytes(r.capacity_bytes)} per GPU"
    text += f"; no layout fits on {n - 1:,}" if n > 1 else ""
    text += f" ({extra['offload_note']})" if extra.get("offload_searched") is False else ""
    text += floor_note(r, w) + qlora_note(w) if wl.mode in TRAIN_MODES else ""  # per-rank floor; FSDP1 QLoRA
    return PlanAnswer("min_gpus", "gpus", n, 1, limit, r, None, w, text, {"layout": lay, **extra})


_SCHEDULE_TEXT = {"gpipe": "GPipe", "1f1b": "1F1B", "interleaved-1f1b": "interleaved 1F1B"}
HOST_UNBOUNDED = 1 << 62  # ZeRO-Offload with as much host RAM as it needs (to say how much that is)
FIX_ESTIMATES = 40  # the estimates the changes listed when nothing fits may take, all together (bounded work)


def _gpus_text(n: int) -> str:
    return f"{n:,} GPU{'s' if n > 1 else ''}"


def _gpu_fixes(spec: ModelSpec, device: Device, wl: Workload, limit: int, estimator: Estimator | None,
               most: int = 3, budget: int = FIX_ESTIMATES) -> list[dict[str, Any]]:
    """When no count up to ``limit`` fits: the cheapest changes with which one does (``levers``), each with
    its count; ZeRO-Offload first when the host RAM was not given (with the host RAM it then needs). Bounded
    work: the changes are tried until ``budget`` estimates are spent."""
    cands: list[tuple[dict[str, Any], int | None]] = []
    if wl.mode in TRAIN_MODES and wl.offload == "none" and device.host_bytes is None:
        cands.append(({"host_memory": None}, HOST_UNBOUNDED))
    cands += [(c, device.host_bytes) for c in gpu_count_changes(wl)]
    out: list[dict[str, Any]] = []
    spent = 0
    for change, host in cands:
        if spent >= budget:
            break
        fields = {k: v for k, v in change.items() if k != "host_memory"}
        try:
            cand = wl.replace(**fields).validate()
            dev = replace(device, host_bytes=host)
            f = min_gpus(spec, cand, _Judge(spec, dev, estimator), dev.capacity_bytes, limit, host)
        except MemfitError:
            continue
        spent += f.estimates
        if f.gpus is None or f.fit is None or f.workload is None:
            continue
        if "host_memory" in change:
            text = (f"give --host-memory of at least {fmt_bytes(f.fit.host_bytes)} (ZeRO-Offload of the "
                    f"{_OFFLOADED.get(f.workload.offload, 'states')}): fits on {_gpus_text(f.gpus)}")
            change = {"host_memory": f.fit.host_bytes}
        else:
            text = f"add {change_text(fields)}: fits on {_gpus_text(f.gpus)}"
        out.append({"change": change, "gpus": f.gpus, "per_gpu_bytes": f.fit.max_gpu_bytes,
                    "host_bytes": f.fit.host_bytes, "text": text})
        if len(out) >= most:
            break
    return out


@dataclass(frozen=True)
class Plan:
    """All answers for one model, device and workload."""

    model: str
    device: Device
    workload: Workload
    answers: tuple[PlanAnswer, ...]
    extras: dict[str, Any] = field(default_factory=dict)

    def answer(self, question: str) -> PlanAnswer:
        for a in self.answers:
            if a.question == question:
                return a
        raise KeyError(question)

    def to_json(self) -> dict[str, Any]:
        return {"model": self.model, "device": self.device.id, "device_name": self.device.name,
                "capacity_bytes": self.device.capacity_bytes,
                "answers": {a.question: a.to_json() for a in self.answers}, **self.extras}


QUESTIONS = ("context", "batch", "gpus", "layers")


def plan(model: ModelRef, gpu: str | Device, workload: Workload | None = None, *,
         questions: tuple[str, ...] | None = None, memory: int | str | None = None,
         host_memory: int | str | None = None, **options: Any) -> Plan:
    """Answer the inverse questions that apply: context and batch (inference/training), fewest GPUs,
    and llama.cpp GPU layers (runtime llamacpp). ``questions`` picks from context, batch, gpus, layers.
    ``host_memory`` (host RAM per GPU) is judged by each answer and lets the gpus question search offload."""
    spec, device, wl = _setup(model, gpu, workload, memory, options, host_memory)
    if questions is None:
        qs: list[str] = []
        if wl.mode != "weights":
            qs += ["context", "batch"]
        qs.append("gpus")
        if on_llamacpp(wl.runtime) and wl.mode == "inference":
            qs.append("layers")
        questions = tuple(qs)
    bad = [q for q in questions if q not in QUESTIONS]
    if bad:
        raise ConfigError(f"unknown question(s) {', '.join(bad)}; choose from {', '.join(QUESTIONS)}")
    answers: list[PlanAnswer] = []
    for q in questions:
        if q == "context":
            answers.append(plan_context(spec, device, wl))
        elif q == "batch":
            answers.append(plan_batch(spec, device, wl))
        elif q == "gpus":
            answers.append(plan_gpus(spec, device, wl))
        else:
            answers.append(plan_gpu_layers(spec, device, wl))
    return Plan(spec.name, device, wl, tuple(answers))

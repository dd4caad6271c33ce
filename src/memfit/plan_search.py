"""The fewest GPUs: a bounded search over the layouts engines accept, for 1 to 100,000 GPUs in well under a second.

A *family* fixes the model-parallel shape: ``tp`` (dividing the heads and KV heads as the engine requires, ≤ 8)
and ``pp`` (≤ layers); its GPUs are ``tp × pp × m`` where ``m`` is the data-parallel degree (training), the
layer split of transformers/llama.cpp (``device_map="auto"``, ``--split-mode layer``), or 1 for vLLM (more
GPUs are replicas). Per-GPU memory never grows with ``m``, so each family has a least ``m`` that fits.

1. Bounds from the memory model: one reference estimate gives the weights, gradients and optimizer bytes;
   a family's GPU holds at least its share of them (``tp × pp`` ways, and ``m`` ways for what ZeRO shards) plus
   the CUDA context. That lower bound orders the families and gives each a least ``m`` worth trying.
2. Each family is searched with the levers that save the most memory (ZeRO-3 without pipeline stages, ZeRO-1
   with them — DeepSpeed allows no more —, ZeRO-Offload, checkpointing, sequence parallelism, micro-batch),
   upwards from its bound (galloping, then bisection); a family whose bound is not below the best count so far
   is skipped.
3. At the least count, the cheapest levers that fit are chosen: no offload first, then less model parallelism,
   no checkpointing, the original micro-batch, the lowest ZeRO stage, sequence parallelism last. Levers the
   user set are kept as set.

The levers, with the engines' rules:

* ZeRO stage 0–3 (DeepSpeed; FSDP FULL_SHARD = 3), at most 1 with pipeline stages.
* ZeRO-Offload (DeepSpeed ``offload_optimizer``: ZeRO 1–3; ``offload_param``: ZeRO-3 only), also on one GPU.
  Searched only when the host RAM per GPU is known (``Device.host_bytes``, ``--host-memory``): the states move
  to host RAM, and an offload that needs more host RAM than given does not fit (less offload is tried).
* Checkpointing none / selective / full; sequence parallelism with tp > 1.
* Micro-batch: a batch of ``b`` with ``a`` accumulation steps may run as micro-batch 1 with ``a·b`` steps (the
  same tokens per optimizer step). Memory is the activations of one micro-batch plus, with accumulation, the
  gradients held between micro-batches; linear in the micro-batch, so the least is at 1 or at ``b``.

So the answer fits, and on one GPU fewer no layout fits with any lever (each family's memory at a smaller
``m`` is larger, and the levers searched were the most saving).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from .errors import MemfitError, UnsupportedError
from .fit import TRAIN_MODES, FitResult
from .memory.training.fsdp1_lora import uses_fsdp1_lora
from .memory.training.fsdp1_qlora import uses_fsdp1_qlora
from .memory.training.fsdp_lora import uses_fsdp_lora
from .memory.training.parallel_pp import uses_pipeline_model
from .rules import tp_problem
from .spec import ModelSpec
from .workload import MAX_GPUS, Workload

__all__ = ["Found", "min_gpus"]


def _quantized_lora(wl: Workload) -> bool:
    return wl.mode == "qlora" or (wl.mode == "lora" and wl.quant is not None)


def _lora_rank_modelled(wl: Workload, moe: bool) -> bool:
    """A multi-GPU LoRA layout whose rank memfit models step by step: plain LoRA of a dense model under FSDP2
    (``fsdp_lora``), or QLoRA under FSDP1 (``fsdp1_qlora``; ``workload`` sets ``fsdp_version`` 1 for it)."""
    if _quantized_lora(wl):
        return wl.fsdp_version == 1 and uses_fsdp1_qlora(wl, moe) and uses_fsdp1_lora(wl, moe)
    return uses_fsdp_lora(wl, moe)

MAX_TP = 8  # tensor parallelism stays inside one 8-GPU node
CKPT = ("none", "selective", "full")
OFFLOAD = ("none", "optimizer", "params")  # cheapest first; optimizer needs ZeRO ≥ 1, params ZeRO-3
Judge = Callable[[Workload], FitResult]


@dataclass(frozen=True)
class Found:
    """The least GPU count (None: none up to ``limit``), its workload and fit, and how much was estimated."""

    gpus: int | None
    workload: Workload | None
    fit: FitResult | None
    evaluated: int
    families: int
    last: FitResult | None
    unsupported: UnsupportedError | None
    estimates: int = 0  # distinct workloads estimated (``evaluated`` counts repeats, which the judge caches)


@dataclass(frozen=True)
class _Family:
    tp: int
    pp: int
    mmax: int  # the largest m worth trying
    step: int  # m is a multiple of step (expert parallelism divides the data-parallel ranks)
    ep: int = 1

    @property
    def per(self) -> int:
        return self.tp * self.pp


class _Search:
    def __init__(self, spec: ModelSpec, wl: Workload, judge: Judge, capacity: int, host: int | None) -> None:
        self.spec, self.wl, self.judge, self.capacity, self.host = spec, wl, judge, capacity, host
        self.training = wl.mode in TRAIN_MODES
        self.evaluated = 0
        self.gathered = 0.0
        self.alts: dict[_Family, list[tuple[int, str]]] = {}  # (micro-batch, checkpointing) by memory at the top
        self.last: FitResult | None = None
        self.used: dict[str, Any] = {}  # the levers of the last fit that fitted
        self.seen: set[Workload] = set()
        self.unsupported: UnsupportedError | None = None
        self.free = {"zero": wl.zero == 0, "checkpointing": wl.checkpointing == "none",
                     "sequence_parallel": not wl.sequence_parallel,
                     "offload": wl.offload == "none" and host is not None, "micro_batch": wl.batch > 1}
        self.shares = self._reference()

    def _reference(self) -> tuple[float, float, float, float]:
        """(context, weights, gradients, optimizer) bytes of one unsplit replica, for the lower bounds."""
        if self.training:
            ref = self.wl.replace(gpus=1, tp=1, pp=1, ep=1, zero=1, offload="none")
        else:
            # the weights in the format they run in (a bitsandbytes --quant is the weights' format)
            ref = self.wl.replace(mode="weights", gpus=1, tp=1, pp=1, dtype=self.wl.quant or self.wl.dtype, quant=None)
        try:
            from .estimate import estimate

            est = estimate(self.spec, ref)
        except MemfitError:
            return 0.0, 0.0, 0.0, 0.0
        c = {x.name: float(x.bytes) for x in est.components if x.on_device}
        if self.training:  # ZeRO-3 gathers whole layers to run them: what every rank holds however many ranks
            try:
                wide = estimate(self.spec, ref.replace(gpus=MAX_GPUS, zero=3))
                self.gathered = max(0.0, float(wide.component("weights")) - c.get("weights", 0.0) / MAX_GPUS)
            except MemfitError:
                self.gathered = 0.0
        return c.get("cuda_context", 0.0), c.get("weights", 0.0), c.get("gradients", 0.0), \
            c.get("optimizer_states", 0.0)

    def micros(self) -> tuple[int, ...]:
        """Micro-batches to search with: 1, then the user's batch unless the user accumulates already (then 1
        always needs least): accumulation holds the gradients, which weigh more on fewer GPUs."""
        if not self.free["micro_batch"]:
            return (self.wl.batch,)
        return (1,) if self.wl.grad_accum > 1 else (1, self.wl.batch)

    def alternatives(self, fam: _Family, fixed: dict[str, Any]) -> list[tuple[int, str]]:
        """(micro-batch, checkpointing) settings to try, least memory at the family's top first; those that do
        not fit at the top are left out (memory never grows with m, so they fit at no m below it). A fixed
        micro-batch between 1 and the user's needs at least what 1 needs (memory is linear in it)."""
        ckpts = ("full", "selective", "none") if self.free["checkpointing"] else (self.wl.checkpointing,)
        alts = self.alts.get(fam) or [(b, c) for b in self.micros() for c in ckpts]
        if "batch" in fixed:
            v = fixed["batch"]
            alts = [(v, c) for b, c in alts if b == (v if v == self.wl.batch else 1)]
        if "checkpointing" in fixed:
            alts = [(b, c) for b, c in alts if c == fixed["checkpointing"]]
        return alts

    def chain(self, fam: _Family, m: int, fixed: dict[str, Any]) -> list[tuple[dict[str, Any], bool]]:
        """ZeRO stage and offload settings, most saving of device memory first; each with whether a failure on
        device memory ends the chain (every later one needs as much) — a failure on host RAM goes on to less
        offload. DeepSpeed: offload_optimizer needs ZeRO ≥ 1, offload_param ZeRO-3; ZeRO ≤ 1 with pipeline
        stages; ZeRO on one replica without offload saves nothing (stage 0 then)."""
        if not self.training:
            return [({}, True)]
        zf = self.free["zero"] and "zero" not in fixed
        z = fixed.get("zero", self.wl.zero)
        if zf:
            top = 3 if fam.pp == 1 else 1
            pairs = [(3, "params", True), (3, "optimizer", True), (1, "optimizer", False), (3, "none", True)] \
                if top == 3 else [(1, "optimizer", True), (1, "none", True)]
            pairs = [(0 if o == "none" and m == 1 else zz, o, stop) for zz, o, stop in pairs]
            if fam.pp > 1 and self.wl.mode == "train":  # torch.distributed.pipelining as parallel_pp.py models
                pairs = [(0, "none", True)]  # it has no ZeRO-1 or offload (parallel.py's Megatron sums would price it)
        else:
            pairs = [(z, "params", True), (z, "optimizer", True), (z, "none", True)]
        offs = [fixed["offload"]] if "offload" in fixed else list(OFFLOAD) if self.free["offload"] \
            else [self.wl.offload]
        if self.wl.mode in ("lora", "qlora") and fam.per * m > 1:  # multi-GPU LoRA: FSDP without offload alone
            offs = [o for o in offs if o == "none"] or offs  # (_judged refuses the rest; a user's offload too)
        pairs = [(zz, o, stop) for zz, o, stop in pairs if o in offs and
                 not (o == "optimizer" and zz < 1) and not (o == "params" and zz < 3)]
        if not pairs and (self.free["zero"] or self.free["offload"]):  # no stage DeepSpeed accepts for it
            return []
        if not pairs:  # the user's own combination: the estimate says why it cannot run
            pairs = [(z, offs[0], True)]
        return [({**({"zero": zz} if self.free["zero"] else {}),
                  **({"offload": o} if self.free["offload"] else {})}, stop) for zz, o, stop in pairs]

    def levers(self, fam: _Family, m: int, b: int, states: dict[str, Any], ckpt: str,
               fixed: dict[str, Any]) -> dict[str, Any]:
        """The Workload fields of one setting (the user's levers are kept as set)."""
        if not self.training:
            return {}
        out: dict[str, Any] = dict(states)
        if self.free["checkpointing"]:
            out["checkpointing"] = ckpt
        if self.free["micro_batch"]:
            out.update(batch=b, grad_accum=self.wl.grad_accum * self.wl.batch // b)
        if self.free["sequence_parallel"]:  # not inside pipeline stages: torch's PP x TP is modelled without it
            out["sequence_parallel"] = fixed.get("sequence_parallel", fam.tp > 1 and fam.pp == 1)
        return out

    def lower_bound(self, fam: _Family, m: int, zero: int | None = None, offload: str | None = None) -> float:
        ctx, w, g, o = self.shares
        if not self.training:
            return ctx + w / (fam.per * m)
        chain = self.chain(fam, m, {})
        first = chain[0][0] if chain else {}  # the most saving setting: a bound for the others too
        z = first.get("zero", self.wl.zero) if zero is None else zero
        off = first.get("offload", self.wl.offload) if offload is None else offload
        e = fam.ep  # expert parallelism splits the experts (a part of w and g) ep ways: dividing all is a bound
        w_on = 0.0 if off == "params" else w / (m if z >= 3 else e)
        o_on = 0.0 if off in ("optimizer", "params") else o / (m if z >= 1 else e)
        return ctx + (self.gathered if z >= 3 else 0.0) + (w_on + g / (m if z >= 2 else e) + o_on) / fam.per

    def least_m(self, fam: _Family) -> int | None:
        """The least m the bound allows (None: not even at ``fam.mmax``)."""
        if self.lower_bound(fam, fam.mmax) > self.capacity:
            return None
        lo, hi = 1, fam.mmax
        while lo < hi:
            mid = (lo + hi) // 2
            if self.lower_bound(fam, mid) <= self.capacity:
                hi = mid
            else:
                lo = mid + 1
        return -(-lo // fam.step) * fam.step

    def workload(self, fam: _Family, m: int, levers: dict[str, Any]) -> Workload:
        wl = self.wl.replace(gpus=fam.per * m, tp=fam.tp, pp=fam.pp, ep=fam.ep, **levers)
        if wl.gpus > 1 and _quantized_lora(wl):
            # QLoRA on several GPUs: the rank memfit prices is accelerate's FSDP1 (fsdp1_qlora.py: the 4-bit weights
            # flattened as bf16 storage, the layout the published two-GPU runs used); FSDP2 QLoRA is only the sums
            wl = wl.replace(fsdp_version=1)
        if self.training and wl.pp > 1 and wl.pp_schedule == "1f1b" and wl.grad_accum < wl.pp:
            # torch's Schedule1F1B refuses fewer micro-batches than stages; GPipe runs them (rank 0 holds the same)
            wl = wl.replace(pp_schedule="gpipe")
        return wl

    def fits(self, fam: _Family, m: int, fixed: dict[str, Any] | None = None) -> FitResult | None:
        """The fit of the first setting that fits (``self.used``: its levers), else None (an estimate the
        runtime refuses does not fit): each micro-batch of ``micros``, the ZeRO/offload ``chain``, each
        checkpointing of ``ckpts`` while the states leave room; ``fixed`` levers are kept."""
        fixed = fixed or {}
        hopeless = False  # the states alone (no checkpointing or micro-batch changes them) are too large
        chain = self.chain(fam, m, fixed)
        for b, c in self.alternatives(fam, fixed):
            for states, stop in chain:
                lev = self.levers(fam, m, b, states, c, fixed)
                r = self._judged(fam, m, lev)
                if r is not None and r.fits:
                    self.used = lev
                    return r
                if states == chain[0][0] and r is not None and _states_bytes(r) > self.capacity:
                    hopeless = True
                if stop and (r is None or r.headroom_bytes < 0):  # short of device memory: later ones need more
                    break
            if hopeless:
                break
        return None

    def _judged(self, fam: _Family, m: int, lev: dict[str, Any]) -> FitResult | None:
        wl = self.workload(fam, m, lev)
        self.seen.add(wl)
        try:
            if self.training and wl.pp > 1 and wl.zero >= 2 and wl.gpus > wl.pp:
                # the PP x FSDP reserve is replayed per stream (pp_fsdp_pool.py: held-out -2.2 .. +6.2 %), but no
                # such answer is simulated in plan-checks-pp.jsonl yet (the fraction it replaced let one through:
                # qwen2.5-7b on 6 L40S, 60.6 GB reserved for a 47.3 GB answer)
                raise UnsupportedError("plan does not search ZeRO-2/3 (FSDP) inside pipeline stages: no such "
                                       "answer has been checked in simulation yet; drop --zero or --pp, or use "
                                       "memfit estimate (allocated peak and per-stream reserve modelled)")
            if wl.mode == "train" and wl.pp > 1 and (wl.tp > 1 or wl.ep > 1) and \
                    not uses_pipeline_model(wl, self.spec.is_moe):
                # memory/training/parallel_pp.py models PP x TP of a dense model without FSDP or sequence
                # parallelism (tests/data/parallel/pipeline-tp-*.jsonl); the rest stays with parallel.py's Megatron
                # sums, up to 47 % under torch's run of PP x TP (pipelining + DTensor TP, tools/simulate_pipeline.py)
                raise UnsupportedError("plan does not search tensor or expert parallelism inside pipeline stages "
                                       "with experts, sequence parallelism or ZeRO: torch's ranks there are not "
                                       "modelled (Megatron's sums were up to 47 % under a simulated PP x TP rank); "
                                       "drop --tp/--ep or --pp, or --sequence-parallel/--zero")
            if wl.mode in ("lora", "qlora") and wl.gpus > 1 and not _lora_rank_modelled(wl, self.spec.is_moe):
                # only plain LoRA of a dense model under FSDP2 is modelled rank by rank (fsdp_lora.py) and simulated
                # (tests/data/parallel/dev.jsonl *-lora16-*, plan-checks.jsonl), and QLoRA as FSDP1's rank
                # (fsdp1_qlora.py, against published two-GPU runs); the rest is parallel.py's sums
                raise UnsupportedError("plan searches multi-GPU LoRA only as FSDP (ZeRO-2/3) of a dense model "
                                       "without TP, PP, EP or offload, and QLoRA only as accelerate's FSDP1 of a "
                                       "dense model (or of transformers 4.x's per-expert experts, "
                                       "--transformers-version): no other LoRA rank has been checked; use memfit "
                                       "estimate for such a layout")
            self.evaluated += 1  # layouts estimated (a refused one costs nothing)
            r = self.judge(wl)
        except UnsupportedError as e:
            self.unsupported = self.unsupported or e
            return None
        except MemfitError:
            return None
        self.last = r
        return r

    def search(self, fam: _Family, start: int, top: int) -> int | None:
        """The least multiple of ``fam.step`` in [start, top] that fits (memory never grows with m): ``top``
        first (a family that does not fit there is done in one estimate), then upwards from ``start``."""
        top = top // fam.step * fam.step
        if start > top:
            return None
        if self.training and (self.free["checkpointing"] or len(self.micros()) > 1):
            # full recomputation usually needs least memory, but not always (the allocator's reserve for its
            # recompute buffers; on one GPU the states' moment may decide), and accumulation holds the
            # gradients: each probe tries the settings in the order of their memory at the family's top, and
            # only those that fit there
            chain = self.chain(fam, top, {})
            sizes: dict[tuple[int, str], float] = {}
            floor: dict[str, float] = {}  # micro-batch 1's peak less what accumulation adds: a floor for b
            for b, c in self.alternatives(fam, {}):
                if floor.get(c, 0.0) > self.capacity:
                    sizes[(b, c)] = math.inf  # a larger micro-batch without accumulation cannot need less
                    continue
                r = self._judged(fam, top, self.levers(fam, top, b, chain[0][0] if chain else {}, c, {}))
                sizes[(b, c)] = r.max_gpu_bytes if r is not None else math.inf
                if r is not None and b == 1 and self.wl.grad_accum == 1:
                    floor[c] = r.max_gpu_bytes - sum(x.bytes for x in r.estimate.components
                                                     if x.on_device and x.name in ("gradients", "allocator_reserve"))
            order = sorted(sizes, key=lambda k: (sizes[k], -CKPT.index(k[1]), k[0]))
            self.alts[fam] = [k for k in order if sizes[k] <= self.capacity] or order[:1]
        if not self.fits(fam, top):
            return None
        good, bad, step = top, start - fam.step, fam.step
        while bad + step < good:  # gallop up from the bound: the answer is usually just above it
            m = bad + step
            if self.fits(fam, m):
                good = m
                break
            bad, step = m, step * 2
        while good - bad > fam.step:
            mid = bad + max(1, (good - bad) // (2 * fam.step)) * fam.step
            if self.fits(fam, mid):
                good = mid
            else:
                bad = mid
        return good


def _states_bytes(r: FitResult) -> int:
    """The bytes on the most loaded GPU that no checkpointing setting changes: weights, optimizer states and
    the CUDA context (present at every moment of a step after the first)."""
    return sum(c.bytes for c in r.estimate.components
               if c.on_device and c.name in ("weights", "optimizer_states", "cuda_context"))


def _families(spec: ModelSpec, wl: Workload, limit: int) -> Iterator[_Family]:
    layers = max(spec.num_layers, 1)
    if wl.mode in TRAIN_MODES:
        # Megatron-LM: tp divides the heads and the query groups, pp divides the layers; ep divides the experts
        tps = [wl.tp] if wl.tp > 1 else [t for t in range(1, MAX_TP + 1) if tp_problem(spec, t, "megatron") is None]
        pps = [wl.pp] if wl.pp > 1 else [p for p in range(1, layers + 1) if layers % p == 0]
        experts = math.gcd(*(m.num_experts for m in spec.moe_layers)) if spec.is_moe else 1
        eps = [wl.ep] if wl.ep > 1 or experts == 1 else [e for e in range(1, experts + 1) if experts % e == 0]
        for tp in tps:
            for pp in pps:
                for ep in eps:
                    if tp * pp * ep <= limit:
                        yield _Family(tp, pp, limit // (tp * pp), ep, ep)
    elif wl.runtime == "vllm":  # vLLM splits layers unevenly: any pp up to the layer count
        tps = [wl.tp] if wl.tp > 1 else [t for t in range(1, MAX_TP + 1) if tp_problem(spec, t, "vllm") is None]
        for tp in tps:
            for pp in ([wl.pp] if wl.pp > 1 else range(1, layers + 1)):
                if tp * pp <= limit:
                    yield _Family(tp, pp, 1, 1)
    elif wl.tp * wl.pp > 1:  # a fixed tensor/pipeline split: more GPUs are idle replicas
        if wl.tp * wl.pp <= limit:
            yield _Family(wl.tp, wl.pp, 1, 1)
    else:  # transformers device_map="auto", llama.cpp --split-mode layer, a weights-only split: m GPUs
        yield _Family(1, 1, limit, 1)


def _cheapest(s: _Search, n: int, fams: list[_Family]) -> tuple[_Family, dict[str, Any], FitResult] | None:
    """The cheapest setting on ``n`` GPUs, chosen lever by lever (each the cheapest value with which some
    setting of the levers still open fits): no offload, then less offload; the family with least model
    parallelism; no checkpointing; the largest micro-batch; the lowest ZeRO stage; no sequence parallelism."""
    fams = sorted((f for f in fams if n % f.per == 0 and (n // f.per) % f.step == 0),
                  key=lambda f: (f.per, f.pp, f.tp, f.ep))
    fixed: dict[str, Any] = {}
    if s.training and s.free["offload"]:
        for off in OFFLOAD:
            if any(s.lower_bound(f, n // f.per, offload=off) <= s.capacity and s.fits(f, n // f.per, {"offload": off})
                   for f in fams):
                fixed["offload"] = off
                break
    fam = next((f for f in fams if s.fits(f, n // f.per, fixed)), None)
    if fam is None:
        return None
    m = n // fam.per
    if s.training:
        micros = sorted((b for b in range(1, s.wl.batch + 1) if s.wl.batch % b == 0), reverse=True)
        for key, values, free in (("checkpointing", CKPT, s.free["checkpointing"]),
                                  ("batch", micros, s.free["micro_batch"]),
                                  ("zero", (0, 1, 2, 3), s.free["zero"]),
                                  ("sequence_parallel", (False, True), s.free["sequence_parallel"] and fam.tp > 1)):
            for v in values if free else ():
                if s.fits(fam, m, {**fixed, key: v}):
                    fixed[key] = v
                    break
    r = s.fits(fam, m, fixed)
    return None if r is None else (fam, s.used, r)


def min_gpus(spec: ModelSpec, wl: Workload, judge: Judge, capacity: int, limit: int,
             host: int | None = None) -> Found:
    """The fewest GPUs (≤ ``limit``) on which some layout of ``wl`` fits, with the cheapest levers there;
    ``host``: the host RAM per GPU (None: unknown, so offload is not searched)."""
    s = _Search(spec, wl, judge, capacity, host)
    fams = [(f, m) for f in _families(spec, wl, limit) for m in [s.least_m(f)] if m is not None]
    fams.sort(key=lambda fm: (fm[0].per * fm[1], fm[0].per, fm[0].pp, -fm[0].ep))
    best: tuple[int, _Family] | None = None
    searched: dict[_Family, tuple[int | None, int]] = {}  # the least m that fits (None: none up to the top)
    for fam, m_lb in fams:
        top = fam.mmax if best is None else min(fam.mmax, (best[0] - 1) // fam.per)
        if fam.per * m_lb >= (best[0] if best else math.inf):
            break  # sorted by the bound: no later family can use fewer GPUs
        m = s.search(fam, m_lb, top)
        searched[fam] = (m, top)
        if m is not None and (best is None or fam.per * m < best[0]):
            best = (fam.per * m, fam)
    if best is None:
        return Found(None, None, None, s.evaluated, len(fams), s.last, s.unsupported, len(s.seen))
    n = best[0]
    # families that may fit on n GPUs: found at or below n // per, or not searched as far as n // per
    pick = _cheapest(s, n, [f for f, m_lb in fams if f.per * m_lb <= n and (
        f not in searched or (searched[f][0] or math.inf) <= n // f.per or searched[f][1] < n // f.per)])
    if pick is None:  # cannot happen (best fits at n), kept as the most saving setting of the best family
        fam = best[1]
        r = s.fits(fam, n // fam.per)
        assert r is not None
        pick = (fam, s.used, r)
    fam, lev, r = pick
    return Found(n, s.workload(fam, n // fam.per, lev), r, s.evaluated, len(fams), r, s.unsupported, len(s.seen))

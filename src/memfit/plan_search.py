"""The fewest GPUs: a bounded search over the layouts engines accept, for 1 to 100,000 GPUs in well under a second.

A *family* fixes the model-parallel shape: ``tp`` (dividing the heads and KV heads as the engine requires, ≤ 8)
and ``pp`` (≤ layers); its GPUs are ``tp × pp × m`` where ``m`` is the data-parallel degree (training), the
layer split of transformers/llama.cpp (``device_map="auto"``, ``--split-mode layer``), or 1 for vLLM (more
GPUs are replicas). Per-GPU memory never grows with ``m``, so each family has a least ``m`` that fits.

1. Bounds from the memory model: one reference estimate gives the weights, gradients and optimizer bytes;
   a family's GPU holds at least its share of them (``tp × pp`` ways, and ``m`` ways for what ZeRO shards) plus
   the CUDA context. That lower bound orders the families and gives each a least ``m`` worth trying.
2. Each family is searched with the levers that save the most memory (ZeRO-3 without pipeline stages, ZeRO-1
   with them — DeepSpeed allows no more —, full checkpointing, sequence parallelism), upwards from its bound
   (galloping, then bisection); a family whose bound is not below the best count so far is skipped.
3. At the least count, the cheapest levers that fit are chosen: less model parallelism, no checkpointing, the
   lowest ZeRO stage, sequence parallelism last. Levers the user set are kept as set.

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
from .rules import tp_problem
from .spec import ModelSpec
from .workload import MAX_GPUS, Workload

__all__ = ["Found", "min_gpus"]

MAX_TP = 8  # tensor parallelism stays inside one 8-GPU node
CKPT = ("none", "selective", "full")
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
    def __init__(self, spec: ModelSpec, wl: Workload, judge: Judge, capacity: int) -> None:
        self.spec, self.wl, self.judge, self.capacity = spec, wl, judge, capacity
        self.training = wl.mode in TRAIN_MODES
        self.evaluated = 0
        self.gathered = 0.0
        self.ckpt: dict[_Family, str] = {}  # the checkpointing that needs least memory, per family
        self.last: FitResult | None = None
        self.unsupported: UnsupportedError | None = None
        self.free = {"zero": wl.zero == 0, "checkpointing": wl.checkpointing == "none",
                     "sequence_parallel": not wl.sequence_parallel}
        self.shares = self._reference()

    def _reference(self) -> tuple[float, float, float, float]:
        """(context, weights, gradients, optimizer) bytes of one unsplit replica, for the lower bounds."""
        if self.training:
            ref = self.wl.replace(gpus=1, tp=1, pp=1, ep=1, zero=1, offload="none")
        else:
            ref = self.wl.replace(mode="weights", gpus=1, tp=1, pp=1)
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

    def levers(self, fam: _Family, m: int) -> dict[str, Any]:
        """The most memory-saving levers the user left free, for ``m`` replicas of the family."""
        out: dict[str, Any] = {}
        if not self.training:
            return out
        if self.free["zero"]:
            out["zero"] = 0 if m == 1 else (3 if fam.pp == 1 else 1)
        if self.free["checkpointing"]:
            out["checkpointing"] = self.ckpt.get(fam, "full")
        if self.free["sequence_parallel"]:
            out["sequence_parallel"] = fam.tp > 1
        return out

    def lower_bound(self, fam: _Family, m: int, zero: int | None = None) -> float:
        ctx, w, g, o = self.shares
        if not self.training:
            return ctx + w / (fam.per * m)
        z = self.levers(fam, m).get("zero", self.wl.zero) if zero is None else zero
        e = fam.ep  # expert parallelism splits the experts (a part of w and g) ep ways: dividing all is a bound
        return ctx + (self.gathered if z >= 3 else 0.0) + \
            (w / (m if z >= 3 else e) + g / (m if z >= 2 else e) + o / (m if z >= 1 else e)) / fam.per

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
        return self.wl.replace(gpus=fam.per * m, tp=fam.tp, pp=fam.pp, ep=fam.ep, **levers)

    def fits(self, fam: _Family, m: int, levers: dict[str, Any] | None = None) -> FitResult | None:
        """The fit when it fits, else None (an estimate the runtime refuses does not fit)."""
        self.evaluated += 1
        try:
            r = self.judge(self.workload(fam, m, self.levers(fam, m) if levers is None else levers))
        except UnsupportedError as e:
            self.unsupported = self.unsupported or e
            return None
        except MemfitError:
            return None
        self.last = r
        return r if r.fits else None

    def search(self, fam: _Family, start: int, top: int) -> int | None:
        """The least multiple of ``fam.step`` in [start, top] that fits (memory never grows with m): ``top``
        first (a family that does not fit there is done in one estimate), then upwards from ``start``."""
        top = top // fam.step * fam.step
        if start > top:
            return None
        if self.training and self.free["checkpointing"]:
            # full recomputation usually needs least memory, but not always (the allocator's reserve for its
            # recompute buffers): the family is searched with whichever of full and selective needs less at top
            sizes = {}
            for c in ("full", "selective"):
                self.ckpt[fam] = c
                self.fits(fam, top)
                sizes[c] = self.last.max_gpu_bytes if self.last is not None else math.inf
                self.last = None if math.isinf(sizes[c]) else self.last
            self.ckpt[fam] = min(sizes, key=lambda k: sizes[k])
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


def _lever_choices(s: _Search, fam: _Family, m: int) -> list[dict[str, Any]]:
    """Every lever setting for the family at m, cheapest first."""
    if not s.training:
        return [{}]
    zeros = [0, 1, 2, 3] if s.free["zero"] and m > 1 else [s.wl.zero]
    if fam.pp > 1:
        zeros = [z for z in zeros if z <= 1] or zeros
    ckpts = list(CKPT) if s.free["checkpointing"] else [s.wl.checkpointing]
    sps = [False, True] if s.free["sequence_parallel"] and fam.tp > 1 else [s.wl.sequence_parallel]
    out = [{"zero": z, "checkpointing": c, "sequence_parallel": p} for c in ckpts for z in zeros for p in sps]
    return [{k: v for k, v in d.items() if k != "zero" or s.free["zero"]} for d in out]


def min_gpus(spec: ModelSpec, wl: Workload, judge: Judge, capacity: int, limit: int) -> Found:
    """The fewest GPUs (≤ ``limit``) on which some layout of ``wl`` fits, with the cheapest levers there."""
    s = _Search(spec, wl, judge, capacity)
    fams = [(f, m) for f in _families(spec, wl, limit) for m in [s.least_m(f)] if m is not None]
    fams.sort(key=lambda fm: (fm[0].per * fm[1], fm[0].per, fm[0].pp, -fm[0].ep))
    best: tuple[int, _Family] | None = None
    found: dict[_Family, int] = {}
    for fam, m_lb in fams:
        top = fam.mmax if best is None else min(fam.mmax, (best[0] - 1) // fam.per)
        if fam.per * m_lb >= (best[0] if best else math.inf):
            break  # sorted by the bound: no later family can use fewer GPUs
        m = s.search(fam, m_lb, top)
        if m is not None:
            found[fam] = m
            if best is None or fam.per * m < best[0]:
                best = (fam.per * m, fam)
    if best is None:
        return Found(None, None, None, s.evaluated, len(fams), s.last, s.unsupported)
    n = best[0]
    for fam in sorted((f for f, m in found.items() if n % f.per == 0 and n // f.per >= m),
                      key=lambda f: (f.per, f.pp, f.tp, f.ep)):
        m = n // fam.per
        for lev in _lever_choices(s, fam, m):
            if s.lower_bound(fam, m, lev.get("zero", wl.zero)) > capacity:
                continue
            r = s.fits(fam, m, lev)
            if r is not None:
                return Found(n, s.workload(fam, m, lev), r, s.evaluated, len(fams), r, s.unsupported)
    fam = best[1]  # the most saving levers fit there (found above)
    r = s.fits(fam, n // fam.per)
    assert r is not None
    return Found(n, s.workload(fam, n // fam.per, s.levers(fam, n // fam.per)), r, s.evaluated, len(fams), r,
                 s.unsupported)

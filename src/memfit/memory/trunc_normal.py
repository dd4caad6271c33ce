"""What ``torch.nn.init.trunc_normal_`` allocates on the device while a model is initialised (torch 2.12 and later).

torch 2.12 rewrote ``torch/nn/init.py`` ``_no_grad_trunc_normal_`` from the in-place inverse-CDF formula (uniform_,
erfinv_, mul_, add_, clamp_: nothing allocated) to rejection sampling (pytorch PR #174997). In 2.13:

* when the bounds keep more than 0.3 of the normal's mass (``p > 0.3``), ``result = tensor.normal_(mean, std)`` in
  place, then ``while True``: ``mask = (result < lo) | (result > hi)`` (two bool temporaries and the mask, the old
  mask freed when ``mask`` is rebound), ``if not mask.any(): break``, ``result = torch.where(mask,
  torch.empty_like(result).normal_(mean, std), result)`` (a fresh draw of the tensor's size, then the where's
  output; the draw is freed when the call returns, the previous result, once it is no longer ``tensor`` itself,
  when ``result`` is rebound); at the end ``tensor.copy_(result)`` and the locals die with the frame;
* otherwise (a narrow window) ``candidates`` and ``accept_buf = torch.empty_like(tensor)`` (two tensor-sized
  buffers), ``pending = accept_buf.uniform_().log_().gt(candidates)``, and while ``pending.any()``: ``result =
  torch.where(pending, candidates, result)``, ``pending = torch.where(pending, accept_buf...gt(candidates),
  pending)``.

How many rounds the loop runs is random: an element is still out after ``k`` redraws with probability ``r**(k+1)``
(``r`` the chance one draw is rejected), so the rounds ``K`` of ``N`` elements satisfy ``P(K <= k) = (1 -
r**(k+1))**N``. memfit takes the median round count (``redraw_rounds``); the simulator answers ``any()`` by the same
count (tools/simulate_memory.py), since fake tensors hold no values. A model ``from_pretrained`` loads skips these
inits for the loaded weights (transformers 5.25 modeling_utils.py: loaded parameters carry ``_is_hf_initialized``,
which ``initialization.trunc_normal_`` checks); a ``from_config`` build on the device runs them all.
"""

from __future__ import annotations

import math
from typing import Protocol

__all__ = ["TruncNormal", "redraw_rounds", "rejection_rate", "replay_trunc_normal"]


class _Trace(Protocol):
    def alloc(self, nbytes: int) -> int: ...

    def free(self, *keys: int) -> None: ...


def _cdf(x: float) -> float:
    return (1.0 + math.erf(x / math.sqrt(2.0))) / 2.0


def _mass(mean: float, std: float, a: float, b: float) -> float:
    """``p`` of ``_no_grad_trunc_normal_``: the normal's mass inside ``[a, b]``."""
    return _cdf((b - mean) / std) - _cdf((a - mean) / std)


def rejection_rate(mean: float, std: float, a: float, b: float) -> float:
    """The chance that one draw of an element is rejected: ``1 - p`` for the normal proposal (``p > 0.3``); for the
    uniform proposal on ``[a, b]``, 1 - its acceptance ``E[exp(log_pdf(x) - log_peak)] = p * std * sqrt(2 pi) /
    ((b - a) * exp(log_peak))``."""
    p = _mass(mean, std, a, b)
    if p > 0.3:
        return max(0.0, 1.0 - p)
    mode = max(a, min(mean, b))
    peak = math.exp(-0.5 * ((mode - mean) / std) ** 2)
    return max(0.0, 1.0 - p * std * math.sqrt(2.0 * math.pi) / ((b - a) * peak))


def redraw_rounds(numel: int, mean: float, std: float, a: float, b: float) -> int:
    """The median number of rounds whose ``any()`` is true for ``numel`` elements: the least ``k >= 0`` with
    ``(1 - r**(k+1))**numel >= 1/2``."""
    r = rejection_rate(mean, std, a, b)
    if r >= 1.0:
        raise ValueError(f"trunc_normal_ on [{a}, {b}] with std {std} rejects every draw")
    k = 0
    while r > 0.0 and numel > 0 and numel * math.log1p(-(r ** (k + 1))) < -math.log(2.0):
        k += 1
    return k


class TruncNormal:
    """One ``trunc_normal_`` call's bounds, as the rounds and the replay need them."""

    def __init__(self, mean: float, std: float, a: float, b: float) -> None:
        self.mean, self.std, self.a, self.b = mean, std, a, b

    def rounds(self, numel: int) -> int:
        return redraw_rounds(numel, self.mean, self.std, self.a, self.b)

    def normal_proposal(self) -> bool:
        return _mass(self.mean, self.std, self.a, self.b) > 0.3


def replay_trunc_normal(tr: _Trace, numel: int, size: int, init: TruncNormal) -> None:
    """The call's device allocations and frees on a tensor of ``numel`` elements and ``size`` bytes, already
    allocated: bool masks of ``numel`` bytes, draws and results of ``size`` (the 0-d ``any()`` results, 512 B each,
    left out)."""
    rounds = init.rounds(numel)
    if init.normal_proposal():
        mask = result = 0
        for k in range(rounds + 1):
            lt, gt = tr.alloc(numel), tr.alloc(numel)
            new_mask = tr.alloc(numel)
            tr.free(lt, gt, mask)
            mask = new_mask
            if k == rounds:
                break
            draw = tr.alloc(size)
            new_result = tr.alloc(size)
            tr.free(draw, result)
            result = new_result
        tr.free(result, mask)
        return
    candidates, accept = tr.alloc(size), tr.alloc(size)
    pending, result = tr.alloc(numel), 0
    for _ in range(rounds):
        new_result = tr.alloc(size)
        tr.free(result)
        result = new_result
        gt = tr.alloc(numel)
        new_pending = tr.alloc(numel)
        tr.free(gt, pending)
        pending = new_pending
    tr.free(candidates, accept, pending, result)

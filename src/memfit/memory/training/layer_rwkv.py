"""RWKV's time mixing in a training step as the caching allocator sees it (transformers 5.25
``models/rwkv/modeling_rwkv.py``: ``RwkvSelfAttention.extract_key_value`` / ``forward`` and
``rwkv_linear_attention_cpu``, the path a plain install runs; ``memory/rwkv.py`` has the mechanism), replayed by
``layer_stream.layer_forward`` in place of the Mamba-2 mixer it was read as; its backward is one op of the layer's run
(``layer_grads``).

Forward: the shift (``ZeroPad2d``), for key, value and receptance ``x·μ``, ``shift·(1 − μ)`` (transients) and their
sum (the Linear's input, kept); ``key``, ``value`` and ``sigmoid(receptance(·))`` (``value`` and the sigmoid kept);
the loop's ``zeros_like(key)`` output (kept by ``receptance * rwkv``); per time step the loop's
:data:`~memfit.memory.rwkv.RWKV_LOOP_SAVED` fp32 ``(b, hidden)`` vectors autograd keeps, each its own small-pool
block, held to the layer's backward, and the loop's unkept transients, all through ``Trace.alloc_small`` (the step's
pool replays them: their 2 MiB segments, 12 vectors a token a layer, stay reserved); ``receptance * rwkv`` (the
output projection's input) and the projection. ``key`` dies when the function returns.

Backward (one op at the output projection's input gradient): ``receptance * rwkv``'s two gradients, sigmoid's, the
loop's (``CopySlices``' clone of the output's gradient; key's and value's gradients summed over the steps' slices);
then each mix's gradient (into the normed input and the shift), the pad's, their sum.
"""

from __future__ import annotations

from ...spec import LayerSpec
from ..allocator_trace import Trace
from ..rwkv import FP32, loop_saved_bytes
from .layer_ops import BackwardOp, LayerRun, StepContext, linear

__all__ = ["loop_replay", "rwkv_time_mix"]


def rwkv_time_mix(c: StepContext, run: LayerRun, layer: LayerSpec, x: int, xb: int) -> int:
    """The time mixing from the normed stream ``x``; returns the output projection's output."""
    ssm = layer.ssm
    assert ssm is not None
    tr, h, pb = c.tr, c.spec.hidden_size, c.pb
    one = c.t * h * pb
    first = len(run.linears)
    shift = tr.alloc(one)
    run.hold(tr, shift)
    mixes = []
    for _ in range(3):  # key, value, receptance
        a, b = tr.alloc(one), tr.alloc(one)
        mixes.append(tr.alloc(one))
        tr.free(a, b)
    run.ops.append((first, _mixes_backward(one)))
    key = linear(c, run, "ssm_in", mixes[0], pb, h, h)
    run.hold(tr, mixes[0])
    value = linear(c, run, "ssm_in", mixes[1], pb, h, h)
    run.hold(tr, mixes[1])
    lin = linear(c, run, "ssm_in", mixes[2], pb, h, h)
    run.hold(tr, mixes[2])
    sig = tr.alloc(one)
    tr.free(lin)
    wkv = tr.alloc(one)  # zeros_like(key)
    steps = loop_replay(tr, c.batch * ssm.d_inner * FP32, c.seq)
    assert len(steps) * c.batch * ssm.d_inner * FP32 == loop_saved_bytes(ssm, c.batch, c.seq)
    run.hold(tr, value, sig, wkv, *steps)
    run.ops.append((len(run.linears), _loop_backward(one)))
    prod = tr.alloc(one)
    out = linear(c, run, "ssm_out", prod, pb, h, h)
    run.hold(tr, prod)
    tr.free(key)
    return out


def loop_replay(tr: Trace, f: int, seq: int) -> list[int]:
    """``rwkv_linear_attention_cpu``'s loop, statement by statement, on fp32 ``(b, hidden)`` vectors of ``f`` bytes
    (the output's bf16 copy ``f / 2``): unnamed temporaries die at once, named ones when rebound
    (``max_for_output`` in the next step); returns the keys autograd keeps (the zero initial states among them, the
    last step's unread states freed on return)."""
    kept: list[int] = []
    num, den = tr.alloc_small(f), tr.alloc_small(f)
    zeros = tr.alloc_small(f)
    mx = tr.alloc_small(f)  # zeros - 1e38
    tr.free(zeros)
    kept += [num, den, mx]
    mfo = 0
    for _ in range(seq):
        ck = tr.alloc_small(f)  # key[:, i].float()
        a1 = tr.alloc_small(f)  # current_key + time_first (maximum keeps it)
        new = tr.alloc_small(f)  # max_for_output
        tr.free(mfo)
        mfo = new
        e1 = _exp(tr, f, 1)  # exp(max_state - max_for_output)
        e2 = _exp(tr, f, 2)  # exp(current_key + time_first - max_for_output)
        numer = _sum(tr, f, 2)  # e1 * num_state + e2 * current_value
        denom = _sum(tr, f, 1)  # e1 * den_state + e2
        q = tr.alloc_small(f)
        tr.free(tr.alloc_small(f // 2), q)  # (numerator / denominator).to(output.dtype), copied into output[:, i]
        a3 = tr.alloc_small(f)  # max_state + time_decay (maximum keeps it)
        mfs = tr.alloc_small(f)  # max_for_state
        e1b = _exp(tr, f, 2)  # exp(max_state + time_decay - max_for_state)
        e2b = _exp(tr, f, 1)  # exp(current_key - max_for_state)
        num, den = _sum(tr, f, 2), _sum(tr, f, 1)
        kept += [ck, a1, e1, e2, numer, denom, a3, mfs, e1b, e2b, num, den]
    den, num, mfs = kept.pop(), kept.pop(), kept.pop(-3)  # the last step's states: nothing reads them
    tr.free(mfo, mfs, num, den)
    return kept


def _exp(tr: Trace, f: int, n: int) -> int:
    """``exp`` of an expression of ``n`` unnamed temporaries (each freed once the next is made); the result kept."""
    t = tr.alloc_small(f)
    for _ in range(n - 1):
        nxt = tr.alloc_small(f)
        tr.free(t)
        t = nxt
    out = tr.alloc_small(f)
    tr.free(t)
    return out


def _sum(tr: Trace, f: int, n: int) -> int:
    """``a * b + c * d`` (``n`` = 2) or ``a * b + c`` (1): the products die once the sum is made."""
    temps = [tr.alloc_small(f) for _ in range(n)]
    out = tr.alloc_small(f)
    tr.free(*temps)
    return out


def _loop_backward(one: int) -> BackwardOp:
    def backward(cc: StepContext, grads: list[int]) -> list[int]:
        tr = cc.tr
        g_r, g_wkv = tr.alloc(one), tr.alloc(one)  # receptance * rwkv
        tr.free(*grads)
        g_lin = tr.alloc(one)  # sigmoid_backward
        tr.free(g_r)
        clone = tr.alloc(one)  # CopySlices: the output's gradient cloned
        g_key, g_value = tr.alloc(one), tr.alloc(one)  # the steps' slices summed
        tr.free(clone, g_wkv)
        return [g_key, g_value, g_lin]  # popped by receptance's, value's, key's Linear in turn

    return backward


def _mixes_backward(one: int) -> BackwardOp:
    def backward(cc: StepContext, grads: list[int]) -> list[int]:
        tr = cc.tr
        g_x, g_shift = tr.alloc(one), tr.alloc(one)  # the mixes' gradients into the normed input and the shift
        tr.free(*grads)
        g_pad = tr.alloc(one)  # constant_pad_nd's backward
        tr.free(g_shift)
        total = tr.alloc(one)
        tr.free(g_x, g_pad)
        return [total]

    return backward

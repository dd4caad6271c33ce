"""XLNet's relative attention replayed for the caching allocator (``layer_stream._attention``), forward and backward.

transformers 5.25 ``models/xlnet/modeling_xlnet.py`` ``XLNetRelativeAttention`` (one stream: no ``target_mapping``,
no ``seg_mat``; the tensors it keeps: ``memory.relative_attention``), checked against the simulator's trace of
xlnet-default-l2/train-fp32-sgd-eager-b2-s400 (train-sweep-dev.jsonl). Forward: ``k_head_r`` over the 2·s relative
positions (``pos_emb`` first copied to the einsum's dtype in a bf16 model or under autocast), the two biased
queries, ``ac``, the ``[b, n, s, 2s]`` position score and its ``index_select`` (the full one freed), ``ac + bd``,
``+ ef`` (0: a new tensor), ``× scale`` (each freeing the one before), the softmax, the dropout's output and mask,
``attn_vec``; ``ac``, ``bd`` and ``attn_score`` die when ``rel_attn_core`` returns; ``post_attention``'s einsum
permutes ``attn_vec`` and ``o`` into contiguous copies its bmm keeps. Backward: the probabilities' and V's
gradients, the dropout's and the softmax's backward, ``× scale``, ``index_select``'s backward (zeros, then
``index_add`` into a new tensor), the slice's backward, the gradients of ``k_head_r`` and of the biased queries, of
K, the two query gradients summed."""

from __future__ import annotations

from typing import NamedTuple

from ...spec import AttentionSpec
from ..relative_attention import RELATIVE_ATTENTION, relative_positions
from .layer_ops import BackwardOp, LayerRun, StepContext

__all__ = ["relative_eager", "relative_scores"]


def relative_eager(c: StepContext) -> bool:
    """XLNet's relative attention on the eager path (the only one transformers 5.25 builds for it): its own scores,
    and no DynamicCache (``use_mems_train`` False: no ``mems`` in training)."""
    return c.spec.family in RELATIVE_ATTENTION and c.p.attn == "eager"


def relative_scores(c: StepContext, run: LayerRun, a: AttentionSpec, ab: int) -> int:
    """The relative attention after q, k, v (``ab``: the einsums' bytes per element); returns ``o``'s input (the
    contiguous copy of ``attn_vec``), its own backward recorded in ``run.ops``."""
    tr, b, s, t, h = c.tr, c.batch, c.seq, c.t, c.spec.hidden_size
    heads, nq = a.num_heads, a.num_heads * a.head_dim
    pos = relative_positions(s) * b
    sq = b * heads * s * s
    sm_b = 4 if c.p.amp else ab  # autocast runs the softmax (and its backward) in fp32; otherwise the model dtype
    r = tr.alloc(pos * h * ab) if ab != 4 else 0  # r.type(self.r.dtype) / autocast's cast of pos_emb
    kr = tr.alloc(pos * nq * ab)
    qw = tr.alloc(t * nq * ab)
    ac = tr.alloc(sq * ab)
    qr = tr.alloc(t * nq * ab)
    full = tr.alloc(2 * sq * ab)
    idx = tr.alloc(8 * s)
    bd = tr.alloc(sq * ab)
    tr.free(full)
    total = tr.alloc(sq * ab)
    plus = tr.alloc(sq * ab)
    tr.free(total)
    score = tr.alloc(sq * ab)
    tr.free(plus)
    sm = tr.alloc(sq * sm_b)
    dropped = c.p.attention_dropout > 0
    probs, mask = (tr.alloc(sq * sm_b), tr.alloc(sq)) if dropped else (0, 0)
    cast = tr.alloc(sq * 2) if c.p.amp else 0  # the einsum's bf16 cast of the probabilities
    if cast:
        tr.free(probs)
        probs = cast
    av = tr.alloc(t * nq * ab)
    tr.free(ac, bd, score)
    avc, o_copy = tr.alloc(t * nq * ab), tr.alloc(h * nq * ab)
    tr.free(av)
    kept = _Kept(r, kr, qw, qr, idx, sm, probs, mask, o_copy)
    run.hold(tr, *[k for k in kept if k])  # freed again by the backward's ops as they run
    run.ops.append((len(run.linears), _backward(a, b, s, ab, sm_b, kept)))
    return avc


class _Kept(NamedTuple):
    """What the relative attention keeps for its backward (keys; 0: not made)."""

    r: int  # pos_emb in the einsum's dtype (a bf16 model, autocast)
    kr: int  # k_head_r
    qw: int  # q_head + r_w_bias
    qr: int  # q_head + r_r_bias
    idx: int  # index_select's index
    sm: int  # the softmax's output
    probs: int  # the probabilities' einsum input: the dropped ones, or autocast's bf16 cast
    mask: int  # the dropout's mask
    o_copy: int  # o's permuted copy


def _backward(a: AttentionSpec, b: int, s: int, ab: int, sm_b: int, kept: _Kept) -> BackwardOp:
    """The relative attention's backward from o's input gradient; returns the gradients of q, k and v."""
    heads, nq = a.num_heads, a.num_heads * a.head_dim
    t, pos, sq = b * s, relative_positions(s) * b, b * a.num_heads * s * s

    def backward(cc: StepContext, grads: list[int]) -> list[int]:
        trr = cc.tr
        gv = trr.alloc(t * nq * ab)
        gp = trr.alloc(sq * ab)
        trr.free(*grads, kept.o_copy, kept.probs)
        if kept.mask:
            gd = trr.alloc(sq * sm_b)
            trr.free(gp, kept.mask)
            gp = gd
        gs = trr.alloc(sq * sm_b)  # _softmax_backward_data
        trr.free(gp, kept.sm)
        g = trr.alloc(sq * sm_b)  # × scale
        trr.free(gs)
        zeros = trr.alloc(b * heads * s * (2 * s - 1) * sm_b)
        added = trr.alloc(b * heads * s * (2 * s - 1) * sm_b)  # index_add
        trr.free(zeros, kept.idx)
        sl = trr.alloc(2 * sq * sm_b)  # slice_backward
        trr.free(added)
        gkr, gqr = trr.alloc(pos * nq * ab), trr.alloc(t * nq * ab)
        trr.free(sl, kept.kr, kept.qr)
        gk, gqw = trr.alloc(t * nq * ab), trr.alloc(t * nq * ab)
        trr.free(g, kept.qw)
        gq = trr.alloc(t * nq * ab)
        trr.free(gqw, gqr)
        trr.free(trr.alloc(pos * nq * ab), gkr, kept.r)  # k_head_r's gradient permuted for r's weight gradient
        return [gq, gk, gv]

    return backward

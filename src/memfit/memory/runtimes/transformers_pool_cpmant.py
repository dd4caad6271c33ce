"""CPM-Ant's full forward as the caching allocator sees it, for the pool emulation of ``transformers_pool.py``
(transformers 5.25 models/cpmant/modeling_cpmant.py; the simulator's trace of the development case
cpmant-default-l2/fwd-fp32-eager-b2-s600 in sweep-dev.jsonl, device total +1.01 % before).

``CpmAntModel.forward`` runs on ``S = s + prompt_length`` tokens: ``input_embedding`` and ``segment_embedding``
(the segment's kept to the forward's end), their sum (the model's ``hidden_states``, held until the encoder
returns), the input embedding freed. ``_prepare_attention_mask``: the ``S × S`` causal bool, then over
``b × S × S`` the ``logical_not & directional`` bool, ``context |`` it (int32: ``context`` is int32), the span
``==`` bool, the ``&`` (int32), the left-padding ``mask_1d`` outer ``&`` (bool) and the final ``&`` (int32, kept to
the end). ``CpmAntSegmentPositionEmbedding.forward``: the segment buckets (``query_segment * n + key_segment``,
``+ num_buckets``: two int32 ``b × S × S``), ``_position_bucket`` over ``S × S`` (int32 and its float / log
temporaries one after another), the ``==`` bool and ``torch.where`` (int32 ``b × S × S``), then ``F.embedding``
(``b × S × S × heads`` in the model dtype) and its ``permute(...).contiguous()`` copy, kept to the end (the
embedding's output freed). Per layer, ``CpmAntLayerNorm`` (``.to(float32)`` in half precision, ``pow``, the fp32
product, ``.to(old_dtype)``, ``* weight``); ``CpmAntAttention.forward``: q, k, v (kept to its return),
``matmul``'s contiguous copies of the permuted query and transposed key (freed after the bmm), the scores,
``/ sqrt(d)``, ``+ position_bias``, ``masked_fill`` (the sum still bound), the softmax, the second ``masked_fill``,
the permuted value's copy, ``matmul(score, value)``, its ``.contiguous()`` copy, ``attention_out``; the residual
add; ``CpmAntFFNBlock``: the norm, ``w_0``, GELU, ``w_1``, the gated product, ``w_out``, the add. The encoder holds
a layer's input until the layer returns. After the loop ``output_layernorm``; the forward's tensors go; the LM head
copies the prompt-dropped slice (``hidden_states[:, prompt_length:]``, not contiguous) for its ``mm`` over ``s``.
"""

from __future__ import annotations

from ...spec import ModelSpec
from ...workload import Workload
from ..allocator_trace import Trace
from .transformers_cpmant import SEGMENT_BIAS, prompt_tokens

__all__ = ["cpmant_forward"]

INT32 = 4
FP32 = 4


def cpmant_forward(tr: Trace, spec: ModelSpec, wl: Workload, dt: int) -> bool:
    """CPM-Ant's full forward with its token ids and logits (the module docstring); False, replaying nothing, for
    another family or task (generate and prefill keep the shared path)."""
    if spec.family not in SEGMENT_BIAS or wl.task != "forward" or not spec.attention_layers:
        return False
    b, s, h = wl.batch, wl.context, spec.hidden_size
    big_s = s + prompt_tokens(spec)
    e = b * big_s * h * dt
    ids = tr.alloc(b * s * 8)  # the caller's int64 ids
    emb = tr.alloc(e)  # input_embedding
    segment = tr.alloc(e)  # segment_embedding: segment_states, to the end
    hidden = tr.alloc(e)  # hidden_states + segment_states: held by the model until the encoder returns
    tr.free(emb)
    mask = _attention_mask(tr, b, big_s)
    bias = _position_bias(tr, b, big_s, spec.attention_layers[0].num_heads, dt)
    stream = hidden
    for layer in spec.layers:
        att, mlp = layer.attention, layer.mlp
        if att is None or mlp is None:
            continue
        normed = _layernorm(tr, e // dt, dt)
        out = _attention(tr, b, big_s, att.num_heads, att.head_dim, h, dt)
        tr.free(normed)
        mid = tr.alloc(e)  # hidden_states + outputs
        tr.free(out)
        new = _ffn(tr, b * big_s, h, mlp.intermediate_size, dt)
        tr.free(mid, stream if stream != hidden else 0)
        stream = new
    final = _layernorm(tr, e // dt, dt)  # output_layernorm
    tr.free(stream if stream != hidden else 0, hidden, segment, mask, bias)
    flat = tr.alloc(b * s * h * dt)  # lm_head's copy of the prompt-dropped (non-contiguous) slice
    logits = tr.alloc(b * s * spec.vocab_size * dt)
    tr.free(flat, final, logits, ids)
    return True


def _attention_mask(tr: Trace, b: int, n: int) -> int:
    """``CpmAntModel._prepare_attention_mask`` over ``n`` tokens; returns the kept int32 ``b × n × n`` mask."""
    directional = tr.alloc(n * n)  # arange <= arange.view(-1, 1): bool
    notted = tr.alloc(b * n * n)  # context.logical_not() & directional: bool
    ored = tr.alloc(b * n * n * INT32)  # context | (...): int32
    tr.free(notted)
    span = tr.alloc(b * n * n)  # span == span: bool
    anded = tr.alloc(b * n * n * INT32)
    tr.free(span, ored)
    outer = tr.alloc(b * n * n)  # mask_1d.view & mask_1d.view: bool
    final = tr.alloc(b * n * n * INT32)
    tr.free(outer, anded, directional)
    return final


def _position_bias(tr: Trace, b: int, n: int, heads: int, dt: int) -> int:
    """``CpmAntSegmentPositionEmbedding.forward`` over ``n`` tokens; returns the kept ``b × heads × n × n`` bias."""
    bn, nn = b * n * n * INT32, n * n * INT32
    seg = tr.alloc(bn)  # query_segment * num_segments + key_segment
    relative = tr.alloc(bn)  # + num_buckets
    tr.free(seg)
    diff = tr.alloc(nn)  # arange[None, :] - arange[:, None]
    positive = tr.alloc(n * n)  # relative_position > 0: bool
    as_int = tr.alloc(nn)
    tr.free(positive)
    buckets = tr.alloc(nn)  # * num_buckets: relative_buckets, to the function's end
    tr.free(as_int)
    absolute = tr.alloc(nn)  # torch.abs
    tr.free(diff)
    small = tr.alloc(n * n)  # is_small: bool
    prev = tr.alloc(nn)  # relative_position.float()
    for _ in range(5):  # / max_exact, log, / log(...), * (num_buckets - max_exact), .to(int32)
        nxt = tr.alloc(nn)
        tr.free(prev)
        prev = nxt
    large = tr.alloc(nn)  # max_exact + (...)
    tr.free(prev)
    full = tr.alloc(nn)  # full_like
    least = tr.alloc(nn)  # torch.min
    tr.free(full, large)
    chosen = tr.alloc(nn)  # torch.where(is_small, ...), added into relative_buckets in place
    tr.free(chosen, absolute, small, least)
    same = tr.alloc(b * n * n)  # key_segment == query_segment: bool
    where = tr.alloc(bn)
    tr.free(same, relative)
    embedded = tr.alloc(b * n * n * heads * dt)  # F.embedding
    bias = tr.alloc(b * n * n * heads * dt)  # .permute(0, 3, 1, 2).contiguous()
    tr.free(embedded, where, buckets)
    return bias


def _layernorm(tr: Trace, elems: int, dt: int) -> int:
    """``CpmAntLayerNorm.forward`` on ``elems`` values; returns its output."""
    upcast = tr.alloc(elems * FP32) if dt != FP32 else 0  # .to(torch.float32)
    squared = tr.alloc(elems * FP32)  # .pow(2) (its mean is small)
    tr.free(upcast, squared)
    product = tr.alloc(elems * FP32)  # hidden_states * rsqrt(...): fp32
    down = tr.alloc(elems * dt) if dt != FP32 else 0  # .to(old_dtype)
    tr.free(product if dt != FP32 else 0)
    out = tr.alloc(elems * dt)  # * self.weight
    tr.free(down or product)
    return out


def _attention(tr: Trace, b: int, n: int, heads: int, head_dim: int, h: int, dt: int) -> int:
    """``CpmAntAttention.forward`` over ``n`` tokens; returns ``attention_out``'s output."""
    v_bytes = b * n * heads * head_dim * dt
    q, k, v = tr.alloc(v_bytes), tr.alloc(v_bytes), tr.alloc(v_bytes)
    q_copy, k_copy = tr.alloc(v_bytes), tr.alloc(v_bytes)  # matmul's contiguous operands
    sc = b * heads * n * n * dt
    scores = tr.alloc(sc)
    tr.free(k_copy, q_copy)
    prev = scores
    for _ in range(2):  # / sqrt(dim_head), + position_bias
        nxt = tr.alloc(sc)
        tr.free(prev)
        prev = nxt
    eq = tr.alloc(b * n * n)  # attention_mask.view(...) == torch.tensor(False): bool
    filled = tr.alloc(sc)  # masked_fill(-inf): the sum still bound
    tr.free(eq, prev)
    soft = tr.alloc(sc)
    tr.free(filled)
    eq = tr.alloc(b * n * n)
    zeroed = tr.alloc(sc)  # masked_fill(0)
    tr.free(eq, soft)
    v_copy = tr.alloc(v_bytes)  # the permuted value made contiguous
    context = tr.alloc(v_bytes)
    tr.free(v_copy, zeroed)
    flat = tr.alloc(v_bytes)  # .contiguous()
    tr.free(context)
    out = tr.alloc(b * n * h * dt)  # attention_out
    tr.free(flat, q, k, v)
    return out


def _ffn(tr: Trace, t: int, h: int, ff: int, dt: int) -> int:
    """``CpmAntFFNBlock.forward`` on ``t`` tokens; returns ``hidden_states + outputs`` (the caller frees its input)."""
    normed = _layernorm(tr, t * h, dt)
    w0 = tr.alloc(t * ff * dt)
    gate = tr.alloc(t * ff * dt)  # GELU
    tr.free(w0)
    w1 = tr.alloc(t * ff * dt)
    gated = tr.alloc(t * ff * dt)
    tr.free(w1, gate)
    out = tr.alloc(t * h * dt)  # w_out
    tr.free(gated)
    new = tr.alloc(t * h * dt)
    tr.free(normed, out)
    return new

"""XLM's full forward as the caching allocator sees it, for the pool emulation of ``transformers_pool.py``
(transformers 5.25 models/xlm/modeling_xlm.py; the simulator's trace of the development case
xlm-default-l2/fwd-fp16-eager-b3-s430 in sweep-dev.jsonl, device total -3.71 % / -2.18 % before).

``XLMModel.forward``: ``inputs_embeds`` (kept to its end), the learned positions' ``(1, seq, dim)`` output added
into a new tensor (the positions then freed), ``layer_norm_emb`` (the sum freed; dropout and ``tensor *= mask`` in
place). Per layer, ``MultiHeadAttention.forward``: ``q_lin``, ``k_lin``, ``v_lin``; the forward's own
``EncoderDecoderCache`` copies K, then V (``DynamicLayer.update``'s ``torch.cat``: kept to the forward's end, the
projections freed); ``q / sqrt(head_dim)`` (a new tensor, the projection freed); ``matmul(q, kᵀ)`` copies the
transposed query contiguous for the batched product, then frees it; the scores' ``.float()`` copy (in half
precision), the fp32 softmax (the copy freed), ``type_as`` back (the fp32 softmax freed); ``matmul(weights, v)``,
its transposed copy (``.contiguous()``), ``out_lin``; the attention's locals go when it returns. The attention's
output is rebound only when the next layer's attention returns (``attn_outputs`` / ``attn``). ``tensor + attn``
(the layer's input freed), ``layer_norm1`` (the sum freed), ``lin1``, GELU (``lin1``'s freed), ``lin2`` (GELU's
freed), ``tensor + ffn`` (both freed), ``layer_norm2`` (the sum freed). After the loop the cache, ``inputs_embeds``
and the last attention output go with the forward; ``XLMPredLayer``'s ``proj`` makes every position's logits
(``asm`` false), and the hidden state goes after them.
"""

from __future__ import annotations

from ...spec import ModelSpec
from ...workload import Workload
from ..allocator_trace import Trace
from .transformers_xlm import XLM_FORWARD

__all__ = ["xlm_forward"]


def xlm_forward(tr: Trace, spec: ModelSpec, wl: Workload, dt: int) -> bool:
    """XLM's full forward with its token ids and logits (the module docstring); False, replaying nothing, for
    another family or task (generate keeps the shared path)."""
    if spec.family not in XLM_FORWARD or wl.task != "forward":
        return False
    b, s, h = wl.batch, wl.context, spec.hidden_size
    t = b * s
    e = t * h * dt
    ids = tr.alloc(t * 8)  # int64
    emb = tr.alloc(e)
    positions = tr.alloc(s * h * dt)
    summed = tr.alloc(e)
    tr.free(positions)
    tensor = tr.alloc(e)  # layer_norm_emb
    tr.free(summed)
    cache: list[int] = []
    prev = 0  # the previous layer's attention output
    for layer in spec.layers:
        att, mlp = layer.attention, layer.mlp
        if att is None or mlp is None:
            continue
        attn = _attention(tr, b, s, att.num_heads, e, dt, cache)
        tr.free(prev)
        prev = attn
        added = tr.alloc(e)
        tr.free(tensor)
        normed = tr.alloc(e)  # layer_norm1
        tr.free(added)
        lin1 = tr.alloc(t * mlp.intermediate_size * dt)
        act = tr.alloc(t * mlp.intermediate_size * dt)
        tr.free(lin1)
        lin2 = tr.alloc(e)
        tr.free(act)
        added = tr.alloc(e)
        tr.free(lin2, normed)
        tensor = tr.alloc(e)  # layer_norm2
        tr.free(added)
    tr.free(*cache, emb, prev)
    logits = tr.alloc(t * spec.vocab_size * dt)
    tr.free(tensor, logits, ids)
    return True


def _attention(tr: Trace, b: int, s: int, heads: int, e: int, dt: int, cache: list[int]) -> int:
    """One ``MultiHeadAttention.forward`` (K and V appended to ``cache``); returns ``out_lin``'s output."""
    q, k, v = tr.alloc(e), tr.alloc(e), tr.alloc(e)
    cache += [tr.alloc(e), tr.alloc(e)]  # torch.cat copies of K, then V
    tr.free(k, v)
    scaled = tr.alloc(e)
    tr.free(q)
    clone = tr.alloc(e)
    n = b * heads * s * s
    scores = tr.alloc(n * dt)
    tr.free(clone)
    copy = tr.alloc(n * 4) if dt != 4 else 0  # scores.float(): the fp32 copy (fp32: the scores themselves)
    soft = tr.alloc(n * 4)
    tr.free(copy)
    weights = tr.alloc(n * dt) if dt != 4 else soft  # .type_as(scores)
    tr.free(soft if dt != 4 else 0)
    context = tr.alloc(e)
    flat = tr.alloc(e)  # context.transpose(1, 2).contiguous()
    tr.free(context)
    out = tr.alloc(e)
    tr.free(scaled, scores, weights, flat)
    return out

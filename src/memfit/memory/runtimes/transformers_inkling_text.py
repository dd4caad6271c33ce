"""Inkling's relative position bias under SDPA (issue 12, l12inkling), for the prefill moments of
``transformers_prefill.py``. Written from transformers 5.25 ``models/inkling/modeling_inkling.py`` and
``integrations/sdpa_attention.py`` and checked against the simulator's allocation trace of the development case
inkling-text-default-l2/gen-b3-s4000-new8 (sweep-dev.jsonl, moved there from blind round 5 before its trace was read).

``InklingAttention.forward`` makes ``relative_states = self.r_proj(hidden_states)`` (``heads × d_rel`` a token),
then, after q, k, v and the cache update, ``position_bias = self.rel_logits_proj(relative_states, q_positions,
kv_positions)``: ``InklingRelativeLogits.forward`` computes ``rel_logits = (relative_states @ self.proj)``
(``b × s × heads × rel_extent``, the model dtype), ``distance`` (an int64 ``s × keys`` difference of positions),
``gather_index = distance.clamp(0, rel_extent - 1)`` (a second int64 ``s × keys``; ``expand`` is a view),
``position_bias = rel_logits.gather(-1, gather_index)`` (``b × heads × s × keys``, the scores' shape, model dtype)
and returns ``position_bias.masked_fill((distance < 0) | (distance >= rel_extent), 0.0)``: at the ``masked_fill``
the gathered bias and its filled copy are alive together, with ``rel_logits``, both int64 indices and the bool
condition. ``sdpa_attention_forward`` then repeats K and V to every head (a mask is given, so ``use_gqa_in_sdpa``
refuses ``enable_gqa``) and ``create_position_bias_mask`` makes ``torch.where(attention_mask, position_bias,
min_dtype)``, a second tensor of the scores' shape beside the bias bound in ``InklingAttention.forward``, which
the kernel reads as its additive mask. The two moments' larger one is the attention's peak; the generic SDPA
moment (q, k, v, repeated K/V, output and a ``b × s × keys`` additive mask) knows neither.
"""

from __future__ import annotations

from ...spec import AttentionSpec, ModelSpec
from ...workload import Workload
from ..allocator_trace import Trace

__all__ = ["REL_LOGITS_BIAS", "rel_bias_saved_bytes", "rel_logits_sdpa_moment", "rel_logits_sdpa_pool"]

# model types whose attention adds InklingRelativeLogits' bias of the scores' shape (transformers 5.25
# modeling_inkling.py InklingAttention.forward; InklingForCausalLM is the inkling_text causal LM)
REL_LOGITS_BIAS = ("inkling_text",)
INT64 = 8


def _rel_shape(spec: ModelSpec, i: int, att: AttentionSpec) -> tuple[int, int]:
    """Layer ``i``'s ``rel_logits_proj.proj`` shape (d_rel, rel_extent) from the parameter tensors of transformers'
    own build; without one, InklingTextConfig's defaults: d_rel 16, rel_extent the sliding window on a sliding
    layer (``InklingAttention.__init__``), else 1024."""
    if spec.tensor_source is not None:
        for t in spec.tensor_source.tensors(spec):
            if t.layer == i and t.name.endswith("rel_logits_proj.proj") and len(t.shape) == 2:
                return int(t.shape[0]), int(t.shape[1])
    return 16, att.sliding_window or 1024


def rel_logits_sdpa_moment(
    spec: ModelSpec, i: int, att: AttentionSpec, wl: Workload, b: int, s: int, keys: int, dt: int
) -> tuple[int, str] | None:
    """Layer ``i``'s attention peak beyond the stream for ``b`` sequences of ``s`` queries over ``keys`` keys under
    SDPA (the larger of the bias's ``masked_fill`` and the kernel's call); None for other families and for eager."""
    if spec.family not in REL_LOGITS_BIAS or wl.attn == "eager":
        return None
    d_rel, extent = _rel_shape(spec, i, att)
    t, heads = b * s, att.num_heads
    q = t * heads * att.head_dim * dt
    # k and v: with a cache, cache.update's torch.cat copies are the keys and values the attention reads (counted
    # with the cache: DynamicSlidingWindowLayer.update keeps a view of them) and the projected ones are freed
    k_v = t * att.num_kv_heads * (att.head_dim + att.value_dim) * dt if wl.task == "forward" else 0
    scores = b * heads * s * keys * dt
    rel = t * heads * d_rel * dt  # relative_states, bound through the attention
    fill = rel + t * heads * extent * dt + 2 * s * keys * INT64 + s * keys  # rel_logits, distance, index, condition
    rep = b * keys * heads * (att.head_dim + att.value_dim) * dt if att.num_kv_heads < heads else 0
    kernel = rep + t * heads * att.value_dim * dt  # repeated K/V and the output
    got = q + k_v + 2 * scores + max(fill, rel + kernel)
    return got, (
        f"q, k, v + relative position bias {b}×{heads}×{s}×{keys} × 2 × {dt} B (gathered and filled, then "
        f"filled and torch.where's mask) + "
        + (f"rel_logits × {extent}, int64 distances" if fill >= rel + kernel else "repeated K/V, output")
    )


def rel_logits_sdpa_pool(tr: Trace, spec: ModelSpec, wl: Workload, i: int, keys: int, q: int, dt: int) -> bool:
    """The pool's replay of layer ``i``'s SDPA attention from its (held) q, tensor by tensor as the module docstring
    reads them: relative_states, rel_logits, the int64 distance and index, the gathered bias, the condition and the
    filled bias (the gathered one, the condition, the indices and rel_logits freed at the return), the repeated K/V,
    torch.where's mask, the kernel's output; everything freed with q. False (nothing done) for other families and for
    eager."""
    att = spec.layers[i].attention
    if spec.family not in REL_LOGITS_BIAS or wl.attn == "eager" or att is None:
        return False
    d_rel, extent = _rel_shape(spec, i, att)
    b, s, heads = wl.batch, wl.context, att.num_heads
    t, scores = b * s, b * heads * s * keys * dt
    rel = tr.alloc(t * heads * d_rel * dt)  # r_proj
    logits = tr.alloc(t * heads * extent * dt)  # relative_states @ proj
    distance, index = tr.alloc(s * keys * INT64), tr.alloc(s * keys * INT64)  # the difference, its clamp
    gathered = tr.alloc(scores)
    below, beyond = tr.alloc(s * keys), tr.alloc(s * keys)
    cond = tr.alloc(s * keys)
    tr.free(below, beyond)
    bias = tr.alloc(scores)  # masked_fill
    tr.free(gathered, cond, index, distance, logits)
    rep = (
        [tr.alloc(b * keys * heads * d * dt) for d in (att.head_dim, att.value_dim)] if att.num_kv_heads < heads else []
    )
    mask = tr.alloc(scores)  # torch.where(attention_mask, position_bias, min_dtype)
    out = tr.alloc(t * heads * att.value_dim * dt)
    tr.free(mask, *rep, bias, rel, out, q)
    return True


def rel_bias_saved_bytes(spec: ModelSpec, att: AttentionSpec | None, attn: str, b: int, s: int, dt: int) -> int:
    """Training under SDPA: the mask ``sdpa_attention_forward`` hands the memory-efficient kernel is
    ``create_position_bias_mask``'s ``torch.where(attention_mask, position_bias, min_dtype)``, of the scores' shape
    (``b × heads × s × s``), and the kernel's autograd node keeps its ``attn_bias`` for the backward
    (``_scaled_dot_product_efficient_attention_backward`` reads it) whenever q needs a gradient: every layer of a
    LoRA on q. ``activations.py`` counts a windowed layer's ``b × s × s`` float mask instead, which Inkling's kernel
    never gets: the difference; 0 for other families and for eager."""
    if spec.family not in REL_LOGITS_BIAS or attn == "eager" or att is None:
        return 0
    windowed = att.sliding_window is not None and s > att.sliding_window
    return b * att.num_heads * s * s * dt - (b * s * s * dt if windowed else 0)

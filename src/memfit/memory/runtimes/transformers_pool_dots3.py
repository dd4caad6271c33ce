"""dots3_note's indexed attention on the prompt as the caching allocator sees it, for the pool emulation of
``transformers_pool.py`` (transformers 5.25 ``models/dots3_note/modeling_dots3_note.py``; found on the simulator's
trace of the development case dots3-note-default-l3/prefill-b2-s2200 in sweep-dev.jsonl, device total +5.58 %
before: the pool replayed DeepSeek-V3.2's attention, whose rotary products are in the model dtype, so a 137.5 MiB
tensor of layer 1 split the cached 2,363 MiB segment the indexer's scores then needed, and a new one was opened).

``Dots3NoteTextModel.forward`` makes the ``indexed_attention`` layers' ``cos`` / ``sin`` from
``inputs_embeds.float()``, and ``Dots3NoteTextRotaryEmbedding.forward`` returns them in that dtype: fp32. So
``Dots3NoteTextAttention.forward``'s ``apply_rotary_pos_emb_interleave`` on the half-precision ``q_rot`` makes fp32
products (``q1·cos − q2·sin``, ``q2·cos + q1·sin``: two products and a difference or sum each) and an fp32 ``cat``,
which ``q_rot.to(q_dtype)`` copies back; ``Dots3NoteTextIndexer.forward`` rotates its query the same way and its
``torch.cat([q_rot, q_pass])`` is fp32 (``q.float()`` then copies nothing). The rest as the forward runs: ``q_a_proj``
and ``q_a_layernorm`` (fp32 chain), ``q_resid * q_lora_scale`` (a new tensor, kept: the indexer reads it),
``q_b_proj``; ``kv_a_proj_with_mqa`` (kept), ``kv_pass.contiguous()`` and ``kv_a_layernorm``, ``k_pass *
kv_lora_scale``; the cache's copies; ``torch.cat((q_pass, q_rot))``, ``kv_b_proj``, ``expand_kv``'s ``new_empty``
key; the indexer (``wq_b``, its fp32 query, with more than one sequence the key expanded for the batched matmul, the
fp32 scores, scaled and relu'd, the per-token index scores and their masked copy (``~attention_mask``), ``topk``'s
values and int64 indices, the indices as int32); the sparse mask (``new_ones``, the indices ``.long()``,
``scatter``; ``attention_mask & ~index_mask``; SDPA's additive copy of the bool mask), the memory-efficient kernel's
output, ``attn_output * gate.sigmoid()``, ``o_proj``; the forward's locals go when it returns.
"""

from __future__ import annotations

from ...spec import AttentionSpec, ModelSpec
from ..allocator_trace import Trace
from .transformers_pool_rope import rotate_by_halves

__all__ = ["FP32_ROPE_INDEXED", "dots3_attention_prefill", "fp32_rope_input", "rms_fp32"]

FP32_ROPE_INDEXED = ("dots3_note", "dots3_note_text")  # rotary tables from inputs_embeds.float() on indexed layers
FP32 = 4


def fp32_rope_input(tr: Trace, spec: ModelSpec, emb: int, n: int) -> int:
    """``Dots3NoteTextModel.forward``'s ``inputs_embeds.float()`` (``n`` elements) for the indexed layers' rotary
    tables, made after the embedding and freed once the tables are (before the masks); returns ``emb``."""
    if spec.family in FP32_ROPE_INDEXED and any(x.attention and x.attention.index_heads for x in spec.layers):
        tr.free(tr.alloc(n * FP32))
    return emb


def rms_fp32(tr: Trace, n: int, dt: int) -> int:
    """An RMSNorm over ``n`` elements in fp32 (the copy, its square, the normalised copy, cast back, weighted); the
    MLA and indexed-attention replays (here and in transformers_pool_blocks) share it."""
    x = tr.alloc(n * FP32)
    tr.free(tr.alloc(n * FP32))
    y = tr.alloc(n * FP32)
    tr.free(x)
    low = tr.alloc(n * dt)
    out = tr.alloc(n * dt)
    tr.free(low, y)
    return out



def dots3_attention_prefill(
    tr: Trace, att: AttentionSpec, b: int, s: int, hidden: int, dt: int, kv: int
) -> tuple[int, list[int]]:
    """An indexed layer's attention from the normed input to ``o_proj``'s output (the module docstring); returns
    it and the cache's keys (``kv`` bytes)."""
    t = b * s
    rope = att.qk_rope_head_dim or 0
    nope = att.qk_nope_head_dim or (att.head_dim - rope)
    heads, lora, q_lora = att.num_heads, att.kv_lora_rank or 0, att.q_lora_rank or 0
    q_a = tr.alloc(t * q_lora * dt)
    normed = rms_fp32(tr, t * q_lora, dt)
    tr.free(q_a)
    q_resid = tr.alloc(t * q_lora * dt)  # * q_lora_scale
    tr.free(normed)
    q = tr.alloc(t * heads * (nope + rope) * dt)
    ckv = tr.alloc(t * (lora + rope) * dt)
    contiguous = tr.alloc(t * lora * dt)
    normed = rms_fp32(tr, t * lora, dt)
    tr.free(contiguous)
    k_pass = tr.alloc(t * lora * dt)  # * kv_lora_scale
    tr.free(normed)
    rotated = rotate_by_halves(tr, t * heads * rope // 2 * FP32)
    q_rot = tr.alloc(t * heads * rope * dt)  # .to(q_dtype)
    tr.free(rotated)
    kv_keys = [tr.alloc(kv // 2), tr.alloc(kv - kv // 2)]
    tr.free(k_pass)
    query = tr.alloc(t * heads * (nope + rope) * dt)
    kv_b = tr.alloc(t * heads * (nope + att.value_dim) * dt)
    key = tr.alloc(t * heads * (nope + rope) * dt)
    picked = _indexer(tr, att, b, s, dt)
    ones = tr.alloc(b * s * s)  # new_ones (bool), scattered
    index = tr.alloc(t * att.index_topk * 8)
    scattered = tr.alloc(b * s * s)
    tr.free(ones, index)
    negated = tr.alloc(b * s * s)
    combined = tr.alloc(b * s * s)  # attention_mask & ~index_mask
    tr.free(negated)
    negated = tr.alloc(b * s * s)
    additive = tr.alloc(b * s * s * dt)  # SDPA's float copy of the bool mask
    tr.free(negated)
    out = tr.alloc(t * heads * att.value_dim * dt)
    tr.free(additive)
    gated = tr.alloc(t * heads * att.value_dim * dt)
    tr.free(out)
    o = tr.alloc(t * hidden * dt)
    tr.free(gated, scattered, q_resid, q, q_rot, ckv, query, key, kv_b, picked, combined)
    return o, kv_keys


def _indexer(tr: Trace, att: AttentionSpec, b: int, s: int, dt: int) -> int:
    """``Dots3NoteTextIndexer.forward`` on the prompt; returns the int32 top-k indices' key."""
    heads, d, k = att.index_heads, att.index_head_dim, att.index_topk
    rope = att.qk_rope_head_dim or 0
    t = b * s
    wq = tr.alloc(t * heads * d * dt)
    rotated = rotate_by_halves(tr, t * heads * rope // 2 * FP32)
    q = tr.alloc(t * heads * d * FP32)  # cat of the fp32 rotary part and the half-precision rest
    expanded = tr.alloc(b * s * d * s * FP32) if b > 1 else 0
    scores = tr.alloc(b * s * heads * s * FP32)
    tr.free(expanded)
    scaled = tr.alloc(b * s * heads * s * FP32)
    tr.free(scores)
    relu = tr.alloc(b * s * heads * s * FP32)
    tr.free(scaled)
    index = tr.alloc(b * s * s * FP32)
    negated = tr.alloc(b * s * s)
    masked = tr.alloc(b * s * s * FP32)
    tr.free(negated, index)
    values = tr.alloc(t * k * FP32)
    indices = tr.alloc(t * k * 8)
    tr.free(values)
    picked = tr.alloc(t * k * 4)
    tr.free(indices, q, rotated, wq, relu, masked)
    return picked

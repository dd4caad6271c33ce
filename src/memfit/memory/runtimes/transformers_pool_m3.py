"""MiniMax-M3's block-sparse attention layers (``minimax_m3_sparse``) in transformers inference, as the caching
allocator sees them (``transformers_pool_attention.attention`` calls :func:`block_sparse_mask` for a layer whose
``AttentionSpec.index_block`` is set).

transformers 5.25 ``models/minimax_m3_vl/modeling_minimax_m3_vl.py``: ``MiniMaxM3VLAttention.forward`` runs, after
q/k/v, their norms, RoPE and the cache update, ``MiniMaxM3VLIndexer.forward`` then (eager / SDPA)
``build_block_mask``, and passes the dense additive mask it returns to the attention function:

* the indexer: ``q_proj`` (``index_n_heads × index_head_dim``) and ``k_proj`` (one key), each RMS-normed per head
  (``MiniMaxM3VLRMSNorm``, fp32 inside), rotated (``apply_rotary_pos_emb``: ``x·cos``, rotate_half's negated half and
  ``cat``, ``·sin``, the sum, the ``cat`` with the pass-through part); the key becomes the layer's ``idx_keys``
  (``MiniMaxM3VLSparseCacheLayer.update_index``); ``matmul(idx_q.float(), idx_k.float().transpose(-1, -2))``: fp32
  scores ``b × index_heads × s × t``; ``token_future`` (bool ``b × 1 × s × t``), the scores' ``masked_fill`` copy,
  ``F.pad`` to whole blocks of ``index_block_size`` (a new tensor where ``t`` is not a multiple), the max-pool over
  each block (``amax``), the local blocks' ``scatter_`` (in place), ``topk`` (fp32 values, int64 indices), the
  ``== -inf`` test and the indices' ``masked_fill``: the int64 block indices it returns;
* ``build_block_mask``: ``block_indices < 0`` and the ``masked_fill`` into ``safe`` (int64), ``new_full`` of the
  per-block bias (``b × index_heads × s × (blocks + 1)`` in the query's dtype, ``scatter_`` in place), ``bias == 0``
  (bool), ``repeat_interleave(block_size)`` (bool ``b × index_heads × s × blocks·block``) and over the heads
  (bool ``b × heads × s × t``: a copy of the sliced view); without an attention mask (SDPA's causal skip) the
  ``token_future`` and its negation, else ``attention_mask == 0`` for a float (eager) mask; ``keep`` (bool
  ``b × heads × s × t``); ``torch.zeros`` in the query's dtype, ``~keep`` and the ``masked_fill``: the additive mask
  ``b × heads × s × t``. Its locals go when it returns; the mask and the block indices live until the attention
  returns. The kernel then runs with a mask: K and V repeated to every head (``repeat_kv``), no bool-to-additive
  conversion (the mask is already additive).

The layer's ``idx_keys`` are counted in its cache (``kv_cache``); here their bytes ride in the K and V copies the
caller makes (the same total), so the rotated key is freed with the indexer's locals.
"""

from __future__ import annotations

from ...spec import AttentionSpec
from ..allocator_trace import Trace
from .transformers_pool_rope import rope

__all__ = ["block_sparse_mask"]

FP32, INT64, BOOL = 4, 8, 1


def block_sparse_mask(tr: Trace, att: AttentionSpec, b: int, s: int, keys: int, dt: int, eager: bool) -> list[int]:
    """``MiniMaxM3VLIndexer.forward`` and ``build_block_mask`` for ``b`` sequences of ``s`` queries over ``keys``
    keys; returns the keys alive until the attention returns: the block indices and the additive mask."""
    heads, d, blk = att.index_heads, att.index_head_dim, att.index_block
    nq, nk = b * s * heads * d * dt, b * s * d * dt
    q = _head_norm(tr, tr.alloc(nq), nq, dt)  # q_proj, q_norm
    k = _head_norm(tr, tr.alloc(nk), nk, dt)  # k_proj, k_norm
    q_rot, k_rot = rope(tr, nq, nq, True), rope(tr, nk, nk, True)  # apply_rotary_pos_emb, then the cat: new tensors
    tr.free(q, k)
    q32, k32 = tr.alloc(nq // dt * FP32), tr.alloc(nk // dt * FP32)
    n = b * heads * s * keys
    scores = tr.alloc(n * FP32)
    tr.free(q32, k32)
    future = tr.alloc(b * s * keys * BOOL)  # token_future
    masked = tr.alloc(n * FP32)
    tr.free(scores)
    blocks = -(-keys // blk)
    padded = tr.alloc(b * heads * s * blocks * blk * FP32) if blocks * blk != keys else 0  # F.pad
    tr.free(masked if padded else 0)
    pooled = tr.alloc(b * heads * s * blocks * FP32)  # amax over each block
    rows = b * heads * s * min(att.index_topk, blocks)
    values, idx = tr.alloc(rows * FP32), tr.alloc(rows * INT64)
    inf = tr.alloc(rows * BOOL)
    picked = tr.alloc(rows * INT64)  # topk_indices.masked_fill(topk_scores == -inf, -1)
    tr.free(inf, q_rot, k_rot, padded or masked, future, pooled, values, idx)
    return [picked, _block_mask(tr, att, b, s, keys, dt, rows, eager)]


def _head_norm(tr: Trace, x: int, n: int, dt: int) -> int:
    """``MiniMaxM3VLRMSNorm`` on ``x`` (``n`` bytes, replaced): ``x.float()`` (no copy in fp32), ``pow(2)`` (a
    transient), ``x * rsqrt(...)``, ``* (1.0 + weight.float())`` (fp32), ``type_as(x)`` (no copy in fp32)."""
    wide = n // dt * FP32
    x32 = tr.alloc(wide) if dt != FP32 else 0
    tr.free(tr.alloc(wide))
    normed = tr.alloc(wide)
    tr.free(x32)
    weighted = tr.alloc(wide)
    tr.free(normed)
    if dt == FP32:
        tr.free(x)
        return weighted
    out = tr.alloc(n)
    tr.free(weighted, x)
    return out


def _block_mask(tr: Trace, att: AttentionSpec, b: int, s: int, keys: int, dt: int, rows: int, eager: bool) -> int:
    """``build_block_mask``: its locals freed on return; returns the additive mask's key."""
    heads, blk = att.index_heads, att.index_block
    blocks = -(-keys // blk)
    lt = tr.alloc(rows * BOOL)
    safe = tr.alloc(rows * INT64)
    tr.free(lt)
    bias = tr.alloc(b * heads * s * (blocks + 1) * dt)  # new_full, scatter_ in place
    kept = tr.alloc(b * heads * s * blocks * BOOL)  # bias == 0.0
    per_key = tr.alloc(b * heads * s * blocks * blk * BOOL)  # repeat_interleave(block_size)
    tr.free(kept)
    full = b * att.num_heads * s * keys
    block_keep = tr.alloc(full * BOOL)  # repeat_interleave over the heads (of the [..., :key_length] view)
    tr.free(per_key)
    if eager:  # the float causal mask: attention_mask == 0
        causal = [tr.alloc(b * s * keys * BOOL)]
    else:  # no mask (SDPA's causal skip): token_future and ~token_future
        causal = [tr.alloc(b * s * keys * BOOL), tr.alloc(b * s * keys * BOOL)]
    keep = tr.alloc(full * BOOL)
    tr.free(*causal[1:])
    zeros = tr.alloc(full * dt)
    inverted = tr.alloc(full * BOOL)
    mask = tr.alloc(full * dt)
    tr.free(zeros, inverted, safe, bias, block_keep, keep, causal[0])
    return mask

"""RoPE as the caching allocator sees it in transformers inference: ``apply_rotary_pos_emb``'s temporaries, shared by
the attention replays (``transformers_pool_attention``, MiniMax-M3's indexer in ``transformers_pool_m3``, the
vision towers, Zaya, the training towers)."""

from __future__ import annotations

from ..allocator_trace import Trace

__all__ = ["rope", "rotate_by_halves"]


def rope(tr: Trace, n: int, rot: int, cat: bool) -> int:
    """``x·cos + rotate_half(x)·sin`` on the ``rot`` rotary bytes of an ``n``-byte ``x`` (the caller's); with
    ``cat`` (partial rotary: phi3, phi, stablelm, glm) the result is concatenated with the pass-through part into a
    new full tensor. Returns the rotated tensor's key."""
    cos = tr.alloc(rot)
    neg = tr.alloc(rot // 2)
    half = tr.alloc(rot)
    tr.free(neg)
    sin = tr.alloc(rot)
    tr.free(half)
    out = tr.alloc(rot)
    tr.free(cos, sin)
    if cat:
        full = tr.alloc(n)
        tr.free(out)
        out = full
    return out


def rotate_by_halves(tr: Trace, half: int) -> int:
    """A query's rotary part rotated by halves and concatenated (MLA's ``apply_rotary_pos_emb`` and
    ``apply_rotary_pos_emb_interleave``): x1·cos − x2·sin and x2·cos + x1·sin, each two products and their sum or
    difference of ``half`` bytes, then their ``cat``. Returns the concatenation's key."""
    x1c, x2s = tr.alloc(half), tr.alloc(half)
    first = tr.alloc(half)
    tr.free(x1c, x2s)
    x1s, x2c = tr.alloc(half), tr.alloc(half)
    second = tr.alloc(half)
    tr.free(x1s, x2c)
    out = tr.alloc(2 * half)
    tr.free(first, second)
    return out

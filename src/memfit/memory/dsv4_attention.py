"""DeepSeek-V4 under transformers 5.25: what its eager attention and hyper-connections hold at the prefill.

``DeepseekV4Attention`` concatenates the compressor's entries after the sliding-window keys, so a compressed layer's
queries score ``s + ⌊s / compress_rate⌋`` keys (CSA: one per 4 tokens; HCA: one per 128), and the mask is extended by
the compressor's block bias to the same width. The single K=V head is broadcast to every head by ``repeat_kv`` as a
view (one KV head: no copy). ``eager_attention_forward`` then holds, per score: the masked scores in the model dtype,
their concatenation with the fp32 sinks (type promotion: fp32, one column more), that minus its row max and its
softmax (both fp32; the concatenation is freed), and the probabilities cast back to the model dtype (no copy when
the model is fp32) — 2 + 4 + 4 + 2 bytes in bf16. The decoder layer drops the probabilities it returns.

The residual is ``hc_mult`` streams (``b × s × hc_mult × hidden``, the model dtype), alive through the forward.
"""

from __future__ import annotations

from ..spec import AttentionSpec, ModelSpec

__all__ = ["dsv4_attention_transient", "hc_stream_bytes"]

FP32 = 4


def dsv4_attention_transient(att: AttentionSpec, b: int, s: int, dt: int) -> tuple[int, str]:
    """Bytes DeepSeek-V4's eager attention holds at its peak (beyond the cache and the stream) for ``b`` sequences
    of ``s`` new tokens."""
    keys = s + (s // att.compress_rate if att.compress_rate else 0)
    scores = b * att.num_heads * s * keys
    with_sink = b * att.num_heads * s * (keys + 1)
    q = b * s * att.num_heads * att.head_dim * dt
    low = 2 * scores * dt if dt != FP32 else scores * dt  # masked scores, the cast-back probabilities
    mask = b * s * keys * dt if att.compress_rate else 0  # the mask widened by the block bias
    total = q + low + 2 * with_sink * FP32 + mask
    per = 2 * dt if dt != FP32 else dt
    return total, (f"q + scores {b}×{att.num_heads}×{s}×{keys} ({s:,} + compressed keys) × {per} B (masked, cast "
                   f"back) + 2 × fp32 with the sink column (max-shifted, softmax)"
                   + (" + widened mask" if mask else ""))


def hc_stream_bytes(spec: ModelSpec, tokens: int, dt: int) -> int:
    """The ``hc_mult``-stream residual of ``tokens`` tokens (0 for a model without hyper-connections)."""
    for name, shape in spec.extra:
        if name == "model.hc_head.hc_base":
            n = shape[0] if isinstance(shape, tuple) else shape
            return tokens * n * spec.hidden_size * dt
    return 0

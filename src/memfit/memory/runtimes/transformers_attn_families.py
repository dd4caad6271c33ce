"""Attention moments of families whose eager or rotary code keeps more than Llama's (transformers 5.25's modelling
files): MPT's probabilities-times-value moment, Cohere's fp32 rotary embedding. Used by ``transformers.py``'s
``_attn_transient``."""

from __future__ import annotations

from ...spec import AttentionSpec
from ..ssm_activations import FP32

__all__ = ["PV_KEPT_EAGER", "fp32_copy_rope_bytes", "pv_kept"]

# MPT's eager attention (transformers 5.25 modeling_mpt.py MptAttention.forward): q, k and v are ``chunk`` views of
# Wqkv's fused output (alive whole), the masked scores stay bound to ``attention_scores`` while the probabilities are
# made and cast back, and ``torch.matmul(attn_weights, value_states)`` copies the non-contiguous value view
PV_KEPT_EAGER = ("mpt",)


def pv_kept(att: AttentionSpec, b: int, s: int, dt: int, keys: int | None, got: int,
             text: str) -> tuple[int, str]:
    """:data:`PV_KEPT_EAGER`: the larger of the softmax moment with the whole fused q/k/v output (``got`` counts
    q alone) and the probabilities-times-value moment: fused q/k/v, masked scores, probabilities, value's
    contiguous copy, the output."""
    t, kn = b * s, s if keys is None else keys
    scores = b * att.num_heads * s * kn
    q = t * att.num_heads * att.head_dim * dt
    fused = q + t * att.num_kv_heads * (att.head_dim + att.value_dim) * dt
    v, out = t * att.num_kv_heads * att.value_dim * dt, t * att.num_heads * att.value_dim * dt
    pv = fused + 2 * scores * dt + v + out
    if pv > got - q + fused:
        return pv, (f"fused q/k/v + masked scores and probabilities {b}×{att.num_heads}×{s}×{kn} × 2 × {dt} B"
                    " + value copy + output")
    return got - q + fused, text.replace("q + ", "fused q/k/v + ", 1)


def fp32_copy_rope_bytes(att: AttentionSpec, t: int, dt: int, cached: bool) -> int:
    """Cohere's ``apply_rotary_pos_emb`` (``FP32_COPY_ROPE``) on ``t`` tokens in a half type, at its peak: q, k and v
    in the model dtype (with a cache, this layer's k and v are the cache figure's: the moment holds every layer's);
    q's fp32 copy and its rotated copy; k's fp32 copy, k·cos, rotate_half(k) and its ·sin."""
    q32, k32 = t * att.num_heads * att.head_dim * FP32, t * att.num_kv_heads * att.head_dim * FP32
    kv = 0 if cached else att.num_kv_heads * (att.head_dim + att.value_dim)
    return t * (att.num_heads * att.head_dim + kv) * dt + 2 * q32 + 4 * k32

"""A.X-K2 (transformers 5.25 ``axk2``): what its attention and gated norms keep for backward, per token.

``modeling_axk2.py`` ``AXK2Attention.forward`` is DeepSeek-V3's MLA without ``q_b_proj``, with an output gate and
DeepSeek sparse attention's indexer:

* ``q_compressed = q_a_proj(x)``, ``q_resid = q_a_layernorm(q_compressed)`` (``AXK2RMSNorm``: its fp32 copy kept),
  ``q_gate_proj(cat([q_resid, q_compressed]))`` gives the query and, per head, a gate of ``v_head_dim``;
* ``kv_a_proj_with_mqa`` and ``kv_a_layernorm`` as DeepSeek-V3's; ``expand_kv`` runs ``kv_b_proj`` and copies
  ``k_nope`` and the shared ``k_rot`` into a fresh ``key_states``; ``value_states`` is a view of kv_b's output, so
  the attention kernel's saved value keeps that whole output (nope and value halves) alive;
* ``AXK2Indexer.forward`` runs under ``torch.no_grad`` (nothing saved); its top-k becomes a boolean mask folded into
  the causal mask (``attention_mask & ~index_mask``), which SDPA turns into an additive bias in the query's dtype
  (``b × 1 × s × s``) that the memory-efficient kernel saves beside q, k, v, its output and log-sum-exp;
* ``attn_output * torch.sigmoid(gate_states.float())``: ``sigmoid`` keeps its fp32 output, the product keeps it and
  the kernel's output; ``.to(dtype)`` then ``o_proj``.

``AXK2GatedRMSNorm`` (``input_layernorm``; ``post_attention_layernorm`` of the sparse layers) is the RMSNorm, then
``y * torch.sigmoid(mlp(y).float())`` cast back: beyond the RMSNorm it keeps ``y`` and the fp32 sigmoid (its low-rank
gate MLP keeps ``gated_norm_rank`` values per token, not counted).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from ..spec import AttentionSpec, LayerSpec, ModelSpec
from .hyv4_attention import hyv4_attention_saved

__all__ = [
    "GATED_MLA",
    "INDEXED_MLA",
    "OWN_MLA",
    "attention_saved",
    "first_norm_no_grad",
    "first_norm_relief",
    "gated_norm_saved",
    "gated_norms",
]


class Precision(Protocol):
    """What these rules read of ``activations.Precision`` (not imported: activations imports this module)."""

    @property
    def proj_bytes(self) -> int: ...
    @property
    def full(self) -> bool: ...
    @property
    def amp(self) -> bool: ...
    @property
    def quantized(self) -> bool: ...
    @property
    def kv_cache(self) -> bool: ...
    @property
    def embed_out_bytes(self) -> int: ...
    @property
    def lora_kinds(self) -> frozenset[str]: ...


GATED_MLA = ("axk2",)  # model types whose layers run AXK2Attention and AXK2GatedRMSNorm
# model types whose every layer runs DeepSeek sparse attention's MLA as ``AXK2Attention`` does, with or without its
# gate: ``DeepseekV32Attention.forward`` (transformers 5.25 modeling_deepseek_v32.py) is it with ``q_b_proj(q_resid)``
# for the query and no output gate, and ``DeepseekV32Indexer`` is ``AXK2Indexer`` line for line; GLM-5's
# ``GlmMoeDsaAttention`` (modeling_glm_moe_dsa.py) is V3.2's with cross-layer top-k sharing (training/layer_axk2.py)
INDEXED_MLA = (*GATED_MLA, "deepseek_v32", "glm_moe_dsa")
OWN_MLA = (*INDEXED_MLA, "hy_v4")  # priced by ``attention_saved``: HY-V4's eager attention by ``hyv4_attention``


def gated_norms(spec: ModelSpec, layer: LayerSpec) -> int:
    """How many of the layer's norms are ``AXK2GatedRMSNorm``: the input norm, and the post-attention norm of a
    sparse (MoE) layer (``AXK2DecoderLayer.__init__``)."""
    if spec.family not in GATED_MLA:
        return 0
    return 2 if layer.moe is not None else 1


def first_norm_no_grad(p: Precision, checkpointed: bool) -> bool:
    """The first layer's input needs no gradient: LoRA on a 16- or 32-bit model without autocast or checkpointing
    (PEFT freezes the embedding; only checkpointing or kbit preparation calls ``enable_input_require_grads``,
    ``memory.first_layer``), so its input norm, whose weights are frozen, keeps nothing."""
    return (
        not p.full
        and bool(p.lora_kinds)
        and not p.quantized
        and not p.embed_out_bytes
        and not p.amp
        and not checkpointed
    )


def first_norm_relief(spec: ModelSpec, p: Precision, tokens: int) -> int:
    """Bytes the first layer's input norm does not keep where its input needs no gradient (else 0): the RMSNorm's
    fp32 copy, and a gated norm's ``y`` and sigmoid."""
    if spec.family not in INDEXED_MLA or not spec.layers or not first_norm_no_grad(p, not p.kv_cache):
        return 0
    h = spec.hidden_size
    return tokens * (4 * h + 4 + (gated_norm_saved(h, p.proj_bytes) if spec.family in GATED_MLA else 0))


def gated_norm_saved(h: int, proj: int) -> int:
    """Bytes per token a gated norm keeps beyond its RMSNorm: ``y`` (the product's other operand) and the fp32
    sigmoid."""
    return proj * h + 4 * h


def attention_saved(
    a: AttentionSpec,
    spec: ModelSpec,
    in_bytes: int,
    p: Precision,
    b: int,
    s: int,
    linear_inputs: Callable[..., int],
    norm: Callable[..., tuple[int, int]],
) -> tuple[int, int, int, int, int]:
    """(saved per token, of which attention core per token, s² bytes saved per sequence, s² transient, DynamicCache
    bytes per token alive until the forward returns) of ``AXK2Attention`` (``DeepseekV32Attention`` for a family outside
    ``GATED_MLA``) under SDPA, as ``activations._attention`` gives them; ``linear_inputs`` and ``norm`` are
    activations' Linear-input and RMSNorm rules. HY-V4's (eager, sinks, gate): ``hyv4_attention``."""
    if spec.family == "hy_v4":
        return hyv4_attention_saved(a, spec, in_bytes, p, b, s, linear_inputs, norm)
    gated, h = spec.family in GATED_MLA, spec.hidden_size
    pb = p.proj_bytes
    heads, d, dv = a.num_heads, a.head_dim, a.value_dim
    ql, kl, rope, nope = a.q_lora_rank or 0, a.kv_lora_rank or 0, a.qk_rope_head_dim or 0, a.qk_nope_head_dim or 0
    saved = linear_inputs(h, ["attn_q_a"], in_bytes, p) + norm(ql, pb, p, False, False)[0]  # q_a, q_a_layernorm
    # q_gate_proj reads cat([q_resid, q_compressed]); V3.2's q_b_proj reads q_resid
    saved += linear_inputs(2 * ql if gated else ql, ["attn_q_b"], pb, p)
    saved += linear_inputs(h, ["attn_kv_a_mqa"], in_bytes, p) + norm(kl, pb, p, False, False)[0]
    saved += linear_inputs(kl, ["attn_kv_b"], pb, p)
    # the kernel's q, key_states, kv_b's whole output (value is its view), its output and log-sum-exp
    saved += heads * d * pb * 2 + heads * (nope + dv) * pb + heads * dv * pb + 4 * heads
    saved += 4 * heads * dv if gated else 0  # the gate's fp32 sigmoid
    saved += linear_inputs(heads * dv, ["attn_output"], pb, p)  # o_proj reads the (gated) output
    bias = b * s * s * pb  # the additive mask the efficient kernel saves
    cache = (kl + rope + a.index_head_dim) * pb  # DynamicCache: latent, rotary key, indexer key (update_indexer)
    return saved, 4 * heads, bias, bias, cache

"""DeepSeek-V4's attention tensors (transformers 5.25 ``DeepseekV4Attention`` and its compressors), as
(name, shape, kind, is_bias) rows that ``memfit.inventory`` turns into its tensors.

Every layer: the q low-rank pair (``q_a_proj`` h → q_lora, ``q_a_norm``, ``q_b_proj`` q_lora → heads·head_dim),
one K=V projection (``kv_proj`` h → head_dim, ``kv_norm``), the grouped output projection (``o_a_proj``: o_groups
blocks of heads·head_dim / o_groups → o_lora_rank, stored as one (o_groups·o_lora_rank, heads·head_dim / o_groups)
weight; ``o_b_proj`` o_groups·o_lora_rank → h) and one sink per head. An HCA layer (compress rate 128) adds a
compressor: ``kv_proj`` and ``gate_proj`` h → head_dim, a (rate, head_dim) fp32 ``position_bias`` and a norm; a CSA
layer's compressor projects to 2·head_dim (two overlapping series) with a (rate, 2·head_dim) bias, and its lightning
indexer has the same at ``index_head_dim`` plus ``q_b_proj`` (q_lora → index_heads·index_head_dim) and the scorer's
``weights_proj`` (h → index_heads).
"""

from __future__ import annotations

from collections.abc import Iterator

from .spec import AttentionSpec

__all__ = ["dsv4_attention"]

Row = tuple[str, tuple[int, ...], str, bool]


def _compressor(p: str, h: int, d: int, rate: int, overlap: bool) -> Iterator[Row]:
    width = 2 * d if overlap else d
    yield f"{p}.kv_proj.weight", (width, h), "attn_compress_kv", False
    yield f"{p}.gate_proj.weight", (width, h), "attn_compress_gate", False
    yield f"{p}.position_bias", (rate, width), "attn_compress_bias", False
    yield f"{p}.kv_norm.weight", (d,), "attn_compress_norm", False


def dsv4_attention(a: AttentionSpec, h: int, i: int) -> Iterator[Row]:
    p, heads, d = f"model.layers.{i}.self_attn", a.num_heads, a.head_dim
    q_lora = a.q_lora_rank or h
    yield f"{p}.q_a_proj.weight", (q_lora, h), "attn_q_a", False
    yield f"{p}.q_a_norm.weight", (q_lora,), "attn_q_a_norm", False
    yield f"{p}.q_b_proj.weight", (heads * d, q_lora), "attn_q_b", False
    yield f"{p}.kv_proj.weight", (d, h), "attn_kv", False
    yield f"{p}.kv_norm.weight", (d,), "attn_kv_norm", False
    groups = a.o_groups or 1
    yield f"{p}.o_a_proj.weight", (groups * a.o_lora_rank, heads * d // groups), "attn_output_a", False
    yield f"{p}.o_b_proj.weight", (h, groups * a.o_lora_rank), "attn_output_b", False
    yield f"{p}.sinks", (heads,), "attn_sinks", False
    if not a.compress_rate:
        return
    c = f"{p}.compressor"
    yield from _compressor(c, h, d, a.compress_rate, overlap=bool(a.index_heads))
    if a.index_heads:
        x, di, n = f"{c}.indexer", a.index_head_dim, a.index_heads
        yield from _compressor(x, h, di, a.compress_rate, overlap=True)
        yield f"{x}.q_b_proj.weight", (n * di, q_lora), "attn_index_q_b", False
        yield f"{x}.scorer.weights_proj.weight", (n, h), "attn_index_w", False

"""Persimmon's decoder layer as the caching allocator sees it (issue 12, l12sweep4), for the pool emulation of
``transformers_pool.py``: written from transformers 5.25 ``modeling_persimmon.py`` and checked against the simulator's
allocation trace of the development case persimmon-default-l3/prefill-fp16-b2-s2048 (sweep-dev.jsonl; the replay had
priced a Llama attention, separate q/k/v projections and no per-head norms: device total -3.74 %).

``PersimmonDecoderLayer.forward``: ``input_layernorm`` (its output held by the layer's variable until the attention
returns), the attention, ``residual + hidden_states``; ``post_attention_layernorm`` (held until the MLP returns), the
MLP, ``hidden_states + residual``.
``PersimmonAttention.forward``: ``query_key_value`` (one 3 h tensor; ``_split_heads`` takes q, k, v as views of it),
``q_layernorm`` and ``k_layernorm`` over the head dimension (``qk_layernorm``: two new tensors, alive until the
attention returns through the pass-through views), the rotary part (``rotary_ndims = head_dim ·
partial_rotary_factor``) of q, then of k, rotated by ``apply_rotary_pos_emb`` (``q·cos``, ``rotate_half``'s negated
half and ``torch.cat``, ``·sin``, the sum), each ``torch.cat``-ed with its pass-through part into a new tensor;
``DynamicLayer.update`` copies K and V into the cache with ``torch.cat`` (the concatenated key then goes); SDPA's
flash kernel keeps the concatenated query's layout, so ``transpose(1, 2).contiguous()`` copies its output; in fp32
(no flash kernel) the memory-efficient kernel writes its output as (b, s, heads, d) and returns its transpose (torch
``_scaled_dot_product_efficient_attention_cuda``: ``_efficient_attention_forward`` allocates ``{B, M, num_heads,
Kv}``), so nothing is copied; ``dense``.
``PersimmonMLP``: ``dense_h_to_4h``, relu² (``ReLUSquaredActivation``: ``relu``, then ``torch.square``; the relu
output and the projection go when it returns), ``dense_4h_to_h``.

Fuyu runs this layer (transformers 5.25 ``modeling_fuyu.py``: ``FuyuModel.language_model =
AutoModel.from_config(config.text_config)``, a ``PersimmonModel`` for Fuyu's default ``text_config``; a text-only
prompt is embedded by the language model's embeddings and runs through it unchanged), its fields under ``text_config``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from ...spec import ModelSpec
from ...workload import Workload
from ..allocator_trace import Trace
from .transformers_pool_parallel import codegen_block

__all__ = ["OWN_BLOCKS", "persimmon_block"]


def _config(spec: ModelSpec) -> dict[str, Any]:
    """The Persimmon config: the model's own, or Fuyu's ``text_config``."""
    config_json = getattr(spec.tensor_source, "config_json", None)
    value = json.loads(config_json) if isinstance(config_json, str) else None
    text = value.get("text_config") if isinstance(value, dict) and spec.family == "fuyu" else value
    return text if isinstance(text, dict) else {}


def _rotary_ndims(config: dict[str, Any], head_dim: int) -> int:
    """``int(head_dim * partial_rotary_factor)`` (PersimmonAttention.__init__; PersimmonConfig's default 0.5)."""
    rope = config.get("rope_parameters")
    factor = rope.get("partial_rotary_factor") if isinstance(rope, dict) else None
    factor = factor if factor is not None else config.get("partial_rotary_factor", 0.5)
    return int(head_dim * factor) if isinstance(factor, (int, float)) and 0 < factor <= 1 else head_dim // 2


def _rotated(tr: Trace, nbytes: int) -> int:
    """``(x·cos) + (rotate_half(x)·sin)`` on ``nbytes`` of rotary features (cos and sin in the model dtype)."""
    by_cos = tr.alloc(nbytes)
    neg = tr.alloc(nbytes // 2)
    half = tr.alloc(nbytes)  # rotate_half's torch.cat((-x2, x1))
    tr.free(neg)
    by_sin = tr.alloc(nbytes)
    tr.free(half)
    out = tr.alloc(nbytes)
    tr.free(by_cos, by_sin)
    return out


def persimmon_block(
    tr: Trace, spec: ModelSpec, wl: Workload, i: int, t: int, dt: int, kv: int, stream: int, emb: int
) -> tuple[int, list[int]]:
    """One Persimmon decoder layer on ``t`` tokens under SDPA without a mask (see the module docstring); returns the
    new residual stream and the layer's K/V keys (the layer's input goes here unless it is the embedding)."""
    layer, h = spec.layers[i], spec.hidden_size
    att, mlp = layer.attention, layer.mlp
    assert att is not None and mlp is not None
    config = _config(spec)
    n = t * h * dt
    normed = tr.alloc(n)  # input_layernorm
    fused = tr.alloc(3 * n)  # query_key_value
    qk_norms = [tr.alloc(n), tr.alloc(n)] if config.get("qk_layernorm", True) else []
    rot = t * att.num_heads * _rotary_ndims(config, att.head_dim) * dt
    q_rot = _rotated(tr, rot)
    k_rot = _rotated(tr, rot)
    query, key = tr.alloc(n), tr.alloc(n)  # torch.cat((rot, pass), dim=-1)
    kv_keys: list[int] = []
    if kv and wl.task != "forward":  # DynamicLayer.update: torch.cat copies K and V into the cache
        kv_keys = [tr.alloc(kv // 2), tr.alloc(kv - kv // 2)]
        tr.free(key)
        key = 0
    out = tr.alloc(n)  # flash: the kernel's output in the query's (b, heads, s, d) layout; fp32: (b, s, heads, d)
    laid_out = out
    if dt != 4:  # transpose(1, 2).contiguous() copies flash's output
        laid_out = tr.alloc(n)
        tr.free(out)
    attn = tr.alloc(n)  # dense
    tr.free(laid_out, fused, query, q_rot, *qk_norms[:1], k_rot, *qk_norms[1:], key, normed)
    mid = tr.alloc(n)  # residual + attention
    tr.free(attn)
    normed = tr.alloc(n)  # post_attention_layernorm
    inner = t * mlp.intermediate_size * dt
    up = tr.alloc(inner)
    relu = tr.alloc(inner)
    square = tr.alloc(inner) if mlp.activation == "relu2" else 0  # another activation: one tensor
    tr.free(relu if square else 0, up)
    down = tr.alloc(n)
    tr.free(square or relu, normed)
    new = tr.alloc(n)  # hidden_states + residual
    tr.free(down, mid, stream if stream != emb else 0)
    return new, kv_keys


BlockReplay = Callable[[Trace, ModelSpec, Workload, int, int, int, int, int, int], tuple[int, list[int]]]
# the families whose whole decoder layer the pool replays under SDPA without a mask (transformers_pool._own_block)
OWN_BLOCKS: dict[str, BlockReplay] = {"codegen": codegen_block, "persimmon": persimmon_block, "fuyu": persimmon_block}

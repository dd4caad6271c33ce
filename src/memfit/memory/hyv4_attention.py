"""HY-V4's attention in a training step (transformers 5.25 models/hy_v4/modeling_hy_v4.py ``HYV4Attention.forward``
and its ``eager_attention_forward``; HY-V4 runs eager only): what autograd keeps, in ``activations._attention``'s
terms.

* ``gate_proj``, ``q_a_proj`` and ``kv_a_proj_with_mqa`` read the block's input (their adapters' fp32 copies, or the
  input itself when the weights train); ``q_a_layernorm`` and ``kv_a_layernorm`` are Llama-style RMSNorms, read by
  ``q_b_proj`` and ``kv_b_proj``. The interleaved rotary multiplies by cos / sin (nothing kept for the query).
* The scores' matmul keeps the query ``cat`` and ``expand_kv``'s fresh key; the matmul with the probabilities keeps
  ``kv_b_proj``'s whole output (the value is its view). ``torch.cat([attn_weights, sinks])`` promotes to fp32 with
  one column more (the fp32 sinks), minus its row max, ``F.softmax(..., dtype=fp32)``: kept (its backward reads it);
  ``probs[..., :-1].to(value dtype)``: kept (a view when the model is fp32).
* ``attn_output * torch.sigmoid(gate_states)`` keeps the sigmoid and, when the gate needs a gradient, the attention
  output (``transpose(1, 2).contiguous()``); ``o_proj`` reads the gated product.
* ``HYV4Indexer.forward`` runs under ``torch.no_grad``: only transients, the fp32 ``[B, S, heads, T]`` scores and
  their ReLU the largest; the DynamicCache (no full checkpointing) copies the latent, the rotary key and the
  indexer's key (``cache.update``, ``cache.update_indexer``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Protocol

from ..sources.generic_tensors import GenericTensors
from ..spec import AttentionSpec, ModelSpec

__all__ = ["config_int", "hyv4_attention_saved", "hyv4_config", "hyv4_gate_input"]

FP32 = 4
INDEX_HEADS, INDEX_HEAD_DIM = 16, 128  # HYV4Config.index_n_heads's and index_head_dim's defaults


class Precision(Protocol):
    """What these rules read of ``activations.Precision`` (not imported: activations imports this module through
    ``axk2_attention``); the whole object goes on to ``linear_inputs`` and ``norm``."""

    @property
    def proj_bytes(self) -> int: ...
    @property
    def kv_cache(self) -> bool: ...


def hyv4_config(spec: ModelSpec) -> dict[str, Any]:
    """The config a generic-path spec was read from (HY-V4's own fields: ``hc_mult``, the indexer's)."""
    source = spec.tensor_source
    value = json.loads(source.config_json) if isinstance(source, GenericTensors) else {}
    return value if isinstance(value, dict) else {}


def config_int(cfg: dict[str, Any], key: str, default: int) -> int:
    """A positive integer field of ``cfg``, else ``default`` (the config class's)."""
    value = cfg.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else default


def hyv4_gate_input(a: AttentionSpec, pb: int) -> int:
    """Bytes per token of the attention output the gate's product keeps (only when the gate needs a gradient)."""
    return a.num_heads * a.value_dim * pb


def hyv4_attention_saved(
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
    bytes per token) of ``HYV4Attention`` as ``activations._attention`` gives them (the module's docstring)."""
    h, pb = spec.hidden_size, p.proj_bytes
    heads, d, dv = a.num_heads, a.head_dim, a.value_dim
    ql, kl, rope, nope = a.q_lora_rank or 0, a.kv_lora_rank or 0, a.qk_rope_head_dim or 0, a.qk_nope_head_dim or 0
    saved = linear_inputs(h, ["attn_other", "attn_q_a", "attn_kv_a_mqa"], in_bytes, p)  # gate_proj, q_a, kv_a
    saved += norm(ql, pb, p, False, False)[0] + linear_inputs(ql, ["attn_q_b"], pb, p)
    saved += norm(kl, pb, p, False, False)[0] + linear_inputs(kl, ["attn_kv_b"], pb, p)
    core = heads * d * pb * 2 + heads * (nope + dv) * pb  # query, key, kv_b's output (the value's base)
    saved += core + heads * dv * pb + hyv4_gate_input(a, pb)  # the gate's sigmoid, the attention output
    saved += linear_inputs(heads * dv, ["attn_output"], pb, p)  # o_proj reads the gated product
    probs = (s + 1) * FP32 + (s * pb if pb != FP32 else 0)  # fp32 softmax with the sink column, the cast back
    scores = b * heads * s * (s * pb + (s + 1) * FP32) + b * s * s * pb  # masked scores, max-shifted, top-k mask
    cfg = hyv4_config(spec)
    index_heads, index_dim = (
        config_int(cfg, "index_n_heads", INDEX_HEADS),
        config_int(cfg, "index_head_dim", INDEX_HEAD_DIM),
    )
    indexer = 2 * b * s * index_heads * s * FP32  # fp32 scores and their ReLU
    cache = (kl + rope + index_dim) * pb if p.kv_cache else 0
    return saved, core, b * heads * s * probs, max(scores, indexer), cache

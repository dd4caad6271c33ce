"""Llama 4 (``llama4_text``, and ``llama4``: the text model its image-text config carries).

Read as transformers 5.25's ``Llama4TextConfig.__post_init__`` and ``Llama4TextDecoderLayer`` read it:

- ``moe_layers`` (default: every ``interleave_moe_layer_step``-th layer, counted from step − 1) hold
  ``num_local_experts`` routed experts of ``intermediate_size`` (fused gate_up (E, h, 2i) and down (E, i, h)),
  a bias-free router (E × h) and one shared expert of the same width; the other layers a dense SwiGLU MLP of
  ``intermediate_size_mlp``.
- ``no_rope_layers`` (1 = RoPE; default: every ``no_rope_layer_interval``-th layer is NoPE) decide the attention:
  ``layer_types`` (when the file has none) makes a RoPE layer ``chunked_attention`` over ``attention_chunk_size``
  tokens and a NoPE layer ``full_attention``. transformers caches a chunked layer in a
  ``DynamicSlidingWindowLayer`` of ``attention_chunk_size`` (the same class as a sliding window: the last
  chunk − 1 tokens), so here a chunked layer is an attention with that window.
- ``use_qk_norm`` is a weightless RMSNorm on the RoPE layers' q and k, and ``attn_temperature_tuning`` scales the
  NoPE layers' queries by position: neither has parameters.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ...errors import ConfigError
from ...spec import ModelSpec, MoESpec
from .common import (
    Builder,
    Config,
    decoder,
    gated,
    get_bool,
    get_int,
    get_opt_int,
    layer_count,
    sub_config,
    with_top_level,
)
from .dense_recent import with_defaults
from .towers_recent import llama4_tower

__all__ = ["BUILDERS"]

_DEFAULTS: dict[str, Any] = {
    "vocab_size": 202048, "hidden_size": 5120, "intermediate_size": 8192, "intermediate_size_mlp": 16384,
    "num_hidden_layers": 48, "num_attention_heads": 40, "num_key_value_heads": 8, "head_dim": 128,
    "num_local_experts": 16, "num_experts_per_tok": 1, "interleave_moe_layer_step": 1, "no_rope_layer_interval": 4,
    "max_position_embeddings": 4096 * 32,
}


def _index_list(cfg: Config, key: str, n: int, *, flags: bool = False) -> list[int] | None:
    """A per-layer list field: layer indices (``moe_layers``) or one 0/1 per layer (``no_rope_layers``)."""
    value = cfg.get(key)
    if value is None or (flags and value == []):  # transformers derives an empty no_rope_layers too
        return None
    rule = f"{n} entries of 0 or 1" if flags else f"layer indices from 0 to {n - 1}"
    if (not isinstance(value, list) or (flags and len(value) != n)
            or any(isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < (2 if flags else n) for v in value)):
        raise ConfigError(f"config.json field {key!r} = {value!r} must list {rule}")
    return [int(v) for v in value]


def _windows(cfg: Config, n: int) -> list[int | None]:
    """Per-layer attention window: the chunk size on chunked layers, None (full) on the others."""
    chunk = get_opt_int(cfg, "attention_chunk_size")
    rope = _index_list(cfg, "no_rope_layers", n, flags=True)
    if rope is None:
        interval = get_int(cfg, "no_rope_layer_interval")
        rope = [int((i + 1) % interval != 0) for i in range(n)]
    types = cfg.get("layer_types")
    if types is None:
        types = ["chunked_attention" if r and chunk is not None else "full_attention" for r in rope]
    if (not isinstance(types, list) or len(types) != n
            or set(types) - {"chunked_attention", "full_attention"}):
        raise ConfigError(f"config.json 'layer_types' must list {n} entries of 'chunked_attention' or "
                          "'full_attention'")
    if "chunked_attention" in types and chunk is None:
        raise ConfigError("config.json 'layer_types' has chunked_attention layers but no 'attention_chunk_size': "
                          "add the chunk size")
    return [chunk if t == "chunked_attention" else None for t in types]


def _llama4_text(cfg: Config, name: str) -> ModelSpec:
    explicit_null = "head_dim" in cfg and cfg["head_dim"] is None  # transformers: hidden // heads then
    cfg = with_defaults(cfg, _DEFAULTS)
    if explicit_null:
        cfg["head_dim"] = get_int(cfg, "hidden_size") // get_int(cfg, "num_attention_heads")
    n = layer_count(cfg)
    moe_layers = _index_list(cfg, "moe_layers", n)
    if moe_layers is None:
        step = get_int(cfg, "interleave_moe_layer_step")
        moe_layers = list(range(step - 1, n, step))
    sparse = set(moe_layers)
    moe = MoESpec(get_int(cfg, "num_local_experts"), get_int(cfg, "num_experts_per_tok"),
                  get_int(cfg, "intermediate_size"), num_shared_experts=1, dense_dispatch=True)
    bias = get_bool(cfg, "attention_bias", False)
    return decoder(cfg, name, qkv_bias=bias, o_bias=bias, mlp=gated(cfg, "intermediate_size_mlp"),
                   windows=_windows(cfg, n), moe_at=lambda i: moe if i in sparse else None, default_head_dim=128,
                   # Scout's 10,485,760 (10M-token context) is past the generic MAX_DIM bound
                   max_pos=get_int(cfg, "max_position_embeddings", maximum=2**31 - 1))


def _llama4(cfg: Config, name: str) -> ModelSpec:
    """The image-text config (``Llama4ForConditionalGeneration``): the text model of its ``text_config`` and the
    vision tower + projector (``towers_recent.llama4_tower``)."""
    text = dict(sub_config(cfg, "text_config"))
    text = with_top_level(text, cfg, keys=("torch_dtype", "dtype"))  # the top level decides the dtype
    spec = _llama4_text(text, name)
    return replace(spec, family="llama4", vision=llama4_tower(sub_config(cfg, "vision_config"), spec.hidden_size))


BUILDERS: dict[str, Builder] = {
    "llama4": _llama4,
    "llama4_text": _llama4_text,
}

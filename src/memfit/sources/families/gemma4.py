"""Gemma 4 text models (``gemma4_text``), read off transformers 5.25's ``modeling_gemma4.py``: a Gemma-3-style
sandwich block (q/k norms per head, ``v_norm`` without weight) with

* **global layers of their own shape**: ``full_attention`` layers use ``global_head_dim`` (default 512) and, with
  ``attention_k_eq_v``, ``num_global_key_value_heads`` and no ``v_proj`` (V is the normed K; the cache still keeps
  both); a file may give the overrides as ``per_layer_config`` instead;
* **KV sharing** (``num_kv_shared_layers``): the shared tail has no k/v projections and caches nothing; with
  ``use_double_wide_mlp`` its MLP is twice as wide;
* **per-layer embeddings** when ``hidden_size_per_layer_input`` > 0 (as Gemma 3n, without AltUp or LAuReL);
* **an MoE block beside the MLP** (``enable_moe_block``): ``num_experts`` fused experts of
  ``moe_intermediate_size``, top ``top_k_experts``, a router (projection, a scale per hidden unit and per expert) and
  three more norms.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from ...errors import ConfigError
from ...spec import AttentionSpec, LayerSpec, MLPSpec, ModelSpec, MoESpec
from .common import (
    Builder,
    Config,
    act,
    build_model,
    get_bool,
    get_int,
    get_opt_int,
    kv_heads,
    sliding_windows,
    sub_config,
    with_top_level,
)
from .dense_recent import with_defaults
from .towers_recent import gemma4_towers

__all__ = ["BUILDERS"]

_DEFAULTS: dict[str, Any] = {  # Gemma4TextConfig's
    "vocab_size": 262_144, "hidden_size": 2304, "intermediate_size": 9216, "num_hidden_layers": 30,
    "num_attention_heads": 8, "num_key_value_heads": 4, "head_dim": 256, "max_position_embeddings": 131_072,
    "sliding_window": 512, "vocab_size_per_layer_input": 262_144, "hidden_size_per_layer_input": 256,
    "num_kv_shared_layers": 0, "tie_word_embeddings": True, "hidden_activation": "gelu_pytorch_tanh",
}


def _layer_types(cfg: dict[str, Any], n: int) -> list[str]:
    types = cfg.get("layer_types")
    if not isinstance(types, list):
        types = ["sliding_attention" if (i + 1) % 6 else "full_attention" for i in range(n)]
    types = list(types)
    if types and types[-1] != "full_attention":  # transformers forces the last layer global
        types[-1] = "full_attention"
    return types


def _overrides(cfg: dict[str, Any], types: list[str]) -> dict[int, Mapping[str, Any]]:
    """Per-layer head_dim / num_key_value_heads: ``per_layer_config`` as given, else the global layers'."""
    raw = cfg.get("per_layer_config")
    if isinstance(raw, Mapping):
        try:
            return {int(k): v for k, v in raw.items() if isinstance(v, Mapping)}
        except ValueError:
            raise ConfigError("config.json 'per_layer_config' keys must be layer indices") from None
    glob: dict[str, Any] = {"head_dim": get_int(cfg, "global_head_dim", 512)}
    if get_bool(cfg, "attention_k_eq_v", False) and cfg.get("num_global_key_value_heads") is not None:
        glob["num_key_value_heads"] = get_int(cfg, "num_global_key_value_heads")
    return {i: glob for i, t in enumerate(types) if t == "full_attention"}


def _gemma4_text(raw: Config, name: str) -> ModelSpec:
    cfg = with_defaults(raw, _DEFAULTS)
    h, n_layers = get_int(cfg, "hidden_size"), get_int(cfg, "num_hidden_layers", maximum=10_000)
    heads = get_int(cfg, "num_attention_heads")
    types = _layer_types(cfg, n_layers)
    cfg["layer_types"] = types
    windows = sliding_windows(cfg, n_layers)
    overrides = _overrides(cfg, types)
    shared = get_int(cfg, "num_kv_shared_layers", minimum=0, maximum=n_layers)
    k_eq_v, wide = get_bool(cfg, "attention_k_eq_v", False), get_bool(cfg, "use_double_wide_mlp", False)
    p = get_int(cfg, "hidden_size_per_layer_input", minimum=0)
    inter, bias = get_int(cfg, "intermediate_size"), get_bool(cfg, "attention_bias", False)
    moe: MoESpec | None = None
    extra: tuple[tuple[str, tuple[int, ...]], ...] = ()
    if get_bool(cfg, "enable_moe_block", False):
        experts = get_int(cfg, "num_experts")
        moe = MoESpec(experts, get_int(cfg, "top_k_experts"), get_int(cfg, "moe_intermediate_size"))
        extra = (("router.scale", (h,)), ("router.per_expert_scale", (experts,)),
                 ("post_feedforward_layernorm_1.weight", (h,)), ("post_feedforward_layernorm_2.weight", (h,)),
                 ("pre_feedforward_layernorm_2.weight", (h,)))
    if p:
        extra = (*extra, ("per_layer_input_gate.weight", (p, h)), ("per_layer_projection.weight", (h, p)),
                 ("post_per_layer_input_norm.weight", (h,)))
    layers = []
    for i, w in enumerate(windows):
        over = {**cfg, **overrides.get(i, {})}
        is_shared, is_global = i >= n_layers - shared, types[i] == "full_attention"
        attn = AttentionSpec(heads, kv_heads(over, heads), get_int(over, "head_dim"), sliding_window=w,
                             qkv_bias=bias, o_bias=bias, qk_norm="head", kv_shared=is_shared,
                             k_eq_v=k_eq_v and is_global)
        mlp = MLPSpec(inter * (2 if wide and is_shared else 1), "gated", False, act(cfg))
        layers.append(LayerSpec("attention", attn, mlp=mlp, moe=moe, norms=4, norm_layout="sandwich", extra=extra))
    model_extra: tuple[tuple[str, int | tuple[int, ...]], ...] = ()
    if p:
        model_extra = (("model.embed_tokens_per_layer.weight",
                        (get_int(cfg, "vocab_size_per_layer_input"), n_layers * p)),
                       ("model.per_layer_model_projection.weight", (n_layers * p, h)),
                       ("model.per_layer_projection_norm.weight", (p,)))
    return build_model(cfg, name, h, layers, tie=True, extra=model_extra,
                       max_pos=get_opt_int(cfg, "max_position_embeddings") or 0)


def _gemma4(cfg: Config, name: str) -> ModelSpec:
    """The image(-audio)-text ``gemma4`` config (``Gemma4ForConditionalGeneration``): the text model of its
    ``text_config`` and the vision / audio towers with their embedders (``towers_recent.gemma4_towers``)."""
    text = {**sub_config(cfg, "text_config"), "model_type": "gemma4_text"}
    text = with_top_level(text, cfg)
    spec = _gemma4_text(text, name)
    return replace(spec, family="gemma4", vision=gemma4_towers(cfg, spec.hidden_size))


BUILDERS: dict[str, Builder] = {
    "gemma4_text": _gemma4_text,
    "gemma4": _gemma4,
}

"""Hybrids of gated delta-net linear attention and gated full attention: qwen3_next (Qwen3-Next, MoE) and the
Qwen 3.5 models (``qwen3_5_text`` dense, ``qwen3_5_moe_text`` MoE, and ``qwen3_5`` / ``qwen3_5_moe``: the text
model, with the vision tower described but, as AutoModelForCausalLM builds it, not counted).

``layer_types`` says which layers are ``linear_attention`` (default: three of every four, from
``full_attention_interval``); the full-attention layers have per-head q/k RMSNorm and a q_proj twice as wide (the
queries and a sigmoid output gate). Every layer has a dense MLP (qwen3_5_text) or a routed-expert block with one
gated shared expert (qwen3_next: unless in ``mlp_only_layers`` or off ``decoder_sparse_step``; qwen3_5_moe: all).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ...errors import ConfigError
from ...spec import (
    AttentionSpec,
    LayerSpec,
    LinearAttentionSpec,
    MLPSpec,
    ModelSpec,
    MoESpec,
    ShortConvSpec,
    VisionSpec,
)
from .common import Builder, Config, act, build_model, get_bool, get_int, layer_count, sub_config, with_top_level
from .dense_recent import with_defaults

__all__ = ["BUILDERS", "qwen_vision_tokens"]

_LINEAR_DEFAULTS: dict[str, Any] = {
    "head_dim": 256, "linear_conv_kernel_dim": 4, "linear_key_head_dim": 128, "linear_value_head_dim": 128,
    "linear_num_key_heads": 16, "linear_num_value_heads": 32,
}
_MOE_DEFAULTS: dict[str, Any] = {"moe_intermediate_size": 512, "shared_expert_intermediate_size": 512}


def _layer_types(cfg: Config, n: int) -> list[str]:
    types = cfg.get("layer_types")
    if isinstance(types, list):
        if len(types) != n or set(types) - {"linear_attention", "full_attention"}:
            raise ConfigError(f"config.json 'layer_types' must list {n} entries of 'linear_attention' or "
                              "'full_attention'")
        return [str(t) for t in types]
    interval = get_int(cfg, "full_attention_interval", 4)
    return ["linear_attention" if (i + 1) % interval else "full_attention" for i in range(n)]


def _hybrid(cfg: Config, name: str, ffn_at: Any, split_proj: bool = True) -> ModelSpec:
    h, n = get_int(cfg, "hidden_size"), layer_count(cfg)
    heads = get_int(cfg, "num_attention_heads")
    kv = get_int(cfg, "num_key_value_heads", heads, maximum=heads)
    bias = get_bool(cfg, "attention_bias", False)
    attn = AttentionSpec(heads, kv, get_int(cfg, "head_dim"), qkv_bias=bias, o_bias=bias, qk_norm="head",
                         output_gate=True)
    linear = LinearAttentionSpec(get_int(cfg, "linear_num_key_heads"), get_int(cfg, "linear_num_value_heads"),
                                 get_int(cfg, "linear_key_head_dim"), get_int(cfg, "linear_value_head_dim"),
                                 get_int(cfg, "linear_conv_kernel_dim"), split_proj=split_proj)
    distinct: dict[tuple[str, int], LayerSpec] = {}
    layers = []
    for i, kind in enumerate(_layer_types(cfg, n)):
        mlp, moe = ffn_at(i)
        key = (kind, id(moe))
        if key not in distinct:
            if kind == "linear_attention":
                distinct[key] = LayerSpec("linear_attention", linear=linear, mlp=mlp, moe=moe)
            else:
                distinct[key] = LayerSpec("attention", attn, mlp=mlp, moe=moe)
        layers.append(distinct[key])
    return build_model(cfg, name, h, layers)


def _routed(cfg: Config) -> MoESpec:
    return MoESpec(get_int(cfg, "num_experts"), get_int(cfg, "num_experts_per_tok"),
                   get_int(cfg, "moe_intermediate_size"), num_shared_experts=1,
                   shared_intermediate_size=get_int(cfg, "shared_expert_intermediate_size"), shared_expert_gate=True,
                   norm_topk_prob=get_bool(cfg, "norm_topk_prob", True))


def _qwen3_next(cfg: Config, name: str) -> ModelSpec:
    cfg = with_defaults(cfg, {**_LINEAR_DEFAULTS, **_MOE_DEFAULTS, "num_experts": 512, "num_experts_per_tok": 10})
    moe = _routed(cfg)
    dense = MLPSpec(get_int(cfg, "intermediate_size"), "gated", False, act(cfg))
    step = get_int(cfg, "decoder_sparse_step", 1)
    only = cfg.get("mlp_only_layers") or []
    if not isinstance(only, list):
        raise ConfigError(f"config.json field 'mlp_only_layers' = {only!r} must be a list of layer indices")
    return _hybrid(cfg, name, lambda i: (None, moe) if i not in only and (i + 1) % step == 0 else (dense, None),
                   split_proj=False)  # Qwen3NextGatedDeltaNet: in_proj_qkvz and in_proj_ba, fused


def _qwen3_5_text(cfg: Config, name: str) -> ModelSpec:
    cfg = with_defaults(cfg, _LINEAR_DEFAULTS)
    dense = MLPSpec(get_int(cfg, "intermediate_size"), "gated", False, act(cfg))
    return _hybrid(cfg, name, lambda i: (dense, None))


def _qwen3_5_moe_text(cfg: Config, name: str) -> ModelSpec:
    cfg = with_defaults(cfg, {**_LINEAR_DEFAULTS, **_MOE_DEFAULTS, "num_experts": 256, "num_experts_per_tok": 8})
    moe = _routed(cfg)
    return _hybrid(cfg, name, lambda i: (None, moe))


_VISION_DEFAULTS: dict[str, Any] = {"depth": 27, "hidden_size": 1152, "intermediate_size": 4304, "num_heads": 16,
                                    "in_channels": 3, "patch_size": 16, "spatial_merge_size": 2,
                                    "temporal_patch_size": 2, "out_hidden_size": 3584,
                                    "num_position_embeddings": 2304}


def qwen_vision_tokens(height: int, width: int, patch: int, merge: int) -> int:
    """Text tokens one image adds: one per merged patch, (H / (patch·merge)) × (W / (patch·merge)), the sides
    rounded to whole merged patches (Qwen's processor resizes to multiples of patch·merge)."""
    side = patch * merge
    return max(1, round(height / side)) * max(1, round(width / side))


def _qwen3_5_vision(v: Config) -> VisionSpec:
    """Qwen 3.5's vision tower (``Qwen3_5VisionModel``): a Conv3d patch embedding with bias, learned position
    embeddings, ``depth`` blocks (two LayerNorms, fused qkv and proj with biases, an MLP with biases) and the patch
    merger (LayerNorm, (d·m²)² and (out, d·m²) linears with biases)."""
    v = with_defaults(v, _VISION_DEFAULTS)
    d, inter, depth = get_int(v, "hidden_size"), get_int(v, "intermediate_size"), get_int(v, "depth")
    p, t, c = get_int(v, "patch_size"), get_int(v, "temporal_patch_size"), get_int(v, "in_channels")
    m, out = get_int(v, "spatial_merge_size"), get_int(v, "out_hidden_size")
    hs = d * m * m
    total = (d * c * t * p * p + d + get_int(v, "num_position_embeddings") * d
             + depth * (4 * d * d + 2 * d * inter + 9 * d + inter) + 2 * d + hs * hs + hs + out * hs + out)
    return VisionSpec(parameters=total, hidden_size=d, num_layers=depth, intermediate_size=inter,
                      num_heads=get_int(v, "num_heads"), patch_size=p, num_channels=c, projector_dim=out,
                      tokens_per_image=qwen_vision_tokens(1024, 1024, p, m),
                      description=f"Qwen 3.5 vision tower + patch merger; an image of H × W px adds "
                                  f"(H/{p * m}) × (W/{p * m}) tokens (1,024 × 1,024 px: "
                                  f"{qwen_vision_tokens(1024, 1024, p, m):,})")


def _qwen3_5_multimodal(cfg: Config, name: str, text_builder: Builder, family: str) -> ModelSpec:
    text = dict(sub_config(cfg, "text_config"))
    text = with_top_level(text, cfg)
    spec = text_builder(text, name)
    # transformers' AutoModelForCausalLM (memfit's reference) builds the text model only for qwen3_5 and
    # qwen3_5_moe: the tower is described (image tokens) but its parameters are not counted
    vision = _qwen3_5_vision(sub_config(cfg, "vision_config"))
    note = (f"; its {vision.parameters:,} parameters are not counted (AutoModelForCausalLM builds the text model; "
            "an image-text-to-text load adds them)")
    return replace(spec, family=family, vision=replace(vision, parameters=0, description=vision.description + note))


def _lfm2(cfg: Config, name: str) -> ModelSpec:
    """LFM2: gated short-convolution layers and GQA layers (per-head q/k RMSNorm) from ``layer_types`` (or
    ``full_attn_idxs``); the feed-forward width is adjusted as ``Lfm2MLP`` does (2/3, the multiplier, rounded up to
    ``block_multiple_of``); ``block_ff_dim`` and ``tie_embedding`` are the Hub spellings."""
    cfg = with_defaults(cfg, {"conv_L_cache": 3, "block_multiple_of": 256, "block_ffn_dim_multiplier": 1.0,
                              "block_auto_adjust_ff_dim": True})
    if cfg.get("block_ff_dim") is not None:
        cfg = {**cfg, "intermediate_size": cfg["block_ff_dim"]}
    if cfg.get("tie_embedding") is not None:
        cfg = {**cfg, "tie_word_embeddings": cfg["tie_embedding"]}
    h, n = get_int(cfg, "hidden_size"), layer_count(cfg)
    inter = get_int(cfg, "intermediate_size")
    if get_bool(cfg, "block_auto_adjust_ff_dim", True):
        inter = int(2 * inter / 3)
        if cfg.get("block_ffn_dim_multiplier") is not None:
            inter = int(float(cfg["block_ffn_dim_multiplier"]) * inter)
            step = get_int(cfg, "block_multiple_of")
            inter = step * ((inter + step - 1) // step)
    types = cfg.get("layer_types")
    if not isinstance(types, list):
        full = cfg.get("full_attn_idxs")
        full_set = set(full) if isinstance(full, list) else set(range(n))
        types = ["full_attention" if i in full_set else "conv" for i in range(n)]
    if len(types) != n:
        raise ConfigError(f"config.json 'layer_types' lists {len(types)} layers but num_hidden_layers is {n}")
    heads = get_int(cfg, "num_attention_heads")
    attn = AttentionSpec(heads, get_int(cfg, "num_key_value_heads", heads, maximum=heads), h // heads, qk_norm="head")
    mlp = MLPSpec(inter, "gated", False, "silu")
    conv = LayerSpec("short_conv", conv=ShortConvSpec(get_int(cfg, "conv_L_cache"), get_bool(cfg, "conv_bias", False)),
                     mlp=mlp)
    full_layer = LayerSpec("attention", attn, mlp=mlp)
    layers = [conv if t == "conv" else full_layer for t in types]
    return build_model(cfg, name, h, layers, tie=True)


def _lfm3(cfg: Config, name: str) -> ModelSpec:
    """LFM3 (transformers 5.25 ``models/lfm3/modeling_lfm3.py``): LFM2's gated short-convolution layers
    (``Lfm3ShortConv``, ``conv_L_cache`` taps) beside full and sliding-window GQA layers (``layer_types``:
    ``conv``, ``full_attention``, ``sliding_attention``; ``Lfm3Attention``: per-head q/k RMSNorm and, with
    ``use_attention_gate``, a ``g_proj`` Linear(hidden, heads) whose sigmoid scales each head's output). Unlike
    LFM2, ``Lfm3MLP`` is ``intermediate_size`` wide as given, and with ``use_sandwich_norm`` every block has four
    norms (``operator_norm`` / ``post_operator_norm`` around the mixer, ``ffn_norm`` / ``post_ffn_norm`` around
    the MLP, ``Lfm3DecoderLayer.forward``)."""
    h, n = get_int(cfg, "hidden_size"), layer_count(cfg)
    types = cfg.get("layer_types")
    if not isinstance(types, list) or len(types) != n:
        raise ConfigError(f"config.json 'layer_types' must list the {n} layers' types (conv, full_attention, "
                          "sliding_attention)")
    heads = get_int(cfg, "num_attention_heads")
    kv = get_int(cfg, "num_key_value_heads", heads, maximum=heads)
    hd = get_int(cfg, "head_dim", h // heads)
    window = get_int(cfg, "sliding_window", 0)
    sandwich = get_bool(cfg, "use_sandwich_norm", True)
    norms = {"norms": 4, "norm_layout": "sandwich"} if sandwich else {}
    gate = (("self_attn.g_proj.weight", (heads, h)),) if get_bool(cfg, "use_attention_gate", True) else ()
    mlp = MLPSpec(get_int(cfg, "intermediate_size"), "gated", False, "silu")
    bias = get_bool(cfg, "attention_bias", False)
    conv = LayerSpec("short_conv", conv=ShortConvSpec(get_int(cfg, "conv_L_cache"), get_bool(cfg, "conv_bias", False)),
                     mlp=mlp, **norms)  # type: ignore[arg-type]
    layers = []
    for t in types:
        if t == "conv":
            layers.append(conv)
            continue
        attn = AttentionSpec(heads, kv, hd, qkv_bias=bias, o_bias=bias, qk_norm="head",
                             sliding_window=window if t == "sliding_attention" and window else None)
        layers.append(LayerSpec("attention", attn, mlp=mlp, extra=gate, **norms))  # type: ignore[arg-type]
    return build_model(cfg, name, h, layers, tie=True)


BUILDERS: dict[str, Builder] = {
    "lfm2": _lfm2,
    "lfm3": _lfm3,
    "qwen3_5": lambda cfg, name: _qwen3_5_multimodal(cfg, name, _qwen3_5_text, "qwen3_5"),
    "qwen3_5_moe": lambda cfg, name: _qwen3_5_multimodal(cfg, name, _qwen3_5_moe_text, "qwen3_5_moe"),
    "qwen3_5_moe_text": _qwen3_5_moe_text,
    "qwen3_5_text": _qwen3_5_text,
    "qwen3_next": _qwen3_next,
}

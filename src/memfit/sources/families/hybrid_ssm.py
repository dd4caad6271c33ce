"""Mamba hybrids: Mamba-2 mixers beside attention (nemotron_h, granitemoehybrid, bamba, falcon_h1) and Jamba's
Mamba-1 mixers beside attention and MoE.

* ``nemotron_h`` (Nemotron-H, Nemotron Nano 2, Nemotron 3 Nano): one mixer per block, one RMSNorm: Mamba-2
  (``M``), attention without RoPE (``*``), a squared-ReLU MLP (``-``) or a squared-ReLU MoE with a shared expert
  (``E``), from ``hybrid_override_pattern`` or ``layers_block_type``; the Mamba width is heads × head_dim.
* ``granitemoehybrid`` (Granite 4.0 H): Mamba-2 or attention (``layer_types``), then a routed MoE (none when
  ``num_local_experts`` is 0) and the shared gated MLP (``shared_intermediate_size``, gate and up fused in
  ``input_linear``); RoPE only when ``position_embedding_type`` is ``rope``.
* ``bamba``: Mamba-2 or attention (``attn_layer_indices``), then a gated MLP.
* ``falcon_h1``: attention and Mamba-2 side by side in every block (both read the same normed input), then a gated
  MLP; the Mamba width is ``mamba_d_ssm``, its gated norm only with ``mamba_rms_norm``.
* ``jamba``: Mamba-1 (with RMSNorms over dt, B, C) or attention without RoPE every ``attn_layer_period``, a routed
  MoE every ``expert_layer_period`` (else a gated MLP).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from ...errors import ConfigError
from ...spec import AttentionSpec, LayerSpec, MLPSpec, ModelSpec, MoESpec, SSMSpec
from .common import (
    MAX_LAYERS,
    Builder,
    Config,
    act,
    build_model,
    get_bool,
    get_float,
    get_int,
    head_dim,
    kv_heads,
    layer_count,
)
from .dense_recent import with_defaults

__all__ = ["BUILDERS", "DEFERRED"]

# transformers' legacy layer-type names (configuration_utils._LEGACY_LAYER_TYPE_REMAP)
_LEGACY = {"mamba": "linear_attention", "attention": "full_attention", "hybrid": "hybrid"}
_NEMOTRON_ALIASES = (("mamba_n_groups", "n_groups"), ("mamba_d_conv", "conv_kernel"),
                     ("mamba_conv_bias", "use_conv_bias"), ("mamba_chunk_size", "chunk_size"))
_PATTERN = {"M": "linear_attention", "E": "moe", "*": "full_attention", "-": "mlp"}


def _types(cfg: Config, keys: tuple[str, ...], allowed: set[str], n: int | None) -> list[str] | None:
    """The per-layer types listed under one of ``keys`` (legacy names remapped), or None when none is listed."""
    for key in keys:
        raw = cfg.get(key)
        if raw is None:
            continue
        if not isinstance(raw, list) or len(raw) > MAX_LAYERS:
            raise ConfigError(f"config.json field {key!r} must be a list of layer types")
        types = [_LEGACY.get(str(t), str(t)) for t in raw]
        if set(types) - allowed or (n is not None and len(types) != n):
            raise ConfigError(f"config.json field {key!r} must list {n if n is not None else 'the'} layers, each one "
                              f"of {', '.join(sorted(allowed))}")
        return types
    return None


def _mamba2(cfg: Config, h: int, inner: int, *, heads: str, hdim: str, state: str, conv: str, groups: str,
            conv_bias: str, proj_bias: str, **more: Any) -> SSMSpec:
    """A Mamba-2 mixer: in_proj to gate + conv channels (x, B, C) + dt per head, a depthwise conv, out_proj."""
    n_heads = get_int(cfg, heads)
    raw_hd = cfg.get(hdim)
    hd = inner // n_heads if raw_hd in (None, "auto") else get_int(cfg, hdim)
    return SSMSpec(inner, get_int(cfg, state), get_int(cfg, conv), num_heads=n_heads, head_dim=hd,
                   n_groups=get_int(cfg, groups), conv_bias=get_bool(cfg, conv_bias, True),
                   proj_bias=get_bool(cfg, proj_bias, False), chunk_size=get_int(cfg, "chunk_size", 256), **more)


def _attention(cfg: Config, h: int, *, bias: bool = False, hd: int | None = None) -> AttentionSpec:
    heads = get_int(cfg, "num_attention_heads")
    return AttentionSpec(heads, kv_heads(cfg, heads), hd or head_dim(cfg, h, heads), qkv_bias=bias, o_bias=bias)


def _nemotron_h(cfg: Config, name: str) -> ModelSpec:
    # transformers' NemotronHConfig: the mamba_* spellings, when given, win over the plain ones
    cfg = {**cfg, **{plain: cfg[alias] for alias, plain in _NEMOTRON_ALIASES if cfg.get(alias) is not None}}
    cfg = with_defaults(cfg, {
        "vocab_size": 131072, "num_attention_heads": 32, "num_key_value_heads": 8, "head_dim": 128,
        "intermediate_size": 21504, "ssm_state_size": 128, "mamba_num_heads": 128, "mamba_head_dim": 64,
        "n_groups": 8, "conv_kernel": 4, "use_conv_bias": True, "chunk_size": 128,
        "n_routed_experts": cfg.get("num_local_experts", 8), "num_experts_per_tok": 2, "moe_intermediate_size": 7688,
        "moe_shared_expert_intermediate_size": 7688, "n_group": 1, "topk_group": 1})
    h = get_int(cfg, "hidden_size", 4096)
    types = _types(cfg, ("layers_block_type", "layer_types"), set(_PATTERN.values()), None)
    if types is None and isinstance(cfg.get("hybrid_override_pattern"), str):
        pattern = str(cfg["hybrid_override_pattern"])
        if len(pattern) > MAX_LAYERS or set(pattern) - set(_PATTERN):
            raise ConfigError("config.json field 'hybrid_override_pattern' must be a string of M, E, * and - "
                              "(one per layer)")
        types = [_PATTERN[c] for c in pattern]
    if types is None:
        types = ["linear_attention", "moe", "full_attention", "mlp"]
    heads = get_int(cfg, "mamba_num_heads")
    ssm = _mamba2(cfg, h, heads * get_int(cfg, "mamba_head_dim"), heads="mamba_num_heads", hdim="mamba_head_dim",
                  state="ssm_state_size", conv="conv_kernel", groups="n_groups", conv_bias="use_conv_bias",
                  proj_bias="use_bias")
    mlp_act = str(cfg.get("mlp_hidden_act") or "relu2")
    mlp_bias = get_bool(cfg, "mlp_bias", False)
    moe = MoESpec(get_int(cfg, "n_routed_experts"), get_int(cfg, "num_experts_per_tok"),
                  get_int(cfg, "moe_intermediate_size"), num_shared_experts=1,
                  shared_intermediate_size=get_int(cfg, "moe_shared_expert_intermediate_size"),
                  score_correction_bias=True, kind="plain", norm_topk_prob=get_bool(cfg, "norm_topk_prob", True),
                  num_groups=get_int(cfg, "n_group"), topk_group=get_int(cfg, "topk_group"))
    blocks = {
        "linear_attention": LayerSpec("mamba2", ssm=ssm, norms=1, norm_layout="parallel"),
        "full_attention": LayerSpec("attention", _attention(cfg, h), norms=1, norm_layout="parallel"),
        "mlp": LayerSpec("attention", mlp=MLPSpec(get_int(cfg, "intermediate_size"), "plain", mlp_bias, mlp_act),
                         norms=1, norm_layout="parallel"),
        "moe": LayerSpec("attention", moe=moe, norms=1, norm_layout="parallel"),
    }
    return build_model(cfg, name, h, [blocks[t] for t in types], position="none")


def _granite_hybrid(cfg: Config, name: str) -> ModelSpec:
    cfg = with_defaults(cfg, {"vocab_size": 32000, "hidden_size": 4096, "intermediate_size": 11008,
                              "num_attention_heads": 32, "num_local_experts": 8, "num_experts_per_tok": 2,
                              "shared_intermediate_size": 1024, "mamba_n_heads": 128, "mamba_n_groups": 1,
                              "mamba_d_state": 256, "mamba_d_conv": 4, "mamba_chunk_size": 256})
    h, n = get_int(cfg, "hidden_size"), layer_count(cfg)
    inner = int(get_float(cfg, "mamba_expand", 2) * h)
    ssm = _mamba2({**cfg, "chunk_size": cfg["mamba_chunk_size"]}, h, inner, heads="mamba_n_heads",
                  hdim="mamba_d_head", state="mamba_d_state", conv="mamba_d_conv", groups="mamba_n_groups",
                  conv_bias="mamba_conv_bias", proj_bias="mamba_proj_bias")
    types = _types(cfg, ("layer_types", "layers_block_type"), {"linear_attention", "full_attention"}, n)
    shared = get_int(cfg, "shared_intermediate_size")
    experts = get_int(cfg, "num_local_experts", minimum=0)
    # the shared MLP (input_linear: gate and up fused, output_linear) runs in every block, after the routed experts
    mlp = MLPSpec(shared, "gated", False, act(cfg), fused_gate_up=True)
    moe = MoESpec(experts, get_int(cfg, "num_experts_per_tok"), get_int(cfg, "intermediate_size"),
                  norm_topk_prob=True) if experts else None
    rope = cfg.get("position_embedding_type") == "rope"
    attn = LayerSpec("attention", _attention(cfg, h, bias=get_bool(cfg, "attention_bias", False)), mlp=mlp, moe=moe)
    mamba = LayerSpec("mamba2", ssm=ssm, mlp=mlp, moe=moe)
    layers = [attn if t == "full_attention" else mamba for t in types or ["linear_attention"] * n]
    return build_model(cfg, name, h, layers, position="rope" if rope else "none")


def _bamba(cfg: Config, name: str) -> ModelSpec:
    cfg = with_defaults(cfg, {"vocab_size": 128000, "hidden_size": 4096, "intermediate_size": 14336,
                              "num_attention_heads": 32, "num_key_value_heads": 8, "mamba_n_heads": 128,
                              "mamba_n_groups": 1, "mamba_d_state": 256, "mamba_d_conv": 4, "mamba_chunk_size": 256})
    h, n = get_int(cfg, "hidden_size"), layer_count(cfg)
    ssm = _mamba2({**cfg, "chunk_size": cfg["mamba_chunk_size"]}, h, int(get_float(cfg, "mamba_expand", 2) * h),
                  heads="mamba_n_heads", hdim="mamba_d_head", state="mamba_d_state", conv="mamba_d_conv",
                  groups="mamba_n_groups", conv_bias="mamba_conv_bias", proj_bias="mamba_proj_bias")
    types = _types(cfg, ("layer_types", "layers_block_type"), {"linear_attention", "full_attention"}, n)
    if types is None:
        indices = cfg.get("attn_layer_indices") or []
        if not isinstance(indices, list):
            raise ConfigError("config.json field 'attn_layer_indices' must be a list of layer indices")
        types = ["full_attention" if i in indices else "linear_attention" for i in range(n)]
    bias = get_bool(cfg, "attention_bias", False)
    mlp = MLPSpec(get_int(cfg, "intermediate_size"), "gated", get_bool(cfg, "mlp_bias", False), act(cfg))
    attn = LayerSpec("attention", _attention(cfg, h, bias=bias), mlp=mlp)
    mamba = LayerSpec("mamba2", ssm=ssm, mlp=mlp)
    return build_model(cfg, name, h, [attn if t == "full_attention" else mamba for t in types])


def _falcon_h1(cfg: Config, name: str) -> ModelSpec:
    cfg = with_defaults(cfg, {"vocab_size": 128000, "hidden_size": 4096, "intermediate_size": 14336,
                              "num_attention_heads": 32, "num_key_value_heads": 8, "mamba_n_heads": 128,
                              "mamba_n_groups": 1, "mamba_d_state": 256, "mamba_d_conv": 4, "mamba_chunk_size": 256})
    h, n = get_int(cfg, "hidden_size"), layer_count(cfg)
    d_ssm = cfg.get("mamba_d_ssm", 1024)
    inner = int(get_float(cfg, "mamba_expand", 2) * h) if d_ssm is None else get_int(cfg, "mamba_d_ssm", 1024)
    ssm = _mamba2({**cfg, "chunk_size": cfg["mamba_chunk_size"]}, h, inner, heads="mamba_n_heads",
                  hdim="mamba_d_head", state="mamba_d_state", conv="mamba_d_conv", groups="mamba_n_groups",
                  conv_bias="mamba_conv_bias", proj_bias="mamba_proj_bias",
                  out_bias=get_bool(cfg, "projectors_bias", False), gated_norm=get_bool(cfg, "mamba_rms_norm", False))
    bias = get_bool(cfg, "attention_bias", False)
    mlp = MLPSpec(get_int(cfg, "intermediate_size"), "gated", get_bool(cfg, "mlp_bias", False), act(cfg))
    layer = LayerSpec("mamba2", _attention(cfg, h, bias=bias), ssm=ssm, mlp=mlp)
    return build_model(cfg, name, h, [layer] * n)


def _jamba(cfg: Config, name: str) -> ModelSpec:
    cfg = with_defaults(cfg, {"vocab_size": 65536, "hidden_size": 4096, "intermediate_size": 14336,
                              "num_attention_heads": 32, "num_key_value_heads": 8, "num_experts": 16,
                              "num_experts_per_tok": 2, "expert_layer_period": 2, "expert_layer_offset": 1,
                              "attn_layer_period": 8, "attn_layer_offset": 4, "mamba_d_state": 16, "mamba_d_conv": 4})
    h, n = get_int(cfg, "hidden_size"), layer_count(cfg)
    inner = int(get_float(cfg, "mamba_expand", 2) * h)
    rank = cfg.get("mamba_dt_rank", "auto")
    dt_rank = math.ceil(h / 16) if rank in ("auto", None) else get_int(cfg, "mamba_dt_rank")
    ssm = SSMSpec(inner, get_int(cfg, "mamba_d_state"), get_int(cfg, "mamba_d_conv"), dt_rank=dt_rank,
                  conv_bias=get_bool(cfg, "mamba_conv_bias", True), proj_bias=get_bool(cfg, "mamba_proj_bias", False),
                  inner_norms=True)
    attn = _attention(cfg, h)
    mlp = MLPSpec(get_int(cfg, "intermediate_size"), "gated", False, act(cfg))
    experts = get_int(cfg, "num_experts")
    moe = MoESpec(experts, get_int(cfg, "num_experts_per_tok", maximum=experts), get_int(cfg, "intermediate_size"))
    a_period, a_offset = get_int(cfg, "attn_layer_period"), get_int(cfg, "attn_layer_offset", minimum=0)
    e_period, e_offset = get_int(cfg, "expert_layer_period"), get_int(cfg, "expert_layer_offset", minimum=0)
    distinct: dict[tuple[bool, bool], LayerSpec] = {}
    layers = []
    for i in range(n):
        is_attn, is_moe = i % a_period == a_offset, experts > 1 and i % e_period == e_offset
        if (is_attn, is_moe) not in distinct:
            ffn = {"moe": moe} if is_moe else {"mlp": mlp}
            distinct[is_attn, is_moe] = (LayerSpec("attention", attn, **ffn) if is_attn
                                         else LayerSpec("mamba", ssm=ssm, **ffn))
        layers.append(distinct[is_attn, is_moe])
    return build_model(cfg, name, h, layers, position="none")


# configs a builder leaves to the generic path: Nemotron 3 Super's latent MoE (fc1/fc2 latent projections around
# experts of the latent width) is not described by the nemotron_h builder
DEFERRED: dict[str, Callable[[Config], bool]] = {"nemotron_h": lambda cfg: cfg.get("moe_latent_size") is not None}

BUILDERS: dict[str, Builder] = {
    "bamba": _bamba,
    "falcon_h1": _falcon_h1,
    "granitemoehybrid": _granite_hybrid,
    "jamba": _jamba,
    "nemotron_h": _nemotron_h,
}

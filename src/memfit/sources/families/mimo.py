"""MiMo-V2-Flash (transformers 5.25 ``mimo_v2_flash``): full-attention and sliding-window layers per ``layer_types``
with different K/V widths — a sliding layer has twice ``num_key_value_heads`` and a per-head sink logit
(``MiMoV2FlashAttention``), both kinds ``head_dim`` for q/k and ``v_head_dim`` for v — and DeepSeek-V3's MoE without
shared experts (fp32 sigmoid router with ``e_score_correction_bias``, group-limited top-k) on the ``sparse`` layers of
``mlp_layer_types``, a gated MLP on the ``dense`` ones."""

from __future__ import annotations

from ...errors import ConfigError
from ...spec import AttentionSpec, LayerSpec, MLPSpec, ModelSpec, MoESpec
from .common import Builder, Config, act, build_model, get_bool, get_int, layer_count

__all__ = ["BUILDERS"]


def _types(cfg: Config, key: str, n: int, allowed: set[str], default: list[str]) -> list[str]:
    value = cfg.get(key)
    if value is None:
        return default
    if not isinstance(value, list) or len(value) != n or not set(map(str, value)) <= allowed:
        raise ConfigError(f"config.json '{key}' = {str(value)[:80]} must list one of {sorted(allowed)} for each of "
                          f"the {n} layers")
    return [str(v) for v in value]


def _mimo_v2_flash(cfg: Config, name: str) -> ModelSpec:
    h, n = get_int(cfg, "hidden_size"), layer_count(cfg)
    heads, kv = get_int(cfg, "num_attention_heads"), get_int(cfg, "num_key_value_heads")
    hd, vd = get_int(cfg, "head_dim", 192), get_int(cfg, "v_head_dim", 128)
    bias = get_bool(cfg, "attention_bias", False)
    full = AttentionSpec(heads, kv, hd, v_head_dim=vd, qkv_bias=bias)
    swa = AttentionSpec(heads, 2 * kv, hd, v_head_dim=vd, qkv_bias=bias,
                        sliding_window=get_int(cfg, "sliding_window", 129), sinks=True)
    moe = MoESpec(get_int(cfg, "n_routed_experts", 256), get_int(cfg, "num_experts_per_tok", 8),
                  get_int(cfg, "moe_intermediate_size", 2048), score_correction_bias=True,
                  norm_topk_prob=get_bool(cfg, "norm_topk_prob", True), num_groups=get_int(cfg, "n_group", 1),
                  topk_group=get_int(cfg, "topk_group", 1))
    mlp = MLPSpec(get_int(cfg, "intermediate_size"), "gated", False, act(cfg))
    kinds = _types(cfg, "layer_types", n, {"full_attention", "sliding_attention"},
                   ["full_attention" if i == 0 or (i + 1) % 6 == 0 else "sliding_attention" for i in range(n)])
    ffns = _types(cfg, "mlp_layer_types", n, {"dense", "sparse"}, ["dense"] + ["sparse"] * (n - 1))
    blocks: dict[tuple[str, str], LayerSpec] = {}  # identical blocks share one object
    for kind, ffn in zip(kinds, ffns, strict=True):
        if (kind, ffn) not in blocks:
            att = full if kind == "full_attention" else swa
            blocks[kind, ffn] = LayerSpec("attention", att, mlp=mlp if ffn == "dense" else None,
                                          moe=moe if ffn == "sparse" else None)
    return build_model(cfg, name, h, [blocks[k, f] for k, f in zip(kinds, ffns, strict=True)])


BUILDERS: dict[str, Builder] = {"mimo_v2_flash": _mimo_v2_flash}

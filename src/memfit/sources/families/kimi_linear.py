"""Kimi Linear (``kimi_linear``): Kimi delta attention (KDA) layers and multi-head latent attention layers, a
dense MLP in the first ``first_k_dense_replace`` layers (or ``mlp_layer_types``) and routed experts with one
shared expert after.

``layer_types`` lists the mixers; a Hub config gives them as ``linear_attn_config`` (1-indexed ``kda_layers`` and
``full_attn_layers``) with the KDA head count, head size and short-convolution kernel; transformers' default puts
full attention on every fourth layer from the fifth. The MLA layers have no q LoRA unless ``q_lora_rank`` is set.
"""

from __future__ import annotations

from typing import Any

from ...errors import ConfigError
from ...spec import AttentionSpec, LayerSpec, LinearAttentionSpec, MLPSpec, ModelSpec, MoESpec
from .common import Builder, Config, act, build_model, get_bool, get_int, layer_count, sub_config
from .dense_recent import with_defaults

__all__ = ["BUILDERS"]

_DEFAULTS: dict[str, Any] = {
    "vocab_size": 163840, "hidden_size": 2304, "intermediate_size": 9216, "moe_intermediate_size": 1024,
    "num_attention_heads": 32, "n_shared_experts": 1, "kv_lora_rank": 512, "qk_rope_head_dim": 64,
    "v_head_dim": 128, "qk_nope_head_dim": 128, "num_experts_per_tok": 8, "num_local_experts": 256,
    "linear_head_dim": 128, "linear_num_heads": 32, "linear_conv_kernel_dim": 4, "n_group": 1, "topk_group": 1,
}


def _types(cfg: Config, key: str, n: int, allowed: set[str], default: list[str]) -> list[str]:
    raw = cfg.get(key)
    if raw is None:
        return default
    if not isinstance(raw, list) or len(raw) != n or set(map(str, raw)) - allowed:
        raise ConfigError(f"config.json field {key!r} must list {n} entries, each one of {', '.join(sorted(allowed))}")
    return [str(t) for t in raw]


# BailingHybridConfig's defaults (transformers 5.25 configuration_bailing_hybrid.py)
_BAILING_DEFAULTS: dict[str, Any] = {
    "vocab_size": 157184, "hidden_size": 2560, "intermediate_size": 6144, "moe_intermediate_size": 768,
    "num_attention_heads": 32, "n_shared_experts": 1, "kv_lora_rank": 512, "qk_rope_head_dim": 64,
    "v_head_dim": 128, "qk_nope_head_dim": 128, "num_experts_per_tok": 8, "num_local_experts": 512,
    "linear_head_dim": 128, "linear_num_heads": 32, "linear_conv_kernel_dim": 4, "n_group": 8, "topk_group": 4,
    "first_k_dense_replace": 2,
}


# the Hub file's spellings -> transformers' names (KimiLinearConfig.attribute_map)
_ALIASES = (("num_experts", "num_local_experts"), ("num_experts_per_token", "num_experts_per_tok"),
            ("num_shared_experts", "n_shared_experts"), ("moe_renormalize", "norm_topk_prob"),
            ("num_expert_group", "n_group"))


def _kimi_linear(cfg: Config, name: str) -> ModelSpec:
    return _kda_mla_moe(with_defaults({**cfg, **{tf: cfg[hub] for hub, tf in _ALIASES if cfg.get(hub) is not None}},
                                      _DEFAULTS), name, bailing=False)


def _bailing_hybrid(cfg: Config, name: str) -> ModelSpec:
    """Ling 3 (transformers 5.25 ``modeling_bailing_hybrid.py``): Kimi Linear's layout (KDA and MLA mixers, DeepSeek-
    routed experts after ``first_k_dense_replace`` dense layers, one shared expert on the residual) with the config's
    own spellings (``BailingHybridConfig.attribute_map``: num_experts, num_experts_per_token, num_shared_experts,
    moe_renormalize, num_expert_group), full-rank KDA gates (``BailingHybridForgetGate.f_proj``,
    ``BailingHybridDeltaAttention.g_proj``) and a head-wise output gate on the MLA layers
    (``BailingHybridAttention.g_proj``: hidden → heads); its default puts full attention on every sixth layer."""
    cfg = {**cfg, **{tf: cfg[hub] for hub, tf in _ALIASES if cfg.get(hub) is not None}}
    return _kda_mla_moe(with_defaults(cfg, _BAILING_DEFAULTS), name, bailing=True)


def _kda_mla_moe(cfg: Config, name: str, bailing: bool) -> ModelSpec:
    lin = sub_config(cfg, "linear_attn_config")
    h, n = get_int(cfg, "hidden_size"), layer_count(cfg)
    every = get_int(cfg, "layer_group_size", 6) if bailing else 4
    default = ["full_attention" if (i + 1 if bailing else i) % every == 0 and (bailing or i) else "linear_attention"
               for i in range(n)]
    if cfg.get("layer_types") is None and "kda_layers" in lin and "full_attn_layers" in lin:
        full, kda = lin["full_attn_layers"], lin["kda_layers"]
        if not isinstance(full, list) or not isinstance(kda, list) or sorted([*full, *kda]) != list(range(1, n + 1)):
            raise ConfigError("config.json 'linear_attn_config' must list every layer (1-indexed) once, in "
                              "'kda_layers' or 'full_attn_layers'")
        default = ["full_attention" if i + 1 in full else "linear_attention" for i in range(n)]
    types = _types(cfg, "layer_types", n, {"full_attention", "linear_attention"}, default)
    first = get_int(cfg, "first_k_dense_replace", 1, minimum=0)
    ffn = _types(cfg, "mlp_layer_types", n, {"dense", "sparse"}, ["dense" if i < first else "sparse" for i in range(n)])
    heads = get_int(lin, "num_heads", get_int(cfg, "linear_num_heads"))
    d = get_int(lin, "head_dim", get_int(cfg, "linear_head_dim"))
    kda = LinearAttentionSpec(heads, heads, d, d, get_int(lin, "short_conv_kernel_size",
                                                          get_int(cfg, "linear_conv_kernel_dim")), kind="kda",
                              full_rank_gates=bailing)
    mla_heads, bias = get_int(cfg, "num_attention_heads"), get_bool(cfg, "attention_bias", False)
    nope, rope = get_int(cfg, "qk_nope_head_dim"), get_int(cfg, "qk_rope_head_dim")
    q_lora = cfg.get("q_lora_rank")
    mla = AttentionSpec(mla_heads, mla_heads, nope + rope, v_head_dim=get_int(cfg, "v_head_dim"), qkv_bias=bias,
                        q_lora_rank=None if q_lora is None else get_int(cfg, "q_lora_rank"),
                        kv_lora_rank=get_int(cfg, "kv_lora_rank"), qk_rope_head_dim=rope, qk_nope_head_dim=nope)
    experts = get_int(cfg, "num_local_experts")
    moe = MoESpec(experts, get_int(cfg, "num_experts_per_tok", maximum=experts), get_int(cfg, "moe_intermediate_size"),
                  num_shared_experts=get_int(cfg, "n_shared_experts", minimum=0), score_correction_bias=True,
                  norm_topk_prob=get_bool(cfg, "norm_topk_prob", True), num_groups=get_int(cfg, "n_group"),
                  topk_group=get_int(cfg, "topk_group"))
    mlp = MLPSpec(get_int(cfg, "intermediate_size"), "gated", False, act(cfg))
    blocks: dict[tuple[str, str], LayerSpec] = {}
    layers = []
    for t, f in zip(types, ffn, strict=True):
        if (t, f) not in blocks:
            part: dict[str, Any] = {"moe": moe} if f == "sparse" else {"mlp": mlp}
            gate = (("self_attn.g_proj.weight", (mla_heads, h)),) if bailing else ()
            blocks[t, f] = (LayerSpec("attention", mla, extra=gate, **part) if t == "full_attention"
                            else LayerSpec("linear_attention", linear=kda, **part))
        layers.append(blocks[t, f])
    return build_model(cfg, name, h, layers, position="none")


BUILDERS: dict[str, Builder] = {"kimi_linear": _kimi_linear, "bailing_hybrid": _bailing_hybrid}

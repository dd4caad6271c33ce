"""Recent mixture-of-experts families with ordinary attention: glm4_moe (GLM-4.5/4.6), ernie4_5_moe,
hunyuan_v1_moe, phimoe (Phi-3.5-MoE), minimax_m2.

Counts follow transformers 5.25's modules: experts stored as fused (experts, 2 × inter, hidden) gate/up and
(experts, hidden, inter) down tensors (the same numbers as separate gate/up); routers of experts × hidden (kept in
fp32 by glm4_moe, ernie4_5_moe and hunyuan_v1_moe: a few MB, priced at the model dtype here).
"""

from __future__ import annotations

from collections.abc import Mapping

from ...errors import ConfigError
from ...spec import MLPSpec, ModelSpec, MoESpec
from .common import Builder, Config, act, decoder, get_bool, get_int, get_opt_int, layer_count, rope_fraction
from .dense_recent import with_defaults

__all__ = ["BUILDERS"]


_GLM4_MOE_DEFAULTS = {"n_routed_experts": 128, "num_experts_per_tok": 8, "moe_intermediate_size": 1408,
                      "n_shared_experts": 1, "first_k_dense_replace": 1, "n_group": 1, "topk_group": 1}


def _glm4_moe(cfg: Config, name: str) -> ModelSpec:
    """GLM-4.5 / 4.6 (``glm4_moe``): the first ``first_k_dense_replace`` layers dense, then routed experts with
    sigmoid group-limited routing (a correction-bias buffer) and ``n_shared_experts`` shared ones; q/k/v biases
    (``attention_bias``), optional per-head q/k RMSNorm (``use_qk_norm``), partial RoPE. The multi-token-prediction
    layer (``num_nextn_predict_layers``) is not built by transformers and not counted."""
    cfg = with_defaults(cfg, _GLM4_MOE_DEFAULTS)
    moe = MoESpec(get_int(cfg, "n_routed_experts"), get_int(cfg, "num_experts_per_tok"),
                  get_int(cfg, "moe_intermediate_size"), num_shared_experts=get_int(cfg, "n_shared_experts", minimum=0),
                  score_correction_bias=True, norm_topk_prob=get_bool(cfg, "norm_topk_prob", True),
                  num_groups=get_int(cfg, "n_group"), topk_group=get_int(cfg, "topk_group"))
    first = get_int(cfg, "first_k_dense_replace", minimum=0)
    h, heads = get_int(cfg, "hidden_size"), get_int(cfg, "num_attention_heads")
    hd = get_int(cfg, "head_dim", h // heads)  # transformers floors hidden / heads when head_dim is absent
    cfg = {**cfg, "head_dim": hd}
    return decoder(cfg, name, qkv_bias=get_bool(cfg, "attention_bias", False),
                   qk_norm="head" if get_bool(cfg, "use_qk_norm", False) else "none",
                   rope_dim=int(hd * rope_fraction(cfg, "partial_rotary_factor", 0.5)),
                   moe_at=lambda i: moe if i >= first else None,
                   mtp_layers=get_int(cfg, "num_nextn_predict_layers", 0, minimum=0))


_ERNIE_DEFAULTS = {"moe_num_experts": 64, "moe_k": 6, "moe_intermediate_size": 1536, "moe_num_shared_experts": 2,
                   "moe_layer_start_index": 1, "moe_layer_end_index": -1, "moe_layer_interval": 1}


def _ernie4_5_moe(cfg: Config, name: str) -> ModelSpec:
    """ERNIE 4.5 MoE: layers from ``moe_layer_start_index`` to ``moe_layer_end_index`` (−1: the last) on every
    ``moe_layer_interval``-th are sparse; the router's correction bias is a (1, experts) parameter; ``use_bias``
    puts biases on every projection (attention, MLPs, shared experts, lm_head). Embeddings tied by default."""
    cfg = with_defaults(cfg, _ERNIE_DEFAULTS)
    n = layer_count(cfg)
    bias = get_bool(cfg, "use_bias", False)
    moe = MoESpec(get_int(cfg, "moe_num_experts"), get_int(cfg, "moe_k"), get_int(cfg, "moe_intermediate_size"),
                  num_shared_experts=get_int(cfg, "moe_num_shared_experts", minimum=0), score_correction_bias=True,
                  score_bias_parameter=True, shared_expert_bias=bias, norm_topk_prob=True)
    start = get_int(cfg, "moe_layer_start_index", minimum=0)
    end_raw = cfg.get("moe_layer_end_index")
    end = n - 1 if end_raw == -1 else get_int(cfg, "moe_layer_end_index", minimum=0)
    step = get_int(cfg, "moe_layer_interval")
    mlp = MLPSpec(get_int(cfg, "intermediate_size"), "gated", bias, act(cfg))
    return decoder(cfg, name, qkv_bias=bias, o_bias=bias, mlp=mlp, tie=True, lm_head_bias=bias,
                   moe_at=lambda i: moe if (i + 1) % step == 0 and start <= i <= end else None)


def _per_layer(cfg: Config, key: str, n_layers: int) -> list[int]:
    """An integer field that may also be a per-layer list (hunyuan ``moe_topk``)."""
    value = cfg.get(key)
    if isinstance(value, list):
        if len(value) != n_layers:
            raise ConfigError(f"config.json field {key!r} lists {len(value)} values for {n_layers} layers: "
                              "give one per layer or a single integer")
        return [get_int({key: v}, key) for v in value]
    return [get_int(cfg, key)] * n_layers


def _hunyuan_v1_moe(cfg: Config, name: str) -> ModelSpec:
    """Hunyuan-A13B (``hunyuan_v1_moe``): every layer has ``num_experts`` routed experts and one shared MLP, all of
    ``intermediate_size``; top-k may be given per layer; per-head q/k RMSNorm."""
    cfg = with_defaults(cfg, {"num_experts": 1, "moe_topk": 1})
    if isinstance(cfg.get("num_experts"), list):
        raise ConfigError("config.json 'num_experts' is a per-layer list: transformers 5.25 builds hunyuan_v1_moe "
                          "experts from one integer; give one")
    n = layer_count(cfg)
    inter, experts = get_int(cfg, "intermediate_size"), get_int(cfg, "num_experts")
    by_k = {k: MoESpec(experts, k, inter, num_shared_experts=1, norm_topk_prob=True)
            for k in set(_per_layer(cfg, "moe_topk", n))}
    top_k = _per_layer(cfg, "moe_topk", n)
    bias = get_bool(cfg, "attention_bias", False)
    return decoder(cfg, name, qkv_bias=bias, o_bias=bias, qk_norm="head", moe_at=lambda i: by_k[top_k[i]])


def _phimoe(cfg: Config, name: str) -> ModelSpec:
    """Phi-3.5-MoE (``phimoe``): LayerNorms with bias, ``num_local_experts`` experts of ``intermediate_size`` on
    every layer, optional attention and lm_head biases."""
    cfg = with_defaults(cfg, {"num_local_experts": 16, "num_experts_per_tok": 2})
    moe = MoESpec(get_int(cfg, "num_local_experts"), get_int(cfg, "num_experts_per_tok"),
                  get_int(cfg, "intermediate_size"))
    bias = get_bool(cfg, "attention_bias", False)
    rope = next((r for r in (cfg.get("rope_parameters"), cfg.get("rope_scaling")) if isinstance(r, Mapping)), {})
    # LongRoPE's switch point: generate() drops the cache when crossing it (as Phi-3 does)
    original = get_opt_int(cfg, "original_max_position_embeddings") or get_opt_int(
        rope, "original_max_position_embeddings") or 0
    return decoder(cfg, name, qkv_bias=bias, o_bias=bias, norm="layernorm", moe_at=lambda i: moe,
                   lm_head_bias=get_bool(cfg, "lm_head_bias", False), original_max_position_embeddings=original)


def _minimax_m2(cfg: Config, name: str) -> ModelSpec:
    """MiniMax-M2: every layer sparse (``num_local_experts`` of ``intermediate_size``, sigmoid routing with a
    correction-bias buffer), q/k RMSNorm over all heads, partial RoPE (``rotary_dim``), head_dim 128."""
    cfg = with_defaults(cfg, {"num_local_experts": 256, "num_experts_per_tok": 8, "head_dim": 128})
    moe = MoESpec(get_int(cfg, "num_local_experts"), get_int(cfg, "num_experts_per_tok"),
                  get_int(cfg, "intermediate_size"), score_correction_bias=True, norm_topk_prob=True)
    hd = get_int(cfg, "head_dim")
    rope = get_int(cfg, "rotary_dim", hd)
    return decoder(cfg, name, qk_norm="full", default_head_dim=128, moe_at=lambda i: moe, rope_dim=rope)


BUILDERS: dict[str, Builder] = {
    "ernie4_5_moe": _ernie4_5_moe,
    "glm4_moe": _glm4_moe,
    "hunyuan_v1_moe": _hunyuan_v1_moe,
    "minimax_m2": _minimax_m2,
    "phimoe": _phimoe,
}

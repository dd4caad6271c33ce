"""Mixture-of-experts families with ordinary attention: mixtral, qwen2_moe, qwen3_moe, olmoe, gpt-oss."""

from __future__ import annotations

from collections.abc import Callable

from ...errors import ConfigError
from ...spec import ModelSpec, MoESpec
from .common import Builder, Config, decoder, get_bool, get_int, layer_count, sliding_windows

__all__ = ["BUILDERS"]


def _sparse_at(cfg: Config, moe: MoESpec) -> Callable[[int], MoESpec | None]:
    """qwen2_moe / qwen3_moe: a layer is sparse unless listed in mlp_only_layers or off the sparse step."""
    step = get_int(cfg, "decoder_sparse_step", 1)
    only = cfg.get("mlp_only_layers") or []
    if not isinstance(only, list):
        raise ConfigError(f"config.json field 'mlp_only_layers' = {only!r} must be a list of layer indices")
    dense = set(only)
    return lambda i: moe if i not in dense and moe.num_experts > 0 and (i + 1) % step == 0 else None


def _experts(cfg: Config, default: int) -> int:
    """``num_experts``, or ``num_local_experts``: transformers 5 saves a qwen3_moe config under the second name
    (``Qwen3MoeConfig.attribute_map``: ``num_experts`` is an alias, null in ``to_dict()``)."""
    key = "num_experts" if cfg.get("num_experts") is not None else "num_local_experts"
    return get_int(cfg, key, default)


def _qwen2_moe(cfg: Config, name: str) -> ModelSpec:
    moe = MoESpec(_experts(cfg, 60), get_int(cfg, "num_experts_per_tok", 4),
                  get_int(cfg, "moe_intermediate_size", 1408), num_shared_experts=1,
                  shared_intermediate_size=get_int(cfg, "shared_expert_intermediate_size", 5632),
                  shared_expert_gate=True, norm_topk_prob=get_bool(cfg, "norm_topk_prob", False))
    windows = sliding_windows(cfg, layer_count(cfg), from_layer=get_int(cfg, "max_window_layers", 28, minimum=0))
    return decoder(cfg, name, qkv_bias=get_bool(cfg, "qkv_bias", True), windows=windows,
                    moe_at=_sparse_at(cfg, moe))


def _qwen3_moe(cfg: Config, name: str) -> ModelSpec:
    bias = get_bool(cfg, "attention_bias", False)
    moe = MoESpec(_experts(cfg, 128), get_int(cfg, "num_experts_per_tok", 8),
                  get_int(cfg, "moe_intermediate_size", 768), norm_topk_prob=get_bool(cfg, "norm_topk_prob", False))
    windows = sliding_windows(cfg, layer_count(cfg), from_layer=get_int(cfg, "max_window_layers", 28, minimum=0))
    return decoder(cfg, name, qkv_bias=bias, o_bias=bias, qk_norm="head", windows=windows,
                    moe_at=_sparse_at(cfg, moe))


def _mixtral(cfg: Config, name: str) -> ModelSpec:
    moe = MoESpec(get_int(cfg, "num_local_experts", 8), get_int(cfg, "num_experts_per_tok", 2),
                  get_int(cfg, "intermediate_size"), norm_topk_prob=True)
    return decoder(cfg, name, moe_at=lambda i: moe)


def _olmoe(cfg: Config, name: str) -> ModelSpec:
    bias = get_bool(cfg, "attention_bias", False)
    moe = MoESpec(_experts(cfg, 64), get_int(cfg, "num_experts_per_tok", 8),
                  get_int(cfg, "intermediate_size"), norm_topk_prob=get_bool(cfg, "norm_topk_prob", False))
    return decoder(cfg, name, qkv_bias=bias, o_bias=bias, qk_norm="full", moe_at=lambda i: moe)


def _gpt_oss(cfg: Config, name: str) -> ModelSpec:
    bias = get_bool(cfg, "attention_bias", True)
    moe = MoESpec(get_int(cfg, "num_local_experts", 128), get_int(cfg, "num_experts_per_tok", 4),
                  get_int(cfg, "intermediate_size"), router_bias=True, expert_bias=True)
    n_layers = layer_count(cfg)
    return decoder(cfg, name, qkv_bias=bias, o_bias=bias, default_head_dim=64, moe_at=lambda i: moe, sinks=True,
                    windows=sliding_windows(cfg, n_layers, pattern=2))


BUILDERS: dict[str, Builder] = {
    "gpt_oss": _gpt_oss,
    "mixtral": _mixtral,
    "olmoe": _olmoe,
    "qwen2_moe": _qwen2_moe,
    "qwen3_moe": _qwen3_moe,
}

"""The llama-shaped dense families: llama, mistral, qwen2/3, gemma 1/2/3 (text), olmo2, phi, phi3, starcoder2,
stablelm."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ...spec import MLPSpec, ModelSpec
from .common import (
    Builder,
    Config,
    act,
    decoder,
    dropouts,
    gated,
    get_bool,
    get_int,
    get_opt_int,
    head_dim,
    layer_count,
    rope_fraction,
    sliding_windows,
)

__all__ = ["BUILDERS", "GEMMA3_TEXT_DEFAULTS", "gemma3_text"]


def _llama(cfg: Config, name: str) -> ModelSpec:
    bias = get_bool(cfg, "attention_bias", False)
    return decoder(cfg, name, qkv_bias=bias, o_bias=bias, mlp=gated(cfg, bias=get_bool(cfg, "mlp_bias", False)))


def _mistral(cfg: Config, name: str) -> ModelSpec:
    return decoder(cfg, name)


def _qwen2(cfg: Config, name: str) -> ModelSpec:
    windows = sliding_windows(cfg, layer_count(cfg), from_layer=get_int(cfg, "max_window_layers", 28, minimum=0))
    return decoder(cfg, name, qkv_bias=True, windows=windows)


def _qwen3(cfg: Config, name: str) -> ModelSpec:
    bias = get_bool(cfg, "attention_bias", False)
    windows = sliding_windows(cfg, layer_count(cfg), from_layer=get_int(cfg, "max_window_layers", 28, minimum=0))
    return decoder(cfg, name, qkv_bias=bias, o_bias=bias, qk_norm="head", windows=windows)


def _olmo2(cfg: Config, name: str) -> ModelSpec:
    bias = get_bool(cfg, "attention_bias", False)
    return decoder(cfg, name, qkv_bias=bias, o_bias=bias, qk_norm="full", layout="post")


def _gemma(cfg: Config, name: str) -> ModelSpec:
    bias = get_bool(cfg, "attention_bias", False)
    return decoder(cfg, name, qkv_bias=bias, o_bias=bias, tie=True, default_head_dim=256)


def _gemma2(cfg: Config, name: str) -> ModelSpec:
    bias = get_bool(cfg, "attention_bias", False)
    return decoder(cfg, name, qkv_bias=bias, o_bias=bias, tie=True, norms=4, layout="sandwich",
                    default_head_dim=256, windows=sliding_windows(cfg, layer_count(cfg), pattern=2))


GEMMA3_TEXT_DEFAULTS: dict[str, Any] = {  # Gemma3TextConfig's defaults; Hub gemma-3 configs rely on them
    "vocab_size": 262_208, "hidden_size": 2304, "intermediate_size": 9216, "num_hidden_layers": 26,
    "num_attention_heads": 8, "num_key_value_heads": 4, "head_dim": 256, "max_position_embeddings": 131_072,
    "sliding_window": 4096,
}


def gemma3_text(cfg: Config, name: str) -> ModelSpec:
    cfg = {**GEMMA3_TEXT_DEFAULTS, **{k: v for k, v in cfg.items() if v is not None}}
    bias = get_bool(cfg, "attention_bias", False)
    pattern = get_int(cfg, "sliding_window_pattern", get_int(cfg, "_sliding_window_pattern", 6))
    factor, local = _gemma3_rope(cfg)
    return decoder(cfg, name, qkv_bias=bias, o_bias=bias, qk_norm="head", tie=True, norms=4, layout="sandwich",
                    windows=sliding_windows(cfg, layer_count(cfg), pattern=pattern), rope_linear_factor=factor,
                    rope_local_base=local)


def _gemma3_rope(cfg: Config) -> tuple[float, bool]:
    """(linear RoPE factor of the global layers, whether the sliding layers have their own base) from a transformers
    4 config (rope_scaling, rope_local_base_freq) or a transformers 5 one (rope_parameters keyed by layer type)."""
    params, scaling = cfg.get("rope_parameters"), cfg.get("rope_scaling")
    by_type = isinstance(params, Mapping) and "full_attention" in params
    full = params.get("full_attention") if isinstance(params, Mapping) and by_type else (
        scaling if isinstance(scaling, Mapping) else params)
    factor = 1.0
    if isinstance(full, Mapping) and full.get("rope_type", full.get("type")) == "linear":
        raw = full.get("factor", 1.0)
        factor = float(raw) if isinstance(raw, (int, float)) and 1 <= raw <= 1024 else 1.0
    return factor, by_type or cfg.get("rope_local_base_freq") is not None


def _phi3(cfg: Config, name: str) -> ModelSpec:
    mlp = MLPSpec(get_int(cfg, "intermediate_size"), "gated", False, act(cfg), fused_gate_up=True)
    # Phi3Config always has original_max_position_embeddings (class default 4096), LongRoPE or not
    original = get_opt_int(cfg, "original_max_position_embeddings") or 4096
    return decoder(cfg, name, fused_qkv=True, mlp=mlp, original_max_position_embeddings=original)


def _starcoder2(cfg: Config, name: str) -> ModelSpec:
    bias = get_bool(cfg, "use_bias", True)
    mlp = MLPSpec(get_int(cfg, "intermediate_size"), "plain", bias, act(cfg, "gelu_pytorch_tanh"))
    return decoder(cfg, name, qkv_bias=bias, o_bias=bias, mlp=mlp, tie=True, norm="layernorm",
                    **dropouts(cfg, "embedding_dropout", "residual_dropout", "attention_dropout", 0.0))


def _stablelm(cfg: Config, name: str) -> ModelSpec:
    parallel = get_bool(cfg, "use_parallel_residual", False)
    h, heads = get_int(cfg, "hidden_size"), get_int(cfg, "num_attention_heads")
    rope = int(head_dim(cfg, h, heads) * rope_fraction(cfg, "partial_rotary_factor", 0.25))
    return decoder(cfg, name, qkv_bias=get_bool(cfg, "use_qkv_bias", False), norm="layernorm",
                    qk_norm="per_head_layernorm" if get_bool(cfg, "qk_layernorm", False) else "none",
                    norms=1 if parallel else 2, layout="parallel" if parallel else "pre", rope_dim=rope)


def _phi(cfg: Config, name: str) -> ModelSpec:
    h, heads = get_int(cfg, "hidden_size"), get_int(cfg, "num_attention_heads")
    rope = int(head_dim(cfg, h, heads) * rope_fraction(cfg, "partial_rotary_factor", 0.5))
    mlp = MLPSpec(get_int(cfg, "intermediate_size"), "plain", True, act(cfg, "gelu_new"))
    qk = get_bool(cfg, "qk_layernorm", False)
    return decoder(cfg, name, qkv_bias=True, o_bias=True, mlp=mlp, norms=1, layout="parallel", norm="layernorm",
                    qk_norm="head" if qk else "none", qk_norm_bias=qk, lm_head_bias=True, rope_dim=rope,
                    **dropouts(cfg, "embd_pdrop", "resid_pdrop", "attention_dropout", 0.0))


BUILDERS: dict[str, Builder] = {
    "gemma": _gemma,
    "gemma2": _gemma2,
    "gemma3_text": gemma3_text,
    "llama": _llama,
    "mistral": _mistral,
    "olmo2": _olmo2,
    "phi": _phi,
    "phi3": _phi3,
    "qwen2": _qwen2,
    "qwen3": _qwen3,
    "stablelm": _stablelm,
    "starcoder2": _starcoder2,
}

"""Hugging Face ``config.json`` → ``ModelSpec``, one builder per ``model_type``.

Every builder reads the same keys transformers reads for that family, with the same defaults,
so the tensor inventory equals what ``AutoModelForCausalLM.from_config`` builds.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from ..errors import ConfigError, UnknownModelError
from ..spec import AttentionSpec, LayerSpec, MLPSpec, ModelSpec

__all__ = ["SUPPORTED_FAMILIES", "spec_from_config"]

Config = Mapping[str, Any]
Builder = Callable[[Config, str], ModelSpec]

MAX_DIM = 10_000_000  # no real hidden size, vocab or intermediate size comes near this
MAX_LAYERS = 10_000


def get_int(cfg: Config, key: str, default: int | None = None, *, minimum: int = 1,
            maximum: int = MAX_DIM) -> int:
    """Read an integer field, with a clear error naming the field, the value and the rule."""
    value = cfg.get(key, default)
    if value is None:
        raise ConfigError(f"config.json has no {key!r}: add it (an integer ≥ {minimum}) or pick a catalog model")
    if isinstance(value, bool) or not isinstance(value, int | float) or int(value) != value:
        raise ConfigError(f"config.json field {key!r} = {value!r} must be an integer")
    if not minimum <= int(value) <= maximum:
        raise ConfigError(f"config.json field {key!r} = {value!r} must be between {minimum} and {maximum:,}")
    return int(value)


def get_opt_int(cfg: Config, key: str, *, minimum: int = 1) -> int | None:
    return None if cfg.get(key) is None else get_int(cfg, key, minimum=minimum)


def config_dtype(cfg: Config) -> str:
    d = cfg.get("torch_dtype") or cfg.get("dtype") or "float32"
    return str(d).removeprefix("torch.")


def head_dim(cfg: Config, hidden: int, heads: int) -> int:
    hd = cfg.get("head_dim")
    if hd is not None:
        return get_int(cfg, "head_dim")
    if hidden % heads:
        raise ConfigError(f"hidden_size {hidden} is not divisible by num_attention_heads {heads}; "
                          "set head_dim in config.json")
    return hidden // heads


def sliding_windows(cfg: Config, n_layers: int) -> list[int | None]:
    """Per-layer sliding window from ``layer_types`` / ``sliding_window`` (None = full attention)."""
    window = cfg.get("sliding_window")
    types = cfg.get("layer_types")
    if isinstance(types, list) and len(types) == n_layers:
        return [window if t == "sliding_attention" and window else None for t in types]
    if cfg.get("use_sliding_window") is False:
        return [None] * n_layers
    return [window if window else None] * n_layers


def _llama_like(cfg: Config, name: str, *, qkv_bias_key: str | None = "attention_bias",
                o_bias_follows: bool = True, qk_norm: str = "none", mlp_bias_key: str | None = "mlp_bias",
                norms: int = 2) -> ModelSpec:
    h = get_int(cfg, "hidden_size")
    n_layers = get_int(cfg, "num_hidden_layers", maximum=MAX_LAYERS)
    heads = get_int(cfg, "num_attention_heads")
    kv = get_int(cfg, "num_key_value_heads", heads)
    hd = head_dim(cfg, h, heads)
    bias = bool(cfg.get(qkv_bias_key, False)) if qkv_bias_key else False
    mlp = MLPSpec(get_int(cfg, "intermediate_size"), "gated",
                  bool(cfg.get(mlp_bias_key, False)) if mlp_bias_key else False,
                  str(cfg.get("hidden_act", "silu")))
    windows = sliding_windows(cfg, n_layers)
    layers = tuple(
        LayerSpec("attention", AttentionSpec(heads, kv, hd, sliding_window=w, qkv_bias=bias,
                                             o_bias=bias and o_bias_follows, qk_norm=qk_norm),  # type: ignore[arg-type]
                  mlp=mlp, norms=norms)
        for w in windows
    )
    return ModelSpec(
        name=name, family=str(cfg.get("model_type")), hidden_size=h, vocab_size=get_int(cfg, "vocab_size"),
        layers=layers, tie_word_embeddings=bool(cfg.get("tie_word_embeddings", False)),
        max_position_embeddings=int(cfg.get("max_position_embeddings") or 0), dtype=config_dtype(cfg),
    )


def _llama(cfg: Config, name: str) -> ModelSpec:
    return _llama_like(cfg, name)


def _qwen2(cfg: Config, name: str) -> ModelSpec:
    spec = _llama_like(cfg, name, qkv_bias_key=None, mlp_bias_key=None)
    layers = tuple(replace(layer, attention=replace(layer.attention, qkv_bias=True, o_bias=False))
                   for layer in spec.layers if layer.attention is not None)
    return replace(spec, layers=layers)


def _qwen3(cfg: Config, name: str) -> ModelSpec:
    return _llama_like(cfg, name, qk_norm="head", mlp_bias_key=None)


BUILDERS: dict[str, Builder] = {
    "llama": _llama,
    "mistral": lambda cfg, name: _llama_like(cfg, name, qkv_bias_key=None, mlp_bias_key=None),
    "qwen2": _qwen2,
    "qwen3": _qwen3,
}

SUPPORTED_FAMILIES: tuple[str, ...] = tuple(sorted(BUILDERS))


def spec_from_config(cfg: Config, name: str = "") -> ModelSpec:
    """Build the model description from a config.json dict.

    Raises UnknownModelError for a ``model_type`` memfit does not know, naming the supported ones.
    """
    if not isinstance(cfg, Mapping):
        raise ConfigError(f"config.json must hold a JSON object, not {type(cfg).__name__}")
    model_type = cfg.get("model_type")
    if not model_type:
        raise ConfigError("config.json has no 'model_type': add it (e.g. \"llama\") so memfit knows the family")
    builder = BUILDERS.get(str(model_type))
    if builder is None:
        raise UnknownModelError(
            f"model_type {model_type!r} is not supported; supported families: {', '.join(SUPPORTED_FAMILIES)}"
        )
    return builder(cfg, name or str(cfg.get("_name_or_path") or model_type))

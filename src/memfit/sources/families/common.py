"""What every family builder shares: the config field readers (each bad value names the field, the value and
the fix) and the two assemblers, ``build_model`` (a ``ModelSpec`` from per-layer specs) and ``decoder`` (the
llama-shaped block stack most families are).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ...errors import ConfigError
from ...spec import AttentionSpec, LayerSpec, MLPSpec, ModelSpec, MoESpec, NormKind, NormLayout

__all__ = ["MAX_DIM", "MAX_LAYERS", "Builder", "Config", "act", "build_model", "config_dtype", "decoder", "dropouts",
           "gated", "get_bool", "get_float", "get_int", "get_opt_int", "head_dim", "int_alias", "kv_heads",
           "layer_count", "rope_fraction", "sliding_windows", "sub_config"]

Config = Mapping[str, Any]
Builder = Callable[[Config, str], ModelSpec]

MAX_DIM = 10_000_000  # no real hidden size, vocab or intermediate size comes near this
MAX_LAYERS = 10_000


# ---------------------------------------------------------------------------------------------------------
# field readers: every bad value names the field, the value and the fix


def get_int(cfg: Config, key: str, default: int | None = None, *, minimum: int = 1,
            maximum: int = MAX_DIM) -> int:
    """Read an integer field, with a clear error naming the field, the value and the rule."""
    value = cfg.get(key, default)
    if value is None:
        value = default
    if value is None:
        raise ConfigError(f"config.json has no {key!r}: add it (an integer ≥ {minimum}) or pick a catalog model")
    if (isinstance(value, bool) or not isinstance(value, int | float)
            or (isinstance(value, float) and not math.isfinite(value)) or int(value) != value):
        raise ConfigError(f"config.json field {key!r} = {value!r} must be an integer")
    if not minimum <= int(value) <= maximum:
        raise ConfigError(f"config.json field {key!r} = {value!r} must be between {minimum} and {maximum:,}")
    return int(value)


def get_opt_int(cfg: Config, key: str, *, minimum: int = 1) -> int | None:
    """An optional integer field: None when absent or null."""
    return None if cfg.get(key) is None else get_int(cfg, key, minimum=minimum)


def int_alias(cfg: Config, keys: Sequence[str], default: int | None = None, *, minimum: int = 1,
               maximum: int = MAX_DIM) -> int:
    """The first of several spellings of one field (``hidden_size`` / ``n_embd`` / ``d_model``)."""
    for key in keys:
        if cfg.get(key) is not None:
            return get_int(cfg, key, minimum=minimum, maximum=maximum)
    if default is None:
        raise ConfigError(f"config.json has no {keys[0]!r} (nor {', '.join(repr(k) for k in keys[1:])}): "
                          f"add it (an integer ≥ {minimum}) or pick a catalog model")
    return default


def get_bool(cfg: Config, key: str, default: bool) -> bool:
    """A boolean field (absent or null: ``default``)."""
    value = cfg.get(key)
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise ConfigError(f"config.json field {key!r} = {value!r} must be true or false")


def dropouts(cfg: Config, embedding: str, residual: str, attention: str, default: float, *,
             activation: str = "") -> dict[str, Any]:
    """The three dropout probabilities under the family's own key names (``default`` when absent), and the MLP
    activation's under ``activation`` when the family has one."""
    out: dict[str, Any] = {}
    pairs = [("embedding_dropout", embedding), ("residual_dropout", residual), ("attention_dropout", attention)]
    for field_name, key in pairs + ([("activation_dropout", activation)] if activation else []):
        value = cfg.get(key)
        if value is None:
            out[field_name] = default
            continue
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 1:
            raise ConfigError(f"config.json field {key!r} = {value!r} must be a probability in [0, 1)")
        out[field_name] = float(value)
    return out


def get_float(cfg: Config, key: str, default: float) -> float:
    value = cfg.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
        raise ConfigError(f"config.json field {key!r} = {value!r} must be a positive number")
    return float(value)


def sub_config(cfg: Config, key: str) -> Config:
    """A nested config object (``text_config``, ``attn_config`` …); absent or null: empty."""
    value = cfg.get(key)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError(f"config.json field {key!r} must be an object, not {type(value).__name__}")
    return value


def with_top_level(text: Config, cfg: Config,
                   keys: tuple[str, ...] = ("tie_word_embeddings", "torch_dtype", "dtype")) -> dict[str, Any]:
    """The text model's config of an image(-audio)-text ``cfg``, with the fields its top level decides (the head's
    tying and the dtype) taken from the top level wherever it sets them."""
    out = dict(text)
    for key in keys:
        if cfg.get(key) is not None:
            out[key] = cfg[key]
    return out


def config_dtype(cfg: Config) -> str:
    """The config's own dtype (``torch_dtype`` in Hub files, ``dtype`` in transformers ≥ 4.56)."""
    d = cfg.get("torch_dtype") or cfg.get("dtype") or "float32"
    return str(d).removeprefix("torch.")


def head_dim(cfg: Config, hidden: int, heads: int) -> int:
    """``head_dim`` when set (and not null), else hidden / heads."""
    if cfg.get("head_dim") is not None:
        return get_int(cfg, "head_dim")
    if hidden % heads:
        raise ConfigError(f"hidden_size {hidden} is not divisible by num_attention_heads {heads}; "
                          "set head_dim in config.json")
    return hidden // heads


def kv_heads(cfg: Config, heads: int, key: str = "num_key_value_heads") -> int:
    kv = get_int(cfg, key, heads, maximum=heads)
    if heads % kv:
        raise ConfigError(f"config.json field {key!r} = {kv} must divide num_attention_heads = {heads}")
    return kv


def sliding_windows(cfg: Config, n_layers: int, *, pattern: int | None = None,
                    from_layer: int | None = None) -> list[int | None]:
    """Per-layer attention window (None = full attention).

    In order: ``layer_types`` when it lists every layer; a repeating ``pattern`` (every pattern-th layer
    global: gemma2 2, gemma3 6, gpt-oss 2); layers from ``from_layer`` on (qwen2 ``max_window_layers``);
    else ``sliding_window`` on every layer. ``use_sliding_window: false`` or a window of 0/null means none.
    """
    raw = cfg.get("sliding_window")
    window = None if raw in (None, 0) or cfg.get("use_sliding_window") is False else get_int(cfg, "sliding_window")
    types = cfg.get("layer_types")
    if isinstance(types, list) and types:
        if len(types) != n_layers:
            raise ConfigError(f"config.json 'layer_types' lists {len(types)} layers but num_hidden_layers is "
                              f"{n_layers}: make them agree")
        if window is None and "sliding_attention" in types and raw is None:
            raise ConfigError("config.json 'layer_types' has sliding_attention layers but no 'sliding_window': "
                              "add the window size")
        return [window if t == "sliding_attention" else None for t in types]
    if window is None:
        return [None] * n_layers
    if pattern is not None:
        return [window if (i + 1) % pattern else None for i in range(n_layers)]
    if from_layer is not None:
        return [window if i >= from_layer else None for i in range(n_layers)]
    return [window] * n_layers


def build_model(cfg: Config, name: str, h: int, layers: Sequence[LayerSpec], *, vocab: int | None = None,
           tie: bool = False, norm: NormKind = "rms", position: str = "rope", max_pos: int | None = None,
           lm_head_bias: bool = False, final_norm: bool = True, **more: Any) -> ModelSpec:
    return ModelSpec(
        name=name, family=str(cfg.get("model_type")), hidden_size=h,
        vocab_size=vocab if vocab is not None else get_int(cfg, "vocab_size"),
        layers=tuple(layers), tie_word_embeddings=get_bool(cfg, "tie_word_embeddings", tie), norm=norm,
        position_embedding=position,  # type: ignore[arg-type]
        max_position_embeddings=max_pos if max_pos is not None else int(
            get_opt_int(cfg, "max_position_embeddings") or 0),
        lm_head_bias=lm_head_bias, final_norm=final_norm, dtype=config_dtype(cfg), **more,
    )


# ---------------------------------------------------------------------------------------------------------
# the llama-shaped families: llama, mistral, qwen2/3, gemma 1/2/3, olmo2, phi3, starcoder2, stablelm, …


def decoder(cfg: Config, name: str, *, qkv_bias: bool = False, o_bias: bool = False, qk_norm: str = "none",
             mlp: MLPSpec | None = None, norms: int = 2, layout: NormLayout = "pre", tie: bool = False,
             norm: NormKind = "rms", fused_qkv: bool = False, qk_norm_bias: bool = False,
             windows: Sequence[int | None] | None = None, moe_at: Callable[[int], MoESpec | None] | None = None,
             default_head_dim: int | None = None, rope_dim: int | None = None, sinks: bool = False,
             **model: Any) -> ModelSpec:
    h = get_int(cfg, "hidden_size")
    n_layers = get_int(cfg, "num_hidden_layers", maximum=MAX_LAYERS)
    heads = get_int(cfg, "num_attention_heads")
    kv = kv_heads(cfg, heads)
    hd = get_int(cfg, "head_dim", default_head_dim) if default_head_dim else head_dim(cfg, h, heads)
    if mlp is None:
        mlp = MLPSpec(get_int(cfg, "intermediate_size"), "gated", False, act(cfg))
    if windows is None:
        windows = sliding_windows(cfg, n_layers)
    layers = []
    distinct: dict[tuple[int | None, int], LayerSpec] = {}  # identical blocks share one object
    for i, w in enumerate(windows):
        moe = moe_at(i) if moe_at is not None else None
        key = (w, id(moe))
        if key not in distinct:
            attn = AttentionSpec(heads, kv, hd, sliding_window=w, qkv_bias=qkv_bias, o_bias=o_bias,
                                 qk_norm=qk_norm, qk_norm_bias=qk_norm_bias,  # type: ignore[arg-type]
                                 fused_qkv=fused_qkv, rope_dim=rope_dim, sinks=sinks)
            distinct[key] = LayerSpec("attention", attn, mlp=None if moe else mlp, moe=moe, norms=norms,
                                      norm_layout=layout)
        layers.append(distinct[key])
    return build_model(cfg, name, h, layers, tie=tie, norm=norm, **model)


def act(cfg: Config, default: str = "silu") -> str:
    return str(cfg.get("hidden_act") or cfg.get("hidden_activation") or cfg.get("activation_function") or default)


def gated(cfg: Config, key: str = "intermediate_size", bias: bool = False) -> MLPSpec:
    return MLPSpec(get_int(cfg, key), "gated", bias, act(cfg))


def layer_count(cfg: Config) -> int:
    return get_int(cfg, "num_hidden_layers", maximum=MAX_LAYERS)


def rope_fraction(cfg: Config, key: str, default: float) -> float:
    rope = cfg.get("rope_parameters")
    if isinstance(rope, Mapping) and rope.get("partial_rotary_factor") is not None:
        return get_float(rope, "partial_rotary_factor", default)
    return get_float(cfg, key, default)

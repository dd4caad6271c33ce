"""Recent llama-shaped dense families (2025): smollm3, olmo3, seed_oss, exaone4, cohere2, ministral3.

Each reads the keys its transformers 5.25 config class reads, with that class's defaults where a Hub file leaves
a key out, and derives ``layer_types`` the way the class's ``__post_init__`` does when the file has none.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ...errors import ConfigError
from ...spec import ModelSpec
from .common import Builder, Config, decoder, dropouts, gated, get_bool, get_int, head_dim, layer_count, sliding_windows

__all__ = ["BUILDERS", "with_defaults"]


def with_defaults(cfg: Config, defaults: Mapping[str, Any]) -> dict[str, Any]:
    """The config over its class defaults (a null in the file counts as absent, as transformers does)."""
    return {**defaults, **{k: v for k, v in cfg.items() if v is not None}}


def _typed_windows(cfg: Config, n_layers: int, is_sliding: list[bool]) -> list[int | None]:
    """Windows from ``layer_types`` when the file lists them, else from the class's derived sliding pattern."""
    if isinstance(cfg.get("layer_types"), list):
        return sliding_windows(cfg, n_layers)
    window = None if cfg.get("sliding_window") in (None, 0) else get_int(cfg, "sliding_window")
    return [window if sliding and window is not None else None for sliding in is_sliding]


def _smollm3(cfg: Config, name: str) -> ModelSpec:
    """SmolLM3: llama blocks; every ``no_rope_layer_interval``-th layer skips RoPE (no parameters); a layer slides
    only when ``use_sliding_window`` is set and it is a NoPE layer (``SmolLM3Config.__post_init__``)."""
    n = layer_count(cfg)
    interval = get_int(cfg, "no_rope_layer_interval", 4)
    nope = [(i + 1) % interval == 0 for i in range(n)]
    use = get_bool(cfg, "use_sliding_window", False)
    windows = _typed_windows(cfg, n, [use and x for x in nope])
    if not use:  # the attention reads the window only when use_sliding_window is true
        windows = [None] * n
    bias = get_bool(cfg, "attention_bias", False)
    return decoder(cfg, name, qkv_bias=bias, o_bias=bias, mlp=gated(cfg, bias=get_bool(cfg, "mlp_bias", False)),
                   tie=True, windows=windows)


_OLMO3_DEFAULTS: dict[str, Any] = {"sliding_window": 4096}


def _olmo3(cfg: Config, name: str) -> ModelSpec:
    """OLMo 3: OLMo 2 blocks (q/k norm over all heads, norms after attention and MLP); three sliding layers of
    4,096 then one global, unless ``layer_types`` says otherwise."""
    cfg = with_defaults(cfg, _OLMO3_DEFAULTS)
    n = layer_count(cfg)
    windows = _typed_windows(cfg, n, [(i + 1) % 4 != 0 for i in range(n)])
    bias = get_bool(cfg, "attention_bias", False)
    return decoder(cfg, name, qkv_bias=bias, o_bias=bias, qk_norm="full", layout="post", windows=windows)


_SEED_OSS_DEFAULTS: dict[str, Any] = {"head_dim": 128, "attention_bias": True, "attention_out_bias": False,
                                      "attention_dropout": 0.1, "residual_dropout": 0.1}


def _seed_oss(cfg: Config, name: str) -> ModelSpec:
    """Seed-OSS: llama blocks with q/k/v biases (``attention_bias``, default true), an o_proj bias of its own
    (``attention_out_bias``) and dropout 0.1 on attention probabilities and both residual branches."""
    cfg = with_defaults(cfg, _SEED_OSS_DEFAULTS)
    drop = dropouts(cfg, "embedding_dropout", "residual_dropout", "attention_dropout", 0.0)
    return decoder(cfg, name, qkv_bias=get_bool(cfg, "attention_bias", True),
                   o_bias=get_bool(cfg, "attention_out_bias", False),
                   mlp=gated(cfg, bias=get_bool(cfg, "mlp_bias", False)), default_head_dim=128, **drop)


_EXAONE4_DEFAULTS: dict[str, Any] = {"sliding_window": 4096, "sliding_window_pattern": 4}


def _exaone_pattern(cfg: Config, n_layers: int) -> list[bool]:
    """EXAONE 4's ``sliding_window_pattern``: an integer p (layer i global when (i + 1) % p == 0) or a string of
    L (local) and G (global) repeated from layer 0."""
    pattern = cfg.get("sliding_window_pattern")
    if isinstance(pattern, str):
        if not pattern or set(pattern) - {"L", "G"}:
            raise ConfigError(f"config.json field 'sliding_window_pattern' = {pattern!r} must be an integer or a "
                              "string of L (local) and G (global)")
        return [pattern[i % len(pattern)] == "L" for i in range(n_layers)]
    p = get_int(cfg, "sliding_window_pattern", 4)
    return [(i + 1) % p != 0 for i in range(n_layers)]


def _exaone4(cfg: Config, name: str) -> ModelSpec:
    """EXAONE 4: q/k RMSNorm per head, norms after attention and after the MLP (no pre-norms), hybrid
    local/global attention from ``layer_types`` or ``sliding_window_pattern``; no window at all when
    ``sliding_window`` is null."""
    no_window = "sliding_window" in cfg and cfg["sliding_window"] is None  # explicit null: every layer global
    cfg = with_defaults(cfg, _EXAONE4_DEFAULTS)
    n = layer_count(cfg)
    windows = [None] * n if no_window else _typed_windows(cfg, n, _exaone_pattern(cfg, n))
    return decoder(cfg, name, qk_norm="head", layout="post", windows=windows)


_COHERE2_DEFAULTS: dict[str, Any] = {"sliding_window": 4096, "sliding_window_pattern": 4}


def _cohere2(cfg: Config, name: str) -> ModelSpec:
    """Command R7B / Command A (``cohere2``): one bias-free LayerNorm feeding attention and MLP in parallel,
    tied embeddings, head_dim = hidden / heads whatever the file says, three sliding layers then one global."""
    cfg = with_defaults(cfg, _COHERE2_DEFAULTS)
    n = layer_count(cfg)
    pattern = get_int(cfg, "sliding_window_pattern", 4)
    windows = _typed_windows(cfg, n, [(i + 1) % pattern != 0 for i in range(n)])
    h, heads = get_int(cfg, "hidden_size"), get_int(cfg, "num_attention_heads")
    cfg = {**cfg, "head_dim": head_dim({}, h, heads)}
    bias = get_bool(cfg, "attention_bias", False)
    return decoder(cfg, name, qkv_bias=bias, o_bias=bias, norms=1, layout="parallel", norm="layernorm_nobias",
                   tie=True, windows=windows)


def _ministral3(cfg: Config, name: str) -> ModelSpec:
    """Ministral 3 (text): Mistral blocks with head_dim 128 by default (``Ministral3Config``), no sliding window
    unless the file sets one; its YaRN / llama-4 attention scaling has no parameters."""
    return decoder(with_defaults(cfg, {"head_dim": 128}), name)


BUILDERS: dict[str, Builder] = {
    "cohere2": _cohere2,
    "ministral3": _ministral3,
    "exaone4": _exaone4,
    "olmo3": _olmo3,
    "seed_oss": _seed_oss,
    "smollm3": _smollm3,
}

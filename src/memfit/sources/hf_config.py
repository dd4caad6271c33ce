"""Hugging Face ``config.json`` → ``ModelSpec``, one builder per ``model_type``.

Every builder reads the keys transformers reads for that family, with transformers' defaults where a
real config may leave a key out, so the tensor inventory equals what ``AutoModelForCausalLM.from_config``
builds (checked on the meta device by the tests). Both Hub ``config.json`` files and transformers'
``PretrainedConfig.to_dict()`` outputs are accepted: the two differ in which keys are present and
in ``null`` for derived values (``head_dim``, ``num_key_value_heads``), both handled here.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from ..errors import ConfigError, UnknownModelError
from ..spec import AttentionSpec, LayerSpec, MLPSpec, ModelSpec, MoESpec, NormKind, NormLayout, SSMSpec, VisionSpec

__all__ = ["SUPPORTED_FAMILIES", "get_int", "sliding_windows", "spec_from_config"]

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


def _int_alias(cfg: Config, keys: Sequence[str], default: int | None = None, *, minimum: int = 1,
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


def _dropouts(cfg: Config, embedding: str, residual: str, attention: str, default: float) -> dict[str, Any]:
    """The three dropout probabilities under the family's own key names (``default`` when absent)."""
    out: dict[str, Any] = {}
    for field_name, key in (("embedding_dropout", embedding), ("residual_dropout", residual),
                            ("attention_dropout", attention)):
        value = cfg.get(key)
        if value is None:
            out[field_name] = default
            continue
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 1:
            raise ConfigError(f"config.json field {key!r} = {value!r} must be a probability in [0, 1)")
        out[field_name] = float(value)
    return out


def _float(cfg: Config, key: str, default: float) -> float:
    value = cfg.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
        raise ConfigError(f"config.json field {key!r} = {value!r} must be a positive number")
    return float(value)


def _sub(cfg: Config, key: str) -> Config:
    """A nested config object (``text_config``, ``attn_config`` …); absent or null: empty."""
    value = cfg.get(key)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError(f"config.json field {key!r} must be an object, not {type(value).__name__}")
    return value


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


def _kv_heads(cfg: Config, heads: int, key: str = "num_key_value_heads") -> int:
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


def _model(cfg: Config, name: str, h: int, layers: Sequence[LayerSpec], *, vocab: int | None = None,
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


def _decoder(cfg: Config, name: str, *, qkv_bias: bool = False, o_bias: bool = False, qk_norm: str = "none",
             mlp: MLPSpec | None = None, norms: int = 2, layout: NormLayout = "pre", tie: bool = False,
             norm: NormKind = "rms", fused_qkv: bool = False, qk_norm_bias: bool = False,
             windows: Sequence[int | None] | None = None, moe_at: Callable[[int], MoESpec | None] | None = None,
             default_head_dim: int | None = None, rope_dim: int | None = None, sinks: bool = False,
             **model: Any) -> ModelSpec:
    h = get_int(cfg, "hidden_size")
    n_layers = get_int(cfg, "num_hidden_layers", maximum=MAX_LAYERS)
    heads = get_int(cfg, "num_attention_heads")
    kv = _kv_heads(cfg, heads)
    hd = get_int(cfg, "head_dim", default_head_dim) if default_head_dim else head_dim(cfg, h, heads)
    if mlp is None:
        mlp = MLPSpec(get_int(cfg, "intermediate_size"), "gated", False, _act(cfg))
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
    return _model(cfg, name, h, layers, tie=tie, norm=norm, **model)


def _act(cfg: Config, default: str = "silu") -> str:
    return str(cfg.get("hidden_act") or cfg.get("hidden_activation") or cfg.get("activation_function") or default)


def _gated(cfg: Config, key: str = "intermediate_size", bias: bool = False) -> MLPSpec:
    return MLPSpec(get_int(cfg, key), "gated", bias, _act(cfg))


def _llama(cfg: Config, name: str) -> ModelSpec:
    bias = get_bool(cfg, "attention_bias", False)
    return _decoder(cfg, name, qkv_bias=bias, o_bias=bias, mlp=_gated(cfg, bias=get_bool(cfg, "mlp_bias", False)))


def _mistral(cfg: Config, name: str) -> ModelSpec:
    return _decoder(cfg, name)


def _n_layers(cfg: Config) -> int:
    return get_int(cfg, "num_hidden_layers", maximum=MAX_LAYERS)


def _qwen2(cfg: Config, name: str) -> ModelSpec:
    windows = sliding_windows(cfg, _n_layers(cfg), from_layer=get_int(cfg, "max_window_layers", 28, minimum=0))
    return _decoder(cfg, name, qkv_bias=True, windows=windows)


def _qwen3(cfg: Config, name: str) -> ModelSpec:
    bias = get_bool(cfg, "attention_bias", False)
    windows = sliding_windows(cfg, _n_layers(cfg), from_layer=get_int(cfg, "max_window_layers", 28, minimum=0))
    return _decoder(cfg, name, qkv_bias=bias, o_bias=bias, qk_norm="head", windows=windows)


def _sparse_at(cfg: Config, moe: MoESpec) -> Callable[[int], MoESpec | None]:
    """qwen2_moe / qwen3_moe: a layer is sparse unless listed in mlp_only_layers or off the sparse step."""
    step = get_int(cfg, "decoder_sparse_step", 1)
    only = cfg.get("mlp_only_layers") or []
    if not isinstance(only, list):
        raise ConfigError(f"config.json field 'mlp_only_layers' = {only!r} must be a list of layer indices")
    dense = set(only)
    return lambda i: moe if i not in dense and moe.num_experts > 0 and (i + 1) % step == 0 else None


def _qwen2_moe(cfg: Config, name: str) -> ModelSpec:
    moe = MoESpec(get_int(cfg, "num_experts", 60), get_int(cfg, "num_experts_per_tok", 4),
                  get_int(cfg, "moe_intermediate_size", 1408), num_shared_experts=1,
                  shared_intermediate_size=get_int(cfg, "shared_expert_intermediate_size", 5632),
                  shared_expert_gate=True, norm_topk_prob=get_bool(cfg, "norm_topk_prob", False))
    windows = sliding_windows(cfg, _n_layers(cfg), from_layer=get_int(cfg, "max_window_layers", 28, minimum=0))
    return _decoder(cfg, name, qkv_bias=get_bool(cfg, "qkv_bias", True), windows=windows,
                    moe_at=_sparse_at(cfg, moe))


def _qwen3_moe(cfg: Config, name: str) -> ModelSpec:
    bias = get_bool(cfg, "attention_bias", False)
    moe = MoESpec(get_int(cfg, "num_experts", 128), get_int(cfg, "num_experts_per_tok", 8),
                  get_int(cfg, "moe_intermediate_size", 768), norm_topk_prob=get_bool(cfg, "norm_topk_prob", False))
    windows = sliding_windows(cfg, _n_layers(cfg), from_layer=get_int(cfg, "max_window_layers", 28, minimum=0))
    return _decoder(cfg, name, qkv_bias=bias, o_bias=bias, qk_norm="head", windows=windows,
                    moe_at=_sparse_at(cfg, moe))


def _mixtral(cfg: Config, name: str) -> ModelSpec:
    moe = MoESpec(get_int(cfg, "num_local_experts", 8), get_int(cfg, "num_experts_per_tok", 2),
                  get_int(cfg, "intermediate_size"), norm_topk_prob=True)
    return _decoder(cfg, name, moe_at=lambda i: moe)


def _olmoe(cfg: Config, name: str) -> ModelSpec:
    bias = get_bool(cfg, "attention_bias", False)
    moe = MoESpec(get_int(cfg, "num_experts", 64), get_int(cfg, "num_experts_per_tok", 8),
                  get_int(cfg, "intermediate_size"), norm_topk_prob=get_bool(cfg, "norm_topk_prob", False))
    return _decoder(cfg, name, qkv_bias=bias, o_bias=bias, qk_norm="full", moe_at=lambda i: moe)


def _olmo2(cfg: Config, name: str) -> ModelSpec:
    bias = get_bool(cfg, "attention_bias", False)
    return _decoder(cfg, name, qkv_bias=bias, o_bias=bias, qk_norm="full", layout="post")


def _gemma(cfg: Config, name: str) -> ModelSpec:
    bias = get_bool(cfg, "attention_bias", False)
    return _decoder(cfg, name, qkv_bias=bias, o_bias=bias, tie=True, default_head_dim=256)


def _gemma2(cfg: Config, name: str) -> ModelSpec:
    bias = get_bool(cfg, "attention_bias", False)
    return _decoder(cfg, name, qkv_bias=bias, o_bias=bias, tie=True, norms=4, layout="sandwich",
                    default_head_dim=256, windows=sliding_windows(cfg, _n_layers(cfg), pattern=2))


_GEMMA3_TEXT_DEFAULTS: dict[str, Any] = {  # Gemma3TextConfig's defaults; Hub gemma-3 configs rely on them
    "vocab_size": 262_208, "hidden_size": 2304, "intermediate_size": 9216, "num_hidden_layers": 26,
    "num_attention_heads": 8, "num_key_value_heads": 4, "head_dim": 256, "max_position_embeddings": 131_072,
    "sliding_window": 4096,
}


def _gemma3_text(cfg: Config, name: str) -> ModelSpec:
    cfg = {**_GEMMA3_TEXT_DEFAULTS, **{k: v for k, v in cfg.items() if v is not None}}
    bias = get_bool(cfg, "attention_bias", False)
    pattern = get_int(cfg, "sliding_window_pattern", get_int(cfg, "_sliding_window_pattern", 6))
    return _decoder(cfg, name, qkv_bias=bias, o_bias=bias, qk_norm="head", tie=True, norms=4, layout="sandwich",
                    windows=sliding_windows(cfg, _n_layers(cfg), pattern=pattern))


def _siglip(v: Config, text_hidden: int, tokens_per_image: int) -> VisionSpec:
    from ..inventory import vision_tensors

    kind = v.get("model_type", "siglip_vision_model")
    if kind != "siglip_vision_model":
        raise ConfigError(f"vision_config model_type {kind!r}: memfit counts Gemma 3's SigLIP tower "
                          "('siglip_vision_model') only")
    for key in ("image_size", "patch_size"):
        if isinstance(v.get(key), list | tuple):
            raise ConfigError(f"vision_config {key!r} = {v.get(key)!r}: memfit reads a square size (one integer)")
    hidden = get_int(v, "hidden_size", 768)
    spec = VisionSpec(parameters=0, hidden_size=hidden, num_layers=get_int(v, "num_hidden_layers", 12),
                      description="SigLIP vision tower + Gemma 3 projector", kind="siglip",
                      intermediate_size=get_int(v, "intermediate_size", 3072),
                      num_heads=get_int(v, "num_attention_heads", 12), image_size=get_int(v, "image_size", 224),
                      patch_size=get_int(v, "patch_size", 16), num_channels=get_int(v, "num_channels", 3),
                      projector_dim=text_hidden, tokens_per_image=tokens_per_image,
                      pooling_head=get_bool(v, "vision_use_head", True))
    from dataclasses import replace

    return replace(spec, parameters=sum(t.numel for t in vision_tensors(spec)))


def _gemma3(cfg: Config, name: str) -> ModelSpec:
    text = {"model_type": "gemma3_text", **_sub(cfg, "text_config")}
    for key in ("tie_word_embeddings", "torch_dtype", "dtype"):  # the top level decides these
        if cfg.get(key) is not None:
            text[key] = cfg[key]
    spec = _gemma3_text(text, name)
    vision = _siglip(_sub(cfg, "vision_config"), spec.hidden_size, get_int(cfg, "mm_tokens_per_image", 256))
    from dataclasses import replace

    return replace(spec, family="gemma3", vision=vision)


def _phi3(cfg: Config, name: str) -> ModelSpec:
    mlp = MLPSpec(get_int(cfg, "intermediate_size"), "gated", False, _act(cfg), fused_gate_up=True)
    # Phi3Config always has original_max_position_embeddings (class default 4096), LongRoPE or not
    original = get_opt_int(cfg, "original_max_position_embeddings") or 4096
    return _decoder(cfg, name, fused_qkv=True, mlp=mlp, original_max_position_embeddings=original)


def _starcoder2(cfg: Config, name: str) -> ModelSpec:
    bias = get_bool(cfg, "use_bias", True)
    mlp = MLPSpec(get_int(cfg, "intermediate_size"), "plain", bias, _act(cfg, "gelu_pytorch_tanh"))
    return _decoder(cfg, name, qkv_bias=bias, o_bias=bias, mlp=mlp, tie=True, norm="layernorm",
                    **_dropouts(cfg, "embedding_dropout", "residual_dropout", "attention_dropout", 0.0))


def _rope_fraction(cfg: Config, key: str, default: float) -> float:
    rope = cfg.get("rope_parameters")
    if isinstance(rope, Mapping) and rope.get("partial_rotary_factor") is not None:
        return _float(rope, "partial_rotary_factor", default)
    return _float(cfg, key, default)


def _stablelm(cfg: Config, name: str) -> ModelSpec:
    parallel = get_bool(cfg, "use_parallel_residual", False)
    h, heads = get_int(cfg, "hidden_size"), get_int(cfg, "num_attention_heads")
    rope = int(head_dim(cfg, h, heads) * _rope_fraction(cfg, "partial_rotary_factor", 0.25))
    return _decoder(cfg, name, qkv_bias=get_bool(cfg, "use_qkv_bias", False), norm="layernorm",
                    qk_norm="per_head_layernorm" if get_bool(cfg, "qk_layernorm", False) else "none",
                    norms=1 if parallel else 2, layout="parallel" if parallel else "pre", rope_dim=rope)


def _phi(cfg: Config, name: str) -> ModelSpec:
    h, heads = get_int(cfg, "hidden_size"), get_int(cfg, "num_attention_heads")
    rope = int(head_dim(cfg, h, heads) * _rope_fraction(cfg, "partial_rotary_factor", 0.5))
    mlp = MLPSpec(get_int(cfg, "intermediate_size"), "plain", True, _act(cfg, "gelu_new"))
    qk = get_bool(cfg, "qk_layernorm", False)
    return _decoder(cfg, name, qkv_bias=True, o_bias=True, mlp=mlp, norms=1, layout="parallel", norm="layernorm",
                    qk_norm="head" if qk else "none", qk_norm_bias=qk, lm_head_bias=True, rope_dim=rope,
                    **_dropouts(cfg, "embd_pdrop", "resid_pdrop", "attention_dropout", 0.0))


# ---------------------------------------------------------------------------------------------------------
# GPT-2 / GPT-J / GPT-NeoX / Falcon / DBRX: other key names, fused projections, LayerNorm with bias


def _dims(cfg: Config, hidden: Sequence[str], layers: Sequence[str], heads: Sequence[str]) -> tuple[int, int, int]:
    """(hidden size, layers, heads) under a family's own key names, heads dividing the hidden size."""
    h = _int_alias(cfg, hidden)
    n_layers = _int_alias(cfg, layers, maximum=MAX_LAYERS)
    n_heads = _int_alias(cfg, heads)
    if h % n_heads:
        raise ConfigError(f"config.json {hidden[0]} = {h} is not divisible by {heads[0]} = {n_heads}")
    return h, n_layers, n_heads


_GPT_KEYS = (("n_embd", "hidden_size"), ("n_layer", "num_hidden_layers"), ("n_head", "num_attention_heads"))


def _gpt2(cfg: Config, name: str) -> ModelSpec:
    h, n_layers, heads = _dims(cfg, *_GPT_KEYS)
    if get_bool(cfg, "add_cross_attention", False):
        raise ConfigError("config.json 'add_cross_attention' is true: memfit models GPT-2 as a decoder only; "
                          "set it to false")
    inner = _int_alias(cfg, ("n_inner",), 4 * h)
    attn = AttentionSpec(heads, heads, h // heads, qkv_bias=True, o_bias=True, fused_qkv=True)
    mlp = MLPSpec(inner, "plain", True, _act(cfg, "gelu_new"))
    layer = LayerSpec("attention", attn, mlp=mlp, norms=2)
    return _model(cfg, name, h, [layer] * n_layers, tie=True, norm="layernorm", position="learned",
                  max_pos=_int_alias(cfg, ("n_positions", "max_position_embeddings")),
                  **_dropouts(cfg, "embd_pdrop", "resid_pdrop", "attn_pdrop", 0.1))  # GPT2Config defaults 0.1


def _gptj(cfg: Config, name: str) -> ModelSpec:
    h, n_layers, heads = _dims(cfg, *_GPT_KEYS)
    attn = AttentionSpec(heads, heads, h // heads, rope_dim=get_opt_int(cfg, "rotary_dim"))
    mlp = MLPSpec(_int_alias(cfg, ("n_inner",), 4 * h), "plain", True, _act(cfg, "gelu_new"))
    layer = LayerSpec("attention", attn, mlp=mlp, norms=1, norm_layout="parallel")
    return _model(cfg, name, h, [layer] * n_layers, norm="layernorm", lm_head_bias=True,
                  max_pos=_int_alias(cfg, ("n_positions", "max_position_embeddings"), 0, minimum=0))


def _gpt_neox(cfg: Config, name: str) -> ModelSpec:
    h, heads = get_int(cfg, "hidden_size"), get_int(cfg, "num_attention_heads")
    bias = get_bool(cfg, "attention_bias", True)
    hd = head_dim(cfg, h, heads)
    rope = int(hd * _rope_fraction(cfg, "rotary_pct", 0.25))
    attn = AttentionSpec(heads, heads, hd, qkv_bias=bias, o_bias=bias, fused_qkv=True, rope_dim=rope)
    mlp = MLPSpec(get_int(cfg, "intermediate_size"), "plain", True, _act(cfg, "gelu"))
    layer = LayerSpec("attention", attn, mlp=mlp, norms=2)
    return _model(cfg, name, h, [layer] * _n_layers(cfg), norm="layernorm")


def _falcon(cfg: Config, name: str) -> ModelSpec:
    h, n_layers, heads = _dims(cfg, ("hidden_size", "n_embed"), ("num_hidden_layers", "n_layer"),
                               ("num_attention_heads", "n_head"))
    new_arch = get_bool(cfg, "new_decoder_architecture", False)
    # new architecture: grouped kv heads; else multi-query (one kv head) or plain multi-head
    multi_query = get_bool(cfg, "multi_query", True)
    kv = _kv_heads(cfg, heads, "num_kv_heads") if new_arch else (1 if multi_query else heads)
    bias = get_bool(cfg, "bias", False)
    attn = AttentionSpec(heads, kv, h // heads, qkv_bias=bias, o_bias=bias, fused_qkv=True)
    mlp = MLPSpec(get_int(cfg, "ffn_hidden_size", 4 * h), "plain", bias, str(cfg.get("activation") or "gelu"))
    if not get_bool(cfg, "parallel_attn", True):
        norms, layout = 2, "pre"
    else:
        n_ln = get_opt_int(cfg, "num_ln_in_parallel_attn")
        norms = 2 if (n_ln if n_ln is not None else (2 if new_arch else 1)) == 2 else 1
        layout = "parallel"
    layer = LayerSpec("attention", attn, mlp=mlp, norms=norms, norm_layout=layout)  # type: ignore[arg-type]
    alibi = get_bool(cfg, "alibi", False)
    return _model(cfg, name, h, [layer] * n_layers, tie=True, norm="layernorm",
                  position="alibi" if alibi else "rope")


def _dbrx(cfg: Config, name: str) -> ModelSpec:
    h, n_layers, heads = _dims(cfg, ("d_model", "hidden_size"), ("n_layers", "num_hidden_layers"),
                               ("n_heads", "num_attention_heads"))
    attn_cfg, ffn_cfg = _sub(cfg, "attn_config"), _sub(cfg, "ffn_config")
    kv = _kv_heads(attn_cfg, heads, "kv_n_heads") if attn_cfg.get("kv_n_heads") is not None else 1
    attn = AttentionSpec(heads, kv, h // heads, fused_qkv=True)
    moe = MoESpec(get_int(ffn_cfg, "moe_num_experts", 4), get_int(ffn_cfg, "moe_top_k", 1),
                  get_int(ffn_cfg, "ffn_hidden_size", 3584), norm_topk_prob=True)
    layer = LayerSpec("attention", attn, moe=moe, norms=2)
    return _model(cfg, name, h, [layer] * n_layers, norm="layernorm_nobias",
                  max_pos=_int_alias(cfg, ("max_seq_len", "max_position_embeddings"), 0, minimum=0))


def _gpt_oss(cfg: Config, name: str) -> ModelSpec:
    bias = get_bool(cfg, "attention_bias", True)
    moe = MoESpec(get_int(cfg, "num_local_experts", 128), get_int(cfg, "num_experts_per_tok", 4),
                  get_int(cfg, "intermediate_size"), router_bias=True, expert_bias=True)
    n_layers = _n_layers(cfg)
    return _decoder(cfg, name, qkv_bias=bias, o_bias=bias, default_head_dim=64, moe_at=lambda i: moe, sinks=True,
                    windows=sliding_windows(cfg, n_layers, pattern=2))


# ---------------------------------------------------------------------------------------------------------
# DeepSeek: v1 MoE (remote code), v2/v3 with multi-head latent attention


def _deepseek(cfg: Config, name: str) -> ModelSpec:
    """DeepSeek-MoE (``model_type: deepseek``, remote code ``modeling_deepseek.py``): a layer is MoE when
    ``n_routed_experts`` is set, its index ≥ ``first_k_dense_replace`` and divisible by ``moe_layer_freq``;
    shared experts form one MLP of ``n_shared_experts × moe_intermediate_size``; the router is E × hidden."""
    bias = get_bool(cfg, "attention_bias", False)
    first = get_int(cfg, "first_k_dense_replace", 0, minimum=0)
    freq = get_int(cfg, "moe_layer_freq", 1)
    experts = get_opt_int(cfg, "n_routed_experts")
    moe = None if experts is None else MoESpec(
        experts, get_int(cfg, "num_experts_per_tok"), get_int(cfg, "moe_intermediate_size"),
        num_shared_experts=get_int(cfg, "n_shared_experts", 0, minimum=0),
        norm_topk_prob=get_bool(cfg, "norm_topk_prob", False))
    return _decoder(cfg, name, qkv_bias=bias, o_bias=bias,
                    moe_at=lambda i: moe if moe is not None and i >= first and i % freq == 0 else None)


def _deepseek_mla(cfg: Config, name: str, v3: bool) -> ModelSpec:
    h = get_int(cfg, "hidden_size")
    n_layers = _n_layers(cfg)
    heads = get_int(cfg, "num_attention_heads")
    bias = get_bool(cfg, "attention_bias", False)
    nope, rope = get_int(cfg, "qk_nope_head_dim", 128), get_int(cfg, "qk_rope_head_dim", 64)
    q_lora = cfg.get("q_lora_rank", 1536)  # transformers' default when the key is absent; null = no q LoRA
    attn = AttentionSpec(heads, heads, nope + rope, v_head_dim=get_int(cfg, "v_head_dim", 128), qkv_bias=bias,
                         o_bias=bias, q_lora_rank=None if q_lora is None else get_int(cfg, "q_lora_rank", 1536),
                         kv_lora_rank=get_int(cfg, "kv_lora_rank", 512), qk_rope_head_dim=rope,
                         qk_nope_head_dim=nope)
    first = get_int(cfg, "first_k_dense_replace", 3 if v3 else 0, minimum=0)
    moe = MoESpec(get_int(cfg, "n_routed_experts", 256 if v3 else 64),
                  get_int(cfg, "num_experts_per_tok", 8 if v3 else None),
                  get_int(cfg, "moe_intermediate_size", 2048 if v3 else 1407),
                  num_shared_experts=get_int(cfg, "n_shared_experts", 1 if v3 else 2, minimum=0),
                  score_correction_bias=v3, norm_topk_prob=get_bool(cfg, "norm_topk_prob", v3),
                  num_groups=get_int(cfg, "n_group", 8 if v3 else 1), topk_group=get_int(cfg, "topk_group",
                                                                                         4 if v3 else 1))
    mlp = MLPSpec(get_int(cfg, "intermediate_size"), "gated", get_bool(cfg, "mlp_bias", False) and not v3,
                  _act(cfg))
    dense, sparse = LayerSpec("attention", attn, mlp=mlp), LayerSpec("attention", attn, moe=moe)
    layers = [sparse if i >= first else dense for i in range(n_layers)]
    mtp = get_int(cfg, "num_nextn_predict_layers", 0, minimum=0) if v3 else 0
    return _model(cfg, name, h, layers, mtp_layers=mtp)


# ---------------------------------------------------------------------------------------------------------
# state-space models


def _mamba(cfg: Config, name: str) -> ModelSpec:
    h = get_int(cfg, "hidden_size")
    inner = get_int(cfg, "intermediate_size", int(_float(cfg, "expand", 2) * h))
    rank = cfg.get("time_step_rank", "auto")
    dt_rank = math.ceil(h / 16) if rank in ("auto", None) else get_int(cfg, "time_step_rank")
    ssm = SSMSpec(inner, get_int(cfg, "state_size", 16), get_int(cfg, "conv_kernel", 4), dt_rank=dt_rank,
                  conv_bias=get_bool(cfg, "use_conv_bias", True), proj_bias=get_bool(cfg, "use_bias", False))
    layer = LayerSpec("mamba", ssm=ssm, norms=1, norm_layout="parallel")
    return _model(cfg, name, h, [layer] * _n_layers(cfg), tie=True, position="none", max_pos=0)


def _mamba2(cfg: Config, name: str) -> ModelSpec:
    h = get_int(cfg, "hidden_size")
    ssm = SSMSpec(int(_float(cfg, "expand", 2) * h), get_int(cfg, "state_size", 128), get_int(cfg, "conv_kernel", 4),
                  num_heads=get_int(cfg, "num_heads", 128), head_dim=get_int(cfg, "head_dim", 64),
                  n_groups=get_int(cfg, "n_groups", 8), conv_bias=get_bool(cfg, "use_conv_bias", True),
                  proj_bias=get_bool(cfg, "use_bias", False))
    layer = LayerSpec("mamba2", ssm=ssm, norms=1, norm_layout="parallel")
    return _model(cfg, name, h, [layer] * _n_layers(cfg), position="none", max_pos=0)


BUILDERS: dict[str, Builder] = {
    "dbrx": _dbrx,
    "deepseek": _deepseek,
    "deepseek_v2": lambda cfg, name: _deepseek_mla(cfg, name, v3=False),
    "deepseek_v3": lambda cfg, name: _deepseek_mla(cfg, name, v3=True),
    "falcon": _falcon,
    "falcon_mamba": _mamba,
    "gemma": _gemma,
    "gemma2": _gemma2,
    "gemma3": _gemma3,
    "gemma3_text": _gemma3_text,
    "gpt2": _gpt2,
    "gpt_neox": _gpt_neox,
    "gpt_oss": _gpt_oss,
    "gptj": _gptj,
    "llama": _llama,
    "mamba": _mamba,
    "mamba2": _mamba2,
    "mistral": _mistral,
    "mixtral": _mixtral,
    "olmo2": _olmo2,
    "olmoe": _olmoe,
    "phi": _phi,
    "phi3": _phi3,
    "qwen2": _qwen2,
    "qwen2_moe": _qwen2_moe,
    "qwen3": _qwen3,
    "qwen3_moe": _qwen3_moe,
    "stablelm": _stablelm,
    "starcoder2": _starcoder2,
}

SUPPORTED_FAMILIES: tuple[str, ...] = tuple(sorted(BUILDERS))


def spec_from_config(cfg: Config, name: str = "") -> ModelSpec:
    """Build the model description from a config.json dict (a Hub file or transformers' ``to_dict()``).

    Raises UnknownModelError for a ``model_type`` memfit does not know, naming the supported ones, and
    ConfigError for a missing or invalid field, naming the field, the value and the fix.
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
    spec = builder(cfg, name or str(cfg.get("_name_or_path") or model_type))
    qc = cfg.get("quantization_config")
    if isinstance(qc, Mapping):
        from ..formats import format_from_quantization_config

        fmt = format_from_quantization_config(qc)
        if fmt is not None:
            spec = replace(spec, quantization=fmt)
    return spec

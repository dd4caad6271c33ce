"""Gemma 3n (``gemma3n_text``; the text model of ``gemma3n``): a Gemma-3-style sandwich block with three additions,
read off transformers 5.25's ``modeling_gemma3n.py``.

* **AltUp**: the residual stream is ``altup_num_inputs`` copies; each block predicts them (``prediction_coefs``
  n → n², a ``modality_router`` h → n behind its own RMSNorm), runs attention and MLP on the active copy, and
  corrects the others (``correction_coefs`` n → n, ``correct_output_scale`` h). Outside the blocks, n − 1
  ``altup_projections`` and n − 1 ``altup_unembed_projections`` (h × h each) spread and gather the copies.
* **LAuReL**: a rank-``laurel_rank`` side path on the normed input (h → r → h, RMSNorm'ed).
* **Per-layer embeddings (PLE)**: a second token table of ``vocab_size_per_layer_input × (layers ·
  hidden_size_per_layer_input)`` plus ``per_layer_model_projection`` h → layers · p and an RMSNorm(p); each block
  gates its slice in (``per_layer_input_gate`` h → p, ``per_layer_projection`` p → h, an RMSNorm(h)).
* **KV sharing**: the last ``num_kv_shared_layers`` layers build no K/V of their own (no k/v projections, no k norm)
  and reuse the cache of the last earlier layer of the same type (sliding or full), so they add nothing to it.

``intermediate_size`` may differ per layer (a list); ``v_norm`` has no weight; the q/k norms are per-head RMSNorms.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ...errors import ConfigError
from ...spec import AttentionSpec, LayerSpec, MLPSpec, ModelSpec
from .common import (
    Builder,
    Config,
    act,
    build_model,
    get_int,
    kv_heads,
    layer_count,
    sliding_windows,
    sub_config,
    with_top_level,
)
from .towers_recent import gemma3n_towers

__all__ = ["BUILDERS", "gemma3n_text"]

# Gemma3nTextConfig's defaults, for keys a Hub config may leave out
_DEFAULTS: dict[str, Any] = {
    "vocab_size": 262_400, "vocab_size_per_layer_input": 262_144, "hidden_size": 2048,
    "hidden_size_per_layer_input": 256, "intermediate_size": 16_384, "num_hidden_layers": 35,
    "num_attention_heads": 8, "num_key_value_heads": 2, "head_dim": 256, "sliding_window": 512,
    "max_position_embeddings": 32_768, "altup_num_inputs": 4, "num_kv_shared_layers": 15, "laurel_rank": 64,
    "tie_word_embeddings": True, "hidden_activation": "gelu_pytorch_tanh",
}


def _intermediate_sizes(cfg: Config, n_layers: int) -> list[int]:
    raw = cfg.get("intermediate_size")
    if isinstance(raw, list):
        if len(raw) != n_layers:
            raise ConfigError(f"config.json 'intermediate_size' lists {len(raw)} sizes but num_hidden_layers is "
                              f"{n_layers}: give one per layer or one for all")
        return [get_int({"intermediate_size": v}, "intermediate_size") for v in raw]
    return [get_int(cfg, "intermediate_size")] * n_layers


def _sparsity(cfg: Config, n_layers: int) -> list[bool]:
    """Which layers cut their MLP gate by a gaussian top-k (``activation_sparsity_pattern`` > 0; default: the first
    10 of more than 10 layers)."""
    raw = cfg.get("activation_sparsity_pattern")
    if raw is None:
        return [i < 10 and n_layers > 10 for i in range(n_layers)]
    values = raw if isinstance(raw, list) else [raw] * n_layers
    if len(values) != n_layers or not all(isinstance(v, int | float) and 0 <= v < 1 for v in values):
        raise ConfigError(f"config.json 'activation_sparsity_pattern' = {str(raw)[:80]} must give a fraction in "
                          f"[0, 1) for each of the {n_layers} layers")
    return [v > 0 for v in values]


def _block_extra(h: int, p: int, n: int, rank: int) -> tuple[tuple[str, tuple[int, ...]], ...]:
    return (("altup.correct_output_scale", (h,)), ("altup.correction_coefs.weight", (n, n)),
            ("altup.prediction_coefs.weight", (n * n, n)), ("altup.modality_router.weight", (n, h)),
            ("altup.router_norm.weight", (h,)), ("laurel.linear_left.weight", (rank, h)),
            ("laurel.linear_right.weight", (h, rank)), ("laurel.post_laurel_norm.weight", (h,)),
            ("per_layer_input_gate.weight", (p, h)), ("per_layer_projection.weight", (h, p)),
            ("post_per_layer_input_norm.weight", (h,)))


def gemma3n_text(cfg: Config, name: str) -> ModelSpec:
    cfg = {**_DEFAULTS, **{k: v for k, v in cfg.items() if v is not None}}
    h, n_layers = get_int(cfg, "hidden_size"), layer_count(cfg)
    heads = get_int(cfg, "num_attention_heads")
    kv, hd = kv_heads(cfg, heads), get_int(cfg, "head_dim")
    p, n = get_int(cfg, "hidden_size_per_layer_input"), get_int(cfg, "altup_num_inputs")
    shared = get_int(cfg, "num_kv_shared_layers", minimum=0, maximum=n_layers)
    if "layer_types" not in cfg:  # Gemma3nTextConfig: every fifth layer global
        cfg["layer_types"] = ["full_attention" if (i + 1) % 5 == 0 else "sliding_attention" for i in range(n_layers)]
    windows = sliding_windows(cfg, n_layers)
    if shared and set(windows[n_layers - shared:]) - set(windows[:n_layers - shared]):
        raise ConfigError("config.json: a KV-shared layer has no earlier layer of its type to share a cache with; "
                          "check layer_types and num_kv_shared_layers")
    extra = _block_extra(h, p, n, get_int(cfg, "laurel_rank"))
    layers = []
    sparse = _sparsity(cfg, n_layers)
    for i, (w, inter) in enumerate(zip(windows, _intermediate_sizes(cfg, n_layers), strict=True)):
        attn = AttentionSpec(heads, kv, hd, sliding_window=w, qk_norm="head", kv_shared=i >= n_layers - shared)
        mlp = MLPSpec(inter, "gated", False, act(cfg), gaussian_topk=sparse[i])
        layers.append(LayerSpec("attention", attn, mlp=mlp, norms=4, norm_layout="sandwich", extra=extra))
    vocab_ple = get_int(cfg, "vocab_size_per_layer_input")
    model_extra = (("model.embed_tokens_per_layer.weight", (vocab_ple, n_layers * p)),
                   ("model.per_layer_model_projection.weight", (n_layers * p, h)),
                   ("model.per_layer_projection_norm.weight", (p,)),
                   *((f"model.altup_projections.{j}.weight", (h, h)) for j in range(n - 1)),
                   *((f"model.altup_unembed_projections.{j}.weight", (h, h)) for j in range(n - 1)))
    return build_model(cfg, name, h, layers, tie=True, extra=model_extra)


def _gemma3n(cfg: Config, name: str) -> ModelSpec:
    """The image-audio-text ``gemma3n`` config (``Gemma3nForConditionalGeneration``): its text model, the MobileNet-V5
    vision tower (built through timm, counted from data) and the USM audio encoder with their embedders."""
    text = {"model_type": "gemma3n_text", **sub_config(cfg, "text_config")}
    text = with_top_level(text, cfg)
    spec = gemma3n_text(text, name)
    tokens = get_int(cfg, "vision_soft_tokens_per_image", 256)
    return replace(spec, family="gemma3n", vision=gemma3n_towers(cfg, spec.hidden_size, tokens))


BUILDERS: dict[str, Builder] = {
    "gemma3n_text": gemma3n_text,
    "gemma3n": _gemma3n,
}

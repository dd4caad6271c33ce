"""Mistral 3 (``mistral3``: Mistral Small 3.1/3.2, Ministral 3, Devstral … with images): a Pixtral vision tower, a
patch merger and a two-layer projector around a Mistral or Ministral 3 text model.

The vision tower and projector are counted as one lump (``VisionSpec.parameters``) from transformers 5.25's
modules: ``PixtralVisionModel`` (a bias-free patch convolution, an RMSNorm, ``num_hidden_layers`` blocks of bias-free
q/k/v/o and gated MLP with two RMSNorms) and ``Mistral3MultiModalProjector`` (an RMSNorm, the patch merger's
``(d, d·m²)`` linear, ``linear_1`` and ``linear_2``).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ...errors import ConfigError
from ...spec import ModelSpec, VisionSpec
from .common import Builder, Config, get_bool, get_int, sub_config, with_top_level
from .dense import BUILDERS as DENSE
from .dense_recent import BUILDERS as RECENT
from .dense_recent import with_defaults

__all__ = ["BUILDERS", "pixtral_tokens_per_image"]

# Mistral3Config's sub-config defaults (used when the file has no text_config / vision_config at all)
_TEXT_DEFAULTS: dict[str, Any] = {
    "model_type": "mistral", "head_dim": 128, "hidden_size": 5120, "intermediate_size": 32768,
    "max_position_embeddings": 131072, "num_attention_heads": 32, "num_hidden_layers": 40, "num_key_value_heads": 8,
    "rms_norm_eps": 1e-05, "sliding_window": None, "vocab_size": 131072,
}
_VISION_DEFAULTS: dict[str, Any] = {"intermediate_size": 4096, "hidden_size": 1024, "patch_size": 14,
                                    "image_size": 1540, "num_hidden_layers": 24, "num_attention_heads": 16}
_PIXTRAL_CLASS_DEFAULTS: dict[str, Any] = {"hidden_size": 1024, "intermediate_size": 4096, "num_hidden_layers": 24,
                                           "num_attention_heads": 16, "num_channels": 3, "image_size": 1024,
                                           "patch_size": 16}


def pixtral_tokens_per_image(image_size: int, patch_size: int, merge: int) -> int:
    """Text tokens one image of ``image_size``² pixels (the largest the tower takes) adds to the context: the
    (size / patch / merge)² merged patches plus one [IMG_BREAK] per row, the last one being [IMG_END]."""
    side = image_size // patch_size // merge
    return side * side + side


def _pixtral(v: Config, text_hidden: int, merge: int, feature_layers: int, projector_bias: bool) -> VisionSpec:
    for key in ("image_size", "patch_size"):
        if isinstance(v.get(key), list | tuple):
            raise ConfigError(f"vision_config {key!r} = {v.get(key)!r}: memfit reads a square size (one integer)")
    d, inter = get_int(v, "hidden_size"), get_int(v, "intermediate_size")
    n, p, c = get_int(v, "num_hidden_layers"), get_int(v, "patch_size"), get_int(v, "num_channels", 3)
    tower = d * c * p * p + d + n * (2 * d + 4 * d * d + 3 * d * inter)
    bias = text_hidden if projector_bias else 0
    projector = d + d * d * merge * merge + (d * feature_layers * text_hidden + bias) + (text_hidden ** 2 + bias)
    return VisionSpec(parameters=tower + projector, hidden_size=d, num_layers=n, intermediate_size=inter,
                      num_heads=get_int(v, "num_attention_heads"), image_size=get_int(v, "image_size"),
                      patch_size=p, num_channels=c, projector_dim=text_hidden,
                      tokens_per_image=pixtral_tokens_per_image(get_int(v, "image_size"), p, merge),
                      description="Pixtral vision tower + Mistral 3 patch merger and projector")


def _mistral3(cfg: Config, name: str) -> ModelSpec:
    raw_text = sub_config(cfg, "text_config")
    text: dict[str, Any] = dict(raw_text) if raw_text else dict(_TEXT_DEFAULTS)
    kind = str(text.get("model_type") or "mistral")
    builder = {"mistral": DENSE["mistral"], "ministral3": RECENT["ministral3"]}.get(kind)
    if builder is None:
        raise ConfigError(f"text_config model_type {kind!r}: memfit builds Mistral 3 around 'mistral' or "
                          "'ministral3' text models")
    text = with_top_level(text, cfg)
    text.setdefault("tie_word_embeddings", get_bool(cfg, "tie_word_embeddings", True))
    spec = builder({**text, "model_type": kind}, name)
    raw_vision = sub_config(cfg, "vision_config")
    vision = with_defaults(raw_vision, _PIXTRAL_CLASS_DEFAULTS) if raw_vision else dict(_VISION_DEFAULTS)
    layers = cfg.get("vision_feature_layer", -1)
    feature_layers = len(layers) if isinstance(layers, list) else 1
    tower = _pixtral(vision, spec.hidden_size, get_int(cfg, "spatial_merge_size", 2), feature_layers,
                     get_bool(cfg, "multimodal_projector_bias", False))
    return replace(spec, family="mistral3", vision=tower)


BUILDERS: dict[str, Builder] = {
    "mistral3": _mistral3,
}

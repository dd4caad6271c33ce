"""Vision-language families: Gemma 3 (SigLIP tower + projector around the Gemma 3 text model)."""

from __future__ import annotations

from dataclasses import replace

from ...errors import ConfigError
from ...inventory import vision_tensors
from ...spec import ModelSpec, VisionSpec
from .common import Builder, Config, get_bool, get_int, sub_config, with_top_level
from .dense import gemma3_text

__all__ = ["BUILDERS"]


def _siglip(v: Config, text_hidden: int, tokens_per_image: int) -> VisionSpec:
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
    return replace(spec, parameters=sum(t.numel for t in vision_tensors(spec)))


def _gemma3(cfg: Config, name: str) -> ModelSpec:
    text = {"model_type": "gemma3_text", **sub_config(cfg, "text_config")}
    text = with_top_level(text, cfg)
    spec = gemma3_text(text, name)
    vision = _siglip(sub_config(cfg, "vision_config"), spec.hidden_size, get_int(cfg, "mm_tokens_per_image", 256))
    return replace(spec, family="gemma3", vision=vision)


BUILDERS: dict[str, Builder] = {
    "gemma3": _gemma3,
}

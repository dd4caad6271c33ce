"""Image-text models whose checkpoint holds a vision tower beside a known text model: LLaVA (``llava``), Qwen2.5-VL
(``qwen2_5_vl``), Qwen3-VL (``qwen3_vl``, ``qwen3_vl_moe``) and Idefics3 (``idefics3``). The text model is built by its
own family's builder (LLaVA and Idefics3 name it in ``text_config``; Qwen2.5-VL's is Qwen2-shaped, Qwen3-VL's
Qwen3-shaped), the tower and projector by ``vision_towers``; their parameters are counted, as transformers' image-text
class builds them (``*ForConditionalGeneration``).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ...errors import ConfigError
from ...spec import ModelSpec
from .common import Builder, Config, get_int, sub_config, with_top_level
from .dense import BUILDERS as DENSE
from .dense_recent import BUILDERS as RECENT
from .dense_recent import with_defaults
from .moe import BUILDERS as MOE
from .vision_towers import clip_tower, idefics3_tower, mllama_tower, projector_bias, qwen2_5_tower, qwen3_vl_tower

__all__ = ["BUILDERS"]

# LlamaConfig's defaults, for the text_config of a LLaVA or Idefics3 file that leaves them out
_LLAMA_DEFAULTS: dict[str, Any] = {"vocab_size": 32000, "hidden_size": 4096, "intermediate_size": 11008,
                                   "num_hidden_layers": 32, "num_attention_heads": 32, "max_position_embeddings": 2048}
_TEXT_BUILDERS: dict[str, Builder] = {**DENSE, **RECENT, **MOE}


def _text(cfg: Config, kind: str, defaults: dict[str, Any] | None = None, root_text: bool = False) -> dict[str, Any]:
    """The text model's config: ``text_config`` (or, in older Qwen-VL files, the top level) under ``kind``, the top
    level deciding the dtype and the tied head."""
    raw = sub_config(cfg, "text_config")
    if not raw and root_text:
        raw = {k: v for k, v in cfg.items() if k not in ("vision_config", "model_type", "architectures")}
    text = with_defaults(raw, defaults or {})
    text["model_type"] = kind
    text = with_top_level(text, cfg)
    return text


def _named_text(cfg: Config, name: str, default_kind: str) -> ModelSpec:
    kind = str(sub_config(cfg, "text_config").get("model_type") or default_kind)
    builder = _TEXT_BUILDERS.get(kind)
    if builder is None:
        raise ConfigError(f"text_config model_type {kind!r}: memfit builds this image-text model around "
                          f"{', '.join(sorted(_TEXT_BUILDERS))} text models")
    defaults = _LLAMA_DEFAULTS if kind == "llama" else None
    return builder(_text(cfg, kind, defaults), name)


def _llava(cfg: Config, name: str) -> ModelSpec:
    spec = _named_text(cfg, name, "llama")
    layers = cfg.get("vision_feature_layer", -2)
    feature_layers = len(layers) if isinstance(layers, list) else 1
    strategy = str(cfg.get("vision_feature_select_strategy") or "default")
    tower = clip_tower(sub_config(cfg, "vision_config"), spec.hidden_size, feature_layers, projector_bias(cfg),
                       strategy)
    return replace(spec, family="llava", vision=tower)


def _qwen2_5_vl(cfg: Config, name: str) -> ModelSpec:
    spec = DENSE["qwen2"](_text(cfg, "qwen2", root_text=True), name)
    return replace(spec, family="qwen2_5_vl", vision=qwen2_5_tower(sub_config(cfg, "vision_config")))


# Qwen3VLMoeTextConfig's expert defaults (it names the expert count num_local_experts in to_dict)
_QWEN3_VL_MOE_DEFAULTS: dict[str, Any] = {"num_experts_per_tok": 4, "moe_intermediate_size": 1408}


def _qwen3_vl(cfg: Config, name: str, moe: bool) -> ModelSpec:
    kind = "qwen3_moe" if moe else "qwen3"
    text = _text(cfg, kind, _QWEN3_VL_MOE_DEFAULTS if moe else None)
    if moe and text.get("num_experts") is None:
        text["num_experts"] = text.get("num_local_experts") or 60
    spec = _TEXT_BUILDERS[kind](text, name)
    return replace(spec, family="qwen3_vl_moe" if moe else "qwen3_vl",
                   vision=qwen3_vl_tower(sub_config(cfg, "vision_config")))


def _idefics3(cfg: Config, name: str) -> ModelSpec:
    spec = _named_text(cfg, name, "llama")
    vision = sub_config(cfg, "vision_config")
    size = get_int({**{"image_size": 224}, **{k: v for k, v in vision.items() if v is not None}}, "image_size")
    tower = idefics3_tower(vision, spec.hidden_size, get_int(cfg, "scale_factor", 2), 4 * size)
    return replace(spec, family="idefics3", vision=tower)


# MllamaTextConfig's defaults
_MLLAMA_TEXT_DEFAULTS: dict[str, Any] = {"vocab_size": 128256, "hidden_size": 4096, "intermediate_size": 14336,
                                         "num_hidden_layers": 40, "num_attention_heads": 32, "num_key_value_heads": 8,
                                         "max_position_embeddings": 131072, "cross_attention_layers": [3, 8, 13, 18, 23,
                                                                                                        28, 33, 38]}


def _mllama(cfg: Config, name: str) -> ModelSpec:
    """Llama 3.2 Vision: a Llama text model whose ``cross_attention_layers`` attend to the image tokens (q/k norms per
    head, two gate scalars) instead of the text; its token table has 8 rows more than the head."""
    text = _text(cfg, "llama", _MLLAMA_TEXT_DEFAULTS)
    cross = text.get("cross_attention_layers") or []
    if not isinstance(cross, list) or not all(isinstance(i, int) for i in cross):
        raise ConfigError(f"text_config 'cross_attention_layers' = {str(cross)[:60]} must be a list of layer indices")
    spec = DENSE["llama"](text, name)
    layers = list(spec.layers)
    for i in cross:
        if not 0 <= i < len(layers):
            raise ConfigError(f"text_config 'cross_attention_layers' names layer {i} of {len(layers)}")
        layer = layers[i]
        assert layer.attention is not None
        layers[i] = replace(layer, attention=replace(layer.attention, qk_norm="head", cross_attention=True),
                            extra=(("cross_attn_attn_gate", (1,)), ("cross_attn_mlp_gate", (1,))))
    tower = mllama_tower(sub_config(cfg, "vision_config"), spec.hidden_size)
    return replace(spec, family="mllama", layers=tuple(layers), vision=tower,
                   extra=(*spec.extra, ("model.language_model.embed_tokens.extra_rows", (8, spec.hidden_size))))


BUILDERS: dict[str, Builder] = {
    "mllama": _mllama,
    "llava": _llava,
    "qwen2_5_vl": _qwen2_5_vl,
    "qwen3_vl": lambda cfg, name: _qwen3_vl(cfg, name, moe=False),
    "qwen3_vl_moe": lambda cfg, name: _qwen3_vl(cfg, name, moe=True),
    "idefics3": _idefics3,
}

"""Vision towers of image-text models, counted as one lump (``VisionSpec.parameters``) from transformers 5.25's modules,
with the tokens an image adds to the context (``VisionSpec.tokens_per_image``) from the config.

* **CLIP** (``CLIPVisionModel``, LLaVA): a class embedding, a bias-free patch convolution, (patches + 1) position
  embeddings, a pre-LayerNorm, ``num_hidden_layers`` blocks (LayerNorm, q/k/v/out with biases, LayerNorm, fc1/fc2 with
  biases) and a post-LayerNorm; LLaVA's projector is two linears with biases (``multimodal_projector_bias``). An image
  adds (image_size / patch)² tokens (the CLS feature dropped, ``vision_feature_select_strategy`` "default"), + 1 with
  "full".
* **Qwen2.5-VL** (``Qwen2_5_VisionTransformerPretrainedModel``): a bias-free Conv3d patch embedding
  (``temporal_patch_size`` frames), blocks of two RMSNorms, fused qkv and proj with biases and a gated MLP with biases,
  and the patch merger (RMSNorm, (d·m²)² and (out, d·m²) linears with biases). An H × W image adds
  (H / (patch·merge)) × (W / (patch·merge)) tokens.
* **Qwen3-VL** (``Qwen3VLVisionModel``): a Conv3d patch embedding with bias, learned position embeddings, blocks of two
  LayerNorms, fused qkv/proj and fc1/fc2 with biases, the patch merger (LayerNorm over d) and one "deepstack" merger
  per ``deepstack_visual_indexes`` entry (LayerNorm over d·m²).
* **Idefics3** (``Idefics3VisionTransformer``, SigLIP-shaped): a patch convolution with bias, position embeddings,
  blocks (LayerNorm, q/k/v/out with biases, LayerNorm, fc1/fc2 with biases), a post-LayerNorm; the connector
  pixel-shuffles ``scale_factor``² patches into one token and projects d·s² → text hidden without bias. One
  (image_size)² tile adds (image_size / patch)² / s² tokens.
"""

from __future__ import annotations

from typing import Any

from ...errors import ConfigError
from ...spec import VisionSpec
from .common import Config, get_bool, get_int
from .dense_recent import with_defaults

__all__ = ["CLIP_LLAVA_DEFAULTS", "clip_tower", "idefics3_tower", "mllama_tower", "qwen2_5_tower", "qwen3_vl_tower",
           "qwen_vision_tokens"]

CLIP_LLAVA_DEFAULTS: dict[str, Any] = {"intermediate_size": 4096, "hidden_size": 1024, "patch_size": 14,
                                       "image_size": 336, "num_hidden_layers": 24, "num_attention_heads": 16,
                                       "num_channels": 3}
_QWEN2_5_DEFAULTS: dict[str, Any] = {"depth": 32, "hidden_size": 3584, "intermediate_size": 3420, "num_heads": 16,
                                     "in_channels": 3, "patch_size": 14, "spatial_merge_size": 2,
                                     "temporal_patch_size": 2, "out_hidden_size": 3584}
_QWEN3_VL_DEFAULTS: dict[str, Any] = {"depth": 27, "hidden_size": 1152, "intermediate_size": 4304, "num_heads": 16,
                                      "in_channels": 3, "patch_size": 16, "spatial_merge_size": 2,
                                      "temporal_patch_size": 2, "out_hidden_size": 3584,
                                      "num_position_embeddings": 2304, "deepstack_visual_indexes": [8, 16, 24]}
_IDEFICS3_DEFAULTS: dict[str, Any] = {"hidden_size": 1152, "intermediate_size": 3072, "num_hidden_layers": 12,
                                      "num_attention_heads": 16, "num_channels": 3, "image_size": 224,
                                      "patch_size": 32}
# the image size the token counts of dynamic-resolution towers are given for
SAMPLE_SIDE = 1024


def _square(v: Config, key: str) -> int:
    if isinstance(v.get(key), list | tuple):
        raise ConfigError(f"vision_config {key!r} = {v.get(key)!r}: memfit reads a square size (one integer)")
    return get_int(v, key)


def qwen_vision_tokens(height: int, width: int, patch: int, merge: int) -> int:
    """Text tokens one image adds: one per merged patch, (H / (patch·merge)) × (W / (patch·merge)), the sides
    rounded to whole merged patches (Qwen's processor resizes to multiples of patch·merge)."""
    side = patch * merge
    return max(1, round(height / side)) * max(1, round(width / side))


def _vit_blocks(n: int, d: int, inter: int) -> int:
    """``n`` ViT blocks: two LayerNorms, q/k/v/out (or fused qkv + proj) with biases, fc1/fc2 with biases."""
    return n * (4 * d + 4 * d * d + 4 * d + 2 * d * inter + inter + d)


def clip_tower(v: Config, text_hidden: int, feature_layers: int, projector_bias: bool, strategy: str) -> VisionSpec:
    v = with_defaults(v, CLIP_LLAVA_DEFAULTS)
    d, inter, n = get_int(v, "hidden_size"), get_int(v, "intermediate_size"), get_int(v, "num_hidden_layers")
    p, c, size = _square(v, "patch_size"), get_int(v, "num_channels"), _square(v, "image_size")
    patches = (size // p) ** 2
    tower = d + d * c * p * p + (patches + 1) * d + 2 * d + _vit_blocks(n, d, inter) + 2 * d
    bias = text_hidden if projector_bias else 0
    projector = d * feature_layers * text_hidden + bias + text_hidden * text_hidden + bias
    tokens = patches + (1 if strategy == "full" else 0)
    return VisionSpec(parameters=tower + projector, hidden_size=d, num_layers=n, intermediate_size=inter,
                      num_heads=get_int(v, "num_attention_heads"), image_size=size, patch_size=p, num_channels=c,
                      projector_dim=text_hidden, tokens_per_image=tokens, kind="clip",
                      description=f"CLIP vision tower + LLaVA projector; an image ({size}² px) adds {tokens} tokens")


def qwen2_5_tower(v: Config) -> VisionSpec:
    v = with_defaults(v, _QWEN2_5_DEFAULTS)
    d, inter, depth = get_int(v, "hidden_size"), get_int(v, "intermediate_size"), get_int(v, "depth")
    p, t, c = _square(v, "patch_size"), get_int(v, "temporal_patch_size"), get_int(v, "in_channels")
    m, out = get_int(v, "spatial_merge_size"), get_int(v, "out_hidden_size")
    hs = d * m * m
    blocks = depth * (2 * d + 3 * d * d + 3 * d + d * d + d + 3 * d * inter + 2 * inter + d)
    total = d * c * t * p * p + blocks + d + hs * hs + hs + out * hs + out
    tokens = qwen_vision_tokens(SAMPLE_SIDE, SAMPLE_SIDE, p, m)
    return VisionSpec(parameters=total, hidden_size=d, num_layers=depth, intermediate_size=inter,
                      num_heads=get_int(v, "num_heads"), image_size=SAMPLE_SIDE, patch_size=p, num_channels=c,
                      projector_dim=out, tokens_per_image=tokens, kind="qwen2_5_vl", temporal_patch=t,
                      description=f"Qwen2.5-VL vision tower + patch merger; an H × W px image adds (H/{p * m}) × "
                                  f"(W/{p * m}) tokens ({SAMPLE_SIDE:,}² px: {tokens:,})")


def qwen3_vl_tower(v: Config) -> VisionSpec:
    v = with_defaults(v, _QWEN3_VL_DEFAULTS)
    d, inter, depth = get_int(v, "hidden_size"), get_int(v, "intermediate_size"), get_int(v, "depth")
    p, t, c = _square(v, "patch_size"), get_int(v, "temporal_patch_size"), get_int(v, "in_channels")
    m, out = get_int(v, "spatial_merge_size"), get_int(v, "out_hidden_size")
    deep = v.get("deepstack_visual_indexes") or []
    if not isinstance(deep, list | tuple) or not all(isinstance(i, int) and not isinstance(i, bool) for i in deep):
        raise ConfigError(f"vision_config 'deepstack_visual_indexes' = {deep!r} must be a list of block indexes")
    hs = d * m * m
    merger = hs * hs + hs + out * hs + out
    total = (d * c * t * p * p + d + get_int(v, "num_position_embeddings") * d + _vit_blocks(depth, d, inter)
             + 2 * d + merger + len(deep) * (2 * hs + merger))
    tokens = qwen_vision_tokens(SAMPLE_SIDE, SAMPLE_SIDE, p, m)
    return VisionSpec(parameters=total, hidden_size=d, num_layers=depth, intermediate_size=inter,
                      num_heads=get_int(v, "num_heads"), image_size=SAMPLE_SIDE, patch_size=p, num_channels=c,
                      projector_dim=out, tokens_per_image=tokens, kind="qwen3_vl", temporal_patch=t,
                      deepstack=len(deep), deepstack_indexes=tuple(deep),
                      description=f"Qwen3-VL vision tower + patch mergers ({len(deep)} deepstack); an H × W px image "
                                  f"adds (H/{p * m}) × (W/{p * m}) tokens ({SAMPLE_SIDE:,}² px: {tokens:,})")


def idefics3_tower(v: Config, text_hidden: int, scale: int, longest_edge: int) -> VisionSpec:
    v = with_defaults(v, _IDEFICS3_DEFAULTS)
    d, inter, n = get_int(v, "hidden_size"), get_int(v, "intermediate_size"), get_int(v, "num_hidden_layers")
    p, c, size = _square(v, "patch_size"), get_int(v, "num_channels"), _square(v, "image_size")
    patches = (size // p) ** 2
    tower = d * c * p * p + d + patches * d + _vit_blocks(n, d, inter) + 2 * d
    connector = d * scale * scale * text_hidden
    per_tile = patches // (scale * scale)
    # the processor splits an image into ceil(longest_edge / size)² tiles and adds one global tile
    side = -(-longest_edge // size)
    tiles = side * side + (1 if side > 1 else 0)
    return VisionSpec(parameters=tower + connector, hidden_size=d, num_layers=n, intermediate_size=inter,
                      num_heads=get_int(v, "num_attention_heads"), image_size=size, patch_size=p, num_channels=c,
                      projector_dim=text_hidden, tokens_per_image=tiles * per_tile, kind="idefics3",
                      description=f"Idefics3 vision tower + pixel-shuffle connector; a {size}² px tile adds {per_tile} "
                                  f"tokens, an image with a {longest_edge:,} px longest edge {side}×{side} tiles + "
                                  f"the global one: {tiles * per_tile:,}")


def projector_bias(cfg: Config) -> bool:
    return get_bool(cfg, "multimodal_projector_bias", True)


def mllama_tower(v: Config, text_hidden: int) -> VisionSpec:
    """Llama 3.2 Vision's tower (``MllamaVisionModel``) and projector: a bias-free patch convolution, a class embedding,
    gated position embeddings ((patches + 1) rows, and per aspect ratio a (tiles × (patches + 1), d) tile table),
    gated pre- and post-tile embeddings (per aspect ratio tiles × d), pre/post LayerNorms, ``num_hidden_layers`` local
    blocks (bias-free q/k/v/o, fc1/fc2 with biases, two LayerNorms) and ``num_global_layers`` gated ones (two gate
    scalars more); the projector maps ``vision_output_dim`` to the text width with a bias. Every image is tiles ×
    (patches + 1) vision tokens, cached by each cross-attention layer; the text context holds one <|image|> token."""
    d, inter = get_int(v, "hidden_size", 1280), get_int(v, "intermediate_size", 5120)
    local, glob = get_int(v, "num_hidden_layers", 32), get_int(v, "num_global_layers", 8)
    v = with_defaults(v, {"patch_size": 14, "image_size": 448})
    p, c, size = _square(v, "patch_size"), get_int(v, "num_channels", 3), _square(v, "image_size")
    tiles = get_int(v, "max_num_tiles", 4)
    ratios = v.get("supported_aspect_ratios") or [[1, 1], [1, 2], [1, 3], [1, 4], [2, 1], [2, 2], [3, 1], [4, 1]]
    if not isinstance(ratios, list):
        raise ConfigError(f"vision_config 'supported_aspect_ratios' = {ratios!r} must be a list of [w, h] pairs")
    n_ratio = len(ratios) + 1
    positions = (size // p) ** 2 + 1
    block = 4 * d * d + 2 * d * inter + inter + d + 4 * d
    tower = (d * c * p * p + d + 1 + positions * d + n_ratio * tiles * positions * d + 2 * (1 + n_ratio * tiles * d)
             + 4 * d + local * block + glob * (block + 2))
    out = get_int(v, "vision_output_dim", 7680)
    return VisionSpec(parameters=tower + out * text_hidden + text_hidden, hidden_size=d, num_layers=local + glob,
                      intermediate_size=inter, num_heads=get_int(v, "attention_heads", 16), image_size=size,
                      patch_size=p, num_channels=c, projector_dim=text_hidden, tokens_per_image=1, kind="mllama",
                      cross_attention_tokens=tiles * positions, tiles=tiles, kept_layers=local + glob, output_dim=out,
                      description=f"Llama 3.2 Vision tower + projector; an image is 1 <|image|> token of context and "
                                  f"{tiles} tiles × {positions:,} = {tiles * positions:,} vision tokens cached by each "
                                  "cross-attention layer")

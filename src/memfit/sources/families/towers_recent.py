"""Vision and audio towers of the 2025–2026 image-text models, counted as one lump each (``VisionSpec.parameters``)
from transformers 5.25's modules, with the tokens an image adds to the context.

* **Llama 4** (``Llama4VisionModel`` + ``Llama4MultiModalProjector``): a bias-free unfold-convolution patch linear
  (c·p² → d), a class embedding, (patches + 1) position embeddings, pre/post LayerNorms, ``num_hidden_layers`` blocks
  (LayerNorm, q/k/v/o with biases, LayerNorm, fc1/fc2 with biases), the pixel-shuffle adapter (fc1
  ``intermediate_size`` → ``projector_input_dim``, fc2 ``projector_output_dim``², no biases) and the projector
  ``vision_output_dim`` → text hidden without bias. An image is cut into tiles of ``image_size``² px; a tile adds
  (image_size / patch)² · ``pixel_shuffle_ratio``² tokens, and the processor writes <|image_start|>, <|image|> and
  <|image_end|> around them (a one-tile image: tokens + 3).
* **Gemma 4** (``Gemma4VisionModel``, ``Gemma4AudioModel`` and the two ``Gemma4MultimodalEmbedder``): a bias-free
  patch linear (3·p² → d) and a (2, ``position_embedding_size``, d) position table; blocks of q/k/v/o without bias
  (``num_key_value_heads`` × ``head_dim`` for k and v), q/k norms of ``head_dim``, four RMSNorms and a gated MLP; the
  pooler has no weights; the embedder projects d → text hidden. The audio tower is a conformer: two 3 × 3 bias-free
  convolutions with LayerNorms (no bias), an input projection ((c₀ / 4)·c₁ → h), per layer two feed-forwards
  (h → 4h → h, two norms each), attention (q/k/v/post and a relative-position key projection, h², and a per-dim
  scale), a light convolution (h → 2h, a depthwise kernel, h → h, two norms) and three norms; an output projection
  with bias and the embedder (``output_proj_dims`` → text hidden). A square image is resized to the largest multiple
  of ``pooling_kernel_size · patch_size`` px whose patches fit ``max_soft_tokens`` · k² (280 by default), and adds
  patches / k² soft tokens between <boi> and <eoi>.
* **Gemma 3n**: the MobileNet-V5 vision tower is built by timm (``timm.create_model(architecture)``), so its count is
  a fact about timm's definition, kept as data (``data/timm_towers.toml``, checked against timm's meta build in the
  tests when timm is installed); the USM audio encoder (a conformer of the shape above, with an RMS group norm after
  each convolution, per-dim scale and a relative-position projection) and the two embedders (a 128-row table, two
  norms and a projection each) are counted from transformers' modules.
"""

from __future__ import annotations

import importlib.resources
import math
import tomllib
from functools import cache
from typing import Any

from ...errors import ConfigError
from ...spec import VisionSpec
from .common import Config, get_float, get_int
from .dense_recent import with_defaults

__all__ = ["gemma3n_towers", "gemma4_towers", "llama4_tower", "timm_tower_parameters"]

_LLAMA4_DEFAULTS: dict[str, Any] = {  # Llama4VisionConfig's
    "hidden_size": 768, "num_hidden_layers": 34, "num_attention_heads": 16, "num_channels": 3,
    "intermediate_size": 5632, "vision_output_dim": 7680, "image_size": 448, "patch_size": 14,
    "pixel_shuffle_ratio": 0.5, "projector_input_dim": 4096, "projector_output_dim": 4096,
}
_GEMMA4_VISION: dict[str, Any] = {  # Gemma4VisionConfig's
    "hidden_size": 768, "intermediate_size": 3072, "num_hidden_layers": 16, "num_attention_heads": 12,
    "num_key_value_heads": 12, "head_dim": 64, "pooling_kernel_size": 3, "patch_size": 16,
    "position_embedding_size": 10 * 1024,
}
_GEMMA4_AUDIO: dict[str, Any] = {  # Gemma4AudioConfig's
    "hidden_size": 1024, "num_hidden_layers": 12, "num_attention_heads": 8, "subsampling_conv_channels": [128, 32],
    "conv_kernel_size": 5, "output_proj_dims": 1536,
}
_GEMMA3N_AUDIO: dict[str, Any] = {  # Gemma3nAudioConfig's
    "vocab_size": 128, "input_feat_size": 128, "hidden_size": 1536, "conf_num_attention_heads": 8,
    "conf_num_hidden_layers": 12, "conf_conv_kernel_size": 5, "sscp_conv_channel_size": [128, 32],
    "sscp_conv_kernel_size": [[3, 3], [3, 3]], "sscp_conv_stride_size": [[2, 2], [2, 2]],
}
_GEMMA3N_VISION: dict[str, Any] = {"architecture": "mobilenetv5_300m_enc", "hidden_size": 2048, "vocab_size": 128}
GEMMA4_MAX_SOFT_TOKENS = 280  # Gemma4ImageProcessor.max_soft_tokens


def _vit_blocks(n: int, d: int, inter: int) -> int:
    """``n`` ViT blocks: two LayerNorms, q/k/v/o with biases, fc1/fc2 with biases."""
    return n * (4 * d + 4 * d * d + 4 * d + 2 * d * inter + inter + d)


def llama4_tower(v: Config, text_hidden: int) -> VisionSpec:
    v = with_defaults(v, _LLAMA4_DEFAULTS)
    d, inter, n = get_int(v, "hidden_size"), get_int(v, "intermediate_size"), get_int(v, "num_hidden_layers")
    p, c, size = get_int(v, "patch_size"), get_int(v, "num_channels"), get_int(v, "image_size")
    ratio = get_float(v, "pixel_shuffle_ratio", 0.5)
    if not 0 < ratio <= 1:
        raise ConfigError(f"vision_config 'pixel_shuffle_ratio' = {ratio!r} must be in (0, 1]")
    patches = (size // p) ** 2
    adapter = inter * get_int(v, "projector_input_dim") + get_int(v, "projector_output_dim") ** 2
    tower = c * p * p * d + d + (patches + 1) * d + 4 * d + _vit_blocks(n, d, inter) + adapter
    projector = get_int(v, "vision_output_dim") * text_hidden
    per_tile = round(patches * ratio * ratio)
    tokens = per_tile + 3
    pin, pout = get_int(v, "projector_input_dim"), get_int(v, "projector_output_dim")
    linears = (("q_proj", d, d, n), ("k_proj", d, d, n), ("v_proj", d, d, n), ("o_proj", d, d, n),
               ("fc1", d, inter, n), ("fc2", inter, d, n), ("linear", c * p * p, d, 1), ("fc1", inter, pin, 1),
               ("fc2", pout, pout, 1), ("linear_1", get_int(v, "vision_output_dim"), text_hidden, 1))
    return VisionSpec(parameters=tower + projector, hidden_size=d, num_layers=n, intermediate_size=inter,
                      linears=linears,
                      num_heads=get_int(v, "num_attention_heads"), image_size=size, patch_size=p, num_channels=c,
                      projector_dim=text_hidden, tokens_per_image=tokens, kind="llama4",
                      description=f"Llama 4 vision tower + projector; a {size}² px tile adds {per_tile} tokens, a "
                                  f"one-tile image {tokens} with its 3 markers (an r × c tile image: (r·c + 1) × "
                                  f"{per_tile} + r·c + 3)")


def _conformer_layer(h: int, heads: int, kernel: int) -> int:
    """One conformer block: two feed-forwards (h → 4h → h, two norms each), attention (q/k/v/post + the relative
    position projection, a per-dim scale, two norms), a light convolution (h → 2h, depthwise, h → h, two norms) and
    the block's output norm."""
    return 24 * h * h + 9 * h + h // heads + h * kernel


def _pair(values: Any, key: str) -> list[int]:
    if not isinstance(values, list | tuple) or len(values) != 2:
        raise ConfigError(f"audio_config {key!r} = {str(values)[:60]} must list two values")
    return [get_int({key: x}, key) for x in values]


def gemma4_towers(cfg: Config, text_hidden: int) -> VisionSpec | None:
    """Gemma 4's vision tower and (E2B/E4B) audio tower with their embedders; None when the config has neither."""
    raw_v, raw_a = cfg.get("vision_config"), cfg.get("audio_config")
    if raw_v is None and raw_a is None:
        return None
    parts, total = [], 0
    spec_kw: dict[str, Any] = {}
    linears: list[tuple[str, int, int, int]] = []
    if raw_v is not None:
        v = with_defaults(raw_v if isinstance(raw_v, dict) else {}, _GEMMA4_VISION)
        d, inter, n = get_int(v, "hidden_size"), get_int(v, "intermediate_size"), get_int(v, "num_hidden_layers")
        heads, kv, hd = get_int(v, "num_attention_heads"), get_int(v, "num_key_value_heads"), get_int(v, "head_dim")
        p, k = get_int(v, "patch_size"), get_int(v, "pooling_kernel_size")
        layer = d * heads * hd * 2 + 2 * d * kv * hd + 2 * hd + 4 * d + 3 * d * inter
        total += 3 * p * p * d + 2 * get_int(v, "position_embedding_size") * d + n * layer + d * text_hidden
        max_tokens = get_int(cfg, "vision_soft_tokens_per_image", GEMMA4_MAX_SOFT_TOKENS)
        side = math.isqrt(max_tokens * k * k * p * p) // (k * p) * k * p  # a square image, resized
        soft = (side // p) ** 2 // (k * k)
        spec_kw = {"hidden_size": d, "num_layers": n, "intermediate_size": inter, "num_heads": heads,
                   "image_size": side, "patch_size": p, "tokens_per_image": soft + 2}
        # Gemma4ClippableLinear wraps each projection's nn.Linear as ``.linear``; the embedder's projection is plain
        linears += [("linear", d, heads * hd, n), ("linear", d, kv * hd, 2 * n), ("linear", heads * hd, d, n),
                    ("linear", d, inter, 2 * n), ("linear", inter, d, n), ("input_proj", 3 * p * p, d, 1),
                    ("embedding_projection", d, text_hidden, 1)]
        parts.append(f"vision tower + embedder; a square image is resized to {side}² px and adds {soft} soft tokens "
                     f"+ <boi>/<eoi> = {soft + 2} (at most {max_tokens} soft tokens per image)")
    if raw_a is not None:
        a = with_defaults(raw_a if isinstance(raw_a, dict) else {}, _GEMMA4_AUDIO)
        h, out = get_int(a, "hidden_size"), get_int(a, "output_proj_dims")
        c0, c1 = _pair(a.get("subsampling_conv_channels"), "subsampling_conv_channels")
        sub = 9 * c0 + c0 + 9 * c0 * c1 + c1 + (c0 // 4) * c1 * h
        layers = get_int(a, "num_hidden_layers") * _conformer_layer(h, get_int(a, "num_attention_heads"),
                                                                     get_int(a, "conv_kernel_size"))
        total += sub + layers + h * out + out + out * text_hidden
        parts.append("audio conformer + embedder")
        na = get_int(a, "num_hidden_layers")  # two feed-forwards, q/k/v/post, the light conv's start and end
        linears += [("linear", h, 4 * h, 2 * na), ("linear", 4 * h, h, 2 * na), ("linear", h, h, 5 * na),
                    ("linear", h, 2 * h, na), ("relative_k_proj", h, h, na),
                    ("input_proj_linear", (c0 // 4) * c1, h, 1), ("output_proj", h, out, 1),
                    ("embedding_projection", out, text_hidden, 1)]
    return VisionSpec(parameters=total, projector_dim=text_hidden, kind="gemma4", linears=tuple(linears),
                      description="Gemma 4 " + "; ".join(parts), **spec_kw)


@cache
def _timm_towers() -> dict[str, dict[str, Any]]:
    text = importlib.resources.files("memfit").joinpath("data", "timm_towers.toml").read_text(encoding="utf-8")
    return {str(r["architecture"]): r for r in tomllib.loads(text)["tower"]}


def timm_tower_parameters(architecture: str) -> int:
    """Parameters of a timm image tower built without its classifier (``num_classes=0``), from the data file."""
    row = _timm_towers().get(architecture)
    if row is None:
        known = ", ".join(sorted(_timm_towers()))
        raise ConfigError(f"vision_config 'architecture' = {architecture[:60]!r}: memfit knows the timm towers "
                          f"{known}; this config needs the generic path")
    return int(row["parameters"])


def _gemma3n_audio(a: Config, text_hidden: int) -> int:
    a = with_defaults(a, _GEMMA3N_AUDIO)
    h = get_int(a, "hidden_size")
    chans = _pair(a.get("sscp_conv_channel_size"), "sscp_conv_channel_size")
    kernels = [_pair(k, "sscp_conv_kernel_size") for k in _pair_list(a, "sscp_conv_kernel_size")]
    strides = [_pair(s, "sscp_conv_stride_size") for s in _pair_list(a, "sscp_conv_stride_size")]
    freq, sub, c_in = get_int(a, "input_feat_size"), 0, 1
    for c_out, (kh, kw), (_, sw) in zip(chans, kernels, strides, strict=True):
        sub += c_in * c_out * kh * kw + c_out  # the convolution and its group norm's weight
        freq = (freq + 2 - kw) // sw + 1  # transformers pads the frequency axis by one on each side
        c_in = c_out
    sub += chans[-1] * freq * h
    layers = get_int(a, "conf_num_hidden_layers") * _conformer_layer(h, get_int(a, "conf_num_attention_heads"),
                                                                     get_int(a, "conf_conv_kernel_size"))
    return sub + layers + _embedder(get_int(a, "vocab_size"), h, text_hidden)


def _pair_list(a: Config, key: str) -> list[Any]:
    value = a.get(key)
    if not isinstance(value, list | tuple) or len(value) != 2:
        raise ConfigError(f"audio_config {key!r} = {str(value)[:60]} must list two [height, width] pairs")
    return list(value)


def _embedder(vocab: int, width: int, text_hidden: int) -> int:
    """Gemma 3n's multimodal embedder: a (vocab, width) table, hard and soft RMSNorms, the projection to the text
    width (its post-projection norm has no weight)."""
    return vocab * width + 2 * width + width * text_hidden


def gemma3n_towers(cfg: Config, text_hidden: int, tokens: int) -> VisionSpec:
    v = with_defaults(cfg.get("vision_config") or {}, _GEMMA3N_VISION)
    arch = v.get("architecture")
    if not isinstance(arch, str):
        raise ConfigError(f"vision_config 'architecture' = {arch!r} must name a timm model")
    vision = timm_tower_parameters(arch) + _embedder(get_int(v, "vocab_size"), get_int(v, "hidden_size"), text_hidden)
    audio = _gemma3n_audio(cfg.get("audio_config") or {}, text_hidden)
    return VisionSpec(parameters=vision + audio, projector_dim=text_hidden, tokens_per_image=tokens, kind="gemma3n",
                      description=f"Gemma 3n's MobileNet-V5 tower ({arch}, built by timm) + USM audio encoder + "
                                  f"embedders; an image adds {tokens} tokens to the context")

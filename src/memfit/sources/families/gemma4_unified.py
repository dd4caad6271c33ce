"""Gemma 4 unified (``gemma4_unified``, ``gemma4_unified_text``; transformers 5.25's ``modeling_gemma4_unified.py``):
the Gemma 4 text block (global layers of their own head size, ``attention_k_eq_v``, KV sharing, the double-wide MLP
of the shared tail) without per-layer embeddings or an MoE block, and no vision or audio tower: image patches go
straight into the language model.

* **Vision embedder** (``Gemma4UnifiedVisionEmbedder``): a patch of ``patch_size · pooling_kernel_size`` px
  (48² × 3 values) through a LayerNorm, a dense layer to ``mm_embed_dim`` with bias and a second LayerNorm; a
  (``mm_posemb_size``, 2, ``mm_embed_dim``) position table and its LayerNorm; then the multimodal embedder,
  ``output_proj_dims`` → text hidden without bias (its pre-projection norm has no weight).
* **Audio embedder**: raw waveform frames of ``audio_embed_dim`` samples projected to the text hidden size.
* ``use_bidirectional_attention = "all"``: transformers halves the sliding window (+ 1) when it loads the config
  (the file keeps the original), so the cached window is ``window // 2 + 1``.

A square image is cut into 48-px patches under the same soft-token budget as Gemma 4 (280 by default): a square image
adds 256 soft tokens + <boi>/<eoi>.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

from ...spec import ModelSpec, VisionSpec
from .common import Builder, Config, get_int, sub_config, with_top_level
from .dense_recent import with_defaults
from .gemma4 import BUILDERS as GEMMA4
from .towers_recent import GEMMA4_MAX_SOFT_TOKENS

__all__ = ["BUILDERS"]

_TEXT_DEFAULTS: dict[str, Any] = {  # Gemma4UnifiedTextConfig's, where they differ from Gemma4TextConfig's
    "max_position_embeddings": 262_144, "sliding_window": 1024, "hidden_size_per_layer_input": 0,
    "enable_moe_block": False,
}
_VISION: dict[str, Any] = {"patch_size": 16, "pooling_kernel_size": 3, "mm_embed_dim": 3840, "mm_posemb_size": 1120,
                           "output_proj_dims": 3840}


def _text(cfg: Config, name: str) -> ModelSpec:
    text = with_defaults(cfg, _TEXT_DEFAULTS)
    text["model_type"] = "gemma4_text"
    text["hidden_size_per_layer_input"] = 0  # the unified text model has no per-layer embeddings …
    text["enable_moe_block"] = False  # … and no MoE block
    if text.get("use_bidirectional_attention") == "all":
        text["sliding_window"] = get_int(text, "sliding_window") // 2 + 1
    return replace(GEMMA4["gemma4_text"](text, name), family="gemma4_unified_text")


def _embedders(cfg: Config, text_hidden: int) -> VisionSpec | None:
    raw_v, raw_a = cfg.get("vision_config"), cfg.get("audio_config")
    if raw_v is None and raw_a is None:
        return None
    total, parts = 0, []
    side = patch_px = tokens = 0
    linears: list[tuple[str, int, int, int]] = []
    if raw_v is not None:
        v = with_defaults(raw_v if isinstance(raw_v, dict) else {}, _VISION)
        p, k, mm = get_int(v, "patch_size"), get_int(v, "pooling_kernel_size"), get_int(v, "mm_embed_dim")
        patch = 3 * (p * k) ** 2
        total += 2 * patch + patch * mm + mm + 2 * mm + get_int(v, "mm_posemb_size") * 2 * mm + 2 * mm
        total += get_int(v, "output_proj_dims") * text_hidden
        linears += [("patch_dense", patch, mm, 1),
                    ("embedding_projection", get_int(v, "output_proj_dims"), text_hidden, 1)]
        side = math.isqrt(GEMMA4_MAX_SOFT_TOKENS * (p * k) ** 2) // (k * p) * k * p  # a square image, resized
        soft = (side // (p * k)) ** 2
        patch_px, tokens = p * k, soft + 2
        parts.append(f"vision embedder (no tower); a square image is resized to {side}² px and adds {soft} soft "
                     f"tokens + <boi>/<eoi> = {soft + 2}")
    if raw_a is not None:
        a = raw_a if isinstance(raw_a, dict) else {}
        total += get_int(a, "audio_embed_dim", 640) * text_hidden
        linears.append(("embedding_projection", get_int(a, "audio_embed_dim", 640), text_hidden, 1))
        parts.append("audio embedder")
    return VisionSpec(parameters=total, projector_dim=text_hidden, kind="gemma4_unified", image_size=side,
                      linears=tuple(linears),
                      patch_size=patch_px, tokens_per_image=tokens, description="Gemma 4 unified " + "; ".join(parts))


def _gemma4_unified(cfg: Config, name: str) -> ModelSpec:
    text = {**sub_config(cfg, "text_config")}
    text = with_top_level(text, cfg)
    spec = _text(text, name)
    return replace(spec, family="gemma4_unified", vision=_embedders(cfg, spec.hidden_size))


BUILDERS: dict[str, Builder] = {
    "gemma4_unified_text": _text,
    "gemma4_unified": _gemma4_unified,
}

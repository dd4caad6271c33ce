"""What each layer of an unknown architecture is, from whichever per-layer field its config declares.

In order: ``layer_types`` / ``layers_block_type`` (a list of words), ``hybrid_override_pattern``
(Nemotron-H's ``M*-E`` string), ``attn_layer_period`` + ``attn_layer_offset`` (Jamba), ``attn_layer_indices``
or ``full_attn_idxs``; without any of them every layer is full attention, sliding when the config sets a
window (with ``sliding_window_pattern`` / ``global_attn_every_n_layers`` marking the global ones), a
parallel attention + Mamba block when the config has both attention heads and Mamba fields (Falcon-H1),
and a recurrent mixer when it has Mamba fields and no attention heads.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["LayerKind", "layer_kinds"]

Mixer = Literal["attention", "recurrent", "parallel", "none"]

_SLIDING = ("sliding", "local", "chunked", "swa")
_FULL = ("full", "global", "attention", "attn", "*", "hybrid")
_RECURRENT = ("linear", "mamba", "conv", "ssm", "recurr", "rwkv", "delta", "kda", "lightning", "retention", "m")
_MLP_ONLY = ("mlp", "-", "ffn", "dense")
_MOE_ONLY = ("moe", "e")
_MAMBA_FIELDS = ("mamba_d_state", "mamba_d_ssm", "mamba_n_heads", "mamba_expand", "ssm_state_size", "state_size")


@dataclass(frozen=True)
class LayerKind:
    """One layer: its mixer, whether attention is windowed, and what feed-forward part it has."""

    word: str
    mixer: Mixer
    sliding: bool = False
    no_ffn: bool = False  # a mixer-only block (Nemotron-H's Mamba and attention blocks)
    dense_ffn: bool = False  # an MLP-only block
    moe_only: bool = False  # an MoE-only block


def _kind(word: str, blocks: bool) -> LayerKind | None:
    """The kind a layer-type word names; ``blocks``: the list also has FFN-only blocks (Nemotron-H style)."""
    w = word.strip().lower()
    if w in _MLP_ONLY:
        return LayerKind(w, "none", dense_ffn=True)
    if w in _MOE_ONLY:
        return LayerKind(w, "none", moe_only=True)
    if any(s in w for s in _SLIDING):
        return LayerKind(w, "attention", sliding=True, no_ffn=blocks)
    if any(s in w for s in _RECURRENT if len(s) > 1) or w == "m":
        return LayerKind(w, "recurrent", no_ffn=blocks)
    if any(s in w for s in _FULL):
        return LayerKind(w, "attention", no_ffn=blocks)
    return None


def _from_words(words: list[str], notes: list[str]) -> list[LayerKind]:
    blocks = any(w.strip().lower() in _MLP_ONLY + _MOE_ONLY for w in words)
    out: list[LayerKind] = []
    unknown: set[str] = set()
    for w in words:
        kind = _kind(w, blocks)
        if kind is None:
            unknown.add(w)
            kind = LayerKind(w, "attention")
        out.append(kind)
    if unknown:
        notes.append(f"layer type(s) {', '.join(sorted(unknown))} unknown to memfit: counted as full attention")
    return out


def _declared(cfg: Mapping[str, Any], n: int) -> list[str] | None:
    """The per-layer words the config declares, when one of the known fields lists every layer."""
    for key in ("layer_types", "layers_block_type", "layer_block_types"):
        value = cfg.get(key)
        if isinstance(value, list) and len(value) == n and all(isinstance(v, str) for v in value):
            return list(value)
    blocks = cfg.get("block_types")
    if isinstance(blocks, list) and blocks and all(isinstance(v, str) for v in blocks):
        # RecurrentGemma (transformers 5.25 RecurrentGemmaConfig.layers_block_type): the pattern repeated over the
        # layers, ``(block_types * 100)[:num_hidden_layers]``, its attention blocks always local (sliding window)
        return ["sliding_attention" if w == "attention" else w for w in (blocks * n)[:n]]
    pattern = cfg.get("hybrid_override_pattern")
    if isinstance(pattern, str) and len(pattern) == n:
        return [{"M": "mamba", "*": "attention", "-": "mlp", "E": "moe"}.get(c, c) for c in pattern]
    period, offset = cfg.get("attn_layer_period"), cfg.get("attn_layer_offset")
    if isinstance(period, int) and isinstance(offset, int) and period > 0:
        return ["attention" if i % period == offset else "mamba" for i in range(n)]
    for key in ("attn_layer_indices", "full_attn_idxs"):
        idx = cfg.get(key)
        if isinstance(idx, list) and idx and all(isinstance(i, int) for i in idx):
            other = "conv" if key == "full_attn_idxs" else "mamba"
            return ["attention" if i in idx else other for i in range(n)]
    return None


def layer_kinds(cfg: Mapping[str, Any], n: int, notes: list[str], *, has_attention: bool) -> list[LayerKind]:
    """The kind of each of the ``n`` layers (see the module docstring); assumptions go to ``notes``."""
    words = _declared(cfg, n)
    if words is not None:
        return _from_words(words, notes)
    mamba = any(cfg.get(k) is not None for k in _MAMBA_FIELDS)
    if mamba and not has_attention:
        return [LayerKind("mamba", "recurrent")] * n
    if mamba:
        notes.append("attention heads and Mamba fields but no per-layer types: every layer assumed to run "
                     "attention and a Mamba mixer side by side")
        return [LayerKind("parallel", "parallel")] * n
    if not has_attention:
        notes.append("no attention heads and no per-layer types: every layer assumed to be a recurrent mixer")
        return [LayerKind("recurrent", "recurrent")] * n
    chunked = _chunked(cfg, n, notes)
    if chunked is not None:
        return chunked
    window = cfg.get("sliding_window") or cfg.get("sliding_window_size")
    if not window or cfg.get("use_sliding_window") is False:
        if not any(k in cfg for k in ("layer_types", "sliding_window", "use_sliding_window")):
            notes.append("no per-layer types in the config: every layer assumed to be full attention")
        return [LayerKind("full_attention", "attention")] * n
    every = cfg.get("sliding_window_pattern") or cfg.get("global_attn_every_n_layers")
    if isinstance(every, int) and every > 1:
        return [LayerKind("full_attention", "attention") if (i + 1) % every == 0
                else LayerKind("sliding_attention", "attention", sliding=True) for i in range(n)]
    notes.append("a sliding window and no per-layer types: every layer assumed to use the window")
    return [LayerKind("sliding_attention", "attention", sliding=True)] * n


def _chunked(cfg: Mapping[str, Any], n: int, notes: list[str]) -> list[LayerKind] | None:
    """Chunked local attention (Llama 4): chunked where ``no_rope_layers`` marks a RoPE layer (or all but every
    ``no_rope_layer_interval``-th); without either, every layer is taken as full attention (an upper bound)."""
    if not cfg.get("attention_chunk_size"):
        return None
    marks, every = cfg.get("no_rope_layers"), cfg.get("no_rope_layer_interval")
    if isinstance(marks, list) and len(marks) == n:
        return [LayerKind("chunked_attention", "attention", sliding=True) if m else LayerKind("full", "attention")
                for m in marks]
    if isinstance(every, int) and every > 0:
        return [LayerKind("full", "attention") if (i + 1) % every == 0
                else LayerKind("chunked_attention", "attention", sliding=True) for i in range(n)]
    notes.append("attention_chunk_size but no per-layer types: every layer assumed to keep the whole context "
                 "(an upper bound)")
    return [LayerKind("full_attention", "attention")] * n

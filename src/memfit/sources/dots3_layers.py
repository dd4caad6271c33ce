"""dots3_note's attention per layer, as transformers 5.25 models/dots3_note/modeling_dots3_note.py builds it.

``Dots3NoteTextAttention.__init__`` reads ``config.per_layer_config[layer_idx]``: the text config's fields with
that layer's own entry over them (``per_layer_config`` of ``Dots3NoteTextConfig``, e.g. a sliding layer of 64
heads, ``kv_lora_rank`` 1024, ``qk_nope_head_dim`` 192), and builds ``Dots3NoteTextIndexer`` (DeepSeek sparse
attention's lightning indexer: ``index_n_heads`` × ``index_head_dim`` fp32 scores over every key, the
``index_topk`` best kept) where ``layer_types[layer_idx] == "indexed_attention"``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from ..spec import AttentionSpec
from .families.common import Config, get_int

__all__ = ["dots3_attention"]

DOTS3_TEXT = ("dots3_note_text",)


def _layer_entry(cfg: Config, i: int) -> Config:
    """Layer ``i``'s own ``per_layer_config`` entry (keys are layer indices, as strings in a config.json)."""
    table = cfg.get("per_layer_config")
    if not isinstance(table, Mapping):
        return {}
    entry = table.get(str(i), table.get(i))
    return entry if isinstance(entry, Mapping) else {}


def dots3_attention(cfg: Config, a: AttentionSpec, i: int) -> AttentionSpec:
    """Layer ``i``'s MLA shapes from its ``per_layer_config`` entry over the text config, and its indexer when
    it is an ``indexed_attention`` layer; any other model type's attention unchanged."""
    if cfg.get("model_type") not in DOTS3_TEXT or a.kv_lora_rank is None:
        return a
    merged = {**cfg, **_layer_entry(cfg, i)}
    heads = get_int(merged, "num_attention_heads")
    rope, nope = get_int(merged, "qk_rope_head_dim", 64), get_int(merged, "qk_nope_head_dim", 128)
    a = replace(
        a,
        num_heads=heads,
        num_kv_heads=heads,
        head_dim=nope + rope,
        v_head_dim=get_int(merged, "v_head_dim", 128),
        kv_lora_rank=get_int(merged, "kv_lora_rank"),
        q_lora_rank=get_int(merged, "q_lora_rank"),
        qk_rope_head_dim=rope,
        qk_nope_head_dim=nope,
    )
    types = cfg.get("layer_types")
    if isinstance(types, list) and i < len(types) and types[i] == "indexed_attention":
        a = replace(
            a,
            index_heads=get_int(merged, "index_n_heads"),
            index_head_dim=get_int(merged, "index_head_dim"),
            index_topk=get_int(merged, "index_topk"),
        )
    return a

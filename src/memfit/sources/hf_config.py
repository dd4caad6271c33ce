"""Hugging Face ``config.json`` → ``ModelSpec``: the dispatch on ``model_type``.

The builders live in ``memfit.sources.families`` (one module per kind: dense, MoE, MLA, SSM, vision …), the
field readers they share in ``memfit.sources.families.common`` (re-exported here). Both Hub ``config.json``
files and transformers' ``PretrainedConfig.to_dict()`` outputs are accepted: the two differ in which keys are
present and in ``null`` for derived values (``head_dim``, ``num_key_value_heads``), both handled by the readers.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import replace
from functools import cache
from importlib import resources

from ..errors import ConfigError
from ..spec import ModelSpec
from .families import BUILDERS, DEFERRED
from .families.common import (
    Builder,
    Config,
    config_dtype,
    get_bool,
    get_float,
    get_int,
    get_opt_int,
    head_dim,
    sliding_windows,
    sub_config,
)
from .init_rows import init_cutoff, rescales_out_proj

__all__ = [
    "BUILDERS",
    "SUPPORTED_FAMILIES",
    "Builder",
    "Config",
    "config_dtype",
    "get_bool",
    "get_float",
    "get_int",
    "get_opt_int",
    "head_dim",
    "sliding_windows",
    "spec_from_config",
    "sub_config",
]

SUPPORTED_FAMILIES: tuple[str, ...] = tuple(sorted(BUILDERS))


# model types whose causal LM is the composite model itself, tied by the composite config's tie_word_embeddings, not
# by its text config's (transformers 5.25 modeling_moss_transcribe_diarize.py
# MossTranscribeDiarizeForConditionalGeneration: ``_tied_weights_keys = {"lm_head.weight":
# "model.language_model.embed_tokens.weight"}``, read by modeling_utils.py ``get_expanded_tied_weights_keys`` from
# ``self.config.tie_word_embeddings``: the composite's, True by default in configuration_moss_transcribe_diarize.py,
# while its Qwen3 text config says False); the lm_head made and then freed by the tie leaves its segment cached
TIED_BY_COMPOSITE = ("moss_transcribe_diarize",)
# model types whose causal LM ties nothing although its config says tie_word_embeddings True (transformers 5.25
# modeling_cpmant.py CpmAntForCausalLM: ``_tied_weights_keys = {}``, its lm_head a Linear(hidden, vocab_size) of its
# own while CpmAntModel.input_embedding has vocab_size + prompt_types x prompt_length rows; modeling_utils.py
# ``get_expanded_tied_weights_keys`` returns the empty mapping): no head freed at the build, no dense V x h gradient
# made beside the head's by the embedding's backward
NEVER_TIED_HEAD = ("cpmant",)


def spec_from_config(cfg: Config, name: str = "") -> ModelSpec:
    """Build the model description from a config.json dict (a Hub file or transformers' ``to_dict()``).

    A ``model_type`` without a builder goes through the generic path (``memfit.sources.generic``), which
    raises UnknownModelError, naming the supported families, when the config lacks its standard fields;
    ConfigError for a missing or invalid field, naming the field, the value and the fix.
    """
    if not isinstance(cfg, Mapping):
        raise ConfigError(f"config.json must hold a JSON object, not {type(cfg).__name__}")
    model_type = cfg.get("model_type")
    if not model_type:
        raise ConfigError("config.json has no 'model_type': add it (e.g. \"llama\") so memfit knows the family")
    family = model_type_aliases().get(str(model_type))
    if family is not None and str(model_type) not in BUILDERS:  # transformers runs another family's classes on it
        cfg = {**cfg, "model_type": family}
        model_type = family
    builder = BUILDERS.get(str(model_type))
    defer = DEFERRED.get(str(model_type))
    if builder is None or (defer is not None and defer(cfg)):  # any other causal LM: the generic path
        from .generic import generic_spec

        builder = generic_spec
    spec = builder(cfg, name or str(cfg.get("_name_or_path") or model_type))
    chunk = _prefill_chunk_size(cfg)
    if chunk:
        spec = replace(spec, prefill_chunk_size=chunk)
    if model_type in TIED_BY_COMPOSITE:
        spec = replace(spec, tie_word_embeddings=cfg.get("tie_word_embeddings", True) is not False)
    if model_type in NEVER_TIED_HEAD:
        spec = replace(spec, tie_word_embeddings=False)
    cutoff = init_cutoff(spec.family, cfg)
    if cutoff:
        spec = replace(spec, init_cutoff=cutoff)
    if rescales_out_proj(spec.family, cfg):
        spec = replace(spec, init_rescaled_out_proj=True)
    qc = cfg.get("quantization_config") or cfg.get("quantization")  # MLX checkpoints: "quantization"
    if isinstance(qc, Mapping):
        from ..formats import format_from_quantization_config

        fmt = format_from_quantization_config(qc)
        if fmt is not None:
            spec = replace(spec, quantization=fmt)
    return spec


@cache
def model_type_aliases() -> dict[str, str]:
    """``data/model_type_aliases.toml``: model_type -> the family whose causal-LM class transformers builds for it."""
    text = (resources.files("memfit") / "data" / "model_type_aliases.toml").read_text(encoding="utf-8")
    out: dict[str, str] = {}
    for row in tomllib.loads(text)["alias"]:
        if not str(row.get("source", "")):
            raise ValueError(f"data/model_type_aliases.toml: row {row.get('model_type')!r} has no source")
        out[str(row["model_type"])] = str(row["family"])
    return out


def _prefill_chunk_size(cfg: Config) -> int:
    """``prefill_chunk_size`` as transformers' ``GenerationConfig.from_model_config`` reads it: the config's own key,
    else its text (decoder) config's; 0 for none."""
    for c in (cfg, cfg.get("text_config")):
        n = c.get("prefill_chunk_size") if isinstance(c, Mapping) else None
        if isinstance(n, int) and not isinstance(n, bool) and n > 0:
            return n
    return 0

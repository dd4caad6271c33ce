"""``data/trunc_normal_init.toml``: the parameters a family's weight init fills with ``trunc_normal_`` and its
bounds (what ``memory/weight_init.py`` replays for a model made with random weights on the device)."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

__all__ = ["RESCALED_OUT_PROJ", "InitRow", "init_cutoff", "init_rows", "rescales_out_proj"]

# families whose ``_init_weights`` rescales each Mamba mixer's out_proj out of place when the config's
# rescale_prenorm_residual is set (transformers 5.25 models/nemotron_h/modeling_nemotron_h.py
# NemotronHPreTrainedModel._init_weights: ``p_new = p / math.sqrt(num_hidden_layers)``, ``init.copy_(p, p_new)``;
# configuration_nemotron_h.py default True; Mamba / Mamba-2 / FalconMamba divide in place, ``p /= ...``, default False)
RESCALED_OUT_PROJ = ("nemotron_h",)


@dataclass(frozen=True)
class InitRow:
    """One family's row: which parameters ``trunc_normal_`` fills, the config key of the bounds in stds."""

    tensors: re.Pattern[str]
    tied: bool
    cutoff_key: str
    cutoff_default: float
    base: str


@cache
def init_rows() -> dict[str, InitRow]:
    """model_type -> its row (each row of the data file has a source)."""
    text = (resources.files("memfit") / "data" / "trunc_normal_init.toml").read_text(encoding="utf-8")
    out: dict[str, InitRow] = {}
    for row in tomllib.loads(text)["family"]:
        if not str(row.get("source", "")):
            raise ValueError(f"data/trunc_normal_init.toml: row {row.get('model_type')!r} has no source")
        out[str(row["model_type"])] = InitRow(
            re.compile("|".join(f"(?:{t})" for t in row["tensors"])),
            bool(row.get("tied", False)),
            str(row["cutoff_key"]),
            float(row["cutoff_default"]),
            str(row["base"]),
        )
    return out


def rescales_out_proj(model_type: str, cfg: Mapping[str, Any]) -> bool:
    """Whether the family's weight init makes a transient copy of each Mamba mixer's out_proj
    (``RESCALED_OUT_PROJ`` and the config's rescale_prenorm_residual, True where absent)."""
    return model_type in RESCALED_OUT_PROJ and cfg.get("rescale_prenorm_residual", True) is not False


def init_cutoff(model_type: str, cfg: Mapping[str, Any]) -> float:
    """The bounds of the family's ``trunc_normal_`` in stds (its config key, else the code's default); 0.0 for a
    family without a row."""
    row = init_rows().get(model_type)
    if row is None:
        return 0.0
    v = cfg.get(row.cutoff_key)
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0 else row.cutoff_default

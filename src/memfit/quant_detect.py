"""The weight format of checkpoints quantized by MLX, HQQ and torchao, from their config.json entries.

``memfit.formats.format_from_quantization_config`` asks here for a ``quant_method`` it does not handle itself.
A format is named only when the checkpoint's parameters are the ones that format's row in data/formats.toml
describes (bits and group size); anything else stays unnamed rather than priced wrongly.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .errors import ConfigError

__all__ = ["other_quantization"]


def _int(qc: Mapping[str, Any], key: str, default: int) -> int:
    value = qc.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"config.json quantization field {key!r} = {value!r} must be an integer (e.g. {default})")
    return value


def other_quantization(method: str, qc: Mapping[str, Any]) -> str | None:
    """MLX (``quantization``: group_size + bits, no quant_method), HQQ and torchao int4 weight-only."""
    if not method and "bits" in qc and "group_size" in qc:  # mlx-lm writes {"group_size": 64, "bits": 4}
        bits, group = _int(qc, "bits", 0), _int(qc, "group_size", 0)
        return f"mlx-{bits}bit" if bits in (4, 8) and group == 64 else None
    if method == "hqq":
        inner = qc.get("quant_config")
        params = inner.get("weight_quant_params") if isinstance(inner, Mapping) else None
        params = params if isinstance(params, Mapping) else qc
        bits, group = _int(params, "nbits", 0), _int(params, "group_size", 0)
        return f"hqq-{bits}bit" if bits in (4, 8) and group == 64 else None
    if method == "torchao":
        kind = qc.get("quant_type")
        default = kind.get("default") if isinstance(kind, Mapping) else None
        name = str(default.get("_type", "")) if isinstance(default, Mapping) else str(kind or "")
        data = default.get("_data") if isinstance(default, Mapping) else qc.get("quant_type_kwargs")
        group = _int(data if isinstance(data, Mapping) else {}, "group_size", 128)
        return "torchao-int4" if name in ("Int4WeightOnlyConfig", "int4_weight_only") and group == 128 else None
    return None

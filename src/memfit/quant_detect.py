"""The weight format of checkpoints quantized by MLX, HQQ, torchao and ExLlamaV2/V3, from their config.json entries.

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


def _number(qc: Mapping[str, Any], key: str) -> float:
    value = qc.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 16:
        raise ConfigError(f"config.json quantization field {key!r} = {value!r} must be a number of bits (e.g. 4.0)")
    return float(value)


def _exllama(method: str, qc: Mapping[str, Any]) -> str:
    """``exl2-<bits>bpw-h<head_bits>`` / ``exl3-…-<codebook>`` from what exllamav2/v3's converters write
    (quant_method, bits, head_bits; EXL3 also codebook, absent before the converter had the option: 3inst)."""
    bits = _number(qc, "bits")
    head = _int(qc, "head_bits", 6)
    name = f"{method}-{bits:g}bpw-h{head}"
    if method == "exl3":
        book = str(qc.get("codebook", "3inst")).lower()
        if book not in ("3inst", "mcg", "mul1"):
            raise ConfigError(f"config.json quantization_config codebook = {book!r}: EXL3 has 3inst, mcg and mul1")
        name += f"-{book}"
    return name


def _torchao(qc: Mapping[str, Any]) -> str | None:
    """torchao through transformers' TorchAoConfig: ``quant_type`` a config object ({"default": {"_type": …,
    "_version": …, "_data": {…}}}) or, in older files, a string with ``quant_type_kwargs``."""
    kind = qc.get("quant_type")
    default = kind.get("default") if isinstance(kind, Mapping) else None
    name = str(default.get("_type", "")) if isinstance(default, Mapping) else str(kind or "")
    data = default.get("_data") if isinstance(default, Mapping) else qc.get("quant_type_kwargs")
    data = data if isinstance(data, Mapping) else {}
    version = default.get("_version", 2) if isinstance(default, Mapping) else 1
    if name in ("Int4WeightOnlyConfig", "int4_weight_only"):
        return "torchao-int4" if _int(data, "group_size", 128) == 128 else None
    if name in ("Int8WeightOnlyConfig", "Float8WeightOnlyConfig") and version == 2:
        granularity = data.get("granularity")
        per = str(granularity.get("_type", "PerRow")) if isinstance(granularity, Mapping) else "PerRow"
        if per != "PerRow":  # per-tensor or per-group scales: not the rows data/formats.toml describes
            return None
        return "torchao-int8" if name.startswith("Int8") else "torchao-float8"
    return None  # version 1 (int64 zero points, removed from torchao) and other configs: unnamed


def other_quantization(method: str, qc: Mapping[str, Any]) -> str | None:
    """MLX (``quantization``: group_size + bits, no quant_method), HQQ, torchao weight-only (int4, int8,
    float8) and ExLlamaV2/V3 (EXL2, EXL3)."""
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
        return _torchao(qc)
    if method in ("exl2", "exl3"):
        return _exllama(method, qc)
    return None

"""Which memfit format a config.json ``quantization_config`` names (fp8, mxfp4, GPTQ/AWQ, bitsandbytes, modelopt)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import ConfigError


def _qc_int(qc: Mapping[str, Any], keys: tuple[str, ...], default: int) -> int:
    """An integer field of a ``quantization_config`` (the first of its spellings), checked."""
    for key in keys:
        value = qc.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"config.json quantization_config field {key!r} = {value!r} must be an integer "
                              f"(e.g. {default})")
        return value
    return default


def format_from_quantization_config(qc: Mapping[str, Any] | None) -> str | None:
    """The memfit format name for a config.json ``quantization_config`` (None when there is none or
    memfit has no matching format): fp8 (DeepSeek ``weight_block_size [128, 128]`` → ``fp8-block``),
    mxfp4, gptq/awq with their bits and group size, bitsandbytes 4/8-bit, modelopt FP8/NVFP4."""
    if not qc:
        return None
    method = str(qc.get("quant_method", "")).lower()
    if method == "fp8":
        block = qc.get("weight_block_size")
        if block is not None:
            return "fp8-block" if isinstance(block, list | tuple) and list(block) == [128, 128] else None
        return "fp8-e5m2" if str(qc.get("fmt", "e4m3")).lower() == "e5m2" else "fp8"
    if method == "mxfp4":
        return "mxfp4"
    if method in ("gptq", "awq"):
        bits = _qc_int(qc, ("bits", "w_bit"), 4)
        group = _qc_int(qc, ("group_size", "q_group_size"), 128)
        return f"{method}-{bits}bit-g{group}"
    if method == "bitsandbytes":
        if qc.get("load_in_8bit"):
            return "bnb-int8"
        if qc.get("load_in_4bit"):
            kind = str(qc.get("bnb_4bit_quant_type", "fp4")).lower()
            return f"{kind}-dq" if qc.get("bnb_4bit_use_double_quant") else kind
        return None
    if method == "modelopt":
        algo = str(qc.get("quant_algo", "")).upper()
        return {"FP8": "fp8", "NVFP4": "nvfp4"}.get(algo)
    from ..quant_detect import other_quantization

    return other_quantization(method, qc)



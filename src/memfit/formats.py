"""Precisions and storage formats (dense dtypes for now; quantization formats come from data)."""

from __future__ import annotations

from dataclasses import dataclass

from .errors import ConfigError

__all__ = ["Format", "get_format"]


@dataclass(frozen=True)
class Format:
    """A storage format: name and bits per weight (exact for dense types)."""

    name: str
    bits: float
    source: str = ""

    @property
    def bytes_per_param(self) -> float:
        return self.bits / 8


_DENSE = {
    "float32": Format("float32", 32), "float16": Format("float16", 16), "bfloat16": Format("bfloat16", 16),
    "fp8": Format("fp8", 8), "int8": Format("int8", 8), "int4": Format("int4", 4),
}
_ALIASES = {"fp32": "float32", "f32": "float32", "fp16": "float16", "f16": "float16", "half": "float16",
            "bf16": "bfloat16", "float": "float32"}


def get_format(name: str) -> Format:
    key = _ALIASES.get(name.lower(), name.lower())
    if key not in _DENSE:
        raise ConfigError(f"unknown precision {name!r}; use one of {', '.join(_DENSE)}")
    return _DENSE[key]

"""Weights memory: parameters × bytes per parameter, for any precision."""

from __future__ import annotations

from ..formats import get_format
from ..inventory import count_parameters
from ..result import Component
from ..spec import ModelSpec
from ..units import fmt_bytes

__all__ = ["weights_bytes", "weights_component"]


def weights_bytes(spec: ModelSpec, dtype: str) -> int:
    """Bytes of all weights stored in ``dtype``."""
    fmt = get_format(dtype)
    return round(count_parameters(spec).total * fmt.bits / 8)


def weights_component(spec: ModelSpec, dtype: str) -> Component:
    """The weights as a Component, with the arithmetic written out."""
    n = count_parameters(spec).total
    fmt = get_format(dtype)
    b = weights_bytes(spec, dtype)
    per = f"{fmt.bits / 8:g} bytes"
    return Component("weights", b, f"{n:,} parameters × {per} = {fmt_bytes(b)}")

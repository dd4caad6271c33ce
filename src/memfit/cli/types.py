"""Click parameter types for numbers as people type them (``128k``, ``8,192``)."""

from __future__ import annotations

from typing import Any

import click

from ..errors import ConfigError
from ..units import parse_tokens

__all__ = ["COUNT", "Count"]


class Count(click.ParamType[int]):
    """An integer written ``8192``, ``8,192``, ``32K`` or ``128k`` (k = 1024): ``units.parse_tokens``."""

    name = "integer"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        try:
            return parse_tokens(str(value))
        except ConfigError as e:
            self.fail(str(e), param, ctx)


COUNT = Count()

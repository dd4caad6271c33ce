"""The workload options of ``estimate``, ``fit``, ``plan`` and ``plot``, generated from ``memfit.options``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from ..options import Option, WorkloadOptions, declared
from ..workload import Workload
from .types import COUNT

__all__ = ["click_option", "workload_from_options", "workload_options"]


def click_option(o: Option) -> Callable[[Any], Any]:
    """The click option for one declared option: ``--the-name`` plus its short flags, type, default and help."""
    kw: dict[str, Any] = {"help": o.help}
    decls = [o.flag, *o.flags, o.name]
    if o.type == "bool":
        if o.default:
            decls[0] = f"{o.flag}/--no-{o.flag[2:]}"
            kw.update(default=True, show_default=True)
        else:
            kw.update(is_flag=True, default=False)
    elif o.type == "names":
        kw.update(default=None)
    else:
        kw["type"] = click.Choice(list(o.choices)) if o.choices else {"int": COUNT, "float": float, "str": str}[o.type]
        kw.update(default=o.default, show_default=o.default is not None)
    return click.option(*decls, **kw)


def workload_options(f: Any, cls: type[WorkloadOptions] = Workload) -> Any:
    """Decorate a click command with every declared workload option, in declaration order."""
    for o in reversed(declared(cls)):
        f = click_option(o)(f)
    return f


def workload_from_options(options: dict[str, Any]) -> Workload:
    """Build a validated Workload from the parsed CLI options (other keys are ignored)."""
    return Workload.from_values(options)

"""The workload a command line means: the options typed (not their defaults) decide the mode and runtime
(``memfit.rules.resolve``), the same way in estimate, fit, plan and plot."""

from __future__ import annotations

from typing import Any

import click
from click.core import ParameterSource

from ..estimate import runtime_context
from ..hardware import Device
from ..rules import given_fields, resolve
from ..units import size_note
from ..workload import Workload
from .workload_options import workload_from_options

__all__ = ["size_notes", "typed_options", "workload_meant"]


def typed_options(options: dict[str, Any]) -> frozenset[str]:
    """The option names given on the command line (or in the environment), not left at their defaults."""
    ctx = click.get_current_context(silent=True)
    if ctx is None:
        return frozenset(options)
    return frozenset(k for k in options
                     if ctx.get_parameter_source(k) not in (None, ParameterSource.DEFAULT,
                                                            ParameterSource.DEFAULT_MAP))


def workload_meant(options: dict[str, Any], judge: bool = False,
                   device: Device | None = None) -> tuple[Workload, tuple[str, ...]]:
    """The Workload and the notes saying what was inferred. ``judge`` (fit, plan): with no mode and no option
    that implies one, the question is whether the model runs, so the mode is inference, and the notes say so.
    ``device``: the GPU given (None: none), whose VRAM sets Ollama's context when no --context is typed."""
    given = typed_options(options)
    wl, notes = resolve(workload_from_options(options), given)
    if judge and "mode" not in given and wl.mode == "weights":
        wl = wl.replace(mode="inference")
        notes = (*notes, f"no --mode given: judged for inference ({wl.runtime}, batch {wl.batch}, context "
                         f"{wl.context:,}); --mode weights judges the weights alone")
    wl, more = runtime_context(wl, given_fields(wl, given), device)
    return wl, (*notes, *more)


def size_notes(**sizes: str | None) -> None:
    """Say on stderr how a size written without a unit was read (``--memory 24`` → 24 GB)."""
    for name, text in sizes.items():
        note = size_note("--" + name.replace("_", "-"), text) if text else None
        if note:
            click.echo(f"note: {note}", err=True)

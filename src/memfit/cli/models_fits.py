"""``memfit models --fits GPU``: what runs on my GPU (``memfit.whatfits``), as a table or JSON."""

from __future__ import annotations

import json

import click

from ..units import fmt_bytes
from ..whatfits import asked_context, models_that_fit

__all__ = ["fits_listing"]


def fits_listing(gpu: str, context: int | None, runtime: str, memory: str | None, json_: bool) -> None:
    from ..hardware import get_device

    device = get_device(gpu, memory=memory)
    rows = models_that_fit(device, context=context, runtime=runtime)
    context = asked_context(device, runtime, context)  # what was asked: Ollama picks its own by the VRAM
    if json_:
        click.echo(json.dumps({"device": device.id, "capacity_bytes": device.capacity_bytes, "runtime": runtime,
                               "context": context or 2048, "models": [r.to_json() for r in rows]}, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    ok = [r for r in rows if r.fits]
    t = Table(title=f"{len(ok)} of {len(rows)} catalog models run on {device.name} ({fmt_bytes(device.capacity_bytes)}"
                    f") with {runtime}, one sequence of at least {context or 2048:,} tokens")
    for col in ("model", "parameters", "best format", "longest context", f"at {context or 2048:,} tokens"):
        t.add_column(col, justify="left" if col in ("model", "best format") else "right", no_wrap=col == "model")
    for r in ok:
        t.add_row(r.model, f"{r.parameters / 1e9:,.2f}B", str(r.format),
                  f"{r.max_context:,}" if r.max_context else "?", f"{(r.bytes_at_context or 0) / 1e9:,.2f} GB")
    Console().print(t)
    miss = [r.model for r in rows if not r.fits]
    if miss:
        click.echo(f"do not fit in any format: {', '.join(miss)}")

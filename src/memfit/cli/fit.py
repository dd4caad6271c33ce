"""``memfit fit MODEL --gpu NAME``: does it fit, per GPU, with headroom, the part to blame and dtype flags."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from typing import Any

import click

from ..errors import MemfitError
from ..fit import fit, fit_all
from ..hardware import get_device
from ..levers import cheapest_fixes
from ..sources.loader import load_model
from ..speed import decode_ceiling
from ..units import fmt_bytes
from .given import size_notes, workload_meant
from .workload_options import workload_options


@click.command("fit")
@click.argument("model")
@click.option("--gpu", "-g", required=True,
              help="Device name or alias (memfit gpus); 'cpu' with --memory; 'all' for every catalog device.")
@click.option("--memory", "-m", default=None, help="Override the device's capacity, e.g. 24GiB or 80GB.")
@click.option("--host-memory", default=None, metavar="SIZE",
              help="Host RAM per GPU for ZeRO-Offload, e.g. 256GB (judged when given; plan -q gpus searches "
                   "offload only with it).")
@workload_options
@click.option("json_", "--json", is_flag=True, help="Print one JSON object.")
@click.option("--check", is_flag=True, help="Exit status 0 when it fits, 1 when it does not (2: bad input).")
def fit_cmd(model: str, gpu: str, memory: str | None, host_memory: str | None, json_: bool, check: bool,
            **options: Any) -> None:
    """Will MODEL with this workload fit on --gpus × --gpu?"""
    device = None if gpu.strip().lower() == "all" else get_device(gpu, memory=memory, host_memory=host_memory)
    wl, implied = workload_meant(options, judge=True, device=device)
    size_notes(memory=memory, host_memory=host_memory)
    spec = load_model(model)
    if gpu.strip().lower() == "all":
        for n in implied:
            click.echo(f"note: {n}", err=True)
        _all(spec, wl, json_)
        return
    assert device is not None
    r = fit(spec, device, wl)
    if implied:
        r = replace(r, notes=(*implied, *r.notes))
    speed = None
    if wl.mode in ("weights", "inference") and r.device.bandwidth is not None:
        try:
            speed = decode_ceiling(spec, r.device, wl)
        except MemfitError:
            speed = None
    fixes = [] if r.fits else cheapest_fixes(wl, lambda w: fit(spec, r.device, w))
    if json_:
        doc = r.to_json()
        doc["speed"] = None if speed is None else speed.to_json()
        doc["fixes"] = [f.to_json() for f in fixes]
        click.echo(json.dumps(doc, indent=2))
    else:
        _render(r, speed)
        if not r.fits:
            click.echo("to make it fit, cheapest first:" if fixes else
                       "no single change (checkpointing, ZeRO, 8-bit optimizer, LoRA/QLoRA, a smaller format or KV "
                       "cache) makes it fit: add GPUs (memfit plan -q gpus) or pick a larger one")
            for f in fixes:
                click.echo(f"  {f.text}")
    if check and not r.fits:
        sys.exit(1)


def _all(spec: Any, wl: Any, json_: bool) -> None:
    rows = fit_all(spec, wl)
    if json_:
        click.echo(json.dumps([{"device": r.device.id, "fits": r.fits, "per_gpu_bytes": list(r.per_gpu_bytes),
                                "capacity_bytes": r.capacity_bytes, "headroom_bytes": r.headroom_bytes,
                                "warnings": list(r.warnings)} for r in rows], indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    t = Table(title=f"{spec.name}: {rows[0].estimate.mode if rows else ''} on every device ({wl.gpus} each)")
    speed = wl.mode in ("weights", "inference")
    cols = ["device", "fits", "needs per GPU", "capacity", "headroom"] + (["decode ≤ tok/s"] if speed else [])
    for col in [*cols, "flags"]:
        t.add_column(col, justify="left" if col in ("device", "fits", "flags") else "right")
    for r in rows:
        cells = [r.device.id, "yes" if r.fits else "no", fmt_bytes(r.max_gpu_bytes), fmt_bytes(r.capacity_bytes),
                 fmt_bytes(r.headroom_bytes)]
        if speed:
            cells.append("?" if r.device.bandwidth is None else
                         f"{decode_ceiling(spec, r.device, wl).tokens_per_s_per_sequence:,.0f}")
        cells.append("not native: " + ", ".join(c.format for c in r.dtype_checks if c.native is False)
                     if r.warnings else "")
        t.add_row(*cells)
    Console().print(t)


def _render(r: Any, speed: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    c = Console()
    colour = "green" if r.fits else "red"
    c.print(f"[bold {colour}]{'FITS' if r.fits else 'DOES NOT FIT'}[/bold {colour}]: ", end="")
    c.print(r.summary(), markup=False, highlight=False)
    t = Table(title=f"{r.gpus}× {r.device.name}")
    t.add_column("GPU" if len(r.per_gpu_bytes) == r.gpus else "GPU group", justify="right")
    t.add_column("needs", justify="right")
    t.add_column("capacity", justify="right")
    t.add_column("headroom", justify="right")
    for i, b in enumerate(r.per_gpu_bytes):
        t.add_row(str(i), fmt_bytes(b), fmt_bytes(r.capacity_bytes), fmt_bytes(r.capacity_bytes - b))
    c.print(t)
    c.print(f"largest part: {r.blame} {fmt_bytes(r.blame_bytes)}", markup=False, highlight=False)
    c.print(f"per-GPU rule: {r.split}", markup=False, highlight=False)
    c.print(f"capacity: {r.device.capacity_basis}", markup=False, highlight=False)
    if r.host_bytes:
        c.print(f"host RAM besides the GPUs: {fmt_bytes(r.host_bytes)}", markup=False, highlight=False)
    for w in r.warnings:
        c.print(f"[yellow]warning:[/yellow] {w}", highlight=False)
    for n in r.notes:
        c.print(f"note: {n}", markup=False, highlight=False)
    if speed is not None:
        c.print(f"decode speed ceiling: {speed.formula}", markup=False, highlight=False)

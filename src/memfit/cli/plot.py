"""``memfit plot MODEL --x context|batch --out FILE``: memory against context or batch as a PNG or SVG."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from ..sources.loader import load_model
from ..units import fmt_bytes, parse_bytes
from .workload_options import workload_from_options, workload_options


def _points(text: str | None) -> list[int] | None:
    if not text:
        return None
    try:
        pts = [int(p.strip().replace("_", "")) for p in text.split(",") if p.strip()]
    except ValueError:
        raise click.BadParameter(f"{text!r}: write integers separated by commas, e.g. 1024,4096,16384",
                                 param_hint="--points") from None
    if not pts or min(pts) < 1:
        raise click.BadParameter("every point must be an integer ≥ 1", param_hint="--points")
    return pts


@click.command("plot")
@click.argument("model")
@workload_options
@click.option("--x", "x", type=click.Choice(["context", "batch"]), default="context", show_default=True,
              help="What varies along the horizontal axis.")
@click.option("--points", default=None, help="Values of --x, comma-separated (default: doubling steps).")
@click.option("--out", "-O", "out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Picture to write: .png or .svg.")
@click.option("--gpu", "gpu", default=None, help="Draw this GPU's memory (× --gpus), e.g. h100-sxm or 'rtx 4090'.")
@click.option("--memory", "memory", default=None,
              help="Draw a memory line of this size per GPU, e.g. 80GB or 24GiB (overrides --gpu's capacity).")
@click.option("json_", "--json", is_flag=True, help="Also print the plotted numbers as one JSON object.")
def plot_cmd(model: str, x: str, points: str | None, out: Path, gpu: str | None, memory: str | None,
             json_: bool, **options: Any) -> None:
    """Draw MODEL's memory (stacked components) against context length or batch size."""
    from ..plot import curve, render_curve

    wl = workload_from_options(options)
    per_gpu: int | None = parse_bytes(memory) if memory else None
    label = None
    if gpu:
        from ..hardware import get_device

        device = get_device(gpu, memory=per_gpu)
        per_gpu, label = device.capacity_bytes, device.name
    limit = per_gpu * wl.gpus if per_gpu else None
    if label and wl.gpus > 1:
        label = f"{wl.gpus} × {label}"
    c = curve(load_model(model), wl, x, _points(points))
    render_curve(c, out, limit_bytes=limit, limit_label=label)
    top = max(c.total_bytes)
    if json_:
        doc = {"out": str(out), **c.to_json(), "limit_bytes": limit, "limit_label": label}
        click.echo(json.dumps(doc, indent=2))
        return
    click.echo(f"wrote {out}: {c.model}, {c.mode}, {x} {c.points[0]:,} … {c.points[-1]:,}, "
               f"up to {fmt_bytes(top)}")

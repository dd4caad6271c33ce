"""``memfit matrix MODEL --gpu G``: precisions × workloads (inference, LoRA, QLoRA, full fine-tune) on one GPU."""

from __future__ import annotations

import json

import click

from ..matrix import PRECISIONS, WORKLOAD_LABELS, WORKLOADS, fit_matrix
from ..options import declared
from ..units import fmt_bytes
from .given import size_notes, typed_options
from .workload_options import click_option

__all__ = ["matrix_cmd"]

_OPTS = {o.name: o for o in declared() if o.name in ("context", "batch", "runtime")}


@click.command("matrix")
@click.argument("model")
@click.option("--gpu", "-g", required=True, help="Device name or alias (memfit gpus), an nvidia-smi name, or auto.")
@click.option("--memory", "-m", default=None, help="Override the device's capacity, e.g. 24GiB or 80GB.")
@click_option(_OPTS["context"])
@click_option(_OPTS["batch"])
@click_option(_OPTS["runtime"])
@click.option("json_", "--json", is_flag=True, help="Print one JSON object.")
def matrix_cmd(model: str, gpu: str, memory: str | None, context: int, batch: int, runtime: str,
               json_: bool) -> None:
    """Which precisions and workloads of MODEL fit on one --gpu: rows 32/16/8/4-bit weights, columns inference
    (--runtime at --context), LoRA, QLoRA and full fine-tuning (AdamW; 16-bit is mixed precision) at --context
    tokens, each cell with the bytes it needs."""
    given = typed_options({"context": context})
    size_notes(memory=memory)
    m = fit_matrix(model, gpu, context=context if "context" in given else None, runtime=runtime, batch=batch,
                   memory=memory)
    if json_:
        click.echo(json.dumps(m.to_json(), indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    for n in m.notes:
        click.echo(f"note: {n}", err=True)
    t = Table(title=f"{m.model} on {m.device.name} ({fmt_bytes(m.capacity_bytes)}), batch {m.batch}; "
                    f"inference with {m.runtime} at {m.context:,} tokens")
    t.add_column("weights")
    for w in WORKLOADS:
        t.add_column(WORKLOAD_LABELS[w], justify="right")
    for p in PRECISIONS:
        row = [p]
        for w in WORKLOADS:
            c = m.cell(p, w)
            if c.fits is None:
                row.append("—")
            else:
                row.append(f"{'fits' if c.fits else 'no'} {(c.per_gpu_bytes or 0) / 1e9:,.1f} GB ({c.format})")
        t.add_row(*row)
    Console().print(t)
    why = {c.reason for c in m.cells if c.fits is None}
    for r in sorted(why):
        click.echo(f"—: {r}")

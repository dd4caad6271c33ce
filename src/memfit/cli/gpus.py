"""``memfit gpus``: the hardware catalog (memory, capacity, bandwidth, native dtypes, source)."""

from __future__ import annotations

import json

import click

from ..hardware import devices
from ..units import GIB


@click.command("gpus")
@click.option("json_", "--json", is_flag=True, help="Print JSON instead of a table.")
@click.option("--sources", is_flag=True, help="Show each row's source.")
@click.argument("query", required=False)
def gpus_cmd(json_: bool, sources: bool, query: str | None) -> None:
    """List the devices memfit knows (offline). QUERY filters by substring of id, name, vendor or kind."""
    rows = [d for d in devices()
            if not query or query.lower() in " ".join((d.id, d.name, d.vendor, d.kind, *d.aliases)).lower()]
    if json_:
        click.echo(json.dumps([d.to_json() for d in rows], indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    t = Table(title=f"memfit hardware catalog ({len(rows)} devices)")
    for col in ("id", "name", "memory", "usable", "bandwidth", "native dtypes"):
        # the id is what the user types next (--gpu ID): never cut it
        t.add_column(col, justify="right" if col in ("memory", "usable", "bandwidth") else "left",
                     no_wrap=col == "id", min_width=max((len(d.id) for d in rows), default=2) if col == "id" else None)
    if sources:
        t.add_column("source")
    for d in rows:
        mem = "host RAM (--memory)" if d.kind == "cpu" else f"{d.memory_gb:g} GiB"
        if d.logical_devices > 1:
            mem += f" / {d.logical_devices}"
        usable = "" if d.capacity_bytes <= 0 else f"{d.capacity_bytes / GIB:,.2f} GiB"
        bw = "?" if d.bandwidth is None else f"{d.bandwidth / 1e9:,.0f} GB/s"
        cells = [d.id, d.name, mem, usable, bw, ", ".join(d.dtypes) or "-"]
        if sources:
            cells.append(d.source)
        t.add_row(*cells)
    Console().print(t)

"""``memfit formats``: every weight format memfit knows, with its bits and source."""

from __future__ import annotations

import json
from typing import Any

import click

from ..formats import list_formats

_KIND_TITLE = {"dense": "dense", "scaled": "int/fp8", "bnb4": "bnb 4-bit", "gptq": "GPTQ", "awq": "AWQ",
               "microscaled": "FP4 MX/NV", "gguf": "GGUF"}


@click.command("formats")
@click.argument("query", required=False)
@click.option("--model", "-m", default=None, help="Also show the weights bytes of MODEL in each format.")
@click.option("--pure/--no-pure", default=False, show_default=True,
              help="Include the pure GGUF types (q4_k-pure …: one type for every quantizable tensor).")
@click.option("json_", "--json", is_flag=True, help="Print JSON instead of a table.")
def formats_cmd(query: str | None, model: str | None, pure: bool, json_: bool) -> None:
    """List the weight formats (--dtype values). QUERY filters by substring of name, alias or kind.

    Names are case-insensitive: fp16, bf16, fp8, fp8-block, int8, int4, nf4, nf4-dq, bnb-int8,
    gptq (gptq-<bits>bit-g<group>), awq, mxfp4, nvfp4, the llama.cpp mixtures (q4_k_m …).
    """
    fmts = [f for f in list_formats() if pure or not f.pure or f.aliases]
    if query:
        q = query.lower()
        fmts = [f for f in fmts if q in " ".join((f.name, f.kind, f.label, *f.aliases)).lower()]
    rows: list[dict[str, Any]] = [f.to_json() for f in fmts]
    if model is not None:
        from ..memory.weights import weights_breakdown
        from ..sources.loader import load_model

        spec = load_model(model)
        for row in rows:
            b = weights_breakdown(spec, str(row["name"]))
            row["model_bytes"] = b.total_bytes
            row["model_bits_per_weight"] = round(b.bits_per_weight, 4)
    if json_:
        click.echo(json.dumps(rows, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    t = Table(title=f"memfit weight formats ({len(rows)})" + (f" for {model}" if model else ""))
    t.add_column("name", no_wrap=True)
    t.add_column("kind", no_wrap=True)
    t.add_column("bits", justify="right", no_wrap=True)
    if model is not None:
        t.add_column("bytes", justify="right", no_wrap=True)
        t.add_column("avg bits", justify="right", no_wrap=True)
    t.add_column("also")
    t.add_column("what", ratio=1, min_width=20)
    for row in rows:
        cells = [str(row["name"]), _KIND_TITLE.get(str(row["kind"]), str(row["kind"])), f"{row['bits']:.4g}"]
        if model is not None:
            cells += [f"{row['model_bytes']:,}", f"{row['model_bits_per_weight']:.4f}"]
        cells += [", ".join(row["aliases"][:4]), str(row["description"])]
        t.add_row(*cells)
    Console().print(t)

"""``memfit models``: list the bundled catalog."""

from __future__ import annotations

import json
from typing import Any

import click

from ..sources.catalog import catalog_rows
from ..units import fmt_count


@click.command("models")
@click.option("json_", "--json", is_flag=True, help="Print JSON instead of a table.")
@click.argument("query", required=False)
def models_cmd(json_: bool, query: str | None) -> None:
    """List the bundled models (offline). QUERY filters by substring."""
    rows: list[dict[str, Any]] = [
        dict(r) for r in catalog_rows()
        if not query or query.lower() in (r["id"] + " " + r["repo"] + " " + " ".join(r["aliases"])).lower()
    ]
    if json_:
        click.echo(json.dumps(rows, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    t = Table(title=f"memfit catalog ({len(rows)} models)")
    for col in ("id", "family", "parameters", "Hugging Face repo"):
        # the id is what the user types next: never cut it, let the repo column give way
        t.add_column(col, justify="right" if col == "parameters" else "left", no_wrap=col == "id",
                     min_width=max((len(str(r["id"])) for r in rows), default=2) if col == "id" else None)
    for r in rows:
        t.add_row(str(r["id"]), str(r["model_type"]), fmt_count(r["parameters"]) if r["parameters"] else "?",
                  str(r["repo"]))
    Console().print(t)

"""``memfit models``: list the bundled catalog."""

from __future__ import annotations

import json
from typing import Any

import click

from ..inventory import count_parameters
from ..sources.catalog import catalog, catalog_config
from ..sources.hf_config import spec_from_config
from ..units import fmt_count


@click.command("models")
@click.option("json_", "--json", is_flag=True, help="Print JSON instead of a table.")
@click.argument("query", required=False)
def models_cmd(json_: bool, query: str | None) -> None:
    """List the bundled models (offline). QUERY filters by substring."""
    rows: list[dict[str, Any]] = []
    for e in catalog():
        if query and query.lower() not in (e.id + " " + e.repo + " " + " ".join(e.aliases)).lower():
            continue
        _, cfg = catalog_config(e.id)
        try:
            n: int | None = count_parameters(spec_from_config(cfg, e.id)).total
        except Exception:  # a family whose builder is missing still lists
            n = None
        rows.append({"id": e.id, "repo": e.repo, "aliases": list(e.aliases), "model_type": cfg.get("model_type"),
                     "parameters": n, "source": e.source})
    if json_:
        click.echo(json.dumps(rows, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    t = Table(title=f"memfit catalog ({len(rows)} models)")
    for col in ("id", "family", "parameters", "Hugging Face repo"):
        t.add_column(col, justify="right" if col == "parameters" else "left")
    for r in rows:
        t.add_row(str(r["id"]), str(r["model_type"]), fmt_count(r["parameters"]) if r["parameters"] else "?",
                  str(r["repo"]))
    Console().print(t)

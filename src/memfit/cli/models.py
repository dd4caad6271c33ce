"""``memfit models``: list the bundled catalog."""

from __future__ import annotations

import json
import re
from typing import Any

import click

from ..errors import ConfigError
from ..sources.catalog import catalog_rows
from ..units import fmt_count
from ..whatfits import FORMATS_BY_RUNTIME
from .types import COUNT


def _version(text: str) -> tuple[int, ...]:
    """``"4.57.0.dev0"`` → (4, 57, 0): the numeric release part of a transformers version."""
    return tuple(int(p) for p in re.findall(r"\d+", text.split(".dev")[0])[:3])


def select_rows(query: str | None = None, family: str | None = None, newest: bool = False) -> list[dict[str, Any]]:
    """Catalog rows matching ``query`` (substring of id, repo, aliases) and ``family`` (a model_type, or its
    prefix before ``_``: ``qwen3`` matches qwen3, qwen3_moe, qwen3_next …), newest config first if asked."""
    rows = [dict(r) for r in catalog_rows()
            if not query or query.lower() in (r["id"] + " " + r["repo"] + " " + " ".join(r["aliases"])).lower()]
    if family:
        f = family.strip().lower()
        kept = [r for r in rows if str(r["model_type"]) == f or str(r["model_type"]).startswith(f + "_")]
        if not kept:
            known = sorted({str(r["model_type"]) for r in catalog_rows()})
            raise ConfigError(f"--family {family!r} matches no catalog model; families in the catalog: "
                              f"{', '.join(known)}")
        rows = kept
    if newest:
        rows.sort(key=lambda r: _version(str(r["transformers_version"])), reverse=True)
    return rows


@click.command("models")
@click.option("json_", "--json", is_flag=True, help="Print JSON instead of a table.")
@click.option("--family", metavar="F", help="Only this family (a model_type; 'qwen3' also matches qwen3_moe, "
                                            "qwen3_next …).")
@click.option("--newest", is_flag=True, help="Newest first, by the transformers version that wrote each "
                                             "config.json (its transformers_version: a proxy for the release).")
@click.option("--fits", "fits_gpu", default=None, metavar="GPU",
              help="What runs on this GPU: every model with the best format and the longest context that fit.")
@click.option("--context", "-c", type=COUNT, default=None, help="With --fits: the context each model must reach "
              "(default 2048; 128k = 131,072).")
@click.option("--runtime", "-r", type=click.Choice(list(FORMATS_BY_RUNTIME)), default="transformers",
              show_default=True, help="With --fits: the inference runtime.")
@click.option("--memory", "-m", default=None, help="With --fits: override the GPU's capacity, e.g. 24GiB.")
@click.argument("query", required=False)
def models_cmd(json_: bool, family: str | None, newest: bool, fits_gpu: str | None, context: int | None,
               runtime: str, memory: str | None, query: str | None) -> None:
    """List the bundled models (offline). QUERY filters by substring."""
    if fits_gpu is not None:
        from .models_fits import fits_listing

        fits_listing(fits_gpu, context, runtime, memory, json_)
        return
    if context is not None or memory is not None:
        raise ConfigError("--context and --memory go with --fits GPU (what runs on that GPU)")
    rows = select_rows(query, family, newest)
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
        family_text = str(r["model_type"]) + (" (generic)" if r["architecture"] == "generic" else "")
        t.add_row(str(r["id"]), family_text, fmt_count(r["parameters"]) if r["parameters"] else "?", str(r["repo"]))
    Console().print(t)

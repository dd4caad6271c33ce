"""``memfit validate`` on recorded vLLM / SGLang start-ups: predicted vs printed, per case and per split."""

from __future__ import annotations

import json

import click

from ..serving_cases import QUANTITIES, score_serving_file, summarize_serving

__all__ = ["print_serving"]


def print_serving(file: str, json_: bool) -> None:
    results = score_serving_file(file)
    summary = summarize_serving(results)
    if json_:
        click.echo(json.dumps({"cases": [r.to_json() for r in results], "summary": summary}, indent=1))
        return
    width = max([len(r.case) for r in results] + [4])
    click.echo(f"{'case':{width}}  {'split':7}" + "".join(f"  {q:>15}" for q in QUANTITIES))
    for r in results:
        cells = []
        for q in QUANTITIES:
            e = r.error(q)
            cells.append(f"{'—' if e is None else f'{100 * e:+.2f} %':>15}")
        click.echo(f"{r.case:{width}}  {r.split:7}" + "".join(f"  {c}" for c in cells) + (f"  ({r.note})" if r.note
                                                                                           else ""))
    for split, g in summary.items():
        parts = [f"{q} median {100 * g[q]['median_abs_error']:.2f} %, max {100 * g[q]['max_abs_error']:.2f} % "
                 f"({g[q]['worst_case']}), most over {100 * g[q]['most_over']:+.2f} %" for q in QUANTITIES if q in g]
        click.echo(f"{split} ({g['cases']} cases): " + "; ".join(parts))

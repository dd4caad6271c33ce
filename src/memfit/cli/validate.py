"""``memfit validate FILE``: predicted vs measured peak memory for every case of a ground-truth file."""

from __future__ import annotations

import json

import click

from ..units import fmt_bytes
from ..validate import validate_file


@click.command("validate")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("json_", "--json", is_flag=True, help="Print one JSON object: {cases: [...], summary: {...}}.")
def validate_cmd(file: str, json_: bool) -> None:
    """Predict every case of FILE (JSON lines, the H100 ground-truth format) and print the errors."""
    results, summary = validate_file(file)
    if json_:
        click.echo(json.dumps({"cases": [r.to_json() for r in results], "summary": summary}, indent=1))
        return
    width = max([len(r.case) for r in results] + [4])
    click.echo(f"{'case':{width}}  {'predicted':>22}  {'measured':>22}  {'error':>8}")
    for r in results:
        err = r.relative_error
        pred = fmt_bytes(r.predicted_bytes).split(" (")[0] if r.predicted_bytes is not None else "—"
        line = (f"{r.case:{width}}  {pred:>22}  {fmt_bytes(r.measured_bytes).split(' (')[0]:>22}  "
                f"{(f'{100 * err:+.2f} %' if err is not None else 'n/a'):>8}")
        if r.note:
            line += f"  ({r.note})"
        click.echo(line)
    for group in ("inference", "training"):
        g = summary[group]
        if not g["cases"]:
            continue
        if "median_abs_error" in g:
            click.echo(f"{group}: {g['predicted']}/{g['cases']} predicted; median |error| "
                       f"{100 * g['median_abs_error']:.2f} %, max |error| {100 * g['max_abs_error']:.2f} % "
                       f"({g['worst_case']}), most under {100 * g['most_under']:+.2f} %")
        else:
            click.echo(f"{group}: 0/{g['cases']} predicted")
    for s in summary.get("not_measured", []):
        click.echo(f"not measured: {s['case']} ({s['reason']})")

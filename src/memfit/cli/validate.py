"""``memfit validate FILE``: predicted vs measured peak memory for every case of a ground-truth file."""

from __future__ import annotations

import json
from typing import Any

import click

from ..errors import ConfigError
from ..units import fmt_bytes
from ..validate import validate_file


@click.command("validate")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("json_", "--json", is_flag=True, help="Print one JSON object: {cases: [...], summary: {...}}.")
def validate_cmd(file: str, json_: bool) -> None:
    """Predict every case of FILE (JSON lines, the H100 ground-truth format) and print the errors.

    A file of vLLM / SGLang start-up logs (tests/data/serving/*.jsonl) is scored on the numbers the engine printed.
    """
    _check_file(file)
    from ..serving_cases import is_serving_file

    if is_serving_file(file):
        from .validate_serving import print_serving

        print_serving(file, json_)
        return
    results, summary = validate_file(file)
    if json_:
        click.echo(json.dumps({"cases": [r.to_json() for r in results], "summary": summary}, indent=1))
        return
    width = max([len(r.case) for r in results] + [4])
    has_total = any(r.measured_total is not None for r in results)
    head = f"{'case':{width}}  {'allocated':>9}  {'measured':>9}  {'error':>8}"
    click.echo(head + (f"  {'total':>9}  {'measured':>9}  {'error':>8}" if has_total else ""))
    for r in results:
        line = (f"{r.case:{width}}  {_gb(r.predicted_bytes):>9}  {_gb(r.measured_bytes - r.prior_bytes):>9}  "
                f"{_pct(r.relative_error):>8}")
        if has_total:
            line += f"  {_gb(r.predicted_total):>9}  {_gb(r.measured_total):>9}  {_pct(r.total_error):>8}"
        if r.prior_bytes:
            line += f"  (measured less {fmt_bytes(r.prior_bytes)} held from earlier cases)"
        if r.note:
            line += f"  ({r.note})"
        click.echo(line)
    for group in ("inference", "training"):
        g = summary[group]
        if not g["cases"]:
            continue
        if "median_abs_error" in g:
            click.echo(f"{group}: {g['predicted']}/{g['cases']} predicted; allocated peak: {_stats(g)}")
            if "as_recorded" in g:
                click.echo(f"{group}: allocated peak against peak_alloc as recorded (earlier cases' leftovers "
                           f"included): {_stats(g['as_recorded'])}")
            if "total" in g:
                click.echo(f"{group}: device total vs reserved peak + context ({g['total']['cases']} cases): "
                           f"{_stats(g['total'])}")
        else:
            click.echo(f"{group}: 0/{g['cases']} predicted")
        if g.get("failed"):
            click.echo(f"{group}: memfit failed on {g['failed']} case(s), each one's error in its row (a memfit bug: "
                       "please report it)")
    if "transformers" in summary:
        click.echo(f"transformers: {summary['transformers']}")
    for s in summary.get("not_measured", []):
        click.echo(f"not measured: {s['case']} ({s['reason']})")


def _gb(n: int | None) -> str:
    return "—" if n is None else f"{n / 1e9:.3f} GB"


def _pct(e: float | None) -> str:
    return "n/a" if e is None else f"{100 * e:+.2f} %"


def _stats(g: dict[str, Any]) -> str:
    return (f"median |error| {100 * g['median_abs_error']:.2f} %, max |error| {100 * g['max_abs_error']:.2f} % "
            f"({g['worst_case']}), most under {100 * g['most_under']:+.2f} %")


def _check_file(file: str) -> None:
    """A missing FILE is one line naming the copy this repository ships (``tests/data/groundtruth/NAME``), for
    the README's ``../shared/groundtruth/…`` paths run where that folder is not beside the checkout."""
    from pathlib import Path

    path = Path(file)
    if path.is_file():
        return
    if path.exists():
        raise ConfigError(f"{file!r} is not a regular file: give a JSON-lines file of measurements")
    copy = Path("tests") / "data" / "groundtruth" / path.name
    hint = (f"; this repository ships a copy: memfit validate {copy}" if copy.is_file() else
            "; the H100 measurements ship in this repository under tests/data/groundtruth/")
    raise ConfigError(f"{file!r} does not exist (the shared folder is not beside this checkout){hint}"
                      if "shared" in path.parts else f"{file!r} does not exist{hint}")

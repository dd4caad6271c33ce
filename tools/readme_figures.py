"""Print the accuracy rows README.md and docs/ state, from ``memfit validate FILE --json`` on every case file.

Usage: PYTHONPATH=src python tools/readme_figures.py [--cache DIR] [--only SUBSTRING ...] [--json]

It runs ``memfit validate FILE --json`` (one process per file) on every case file under tests/data (the ``*-list``
files and ``plan-checks*`` are lists and plan answers, not case files), and prints one markdown row per file and
group (inference / training) with what validate printed: the allocated peak (n, median |error|, worst with its case,
most under, how many beyond the README's bars) and, where the file measured it, the device total; serving files per
split and quantity. Rows that the README prints for several files together (``COMBINED``) follow, pooled from the
same per-case errors. The qualifiers of each README row (what moved to development, what was scored once) are the
docs' to keep; this tool gives the figures only. ``--cache DIR`` keeps each file's JSON there and reuses it (delete
the folder after a change of the code).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
INFERENCE_KINDS = ("generate", "forward", "prefill")
OVER_ALLOCATED, UNDER_ALLOCATED = 0.04, 0.02  # docs/simulator.md's allocated columns: |error| > 4 %, under by > 2 %
OVER_TOTAL, UNDER_TOTAL = 0.05, 0.03  # issue 12's device-total bar: every case within 5 %, none under by > 3 %
# README rows that pool several files (label -> files relative to tests/data)
COMBINED: dict[str, tuple[str, ...]] = {
    "families (development), issue-10 families": ("simulated/families.jsonl", "simulated/families-new.jsonl"),
    "families (development), towers and DeepSeek-V4": ("simulated/families-towers.jsonl",
                                                        "simulated/families-v4.jsonl"),
    "op-level SAC ranks (`parallel/sac-op-*.jsonl`, `parallel/published.jsonl`)": (
        "parallel/sac-op-dev.jsonl", "parallel/sac-op-heldout.jsonl", "parallel/published.jsonl"),
    "llama.cpp buffers (`llamacpp/dev.jsonl`, `heldout.jsonl`)": ("llamacpp/dev.jsonl", "llamacpp/heldout.jsonl"),
    "family development, all (`families*.jsonl` but held-out)": (
        "simulated/families.jsonl", "simulated/families-new.jsonl", "simulated/families-hybrid.jsonl",
        "simulated/families-towers.jsonl", "simulated/families-v4.jsonl"),
}


@dataclass(frozen=True)
class Err:
    """One case's signed relative error."""

    case: str
    error: float


def case_files() -> list[Path]:
    """Every case file under tests/data, sorted."""
    return [p for p in sorted(DATA.rglob("*.jsonl"))
            if not p.stem.endswith("-list") and not p.stem.startswith("plan-checks")]


def run_validate(path: Path, cache: Path | None) -> dict[str, Any]:
    """``memfit validate PATH --json`` in its own process (the cached output where ``cache`` holds it)."""
    rel = path.relative_to(DATA)
    cached = cache / (str(rel).replace("/", "__") + ".json") if cache else None
    if cached is not None and cached.is_file():
        out: dict[str, Any] = json.loads(cached.read_text(encoding="utf-8"))
        return out
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT / "src"), env.get("PYTHONPATH", "")) if p)
    r = subprocess.run([sys.executable, "-m", "memfit", "validate", str(path), "--json"], capture_output=True,
                       text=True, env=env, cwd=ROOT, check=False)
    if r.returncode != 0:
        raise SystemExit(f"memfit validate {rel} failed ({r.returncode}): {r.stderr.strip()[-2000:]}")
    out = json.loads(r.stdout)
    if cached is not None:
        cached.parent.mkdir(parents=True, exist_ok=True)
        cached.write_text(r.stdout, encoding="utf-8")
    return out


def group_errors(result: dict[str, Any], group: str, key: str) -> list[Err]:
    """The signed errors (``relative_error`` or ``total_error``) of one group's cases."""
    out = []
    for c in result["cases"]:
        is_inference = c["kind"] in INFERENCE_KINDS
        if (group == "inference") != is_inference or c.get(key) is None:
            continue
        out.append(Err(c["case"], float(c[key])))
    return out


def pct(e: float, signed: bool = True) -> str:
    return f"{100 * e:+.2f} %" if signed else f"{100 * e:.2f} %"


def row(label: str, group: str, errs: list[Err], over: float, under: float) -> str:
    """``| label | group | n | median | worst (case) | most under (its case where not the worst) | beyond over | under
    by more |``."""
    worst = max(errs, key=lambda e: abs(e.error))
    low = min(errs, key=lambda e: e.error)
    median = statistics.median(abs(e.error) for e in errs)
    beyond = sum(abs(e.error) > over for e in errs)
    below = sum(e.error < -under for e in errs)
    under_cell = pct(low.error) + ("" if low.case == worst.case else f" (`{low.case}`)")
    return (f"| {label} | {group} | {len(errs)} | {pct(median, False)} | {pct(worst.error)} (`{worst.case}`) | "
            f"{under_cell} | {beyond} | {below} |")


def case_rows(results: dict[str, dict[str, Any]], key: str, over: float, under: float) -> list[str]:
    """One row per file and group, then the pooled README rows."""
    lines = []
    for rel, result in results.items():
        if "cases" not in result or not result["cases"] or "engine" in result["cases"][0]:
            continue
        for group in ("inference", "training"):
            errs = group_errors(result, group, key)
            if errs:
                lines.append(row(f"`{rel}`", group, errs, over, under))
    for label, files in COMBINED.items():
        if not all(f in results for f in files):
            continue
        for group in ("inference", "training"):
            errs = [e for f in files for e in group_errors(results[f], group, key)]
            if errs:
                lines.append(row(label, group, errs, over, under))
    return lines


def serving_cells(cases: list[dict[str, Any]]) -> list[str]:
    """Per quantity: ``n: median / max |error| (worst case)``, blank where no case printed it."""
    cells = []
    for q in ("weights", "kv_pool", "kv_tokens", "max_concurrency"):
        errs = [Err(c["case"], float(c["errors"][q])) for c in cases if q in c["errors"]]
        if not errs:
            cells.append("")
            continue
        worst = max(errs, key=lambda e: abs(e.error))
        median = statistics.median(abs(e.error) for e in errs)
        cells.append(f"{len(errs)}: {pct(median, False)} / {pct(abs(worst.error), False)} (`{worst.case}` "
                     f"{pct(worst.error)})")
    return cells


def batch_of(row: dict[str, Any]) -> str:
    """The collection batch a serving row names in ``collected`` ("batch 10b: ..."); the first ones name none."""
    words = str(row.get("collected") or "").replace(",", " ").replace(":", " ").split()
    for i, w in enumerate(words[:-1]):
        if w == "batch":
            return words[i + 1].rstrip("()")
    return "1"


def _batch_key(b: str) -> tuple[int, str]:
    digits = "".join(ch for ch in b if ch.isdigit())
    return (int(digits) if digits else 0, b)


def serving_rows(results: dict[str, dict[str, Any]]) -> list[str]:
    """Per serving file and split, then per held-out batch: the cases and each quantity's errors."""
    lines = []
    for rel, result in results.items():
        cases = result.get("cases") or []
        if not cases or "engine" not in cases[0]:
            continue
        rows = [json.loads(line) for line in (DATA / rel).read_text(encoding="utf-8").splitlines() if line.strip()]
        batches = {str(r.get("case")): batch_of(r) for r in rows}
        for split in sorted({c["split"] for c in cases}):
            mine = [c for c in cases if c["split"] == split]
            lines.append(f"| `{rel}` | {split} | {len(mine)} | " + " | ".join(serving_cells(mine)) + " |")
        held = [c for c in cases if c["split"] == "heldout"]
        for b in sorted({batches[c["case"]] for c in held}, key=_batch_key):
            mine = [c for c in held if batches[c["case"]] == b]
            lines.append(f"| `{rel}` | heldout, batch {b} | {len(mine)} | " + " | ".join(serving_cells(mine)) + " |")
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, help="keep / reuse each file's validate JSON in this folder")
    ap.add_argument("--only", nargs="*", default=[], help="files whose path contains one of these substrings")
    ap.add_argument("--json", action="store_true", help="print the validate JSON of every file, keyed by path")
    args = ap.parse_args(argv)
    results: dict[str, dict[str, Any]] = {}
    for path in case_files():
        rel = str(path.relative_to(DATA))
        if args.only and not any(s in rel for s in args.only):
            continue
        print(f"validating {rel}", file=sys.stderr)
        results[rel] = run_validate(path, args.cache)
    if args.json:
        print(json.dumps(results, indent=1))
        return 0
    head = "| file | group | n | median \\|error\\| | worst | most under | {} | {} |\n|---|---|---|---|---|---|---|---|"
    for title, key, over, under in (("Allocated peak", "relative_error", OVER_ALLOCATED, UNDER_ALLOCATED),
                                    ("Device total (reserved peak + context)", "total_error", OVER_TOTAL, UNDER_TOTAL)):
        lines = case_rows(results, key, over, under)
        if lines:
            print(f"## {title}\n")
            print(head.format(f"\\|error\\| > {100 * over:g} %", f"under by > {100 * under:g} %"))
            print("\n".join(lines) + "\n")
    serving = serving_rows(results)
    if serving:
        print("\n## Serving start-ups (n: median / max |error| (worst, signed))\n")
        print("| file | split | cases | weights | KV pool | tokens | concurrency |\n|---|---|---|---|---|---|---|")
        print("\n".join(serving))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

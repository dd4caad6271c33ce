"""Held-out family cases (tests/data/simulated/families-heldout.jsonl) from the frozen list
tests/data/simulated/families-heldout-list.jsonl, listed before any was simulated or scored.

Developer tool, not part of the memfit package: each case is built by the config maker of the tool named in its
``source`` (``families``: tools/simulate_families.py, ``families-new``: tools/simulate_families_new.py, ``hybrids``:
tools/simulate_hybrids.py, ``v4``: tools/simulate_families_v4.py, ``towers``: tools/simulate_families_towers.py) and
simulated as those tools do (docs/simulator.md).

Usage:  python tools/simulate_families_heldout.py [--only NAME,...] [--out PATH] [--list PATH]
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import simulate_families as sf  # the record writer and the families' config maker
import simulate_families_new as sfn
import simulate_families_towers as sft
import simulate_families_v4 as sfv4
import simulate_hybrids as sh

REPO = Path(__file__).resolve().parents[1]
LIST = REPO / "tests" / "data" / "simulated" / "families-heldout-list.jsonl"
OUT = REPO / "tests" / "data" / "simulated" / "families-heldout.jsonl"


def _maker(row: dict[str, Any]) -> Callable[[], dict[str, Any]]:
    source, model = row["source"], row["model"]
    if source == "hybrids":
        return lambda: sh.scaled(model, row["overrides"])
    if source == "families-new":
        return lambda: sfn.scaled_config(model, int(row["layers"]), row.get("overrides"))
    if source == "families":
        return lambda: sf.scaled_config(model, int(row["layers"]))
    if source == "v4":
        return lambda: sfv4.scaled_config(int(row["layers"]), row.get("overrides", {}))
    if source == "towers":
        return lambda: sft.scaled_config(model, int(row["layers"]))
    raise ValueError(f"{row['case']}: unknown source {source!r} (families, families-new, hybrids, v4 or towers)")


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    path = LIST
    if "--list" in args:  # another frozen list of the same format (e.g. blind-inference-list.jsonl, with --out)
        i = args.index("--list")
        path = Path(args[i + 1])
        del args[i:i + 2]
    sf.build_image_text_classes()  # as tools/simulate_families.py builds the image-text families
    rows = [r for r in map(json.loads, path.read_text().splitlines()) if "case" in r]
    jobs: list[sf.Job] = [(r["case"], r["case"].split("/")[0], r["model"], r["kind"], r["params"], _maker(r))
                          for r in rows]
    return sf.run_jobs(jobs, OUT, "simulate_families_heldout.py", args, save_each=True)


if __name__ == "__main__":
    sys.exit(main())

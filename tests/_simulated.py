"""Shared readers for the simulated-case test files (tests/data/simulated/*.jsonl)."""

from __future__ import annotations

import json
from pathlib import Path

from memfit.validate import validate_file


def records(path: Path) -> list[dict[str, object]]:
    """Every JSON line of a case file: the env line first, then the cases."""
    with path.open() as f:
        return [json.loads(line) for line in f if line.strip()]


def relative_errors(path: Path) -> list[tuple[str, float]]:
    """(case, memfit's relative error) for every case of the file, in file order; every case must be predicted."""
    rows, _summary = validate_file(path)
    out = []
    for r in rows:
        assert r.relative_error is not None, f"{r.case}: not predicted ({r.note})"
        out.append((r.case, r.relative_error))
    return out

"""Shared readers for the simulated-case test files (tests/data/simulated/*.jsonl)."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

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


def case_line(path: Path, case: str) -> str:
    """The JSON line of one case of a case file."""
    return next(line for line in path.read_text().splitlines() if f'"{case}"' in line)


def validate_line(line: str) -> Any:
    """``memfit validate`` on one case line alone: its single result row."""
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "case.jsonl"
        path.write_text(line + "\n")
        results, _ = validate_file(path)
    (row,) = results
    return row


def meta_bf16_build(config: dict[str, Any]) -> tuple[int, int]:
    """(parameters, bytes) of transformers' own bf16 build of ``config`` on the meta device (its fp32 modules kept)."""
    import pytest

    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    conf = transformers.AutoConfig.for_model(**config)
    with torch.device("meta"):
        model = transformers.AutoModelForCausalLM.from_config(conf, dtype=torch.bfloat16)
    params = list(model.parameters())
    return sum(p.numel() for p in params), sum(p.numel() * p.element_size() for p in params)

"""tools/readme_figures.py: the rows it prints for the README from ``memfit validate --json`` (worked by hand)."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

from _tools import load_tool

ROOT = Path(__file__).resolve().parent.parent


def _tool() -> ModuleType:
    return load_tool("readme_figures")


def test_row_counts_and_signs() -> None:
    rf = _tool()
    errs = [rf.Err("a", 0.05), rf.Err("b", -0.03), rf.Err("c", 0.01)]
    # |errors| 5, 3, 1 % -> median 3 %; worst +5 % (a); most under -3 % (b); beyond 4 %: a; under by > 2 %: b
    assert rf.row("x", "training", errs, 0.04, 0.02) == (
        "| x | training | 3 | 3.00 % | +5.00 % (`a`) | -3.00 % (`b`) | 1 | 1 |")
    # the worst case is also the most under: its name is not repeated
    assert rf.row("y", "inference", [rf.Err("d", -0.1), rf.Err("e", 0.02)], 0.05, 0.03) == (
        "| y | inference | 2 | 6.00 % | -10.00 % (`d`) | -10.00 % | 1 | 1 |")


def test_group_errors_split_by_kind() -> None:
    rf = _tool()
    result = {"cases": [
        {"case": "g", "kind": "generate", "relative_error": 0.01, "total_error": None},
        {"case": "t", "kind": "train", "relative_error": -0.02, "total_error": 0.03},
        {"case": "l", "kind": "lora", "relative_error": None, "total_error": -0.04},
    ]}
    assert rf.group_errors(result, "inference", "relative_error") == [rf.Err("g", 0.01)]
    assert rf.group_errors(result, "inference", "total_error") == []
    assert rf.group_errors(result, "training", "total_error") == [rf.Err("t", 0.03), rf.Err("l", -0.04)]


def test_serving_batches() -> None:
    rf = _tool()
    assert rf.batch_of({"collected": "2026-12-06 batch 2, #4 (odd = dev, even = held-out)"}) == "2"
    assert rf.batch_of({"collected": "2026-12-07 batch 10b: blind replacements"}) == "10b"
    assert rf.batch_of({"collected": "2026-12-07 batch 16 (issue 14, lane l14pool): new"}) == "16"
    assert rf.batch_of({}) == "1"
    assert sorted(["16", "10b", "2", "10"], key=rf._batch_key) == ["2", "10", "10b", "16"]


def test_case_files_are_case_files() -> None:
    rf = _tool()
    names = {p.name for p in rf.case_files()}
    assert "h100.jsonl" in names and "vllm.jsonl" in names
    assert not any(n.endswith("-list.jsonl") or n.startswith("plan-checks") for n in names)

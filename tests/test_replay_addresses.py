"""tools/replay_addresses.py's model of a process's address space, worked out by hand."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

MIB = 1 << 20


def _tool() -> ModuleType:
    path = Path(__file__).resolve().parents[1] / "tools" / "replay_addresses.py"
    spec = importlib.util.spec_from_file_location("replay_addresses", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("replay_addresses", mod)
    spec.loader.exec_module(mod)
    return mod


def test_new_ranges_top_down_and_reuse_policies() -> None:
    tool = _tool()
    top = tool.TOP
    for policy, expect in (("lowest", top - 100 * MIB), ("highest", top - 20 * MIB), ("highest-low", top - 30 * MIB),
                           ("smallest", top - 20 * MIB)):
        s = tool.AddressSpace(policy)
        a, b, c = s.take(30 * MIB), s.take(40 * MIB), s.take(30 * MIB)
        assert (a, b, c) == (top - 30 * MIB, top - 70 * MIB, top - 100 * MIB)  # each directly below the last
        s.give(a, 30 * MIB)
        s.give(c, 30 * MIB)  # two free 30 MiB ranges, the 40 MiB one still mapped between them
        assert s.take(20 * MIB) == expect, policy
        assert s.take(50 * MIB) == top - 150 * MIB  # fits no freed range: new, below everything


def test_freed_neighbours_merge_unless_kept_apart() -> None:
    tool = _tool()
    for merge, expect in ((True, tool.TOP - 60 * MIB), (False, tool.TOP - 110 * MIB)):
        s = tool.AddressSpace("lowest", merge=merge)
        a, b = s.take(30 * MIB), s.take(30 * MIB)
        s.give(a, 30 * MIB)
        s.give(b, 30 * MIB)
        assert s.take(50 * MIB) == expect  # merged: the two 30 MiB ranges hold it; apart: a new range


def test_replay_of_a_two_case_process() -> None:
    """Two traced cases replayed as one process: each case's reserved peak is its own segments (the held cuBLAS
    workspace counted once per case, as the trace allocates it), whatever the address model; random orders of a
    stream without equal free blocks all give the same figure."""
    tool = _tool()
    ws = {"ev": "malloc", "key": "('cublas workspace', 0)", "bytes": 32 * MIB}
    case_a = [ws, {"ev": "malloc", "key": "a", "bytes": 100 * MIB}, {"ev": "free", "key": "a"},
              {"ev": "malloc", "key": "b", "bytes": 60 * MIB}]
    case_b = [ws, {"ev": "malloc", "key": "c", "bytes": 5 * MIB}]
    rows = [{"case": c, "kind": "generate", "peak_reserved": 0} for c in "AB"]
    for policy in tool.POLICIES:
        got = tool.replay_process(rows, {"A": case_a, "B": case_b}, policy)
        assert got == {"A": 132 * MIB, "B": 52 * MIB}, policy  # B: the workspace and one 20 MiB segment
    assert tool.random_orders(case_a, 3) == [132 * MIB] * 3

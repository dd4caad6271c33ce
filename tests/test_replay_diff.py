"""tools/replay_diff.py reads the traces ``tools/simulate_memory.py validate --trace`` writes: a free there records
the freed ``block``, not ``bytes`` (it raised KeyError 'bytes' before; fixed on main by l12inkling, this test keeps
it so)."""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType

import pytest

from _tools import load_tool

TOOLS = Path(__file__).resolve().parents[1] / "tools"


def _tool(name: str) -> ModuleType:
    return load_tool(name)


def test_trace_of_simulate_memory_replays(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    sim = _tool("simulate_memory")
    diff = _tool("replay_diff")
    pool = sim.TracedAllocator()
    pool.op = "aten::empty"
    pool.malloc("a", 3 << 20)
    pool.malloc("b", 1000)
    pool.free("a")
    pool.events.append(dict(ev="mark", name="step"))  # marks are not requests
    pool.malloc("c", 2 << 20)
    path = tmp_path / "trace.jsonl"
    path.write_text(json.dumps(dict(case="x", events=pool.events)) + "\n")
    events = diff.trace_events(str(path), "x")
    block = next(e["block"] for e in pool.events if e["ev"] == "free")
    assert events == [
        (True, "a", 3 << 20, "aten::empty"),
        (True, "b", 1000, "aten::empty"),
        (False, "a", block, "aten::empty"),
        (True, "c", 2 << 20, "aten::empty"),
    ]
    seen: list[tuple[int, bool, int]] = []
    diff.replay(events, lambda i, p, m, key, nb, op, grew: seen.append((i, m, nb)))
    # the free reports the size its malloc asked for (the replay's own record), not the trace's
    assert seen == [(0, True, 3 << 20), (1, True, 1000), (2, False, 3 << 20), (3, True, 2 << 20)]


def test_where_view_by_hand() -> None:
    """The ``where`` view (l16pp): a 40 MiB and a 24 MiB request each make a segment (rounded to 2 MiB, none cached);
    the 40 MiB one freed leaves a 40 MiB hole; a 16 MiB request then takes the start of that segment (best fit:
    the smallest cached block that holds it) and 24 MiB of it stay free."""
    diff = _tool("replay_diff")
    mib = 1 << 20
    events = [
        (True, "a", 40 * mib, "aten::mm"),
        (True, "b", 24 * mib, "aten::mm"),
        (False, "a", 0, "free"),
        (True, "c", 16 * mib, "aten::mul"),
        (True, "d", 2 * mib, "aten::add"),
    ]
    first = (1 << 40) >> 20  # the emulation's first segment address, in MiB; the next one 2 MiB past its end
    # (caching_allocator.py: segments never adjoin, so blocks of two segments never merge)
    assert diff.where_lines(events, 0, 10, 4.0, 4.0) == [
        f"#0 M 40.0 seg {first} (40) +0 NEW holes [] aten::mm",
        f"#1 M 24.0 seg {first + 42} (24) +0 NEW holes [] aten::mm",
        "#2 F 40.0 free",
        f"#3 M 16.0 seg {first} (40) +0 holes [24] aten::mul",
    ]  # the 2 MiB request is under --min (4 MiB) and not listed

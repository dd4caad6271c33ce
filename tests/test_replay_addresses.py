"""tools/replay_addresses.py's model of a process's address space, worked out by hand."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

from _tools import load_tool

MIB = 1 << 20


def _tool() -> ModuleType:
    return load_tool("replay_addresses")


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


def _mb(action: str, key: str, n: int) -> dict[str, object]:
    return {"ev": action, "key": key, "bytes": n * MIB}


def test_the_addresses_decide_a_reserved_peak() -> None:
    """Worked by hand: segment A (100 MiB) holds p and q, segment B (60 MiB) holds r and s; p and r freed leave two
    equal 50 MiB blocks and t takes the lower one. With A lower, q and s freed leave 50 and 60 MiB: u (100 MiB)
    needs a third segment (260 MiB reserved); with B lower, A merges back to 100 MiB and holds u (160 MiB). The
    recorded GPU addresses (``measured``) decide it the same way as the fresh orders."""
    tool = _tool()
    case = [_mb("malloc", "A0", 100), _mb("malloc", "B0", 60), _mb("free", "A0", 0), _mb("free", "B0", 0),
            _mb("malloc", "r", 50), _mb("malloc", "s", 10), _mb("malloc", "p", 50), _mb("malloc", "q", 50),
            _mb("free", "p", 0), _mb("free", "r", 0), _mb("malloc", "t", 50), _mb("free", "q", 0),
            _mb("free", "s", 0), _mb("malloc", "u", 100)]
    rows = [{"case": "C", "kind": "generate", "peak_reserved": 0}]
    assert tool.replay_process(rows, {"C": case}, "rising") == {"C": 260 * MIB}
    assert tool.replay_process(rows, {"C": case}, "falling") == {"C": 160 * MIB}
    for a_addr, b_addr, expect in ((1 << 40, 1 << 41, 260), (1 << 41, 1 << 40, 160)):
        rec = {"C": [["segment_alloc", a_addr, 100 * MIB], ["segment_alloc", b_addr, 60 * MIB]]}
        assert tool.replay_process(rows, {"C": case}, "measured", rec) == {"C": expect * MIB}


def test_gpu_snapshot_keeps_the_allocators_actions() -> None:
    """tools/gpu_snapshot.py reads torch.cuda.memory._snapshot()'s history: alloc, free_completed, segment_alloc and
    segment_free in order with address and bytes (free_requested and the rest dropped), segments by address."""
    path = Path(__file__).resolve().parents[1] / "tools" / "gpu_snapshot.py"
    spec = importlib.util.spec_from_file_location("gpu_snapshot", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    snap = {"segments": [{"device": 0, "address": 900, "total_size": 20 * MIB},
                         {"device": 0, "address": 100, "total_size": 2 * MIB},
                         {"device": 1, "address": 5, "total_size": 2 * MIB}],
            "device_traces": [[{"action": "segment_alloc", "addr": 900, "size": 20 * MIB},
                               {"action": "alloc", "addr": 900, "size": 4 * MIB},
                               {"action": "free_requested", "addr": 900, "size": 4 * MIB},
                               {"action": "free_completed", "addr": 900, "size": 4 * MIB},
                               {"action": "snapshot", "addr": 0, "size": 0}]]}
    assert mod.events(snap) == [["segment_alloc", 900, 20 * MIB], ["alloc", 900, 4 * MIB], ["free", 900, 4 * MIB]]
    assert mod.events(snap, device=1) == []
    assert mod.segments(snap) == [[100, 2 * MIB], [900, 20 * MIB]]

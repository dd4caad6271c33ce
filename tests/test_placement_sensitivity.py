"""tools/placement_sensitivity.py: a stream's large-pool requests replayed with some left out, worked out by hand."""

from __future__ import annotations

from types import ModuleType

from _tools import load_tool

MIB = 1 << 20


def _tool() -> ModuleType:
    return load_tool("placement_sensitivity")


def _stream() -> list[dict[str, object]]:
    """A 100 MiB tensor freed, a 4 MiB one (best fit: the only cached block, split 4 + 96 MiB), a small-pool one,
    then a second 100 MiB tensor: it no longer fits the cached block and takes a new 100 MiB segment; the 4 MiB one
    freed, a 12 MiB one fits the first segment again."""
    return [
        {"ev": "mark", "name": "step 0 forward"},
        {"ev": "malloc", "key": "a", "bytes": 100 * MIB},
        {"ev": "free", "key": "a"},
        {"ev": "malloc", "key": "s", "bytes": 4 * MIB},
        {"ev": "malloc", "key": "tiny", "bytes": 4096},
        {"ev": "free", "key": "tiny"},
        {"ev": "malloc", "key": "b", "bytes": 100 * MIB},
        {"ev": "free", "key": "s"},
        {"ev": "malloc", "key": "s", "bytes": 12 * MIB},  # a key reused after its free (storage ids are)
    ]


def test_large_events_keep_the_large_pool_in_order() -> None:
    events = _tool().large_events(_stream())
    assert events == [(True, "a", 100 * MIB), (False, "a", 0), (True, "s", 4 * MIB), (True, "b", 100 * MIB),
                      (False, "s", 0), (True, "s", 12 * MIB)]


def test_one_small_tensor_decides_a_segment() -> None:
    tool = _tool()
    events = tool.large_events(_stream())
    assert tool.replayed_peak(events) == 200 * MIB
    # without the 4 MiB tensor b reuses a's block, and the last 12 MiB request (which a's block, whole again after s
    # was freed, would have held) takes a segment of its own: 100 + 12 MiB
    assert tool.replayed_peak(events, frozenset({2})) == 112 * MIB
    full, k, peaks = tool.sensitivity(events, 0.01, 3)
    assert (full, k, peaks) == (200 * MIB, 1, [112 * MIB] * 3)  # the one 1-10 MiB request, left out each time

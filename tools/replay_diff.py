"""memfit's replay of one case against the simulator's allocation trace of it, block by block.

Developer tool, not part of the memfit package. Both streams go through the caching allocator's emulation
(``CachingAllocator``, every block with its address): the trace's requests of its default stream as recorded
(``tools/simulate_pipeline.py trace`` / ``simulate_parallel.py run --trace`` / ``simulate_memory.py validate
--trace``), memfit's as ``memfit validate`` makes them for the case (the pool with the most events, or ``--pool N``
in that order: a pipeline file's replay also runs other ranks). Three views:

* ``big`` (default): every request of ``--big`` MiB or more in both streams, new segment or reuse, which segment
  (numbered by creation) and the reserved and allocated bytes after it; where the two first part, the cause is
  usually where mid-size tensors landed before (docs/simulator.md, "Placement noise");
* ``at``: the segments (over 2 MiB) at the trace's event ``--sim`` and memfit's event ``--mf``: each block,
  ``L`` live or ``f`` free, with its MiB, in address order;
* ``window``: the events ``--lo`` to ``--hi`` of one stream (``--which sim|mf``) of ``--min`` MiB or more, with
  the trace's aten op;
* ``where``: the same window with where each request landed (its segment's address and size in MiB, the offset in
  it, NEW for a new segment) and the large pool's free blocks of ``--hole`` MiB or more left after it: where two
  streams' holes first differ, the mid-size tensors that decide a later large request's segment part.

Usage:  python tools/replay_diff.py TRACE.jsonl CASE_FILE CASE [--big 700] [--pool N]
        python tools/replay_diff.py TRACE.jsonl CASE_FILE CASE --view at --sim 2642 --mf 1598
        python tools/replay_diff.py TRACE.jsonl CASE_FILE CASE --view window --which sim --lo 2300 --hi 2470
        python tools/replay_diff.py TRACE.jsonl CASE_FILE CASE --view where --which mf --lo 1300 --hi 1600 --min 12
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from memfit import validate as v
from memfit.memory import caching_allocator as ca

MB = 2**20
Event = tuple[bool, str, int, str]  # (malloc, key, bytes, op)


def trace_events(path: str, case: str) -> list[Event]:
    """The trace's mallocs and frees on its default stream (FSDP's side streams have pools of their own)."""
    with open(path) as fh:
        for line in fh:
            rec: dict[str, Any] = json.loads(line)
            if rec["case"] == case:
                # simulate_memory.py's free events carry the block's size, not "bytes"
                return [
                    (e["ev"] == "malloc", str(e["key"]), int(e.get("bytes", e.get("block", 0))), e.get("op", ""))
                    for e in rec["events"]
                    if e.get("stream", "default") == "default" and e["ev"] in ("malloc", "free")
                ]
    raise SystemExit(f"{case} not in {path}")


def memfit_events(case_file: str, case: str, pool: int) -> list[Event]:
    """memfit's requests for the case, recorded from the emulated allocator while ``validate`` prices it."""
    lines = Path(case_file).read_text().splitlines()
    streams: dict[int, list[Event]] = {}
    malloc, free = ca.CachingAllocator.malloc, ca.CachingAllocator.free

    def rec_malloc(self: ca.CachingAllocator, key: Any, nbytes: int) -> Any:
        streams.setdefault(id(self), []).append((True, str(key), nbytes, ""))
        return malloc(self, key, nbytes)

    def rec_free(self: ca.CachingAllocator, key: Any) -> Any:
        streams.setdefault(id(self), []).append((False, str(key), 0, ""))
        return free(self, key)

    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as f:
        f.write(lines[0] + "\n")  # the env line
        f.write(next(ln for ln in lines if json.loads(ln).get("case") == case) + "\n")
    ca.CachingAllocator.malloc, ca.CachingAllocator.free = rec_malloc, rec_free  # type: ignore[method-assign]
    try:
        v.validate_file(f.name)
    finally:
        ca.CachingAllocator.malloc, ca.CachingAllocator.free = malloc, free  # type: ignore[method-assign]
        Path(f.name).unlink()
    return sorted(streams.values(), key=len, reverse=True)[pool]


def replay(events: list[Event], each: Any) -> None:
    """Runs ``events`` through the emulation, calling ``each(i, pool, malloc, key, bytes, op, grew)`` after each."""
    pool, sizes = ca.CachingAllocator(), {}
    for i, (m, key, nb, op) in enumerate(events):
        if m:
            if key in pool.live:  # the trace's keys are storage ids, reused after a free
                pool.free(key)
            before = pool.reserved
            pool.malloc(key, nb)
            sizes[key] = nb
            each(i, pool, True, key, nb, op, pool.reserved > before)
        else:
            each(i, pool, False, key, sizes.get(key, 0), op, False)
            if key in pool.live:
                pool.free(key)


def _segment(pool: ca.CachingAllocator, addr: int, order: dict[int, int]) -> int:
    lo = next(a for a, n in pool.segment_ranges() if a <= addr < a + n)
    return order.setdefault(lo, len(order))


def big_view(label: str, events: list[Event], big: float) -> None:
    order: dict[int, int] = {}

    def each(i: int, pool: ca.CachingAllocator, m: bool, key: str, nb: int, op: str, grew: bool) -> None:
        if m:
            seg = _segment(pool, pool.live[key].addr, order)
            if nb >= big * MB:
                print(
                    f"{label} #{i:6d} {nb / MB:8.1f} MiB {'NEW  ' if grew else 'reuse'} seg {seg:4d} "
                    f"reserved {pool.reserved / MB:9.1f} allocated {pool.allocated / MB:9.1f} {op}"
                )

    replay(events, each)


def at_view(label: str, events: list[Event], at: int) -> None:
    def each(i: int, pool: ca.CachingAllocator, m: bool, key: str, nb: int, op: str, grew: bool) -> None:
        if i != at:
            return
        print(f"{label} at event {at}:")
        blocks = sorted([*pool.live.values(), *pool.pools[False].by_addr.values()], key=lambda b: b.addr)
        for lo, n in pool.segment_ranges():
            if n > 2 * MB:
                inside = [b for b in blocks if lo <= b.addr < lo + n]
                print(
                    f"  seg {lo >> 20:8d} {n / MB:7.0f}: "
                    + " ".join(f"{'L' if b.allocated else 'f'}{b.size / MB:.1f}" for b in inside)
                )

    replay(events, each)


def window_view(events: list[Event], lo: int, hi: int, least: float) -> None:
    def each(i: int, pool: ca.CachingAllocator, m: bool, key: str, nb: int, op: str, grew: bool) -> None:
        if lo <= i <= hi and nb >= least * MB:
            print(
                f"#{i:6d} {'M' if m else 'F'} {nb / MB:8.2f} {'NEW' if grew else '   '} "
                f"allocated {pool.allocated / MB:9.1f} {op}"
            )

    replay(events, each)


def where_lines(events: list[Event], lo: int, hi: int, least: float, hole: float) -> list[str]:
    """The ``where`` view's lines: each malloc of ``least`` MiB or more in ``lo``..``hi`` with its segment (address
    and MiB), its offset there and the free large-pool blocks of ``hole`` MiB or more after it; frees by size."""
    out: list[str] = []

    def each(i: int, pool: ca.CachingAllocator, m: bool, key: str, nb: int, op: str, grew: bool) -> None:
        if not lo <= i <= hi or nb < least * MB:
            return
        if not m:
            out.append(f"#{i} F {nb / MB:.1f} {op}")
            return
        addr = pool.live[key].addr
        seg, size = next((a, n) for a, n in pool.segment_ranges() if a <= addr < a + n)
        holes = sorted(b.size // MB for b in pool.pools[False].by_addr.values() if b.size >= hole * MB)
        out.append(
            f"#{i} M {nb / MB:.1f} seg {seg >> 20} ({size >> 20}) +{(addr - seg) >> 20}"
            f"{' NEW' if grew else ''} holes {holes} {op}"
        )

    replay(events, each)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("trace")
    ap.add_argument("case_file")
    ap.add_argument("case")
    ap.add_argument("--view", choices=("big", "at", "window", "where"), default="big")
    ap.add_argument("--big", type=float, default=700.0, help="MiB: the requests the big view lists")
    ap.add_argument("--pool", type=int, default=0, help="memfit's pools by event count, largest first")
    ap.add_argument("--sim", type=int, default=-1)
    ap.add_argument("--mf", type=int, default=-1)
    ap.add_argument("--which", choices=("sim", "mf"), default="sim")
    ap.add_argument("--lo", type=int, default=0)
    ap.add_argument("--hi", type=int, default=-1)
    ap.add_argument("--min", type=float, default=1.0, help="MiB: the smallest request the window view lists")
    ap.add_argument("--hole", type=float, default=4.0, help="MiB: the smallest free block the where view lists")
    a = ap.parse_args(argv)
    sim = trace_events(a.trace, a.case)
    mf = memfit_events(a.case_file, a.case, a.pool)
    if a.view == "big":
        big_view("sim", sim, a.big)
        big_view("mf ", mf, a.big)
    elif a.view == "at":
        at_view("sim", sim, a.sim)
        at_view("mf", mf, a.mf)
    elif a.view == "where":
        print(
            "\n".join(where_lines(sim if a.which == "sim" else mf, a.lo, a.hi if a.hi >= 0 else 10**9, a.min, a.hole))
        )
    else:
        window_view(sim if a.which == "sim" else mf, a.lo, a.hi if a.hi >= 0 else 10**9, a.min)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

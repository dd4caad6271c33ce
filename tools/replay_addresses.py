"""Which segment addresses reproduce the measured reserved peaks: the simulator's allocation streams replayed as one
measuring process under several models of how the CUDA driver places segments.

Developer tool, not part of the memfit package. The caching allocator reuses, of several equal free blocks, the one
at the lowest address (``BlockComparatorSize``), so where the driver maps each new segment decides some reserved
peaks by a whole block (docs/simulator.md, "Which of equal free blocks is reused"). The measuring script
(tests/data/groundtruth, ``measure.py``) runs its cases in one process and calls ``empty_cache()`` before each
build, so the address ranges one case gives back are there for the next. This tool replays each case's recorded
stream (``tools/simulate_memory.py validate --trace FILE``) through the emulation with the addresses coming from a
model of that process:

* ``rising`` / ``falling``: every case in a fresh address space, new segments above / below the last one (the
  emulation's ``descending=False`` / ``True``);
* ``measured`` (with ``--measured FILE``, the output of ``tools/gpu_snapshot.py`` on a GPU): each case's new
  segments at the addresses the GPU gave that case's segments, in order (2 MiB small-pool segments and the others
  matched apart; a simulated segment beyond the recorded ones goes below all of them);
* ``reuse-*``: one address space for the whole file. New ranges are taken top-down below everything mapped (the
  published ``memory_snapshot()`` dumps of a fresh process, docs/simulator.md); a range that ``empty_cache()``
  gave back is reused when a new segment fits it, chosen by the policy: ``lowest`` (first fit from the bottom),
  ``highest`` (first fit from the top, placed at the top of the range: Linux's top-down ``mmap``), ``highest-low``
  (the highest range, placed at its bottom), ``smallest`` (best fit, placed at the top). With ``-apart`` the ranges
  given back are not merged with their neighbours.
  Held across cases, as the measurement shows them: the prologue's cuBLAS workspace (after a 2 MiB and a 20 MiB
  segment given back), the autograd thread's workspace from the first training case on, and the small leftovers
  of earlier cases (one 2 MiB segment). A case the simulator cannot run (bitsandbytes) stands in as one range of
  its measured reserved peak, given back at its end.

Usage:  python tools/simulate_memory.py validate [--cases FILE] --trace T.jsonl
        python tools/replay_addresses.py T.jsonl [--cases FILE] [--policies rising,falling,reuse-lowest,...]
                                         [--measured SNAPSHOTS.jsonl.gz]
Prints, per case, the replayed reserved peak's error against the measured one for each policy, then per policy the
number of cases within 0.5 % and the worst. ``--random N``: each case also under N random segment orders (fresh
address space, seeds 0..N-1): how many land within 0.5 % and the distinct errors they take.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from memfit.memory.caching_allocator import CachingAllocator

MIB = 1 << 20
TOP = 1 << 46
WORKSPACE = 32 * MIB  # the cuBLAS workspace of one handle on sm90 (tools/simulate_memory.py)
POLICIES = ("rising", "falling", "reuse-lowest", "reuse-highest", "reuse-highest-low", "reuse-smallest",
            "reuse-lowest-apart", "reuse-highest-apart", "reuse-highest-low-apart", "reuse-smallest-apart")
REPO = Path(__file__).resolve().parents[1]


class AddressSpace:
    """Address ranges of one process: new ones top-down below everything mapped; ``give`` returns a range, which
    ``take`` reuses by ``policy`` (see the module docstring)."""

    def __init__(self, policy: str, merge: bool = True) -> None:
        self.policy, self.merge = policy, merge
        self.low = TOP
        self.free: list[tuple[int, int]] = []  # (address, bytes), sorted

    def take(self, size: int) -> int:
        fits = [(a, n) for a, n in self.free if n >= size]
        if not fits:
            self.low -= size
            return self.low
        if self.policy == "lowest":
            a, n = fits[0]
            at = a
        elif self.policy in ("highest", "highest-low"):
            a, n = fits[-1]
            at = a + n - size if self.policy == "highest" else a
        elif self.policy == "smallest":
            a, n = min(fits, key=lambda r: (r[1], -r[0]))
            at = a + n - size
        else:
            raise ValueError(f"unknown address policy {self.policy!r}")
        self.free.remove((a, n))
        self.free += [r for r in ((a, at - a), (at + size, a + n - at - size)) if r[1]]
        self.free.sort()
        return at

    def give(self, addr: int, size: int) -> None:
        self.free.append((addr, size))
        self.free.sort()
        if self.merge:
            merged: list[tuple[int, int]] = []
            for a, n in self.free:
                if merged and sum(merged[-1]) == a:
                    merged[-1] = (merged[-1][0], merged[-1][1] + n)
                else:
                    merged.append((a, n))
            self.free = merged


class _Measured:
    """A case's recorded ``segment_alloc`` addresses, handed out in order: 2 MiB (small-pool) segments and the others
    apart; ``size_mismatches`` counts the simulated segments whose size is not the recorded one."""

    def __init__(self, recorded: list[list[Any]]) -> None:
        made = [(int(addr), int(n)) for action, addr, n in recorded if action == "segment_alloc"]
        self.queues = {True: [r for r in made if r[1] == 2 * MIB], False: [r for r in made if r[1] != 2 * MIB]}
        self.low = min([a for a, _ in made], default=TOP)
        self.size_mismatches = 0

    def take(self, size: int) -> int:
        queue = self.queues[size == 2 * MIB]
        if not queue:
            self.low -= size
            return self.low
        addr, recorded = queue.pop(0)
        self.size_mismatches += recorded != size
        return addr


class _Fresh:
    """A fresh address space per case: new segments above (``rising``) or below (``falling``) the last one."""

    def __init__(self, falling: bool) -> None:
        self.falling, self.next = falling, TOP

    def take(self, size: int) -> int:
        if self.falling:
            self.next -= size
            return self.next
        self.next += size
        return self.next - size


def _held(key: str) -> bool:
    return key.startswith("('cublas workspace'") or key == "earlier cases"


def replay_process(rows: list[dict[str, Any]], traces: dict[str, list[dict[str, Any]]], policy: str,
                   measured: dict[str, list[list[Any]]] | None = None) -> dict[str, int]:
    """Each traced case's emulated reserved peak, the cases replayed in the measured order under ``policy``
    (``measured``: each case's recorded events, for the ``measured`` policy)."""
    name = policy.removeprefix("reuse-").removesuffix("-apart")
    space = AddressSpace(name, merge=not policy.endswith("-apart"))
    held: dict[str, int] = {}
    if policy.startswith("reuse-"):  # measure.py's prologue: zeros(1), a 2 MiB matmul and its cuBLAS workspace
        small, medium = space.take(2 * MIB), space.take(20 * MIB)
        held["('cublas workspace', 0)"] = space.take(WORKSPACE)
        space.give(small, 2 * MIB)
        space.give(medium, 20 * MIB)
    out: dict[str, int] = {}
    for row in rows:
        case = row["case"]
        if case not in traces:  # not simulated: its reserved peak as one range, given back at its end
            if policy.startswith("reuse-"):
                addr = space.take(row["peak_reserved"])
                if row["kind"] in ("train", "lora"):
                    held.setdefault("('cublas workspace', 1)", space.take(WORKSPACE))
                space.give(addr, row["peak_reserved"])
            continue
        fresh: _Fresh | _Measured = _Fresh(policy == "falling")
        if policy == "measured":
            fresh = _Measured((measured or {}).get(case, []))
        key = [""]

        def place(size: int, key: list[str] = key, fresh: _Fresh | _Measured = fresh) -> int:
            if policy == "measured" and _held(key[0]):
                held.setdefault(f"{key[0]} {size}", TOP + len(held) * (1 << 36))  # the process's, kept apart
                return held[f"{key[0]} {size}"]
            if not policy.startswith("reuse-"):
                return fresh.take(size)
            kept = key[0] if key[0].startswith("('cublas") else f"{key[0]} {size}"  # leftovers: one range a size
            if kept in held:
                return held[kept]
            addr = space.take(size)
            if _held(key[0]):
                held[kept] = addr
            return addr

        alloc = CachingAllocator(place=place)
        for ev in traces[case]:
            if ev["ev"] == "malloc":
                key[0] = ev["key"]
                alloc.malloc(ev["key"], ev["bytes"])
                key[0] = ""
            elif ev["ev"] == "free":
                alloc.free(ev["key"])
        out[case] = alloc.peak_reserved
        if isinstance(fresh, _Measured) and fresh.size_mismatches:
            print(f"{case}: {fresh.size_mismatches} simulated segments differ in size from the recorded ones")
        if policy.startswith("reuse-"):  # empty_cache() before the next case: all but the held segments go back
            kept = set(held.values())
            for addr, size in alloc.segment_ranges():
                if addr not in kept:
                    space.give(addr, size)
    return out


def random_orders(events: list[dict[str, Any]], n: int) -> list[int]:
    """The case's emulated reserved peak with every new segment at a random address, for seeds 0..n-1."""
    out = []
    for seed in range(n):
        rng = random.Random(seed)
        alloc = CachingAllocator(place=lambda size, rng=rng: rng.randrange(1 << 30) << 24)
        for ev in events:
            if ev["ev"] == "malloc":
                alloc.malloc(ev["key"], ev["bytes"])
            elif ev["ev"] == "free":
                alloc.free(ev["key"])
        out.append(alloc.peak_reserved)
    return out


def _read(path: Path) -> Iterator[dict[str, Any]]:
    for line in path.read_text().splitlines():
        if line.strip():
            yield json.loads(line)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("trace", help="tools/simulate_memory.py validate --trace output (one line per case)")
    ap.add_argument("--cases", default=str(REPO / "tests/data/groundtruth/h100.jsonl"), help="the measured file")
    ap.add_argument("--policies", default=",".join(POLICIES))
    ap.add_argument("--random", type=int, default=0, help="also N random segment orders per case")
    ap.add_argument("--measured", default="", help="tools/gpu_snapshot.py output: adds the 'measured' policy")
    a = ap.parse_args(argv)
    policies = [p for p in a.policies.split(",") if p]
    bad = [p for p in policies if p not in POLICIES]
    if bad:
        print(f"error: unknown policy {bad[0]!r}; choose from {', '.join(POLICIES)}", file=sys.stderr)
        return 2
    rows = [r for r in _read(Path(a.cases)) if "case" in r and "peak_reserved" in r]
    traces = {t["case"]: t["events"] for t in _read(Path(a.trace))}
    recorded: dict[str, list[list[Any]]] = {}
    if a.measured:
        with gzip.open(a.measured, "rt") as f:
            recorded = {r["case"]: r["events"] for r in map(json.loads, f) if r.get("case") != "prologue"}
        policies.append("measured")
    res = {p: replay_process(rows, traces, p, recorded) for p in policies}
    measured = {r["case"]: r["peak_reserved"] for r in rows if r["case"] in traces}
    print(f"{'case':50s}" + "".join(f"{p[:14]:>15s}" for p in policies) + "   (reserved peak error, MiB)")
    for case, m in measured.items():
        print(f"{case[:50]:50s}" + "".join(f"{(res[p][case] - m) / MIB:+15.0f}" for p in policies))
    for p in policies:
        errs = {c: (res[p][c] - m) / m for c, m in measured.items()}
        worst = max(errs, key=lambda c: abs(errs[c]))
        near = sum(abs(e) <= 0.005 for e in errs.values())
        print(f"{p:24s} within 0.5 %: {near}/{len(errs)}   worst {errs[worst]:+.2%} ({worst})")
    for case, m in measured.items() if a.random > 0 else ():
        got = random_orders(traces[case], a.random)
        seen = sorted({(r - m) // MIB for r in got})
        near = sum(abs(r - m) <= 0.005 * m for r in got)
        print(f"{case[:50]:50s} {a.random} random orders, {near} within 0.5 %, MiB off: "
              f"{' '.join(f'{x:+d}' for x in seen)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

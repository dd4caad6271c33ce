"""How much a simulated case's reserved peak depends on the placement of its mid-size tensors: the simulator's own
allocation stream replayed with a few of its 1-10 MiB requests left out.

Developer tool, not part of the memfit package. The caching allocator's large pool serves a request from the
smallest cached block that holds it and splits off the rest (``CachingAllocator``, best fit). A tensor of a few
MiB therefore lands in whatever hole is smallest at that moment, often the remains of a block a large tensor left,
and whether a later 0.5-3 GiB request (scores, logits, an embedding's gradient) finds a free block depends on where
every such tensor went before it. Requests of 1 MiB or less come from the small pool, which the large tensors never
use, so the stream of the requests above 1 MiB reproduces the large pool exactly; this tool checks that, then
replays the stream ``--seeds`` times, each time without a random ``--fraction`` of its 1-10 MiB requests (and their
frees). A case whose reserved peak does not move is decided by its large tensors: a replay that has them in order
reproduces it. A case whose peak moves by whole segments is decided by hundreds of small tensors: only a replay of
every request above 1 MiB, in order, reproduces it, and any other change of those tensors (a transformers release
adding a temporary, memfit's replay leaving one out) moves it as much (docs/simulator.md, "Placement noise").

Usage:  python tools/simulate_memory.py validate --cases FILE --only CASE --trace T.jsonl
        python tools/placement_sensitivity.py T.jsonl [--fraction 0.01] [--seeds 16]
   or   python tools/placement_sensitivity.py --cases FILE --only CASE[,CASE...]   (simulates them first)
Prints per case: the reserved peak, the 1-10 MiB requests, how many each replay leaves out, and the lowest, median
and highest reserved peak of the replays relative to the full stream's.

        python tools/placement_sensitivity.py --memfit FILE [--fraction 0.01] [--seeds 16]
does the same to memfit's own replay: ``memfit validate FILE`` once as it is and once per seed with each 1-10 MiB
request of the emulated allocator dropped with probability ``--fraction`` (one process per run: the replays are
cached), and prints per case the device total's error as validated, then the lowest / median / highest over the
seeds (docs/simulator.md, "Placement noise").
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from memfit.memory.caching_allocator import K_MIN_LARGE_ALLOC, K_SMALL_SIZE, CachingAllocator

Event = tuple[bool, str, int]  # (a malloc, the tensor's key, bytes requested; 0 for a free)


def large_events(events: list[dict[str, Any]]) -> list[Event]:
    """The stream's large-pool requests (above 1 MiB) and their frees, in order (phase marks dropped). A per-stream
    trace (``StreamPools``: FSDP's all-gather and reduce-scatter streams) keeps its default stream's: each other
    stream has a pool of its own."""
    out: list[Event] = []
    live: set[str] = set()
    for e in events:
        if e.get("stream", "default") != "default":
            continue
        if e.get("ev") == "malloc" and e["bytes"] > K_SMALL_SIZE:
            live.add(e["key"])
            out.append((True, e["key"], e["bytes"]))
        elif e.get("ev") == "free" and e["key"] in live:  # keys are storage ids, reused after a free
            live.discard(e["key"])
            out.append((False, e["key"], 0))
    return out


def replayed_peak(events: list[Event], leave_out: frozenset[int] = frozenset()) -> int:
    """The reserved peak of ``events`` replayed through the emulated allocator without the requests at the
    positions ``leave_out`` (and their frees)."""
    pool = CachingAllocator()
    gone: set[str] = set()
    for i, (malloc, key, nbytes) in enumerate(events):
        if malloc and i in leave_out:
            gone.add(key)
        elif malloc:
            pool.malloc(key, nbytes)
        elif key in gone:
            gone.discard(key)
        else:
            pool.free(key)
    return pool.peak_reserved


def sensitivity(events: list[Event], fraction: float, seeds: int) -> tuple[int, int, list[int]]:
    """(the full stream's reserved peak, how many 1-10 MiB requests each replay leaves out, the reserved peak of
    each replay) for replays with seeds 0 .. seeds - 1."""
    mid = [i for i, (malloc, _k, n) in enumerate(events) if malloc and n < K_MIN_LARGE_ALLOC]
    k = max(1, round(len(mid) * fraction)) if mid else 0
    peaks = [replayed_peak(events, frozenset(random.Random(s).sample(mid, k))) for s in range(seeds)]
    return replayed_peak(events), k, peaks


def _traces(args: argparse.Namespace) -> list[tuple[str, list[dict[str, Any]], int | None]]:
    """(case, its recorded stream, the simulator's own reserved peak when it was simulated here)."""
    if args.trace:
        rows = [json.loads(x) for x in Path(args.trace).read_text().splitlines() if x.strip()]
        return [(r["case"], r["events"], None) for r in rows]
    tools = Path(__file__).resolve().parent
    sys.path.insert(0, str(tools))
    import simulate_families  # needs torch and transformers
    import simulate_memory as sm

    simulate_families.build_image_text_classes()  # image-text cases build their *ForConditionalGeneration class
    only = set(filter(None, args.only.split(",")))
    rows = [json.loads(x) for x in Path(args.cases).read_text().splitlines() if x.strip()]
    out = []
    for r in rows:
        if "case" in r and r["case"] in only:
            sim = sm.simulate(r["config"], r["kind"], r["params"], trace=True)
            if sim["peak_reserved"] != r.get("peak_reserved"):  # another simulator or transformers than the record's
                print(f"{r['case']}: simulated reserved peak {sim['peak_reserved']:,d}, recorded {r['peak_reserved']}")
            out.append((r["case"], sim["trace"], int(sim["peak_reserved"])))
    return out


def _memfit_one(path: str, seed: int, fraction: float) -> dict[str, float | None]:
    """Each case's device-total error from ``memfit validate``, the allocator dropping each 1-10 MiB request with
    probability ``fraction`` (none when ``seed`` < 0)."""
    from memfit.memory import caching_allocator as ca
    from memfit.validate import validate_file

    rng, malloc = random.Random(seed), ca.CachingAllocator.malloc

    def dropping(self: CachingAllocator, key: object, nbytes: int) -> int:
        if seed >= 0 and K_SMALL_SIZE < nbytes < K_MIN_LARGE_ALLOC and rng.random() < fraction:
            return 0  # never made: its free is ignored (an unknown key)
        return malloc(self, key, nbytes)

    ca.CachingAllocator.malloc = dropping  # type: ignore[method-assign]
    results, _ = validate_file(path)
    return {r.case: r.total_error for r in results}


def memfit_band(path: str, fraction: float, seeds: int) -> None:
    import subprocess

    runs = []
    for seed in range(-1, seeds):
        out = subprocess.run([sys.executable, __file__, "--memfit-run", path, "--seed", str(seed), "--fraction",
                              str(fraction)], check=True, capture_output=True, text=True).stdout
        runs.append(json.loads(out))
    for case, err in runs[0].items():
        if err is None:
            continue
        band = sorted(100 * r[case] for r in runs[1:])
        print(f"{case:66s} device total {100 * err:+6.2f} %, with {fraction:.0%} of its 1-10 MiB requests dropped: "
              f"{band[0]:+6.2f} / {statistics.median(band):+6.2f} / {band[-1]:+6.2f} %", flush=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("trace", nargs="?", default="", help="a file of simulate_memory.py validate --trace")
    ap.add_argument("--cases", default="", help="a simulated case file: simulate --only's cases first")
    ap.add_argument("--only", default="")
    ap.add_argument("--fraction", type=float, default=0.01, help="share of the 1-10 MiB requests each replay "
                    "leaves out (default 0.01)")
    ap.add_argument("--seeds", type=int, default=16)
    ap.add_argument("--memfit", default="", help="a case file: memfit's own replay perturbed, per case")
    ap.add_argument("--memfit-run", default="", help=argparse.SUPPRESS)
    ap.add_argument("--seed", type=int, default=-1, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.memfit_run:
        print(json.dumps(_memfit_one(a.memfit_run, a.seed, a.fraction)))
        return 0
    if a.memfit:
        memfit_band(a.memfit, a.fraction, a.seeds)
        return 0
    if not a.trace and not (a.cases and a.only):
        ap.error("give a trace file, or --cases FILE --only CASE")
    for case, raw, simulated in _traces(a):
        events = large_events(raw)
        full, k, peaks = sensitivity(events, a.fraction, a.seeds)
        small = (simulated - full) if simulated is not None else 0  # the small pool's segments
        rel = sorted(100 * (p - full) / (full + small) for p in peaks)
        mids = sum(1 for m, _k, n in events if m and n < K_MIN_LARGE_ALLOC)
        print(f"{case:66s} reserved {(full + small) / 2**30:7.3f} GiB  1-10 MiB requests {mids:5d}, {k:3d} left "
              f"out: {rel[0]:+5.1f} / {statistics.median(rel):+5.1f} / {rel[-1]:+5.1f} %", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

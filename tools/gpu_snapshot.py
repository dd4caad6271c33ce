"""Record on a GPU what the caching allocator does in each ground-truth case: every allocation, free, ``cudaMalloc``
and ``cudaFree`` with its address, in the measuring script's own order and process.

Developer tool for a machine with a CUDA GPU, not part of the memfit package. The reserved peaks of a few measured
cases hang on which of several equal free blocks the allocator reuses, i.e. on the addresses the driver gave the
segments, and the LLM.int8 case grows its pool by ~750 MiB that no replay of bitsandbytes' source accounts for
(docs/simulator.md). The measurement files keep only the peaks; this records the allocator's history
(``torch.cuda.memory._record_memory_history``, no stack traces) around the unchanged ``measure.py`` (imported from
the ground-truth folder, its cases and ``run_case`` used as they are), one JSON line per case, gzip-compressed:

* ``case``, ``peak_alloc``, ``peak_reserved`` (as ``measure.py`` records them, to check the run is the measured one);
* ``events``: ``[action, address, bytes]`` in order, action one of ``alloc``, ``free`` (``free_completed``),
  ``segment_alloc``, ``segment_free`` (the ``empty_cache()`` after a case gives back its segments: those
  ``segment_free`` open the next case's list);
* ``segments``: ``[address, bytes]`` of every segment the pool holds when the case returns.

The first line is the script's prologue (``case: "prologue"``). ``tools/replay_addresses.py --measured FILE``
replays the simulator's streams with each case's new segments at the recorded addresses.

Usage (repository root, ``../shared`` beside it, a CUDA GPU, bitsandbytes for ``--quant``):
  python tools/gpu_snapshot.py OUT.jsonl.gz [--measure ../shared/groundtruth/measure.py] [--quant] [--only A,B]
"""

from __future__ import annotations

import argparse
import gc
import gzip
import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

ACTIONS = {"alloc": "alloc", "free_completed": "free", "segment_alloc": "segment_alloc",
           "segment_free": "segment_free"}
MAX_ENTRIES = 4_000_000  # a case's history (the longest generate makes ~260 k events)


def load_measure(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("measure", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"error: cannot load {path}: give the ground truth's measure.py with --measure")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def events(snapshot: dict[str, Any], device: int = 0) -> list[list[Any]]:
    """The allocator's actions on ``device`` from a ``torch.cuda.memory._snapshot()``, as [action, address, bytes]."""
    traces = snapshot.get("device_traces") or []
    if device >= len(traces):
        return []
    return [[ACTIONS[e["action"]], int(e["addr"]), int(e["size"])] for e in traces[device] if e["action"] in ACTIONS]


def segments(snapshot: dict[str, Any], device: int = 0) -> list[list[int]]:
    """Every segment of ``device`` in the snapshot, [address, bytes], lowest address first."""
    return sorted([int(s["address"]), int(s["total_size"])] for s in snapshot.get("segments", [])
                  if int(s.get("device", 0)) == device)


def main(argv: list[str] | None = None) -> int:
    import torch

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out")
    ap.add_argument("--measure", default="", help="measure.py (default: shared/groundtruth/ in or beside the repo)")
    ap.add_argument("--quant", action="store_true", help="measure.py's bitsandbytes set (h100-bnb.jsonl)")
    ap.add_argument("--only", default="", help="case or model names, comma-separated (the process order is kept)")
    a = ap.parse_args(argv)
    if not torch.cuda.is_available():
        print("error: no CUDA device: this tool records a GPU's allocator (run it where one is)")
        return 2
    repo = Path(__file__).resolve().parents[1]
    found = [q for q in (repo / "shared", repo.parent / "shared") if (q / "groundtruth/measure.py").is_file()]
    m = load_measure(Path(a.measure) if a.measure else (found or [repo / "shared"])[0] / "groundtruth/measure.py")
    dev = torch.device("cuda")

    def record() -> None:
        torch.cuda.memory._record_memory_history("all", context=None, stacks="python", max_entries=MAX_ENTRIES,
                                                 clear_history=True)

    only = set(filter(None, a.only.split(",")))
    with gzip.open(a.out, "wt") as f:
        record()
        torch.cuda.init()  # measure.py's prologue, as its main() runs it
        torch.zeros(1, device=dev)
        x = torch.randn(1024, 1024, device=dev, dtype=torch.bfloat16)
        (x @ x).sum().item()
        del x
        torch.cuda.empty_cache()
        snap = torch.cuda.memory._snapshot()
        f.write(json.dumps(dict(case="prologue", events=events(snap), segments=segments(snap))) + "\n")
        for name, model_name, kind, p in (m.QUANT if a.quant else m.CASES):
            if only and name not in only and model_name not in only:
                continue
            record()  # from here: the last case's empty_cache(), then this case
            rec = m.run_case(name, model_name, kind, p, dev, False)
            snap = torch.cuda.memory._snapshot()
            ev = events(snap)
            f.write(json.dumps(dict(case=name, peak_alloc=rec.get("peak_alloc"), peak_reserved=rec.get("peak_reserved"),
                                    events=ev, segments=segments(snap))) + "\n")
            f.flush()
            print(name, rec.get("peak_alloc"), rec.get("peak_reserved"), len(ev), flush=True)
            gc.collect()  # as measure.py's main() does after each case
            torch.cuda.empty_cache()
        torch.cuda.memory._record_memory_history(None)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

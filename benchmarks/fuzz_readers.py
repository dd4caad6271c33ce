"""Fuzz the safetensors and GGUF header parsers with ≥ 10,000 hostile inputs each.

Inputs (tests/_fuzz_inputs.py): random bytes, valid files from the official writers with byte-level
mutations (flips, truncation, inserted/deleted bytes, interesting 32/64-bit lengths written anywhere),
and structured headers (random JSON / GGUF key-values and tensor infos) that get past the framing and
reach the quantization analysis and the model-description builders. Each input goes through the full
path (parse, validate, StoredWeights, ModelSpec). Pass: only ``memfit.errors.FormatError`` comes out,
no input takes more than 1 s, none allocates more than 8 MB beyond its own size (tracemalloc).

Run: ``python benchmarks/fuzz_readers.py [N]`` (default 10,000 per parser). Prints one JSON object.
"""

from __future__ import annotations

import json
import sys
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from _fuzz_inputs import gguf_inputs, run_gguf, run_safetensors, safetensors_inputs

MAX_SECONDS = 1.0
MAX_ALLOC = 8 * 1024 * 1024


def fuzz(name: str, run: Callable[[bytes], str], inputs: st.SearchStrategy[bytes], n: int) -> dict[str, Any]:
    outcomes: Counter[str] = Counter()
    stats = {"max_seconds": 0.0, "max_alloc_bytes": 0, "max_input_bytes": 0}
    failures: list[str] = []

    @settings(max_examples=n, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(inputs)
    def one(data: bytes) -> None:
        tracemalloc.start()  # traced only while the reader runs (hypothesis itself is not measured)
        t0 = time.perf_counter()
        try:
            outcome = run(data)
        except Exception as e:  # anything but FormatError is a finding
            outcome = f"UNEXPECTED {type(e).__name__}"
            failures.append(f"{type(e).__name__}: {e} on {data[:80]!r}…")
        elapsed = time.perf_counter() - t0
        alloc = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        outcomes[outcome] += 1
        stats["max_seconds"] = max(stats["max_seconds"], elapsed)
        stats["max_alloc_bytes"] = max(stats["max_alloc_bytes"], alloc)
        stats["max_input_bytes"] = max(stats["max_input_bytes"], len(data))
        if elapsed > MAX_SECONDS:
            failures.append(f"{elapsed:.2f} s on a {len(data)}-byte input")
        if alloc > MAX_ALLOC + 2 * len(data):
            failures.append(f"{alloc:,} bytes allocated for a {len(data)}-byte input")

    t0 = time.perf_counter()
    try:
        one()
    except Exception as e:  # hypothesis re-raises nothing here (we catch inside), but be safe
        failures.append(f"hypothesis: {type(e).__name__}: {e}")
    total = sum(outcomes.values())
    return {"parser": name, "inputs": total, "outcomes": dict(outcomes), "failures": failures[:20],
            "seconds": round(time.perf_counter() - t0, 1), "max_seconds_per_input": round(stats["max_seconds"], 4),
            "max_alloc_bytes_per_input": stats["max_alloc_bytes"], "max_input_bytes": stats["max_input_bytes"],
            "ok": total >= n and not failures}


def main() -> int:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    results = [fuzz("safetensors", run_safetensors, safetensors_inputs(), n),
               fuzz("gguf", run_gguf, gguf_inputs(), n)]
    print(json.dumps(results, indent=2))
    return 0 if all(r["ok"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())

"""``memfit models --fits GPU``: every catalog model's best format and longest context on one GPU, per runtime.
Target: each runtime's list in under 3 s of CPU time from the command line (a fresh process: imports, catalog and
all; goal under 2 s), median of 3. CPU time, because on a shared machine the wall time mostly measures the others'
load (both are printed, with the load average). Before (issue 15): 20-56 s, importing torch to build the
catalog's generic-path models and searching every context from 1 up.

Run: ``python benchmarks/bench_whatfits.py [GPU]`` (exit status 1 when a runtime misses the target).
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import time

from memfit.options import RUNTIMES

TARGET_S = 3.0
GOAL_S = 2.0


def _run(gpu: str, runtime: str) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one `memfit models --fits` in a fresh process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "memfit", "models", "--fits", gpu, "--runtime", runtime, "--json"],
                   check=True, stdout=subprocess.DEVNULL, env=os.environ.copy())
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> int:
    gpu = sys.argv[1] if len(sys.argv) > 1 else "rtx-4090"
    worst = 0.0  # CPU seconds
    for runtime in RUNTIMES:
        runs = [_run(gpu, runtime) for _ in range(3)]
        wall = statistics.median(r[0] for r in runs)
        cpu = statistics.median(r[1] for r in runs)
        worst = max(worst, cpu)
        print(f"models --fits {gpu} --runtime {runtime:<12}: {wall:5.2f} s wall, {cpu:5.2f} s CPU")
    print(f"worst {worst:.2f} s CPU (target < {TARGET_S} s, goal < {GOAL_S} s); load average {os.getloadavg()[0]:.1f}")
    return 0 if worst < TARGET_S else 1


if __name__ == "__main__":
    sys.exit(main())

"""Parameter counting: memfit against building the model on the meta device with transformers.

The reference way to count a model's parameters without weights (what accelerate's ``estimate-memory``
does) is to build it under ``accelerate.init_empty_weights()`` (or ``torch.device("meta")``) and sum
``numel`` over its parameters. This benchmark counts every bundled catalog model both ways, same
machine, one run each, and checks that the two counts agree. It also times the cold CLI
(``memfit estimate llama-3.1-8b`` in a fresh process). Targets: memfit ≥ 100× faster; CLI < 0.5 s.

Run: ``python benchmarks/bench_params.py`` (needs torch and transformers; accelerate optional).
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
import time
from contextlib import AbstractContextManager
from importlib import resources
from typing import Any


def _catalog_configs() -> dict[str, dict[str, Any]]:
    folder = resources.files("memfit") / "data" / "models"
    return {p.name.removesuffix(".json"): json.loads(p.read_text(encoding="utf-8"))
            for p in sorted(folder.iterdir(), key=lambda p: p.name) if p.name.endswith(".json")}


def _memfit_counts(configs: dict[str, dict[str, Any]]) -> tuple[dict[str, int], float]:
    from memfit.inventory import count_parameters
    from memfit.sources.hf_config import spec_from_config

    start = time.perf_counter()
    counts = {name: count_parameters(spec_from_config(cfg, name)).total for name, cfg in configs.items()}
    return counts, time.perf_counter() - start


def _context(how: str) -> AbstractContextManager[Any]:
    if how == "accelerate":
        from accelerate import init_empty_weights  # type: ignore[import-untyped]

        ctx: AbstractContextManager[Any] = init_empty_weights()
        return ctx
    import torch

    return torch.device("meta")


def _transformers_counts(configs: dict[str, dict[str, Any]],
                         how: str) -> tuple[dict[str, int], float, list[str]]:
    """Build every model with transformers under ``how`` (``meta``: torch's meta device; ``accelerate``:
    ``init_empty_weights``, as accelerate's estimator does) and count its parameters."""
    import transformers

    counts: dict[str, int] = {}
    skipped: list[str] = []
    start = time.perf_counter()
    for name, cfg in configs.items():
        cfg = {k: v for k, v in cfg.items() if k not in ("quantization_config", "auto_map")}
        model_type = cfg.pop("model_type")
        try:
            conf = transformers.AutoConfig.for_model(model_type, **cfg)
        except (KeyError, ValueError):  # a family that needs remote code (deepseek v1)
            skipped.append(name)
            continue
        with _context(how):
            if model_type == "gemma3":
                model = transformers.Gemma3ForConditionalGeneration(conf)  # type: ignore[arg-type]
            else:
                model = transformers.AutoModelForCausalLM.from_config(conf)  # type: ignore[no-untyped-call]
        counts[name] = sum(p.numel() for p in model.parameters())  # parameters() yields shared tensors once
    return counts, time.perf_counter() - start, skipped


def _cli_seconds(runs: int = 5) -> list[float]:
    exe = shutil.which("memfit") or ""
    cmd = [exe] if exe else [sys.executable, "-m", "memfit"]
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([*cmd, "estimate", "llama-3.1-8b"], check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return times


def main() -> int:
    """Run the benchmark and print the numbers; exit 1 if a count differs or a target is missed."""
    configs = _catalog_configs()
    t0 = time.perf_counter()
    import torch  # noqa: F401  (imports are not part of either timing)
    import transformers  # noqa: F401
    import_s = time.perf_counter() - t0

    mem_counts, mem_s = _memfit_counts(configs)
    ref_counts, ref_s, skipped = _transformers_counts(configs, "meta")
    common = sorted(ref_counts)
    mismatched = [n for n in common if ref_counts[n] != mem_counts[n]]
    # compare like with like: memfit's time scaled to the models transformers could build
    mem_common_s = mem_s * len(common) / len(configs)
    ratio = ref_s / mem_common_s
    try:
        acc_counts, acc_s, _ = _transformers_counts(configs, "accelerate")
    except ImportError:
        acc_counts, acc_s = {}, 0.0
    # init_empty_weights leaves tied embeddings as two meta tensors: its counts include them twice
    acc_twice = [n for n in acc_counts if acc_counts[n] != ref_counts[n]]

    cli = _cli_seconds()
    n = len(common)
    print(f"catalog models: {len(configs)} (transformers built {n}; needs remote code: {', '.join(skipped) or 'none'})")
    print(f"memfit:                   {mem_s * 1e3:9.2f} ms for {len(configs)} models "
          f"({mem_s / len(configs) * 1e6:.0f} µs each, cold, one run)")
    print(f"transformers meta device: {ref_s * 1e3:9.2f} ms for {n} models ({ref_s / n * 1e3:.1f} ms each; "
          f"importing torch+transformers, {import_s:.2f} s, not counted)")
    if acc_counts:
        print(f"accelerate empty weights: {acc_s * 1e3:9.2f} ms for {n} models ({acc_s / n * 1e3:.1f} ms each; "
              f"{len(acc_twice)} tied models counted with the embedding twice)")
    print(f"speed-up vs meta device:  {ratio:,.0f}× (target ≥ 100×)")
    if acc_counts:
        print(f"speed-up vs accelerate:   {acc_s / mem_common_s:,.0f}×")
    print(f"counts equal (meta):      {n - len(mismatched)}/{n}"
          + (f"; DIFFER: {', '.join(mismatched)}" if mismatched else ""))
    print(f"cli cold:                 memfit estimate llama-3.1-8b: first {cli[0]:.3f} s, median of {len(cli)} "
          f"{statistics.median(cli):.3f} s (target < 0.5 s)")
    return 0 if not mismatched and ratio >= 100 and cli[0] < 0.5 else 1


if __name__ == "__main__":
    raise SystemExit(main())

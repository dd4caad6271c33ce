"""``models --fits`` computes less, never something else: its answers equal the full search (every format in
order, the weights and the asked context checked, then ``plan_context``'s galloping search over every context up
to the model's maximum) for a sample of models × GPUs × runtimes; and the catalog's generic-path models are
priced from the shipped meta-device builds without importing torch."""

from __future__ import annotations

import subprocess
import sys

import pytest

from memfit import Workload, estimate, load_model
from memfit.errors import MemfitError
from memfit.fit import estimate_on, fit_estimate
from memfit.hardware import Device, get_device
from memfit.plan import plan_context
from memfit.whatfits import ModelFit, _formats, asked_context, longest_context, models_that_fit

SAMPLE = ("llama-3.1-8b", "qwen2.5-0.5b", "mixtral-8x7b-v0.1", "gemma-3-27b", "gpt-oss-20b", "qwen3-vl-8b-instruct",
          "deepseek-v2-lite", "falcon-mamba-7b", "phi-3.5-mini-instruct", "llama-3.1-70b")
CASES = [("rtx-4090", "transformers", None), ("rtx-4090", "vllm", None), ("rtx-4090", "llamacpp", None),
         ("t4", "transformers", 8192), ("h100", "vllm", 32768), ("rtx-3060", "ollama", None),
         ("a100-80gb", "sglang", None), ("rtx-4090", "llamacpp", 65536)]


def _exhaustive(model_id: str, device: Device, wl: Workload) -> ModelFit:
    """What the list said before it computed less: every format's weights, its fit at the asked context, and
    plan_context's full search."""
    spec = load_model(model_id)
    params = estimate(spec, Workload()).parameters.total
    reasons: list[str] = []
    for fmt in _formats(spec, wl.runtime):
        try:
            weights = estimate(spec, Workload(dtype=fmt)).total_bytes
            if weights > device.capacity_bytes:
                reasons.append(f"{fmt} weights alone need {weights / 1e9:.1f} GB")
                continue
            w = wl.replace(dtype=fmt)
            r = fit_estimate(estimate_on(spec, w, device), device, w)
            if not r.fits:
                reasons.append(f"{fmt} at {wl.context:,} tokens needs {r.max_gpu_bytes / 1e9:.1f} GB")
                continue
            ans = plan_context(spec, device, w)
            return ModelFit(spec.name, params, True, fmt, ans.value, r.max_gpu_bytes, device.capacity_bytes,
                            ans.explanation)
        except MemfitError as e:
            reasons.append(f"{fmt}: {e}")
    return ModelFit(spec.name, params, False, None, None, None, device.capacity_bytes,
                    "; ".join(reasons[:3]) or "no format to try")


@pytest.mark.parametrize(("gpu", "runtime", "context"), CASES)
def test_fast_answers_equal_the_full_search(gpu: str, runtime: str, context: int | None) -> None:
    device = get_device(gpu)
    wl = Workload(mode="inference", runtime=runtime, context=asked_context(device, runtime, context)).validate()
    fast = {m.model: m for m in models_that_fit(gpu, runtime=runtime, context=context)}
    for model_id in SAMPLE:
        spec = load_model(model_id)
        full = _exhaustive(model_id, device, wl)
        got = fast[spec.name]
        if got == full:
            continue
        # The one allowed difference: where the memory curve is not monotone in the context (a transformers peak
        # moment that switches, e.g. qwen3-vl-8b on a 4090: 23,978 fits, 23,979 does not, 24,046 fits), two
        # searches may stop at different edges. Then both answers must be edges (fits, one more does not) and
        # the curve provably non-monotone between them; everything else is the same.
        assert (got.fits, got.format, got.bytes_at_context) == (full.fits, full.format, full.bytes_at_context)
        assert got.format is not None and got.max_context is not None and full.max_context is not None
        w = wl.replace(dtype=got.format)
        lo, hi = sorted((got.max_context, full.max_context))
        edges = [_fits(spec, device, w, c) for c in (lo, lo + 1, hi, hi + 1)]
        assert edges == [True, False, True, False], (model_id, gpu, runtime, context, lo, hi, edges)


def _fits(spec: object, device: Device, w: Workload, context: int) -> bool:
    at = w.replace(context=context)
    r = fit_estimate(estimate_on(spec, at, device), device, at)  # type: ignore[arg-type]
    return r.fits and not r.needs_retries  # as plan and whatfits answer: without the allocator's retries


def _scan(fits: list[bool]) -> int:
    return max(i for i, f in enumerate(fits) if f)


@pytest.mark.parametrize("shape", ["linear", "quadratic", "step", "flat_then_jump"])
def test_the_bracketing_search_finds_the_last_fitting_context(shape: str) -> None:
    """On made-up monotone memory curves the guessing search answers what a scan of every context answers, in
    far fewer estimates than the scan."""
    n = 5000
    curves = {"linear": [1000 + 7 * i for i in range(n)], "quadratic": [1000 + i * i // 50 for i in range(n)],
              "step": [1000 + 500 * (i // 1000) for i in range(n)],
              "flat_then_jump": [1000 if i < 3210 else 10**9 for i in range(n)]}
    sizes = curves[shape]
    capacity = sizes[3210]
    asked: list[int] = []

    class R:
        def __init__(self, v: int) -> None:
            self.fits = sizes[v] <= capacity
            self.max_gpu_bytes, self.capacity_bytes = sizes[v], capacity
            self.estimate = type("E", (), {"details": {}})()

    def judge(v: int) -> R:
        asked.append(v)
        return R(v)

    got = longest_context(judge, 1, n - 1, R(1))  # type: ignore[arg-type]
    assert got == _scan([s <= capacity for s in sizes[: n]])
    assert len(asked) <= 3 * 13 + 1  # at worst three estimates per halving of 5,000 values
    if shape == "linear":  # where memory grows linearly with the context the first guess is the answer
        assert len(asked) <= 3


def test_generic_catalog_models_do_not_import_torch() -> None:
    """The catalog's generic-path models (no builder of their own) are priced from the shipped builds: the whole
    list runs without importing torch or transformers."""
    code = ("import sys, memfit.whatfits as w; rows = w.models_that_fit('rtx-4090', runtime='vllm'); "
            "print(len(rows), 'torch' in sys.modules, 'transformers' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True)
    count, torch, transformers = out.stdout.split()
    assert int(count) > 100 and torch == "False" and transformers == "False"

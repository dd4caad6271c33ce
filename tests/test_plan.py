"""plan: every answer is verified by re-estimating at the answer (fits) and one step beyond (does not fit).

The search machinery is checked against a synthetic memory model whose answer is known by hand; the real
modes are checked only through memfit.estimate/memfit.fit at the answer, so these tests do not depend on
the inference and training formulas, which other modules own and still change.
"""

from __future__ import annotations

import importlib.util
import json

import pytest

import memfit
from memfit.cli import main
from memfit.errors import ConfigError, UnsupportedError
from memfit.hardware import get_device
from memfit.inventory import ParameterCount
from memfit.plan import layouts, plan_largest
from memfit.result import Component, Estimate
from memfit.spec import ModelSpec
from memfit.workload import Workload


def fits_as_planned(r: memfit.FitResult) -> bool:
    """A run plan may answer with: it fits while the caching allocator keeps its cache (one that fits only with the
    allocator's retries at the capacity is beyond a plan answer: memfit.fit.without_retries)."""
    return r.fits and not r.needs_retries


def _built(*modules: str) -> bool:
    try:
        return all(importlib.util.find_spec(m) is not None for m in modules)
    except ModuleNotFoundError:
        return False


def _needs(*modules: str) -> pytest.MarkDecorator:
    return pytest.mark.skipif(not _built(*modules), reason=f"{', '.join(modules)} not built yet")


needs_inference = _needs("memfit.memory.inference", "memfit.memory.runtimes.transformers")
needs_vllm = _needs("memfit.memory.inference", "memfit.memory.runtimes.vllm")
needs_llamacpp = _needs("memfit.memory.inference", "memfit.memory.runtimes.llamacpp")
needs_parallel_training = _needs("memfit.memory.training", "memfit.memory.training.parallel")


def linear(spec: ModelSpec, wl: Workload) -> Estimate:
    """A synthetic memory model: 1,000 bytes fixed + 37 bytes per token per sequence."""
    comps = (Component("weights", 1000), Component("kv_cache", 37 * wl.context * wl.batch))
    return Estimate(spec.name, wl.mode, "bfloat16", ParameterCount(1, {}, 1), comps)


def test_search_finds_the_exact_boundary_of_a_known_model() -> None:
    dev = get_device("cpu", memory=1_000_000)
    a = plan_largest("llama-3.2-1b", dev, "context", limit=10**7, estimator=linear, mode="inference")
    # 1000 + 37·c ≤ 1,000,000  ⇔  c ≤ 999,000 / 37 = 27,000 exactly
    assert a.value == 27_000
    assert a.at_value is not None and a.at_value.fits and a.at_value.headroom_bytes == 0
    assert a.beyond is not None and not a.beyond.fits and a.beyond.per_gpu_bytes == (1000 + 37 * 27_001,)
    b = plan_largest("llama-3.2-1b", dev, "batch", limit=10**6, estimator=linear, mode="inference", context=1000)
    assert b.value == 27  # 1000 + 37,000·b ≤ 1,000,000 ⇔ b ≤ 26.97


@pytest.mark.parametrize("cap", [1037, 1073, 5_000, 123_457, 9_999_999])
def test_search_is_exact_at_every_capacity(cap: int) -> None:
    dev = get_device("cpu", memory=cap)
    a = plan_largest("llama-3.2-1b", dev, "context", limit=10**8, estimator=linear, mode="inference")
    assert a.value == (cap - 1000) // 37


def sawtooth(spec: ModelSpec, wl: Workload) -> Estimate:
    """A synthetic model with a reserve that jumps by 4,000 bytes every 50 tokens (as one replay's reserve jumps by
    whole segments), priced as memfit prices the replayed reserve: exact at the context, interpolated between grid
    points inside plan's search (where 4,000 bytes over ≥ 128 tokens never outweighs 37 bytes a token)."""
    from memfit.memory.runtimes.transformers_pool import reserve_at

    reserve = reserve_at(wl.context, lambda c: 4000 if c % 100 < 50 else 0)
    comps = (Component("weights", 1000), Component("kv_cache", 37 * wl.context),
             Component("allocator_reserve", reserve))
    return Estimate(spec.name, wl.mode, "bfloat16", ParameterCount(1, {}, 1), comps)


@pytest.mark.parametrize("cap", [60_000, 61_234, 75_555, 100_000, 104_321, 140_000])
def test_context_answer_is_rechecked_with_the_exact_reserve(cap: int) -> None:
    """The search runs on the interpolated reserve; the answer fits with the exact one and one token more does not,
    so plan and fit agree at the answer."""
    dev = get_device("cpu", memory=cap)
    a = plan_largest("llama-3.2-1b", dev, "context", limit=10**6, estimator=sawtooth, mode="inference")

    def total(c: int) -> int:
        return 1000 + 37 * c + (4000 if c % 100 < 50 else 0)

    assert a.value is not None and a.at_value is not None and a.beyond is not None
    assert a.at_value.per_gpu_bytes == (total(a.value),) and total(a.value) <= cap and a.at_value.fits
    assert a.beyond.per_gpu_bytes == (total(a.value + 1),) and total(a.value + 1) > cap and not a.beyond.fits


def test_search_reports_the_limit_and_the_impossible() -> None:
    big = get_device("cpu", memory=10**12)
    a = plan_largest("llama-3.2-1b", big, "context", limit=4096, estimator=linear, mode="inference")
    assert a.value == 4096 and a.capped and a.beyond is None
    tiny = get_device("cpu", memory=999)
    n = plan_largest("llama-3.2-1b", tiny, "context", estimator=linear, mode="inference")
    assert n.value is None and n.beyond is not None and not n.beyond.fits and "nothing fits" in n.explanation


def test_context_limit_defaults_to_the_model_context() -> None:
    big = get_device("cpu", memory=10**15)
    a = plan_largest("llama-3.1-8b", big, "context", estimator=linear, mode="inference")
    assert a.value == 131_072 and a.capped  # max_position_embeddings of Llama-3.1


def test_not_an_integer_field_is_refused() -> None:
    with pytest.raises(ConfigError):
        plan_largest("llama-3.2-1b", "h100", "runtime", estimator=linear)
    with pytest.raises(UnsupportedError, match="weights-only"):
        memfit.plan_context("llama-3.2-1b", "h100", mode="weights")  # context does not change a weights estimate


@pytest.mark.parametrize(("model", "gpu", "dtype"), [
    ("llama-3.1-70b", "rtx 3090", "bfloat16"),
    ("llama-3.1-70b", "h100", "bfloat16"),
    ("llama-3.1-8b", "rtx 4060 ti", "float32"),
    ("qwen3-30b-a3b", "rtx 3060", "q4_k_m"),
])
def test_fewest_gpus_is_verified_by_re_estimating(model: str, gpu: str, dtype: str) -> None:
    a = memfit.plan_gpus(model, gpu, mode="weights", dtype=dtype)
    assert a.value is not None
    lay = a.extra["layout"]
    # fits at the answer …
    assert memfit.fit(model, gpu, mode="weights", dtype=dtype, **lay).fits
    # … and no layout fits on one GPU fewer
    spec = memfit.load_model(model)
    if a.value > 1:
        for lay2 in layouts(spec, a.value - 1, "weights"):
            assert not fits_as_planned(memfit.fit(model, gpu, mode="weights", dtype=dtype, **lay2)), lay2


def test_fewest_gpus_by_hand() -> None:
    # Llama-3.1-70B bf16 weights: 141,107,412,992 bytes; RTX 3090 24 GiB = 25,769,803,776 bytes;
    # split over n GPUs: ceil(141,107,412,992 / n) ≤ 25,769,803,776 ⇔ n ≥ 5.48 → 6
    assert memfit.plan_gpus("llama-3.1-70b", "rtx 3090", mode="weights", dtype="bfloat16").value == 6


def test_layouts_respect_heads_and_prefer_less_model_parallelism() -> None:
    spec = memfit.load_model("llama-3.1-8b")  # 32 heads, 32 layers
    lays = list(layouts(spec, 8, "train"))
    assert lays[0] == {"gpus": 8, "tp": 1, "pp": 1, "zero": 0}
    assert {(lay["tp"], lay["pp"]) for lay in lays} >= {(1, 1), (2, 1), (8, 1), (1, 8), (2, 4)}
    assert all(lay["tp"] <= 8 and 32 % lay["tp"] == 0 for lay in lays)
    assert all(lay["zero"] == 0 for lay in lays if lay["tp"] * lay["pp"] == 8)  # no data parallelism, no ZeRO
    assert [lay["zero"] for lay in layouts(spec, 1, "inference")] == [0]


@needs_inference
@pytest.mark.parametrize(("model", "gpu", "opts"), [
    ("llama-3.1-8b", "rtx 4090", {}),
    ("qwen2.5-7b", "l4", {"dtype": "fp8"}),
    ("llama-3.2-1b", "t4", {"batch": 4}),
])
def test_longest_context_is_verified_by_re_estimating(model: str, gpu: str, opts: dict[str, object]) -> None:
    a = memfit.plan_context(model, gpu, mode="inference", **opts)
    if a.value is None:
        assert not fits_as_planned(memfit.fit(model, gpu, mode="inference", context=1, **opts))
        return
    assert memfit.fit(model, gpu, mode="inference", context=a.value, **opts).fits
    if not a.capped:
        assert not fits_as_planned(memfit.fit(model, gpu, mode="inference", context=a.value + 1, **opts))


@pytest.mark.parametrize("runtime", [pytest.param("transformers", marks=needs_inference),
                                     pytest.param("vllm", marks=needs_vllm)])
def test_largest_batch_is_verified_by_re_estimating(runtime: str) -> None:
    opts: dict[str, object] = {"mode": "inference", "runtime": runtime, "context": 4096, "new_tokens": 256}
    a = memfit.plan_batch("llama-3.1-8b", "h100", **opts)
    assert a.value is not None
    assert memfit.fit("llama-3.1-8b", "h100", batch=a.value, **opts).fits
    if not a.capped:
        assert not fits_as_planned(memfit.fit("llama-3.1-8b", "h100", batch=a.value + 1, **opts))


@needs_llamacpp
def test_gpu_layers_are_verified_by_re_estimating() -> None:
    opts: dict[str, object] = {"mode": "inference", "runtime": "llamacpp", "dtype": "q4_k_m", "context": 8192}
    a = memfit.plan_gpu_layers("llama-3.1-70b", "rtx 4090", **opts)
    if a.value is None:
        assert not fits_as_planned(memfit.fit("llama-3.1-70b", "rtx 4090", n_gpu_layers=0, **opts))
        return
    at = memfit.fit("llama-3.1-70b", "rtx 4090", n_gpu_layers=a.value, **opts)
    assert at.fits and a.extra["host_bytes"] == at.host_bytes
    if not a.capped:  # 81 = 80 layers + the output layer: everything on the GPU
        assert not fits_as_planned(memfit.fit("llama-3.1-70b", "rtx 4090", n_gpu_layers=a.value + 1, **opts))


@needs_parallel_training
def test_fewest_gpus_for_training_is_verified_by_re_estimating() -> None:
    opts: dict[str, object] = {"mode": "train", "batch": 1, "context": 2048, "checkpointing": "full"}
    a = memfit.plan_gpus("llama-3.1-8b", "a100-40gb", limit=16, **opts)
    if a.value is None:
        return
    assert memfit.fit("llama-3.1-8b", "a100-40gb", **{**opts, **a.extra["layout"]}).fits
    spec = memfit.load_model("llama-3.1-8b")
    if a.value > 1:
        for lay in layouts(spec, a.value - 1, "train"):
            assert not fits_as_planned(memfit.fit("llama-3.1-8b", "a100-40gb", **opts, **lay)), lay


def test_plan_cli_json(capsys: pytest.CaptureFixture[str]) -> None:
    main(["plan", "llama-3.1-70b", "--gpu", "rtx 3090", "--mode", "weights", "-d", "bf16", "--json"])
    doc = json.loads(capsys.readouterr().out)
    gpus = doc["answers"]["min_gpus"]
    assert gpus["value"] == 6 and gpus["layout"]["tp"] * gpus["layout"]["pp"] in (1, 2, 3, 6)
    assert gpus["at_value"]["fits"] is True
    assert doc["answers"]["quant"]["fitting"]
    assert doc["answers"]["speed"]["label"].startswith("upper bound")


def test_plan_cli_budget_only_answers_quant(capsys: pytest.CaptureFixture[str]) -> None:
    main(["plan", "llama-3.1-8b", "--budget", "6GB"])
    out = capsys.readouterr().out
    assert "formats that fit" in out and "q4_k_m" in out


def test_vllm_layouts_use_every_gpu_for_the_model() -> None:
    spec = memfit.load_model("llama-3.1-8b")
    lays = list(layouts(spec, 4, "inference", "vllm"))
    assert lays and all(lay["tp"] * lay["pp"] == 4 for lay in lays)
    assert lays[0]["tp"] == 4  # TP before PP at equal model parallelism


@needs_vllm
def test_vllm_batch_answer_is_the_engines_own_concurrency() -> None:
    opts: dict[str, object] = {"mode": "inference", "runtime": "vllm", "context": 4096, "new_tokens": 256}
    a = memfit.plan_batch("llama-3.1-8b", "h100", **opts)
    at = memfit.fit("llama-3.1-8b", "h100", batch=1, **opts)
    assert a.value == at.estimate.details["max_concurrent_sequences"]
    # the pool is planned from the device's own memory: a smaller card holds fewer sequences
    small = memfit.plan_batch("llama-3.1-8b", "l40s", **opts)
    assert small.value is not None and small.value < a.value
    assert memfit.fit("llama-3.1-8b", "l40s", batch=small.value, **opts).fits
    assert not fits_as_planned(memfit.fit("llama-3.1-8b", "l40s", batch=small.value + 1, **opts))


@needs_vllm
def test_vllm_longest_context_for_several_sequences() -> None:
    opts: dict[str, object] = {"mode": "inference", "runtime": "vllm", "batch": 16}
    a = memfit.plan_context("qwen2.5-7b", "rtx 4090", **opts)
    assert a.value is not None
    assert memfit.fit("qwen2.5-7b", "rtx 4090", context=a.value, **opts).fits
    if not a.capped:
        assert not fits_as_planned(memfit.fit("qwen2.5-7b", "rtx 4090", context=a.value + 1, **opts))


needs_training = _needs("memfit.memory.training")


@needs_training
@pytest.mark.parametrize(("mode", "gpu", "opts"), [
    ("lora", "a100-80gb", {"checkpointing": "full"}),
    ("qlora", "rtx 4090", {"checkpointing": "full"}),
    ("train", "h100", {"checkpointing": "full", "dtype": "bfloat16", "model": "qwen2.5-3b"}),
])
def test_training_context_and_batch_are_verified_by_re_estimating(mode: str, gpu: str,
                                                                  opts: dict[str, object]) -> None:
    opts = dict(opts)
    model = str(opts.pop("model", "llama-3.1-8b"))
    c = memfit.plan_context(model, gpu, mode=mode, **opts)
    assert c.value is not None
    assert memfit.fit(model, gpu, mode=mode, context=c.value, **opts).fits
    if not c.capped:
        assert not fits_as_planned(memfit.fit(model, gpu, mode=mode, context=c.value + 1, **opts))
    b = memfit.plan_batch(model, gpu, mode=mode, context=2048, limit=4096, **opts)
    assert b.value is not None
    assert memfit.fit(model, gpu, mode=mode, context=2048, batch=b.value, **opts).fits
    if not b.capped:
        assert not fits_as_planned(memfit.fit(model, gpu, mode=mode, context=2048, batch=b.value + 1, **opts))


@needs_vllm
def test_vllm_that_cannot_start_is_a_verdict_not_an_error() -> None:
    r = memfit.fit("llama-3.1-70b", "rtx 4090", mode="inference", runtime="vllm")
    assert not r.fits and any("KV cache blocks" in n for n in r.notes)
    a = memfit.plan_batch("llama-3.1-70b", "rtx 4090", mode="inference", runtime="vllm")
    assert a.value is None


@pytest.mark.parametrize(("args", "message"), [
    (["plan", "llama-3.1-8b", "--budget", "0"], "--budget '0' must be a positive size"),
    (["plan", "llama-3.1-8b", "--gpu", "h100", "--mode", "inference", "-q", "context", "--limit", "0"],
     "--limit 0 must be at least 1"),
    (["plan", "llama-3.1-8b", "--gpu", "h100", "--mode", "train", "-q", "gpus", "--limit", "-3"],
     "--limit -3 must be at least 1"),
])
def test_plan_cli_bad_limit_or_budget_is_exit_2(args: list[str], message: str,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    from _cli import run

    code, _, err = run(args, capsys)
    assert code == 2 and message in err


@needs_inference
def test_a_workload_memfit_cannot_estimate_is_an_error_not_nothing_fits(capsys: pytest.CaptureFixture[str]) -> None:
    # training a bare parameter count needs the architecture memfit does not have: that is not "nothing fits" on an
    # 80 GB GPU for a 7B model (the example was Mamba-2 under transformers until its torch path was modelled)
    with pytest.raises(UnsupportedError, match="architecture"):
        memfit.plan_context("7B", "h100", mode="train")
    with pytest.raises(UnsupportedError, match="architecture"):
        memfit.plan_gpus("7B", "h100", mode="train", limit=2)
    from _cli import run

    code, out, _ = run(["plan", "7B", "--gpu", "h100", "--mode", "train", "-q", "context"], capsys)
    assert code == 2 and "context: cannot answer" in out and "nothing fits" not in out
    code, out, _ = run(["plan", "7B", "--gpu", "h100", "--mode", "train", "-q", "quant",
                        "--formats", "bfloat16,q4_k_m"], capsys)
    assert code == 0 and "cannot estimate bfloat16" in out and "do not fit" not in out


def test_plan_formats_list_ignores_empty_names(capsys: pytest.CaptureFixture[str]) -> None:
    from _cli import run

    code, out, _ = run(["plan", "llama-3.1-8b", "--gpu", "h100", "-q", "quant", "--formats", "q4_k_m,,nf4,"], capsys)
    assert code == 0 and "cannot estimate" not in out and "q4_k_m" in out and "nf4" in out
    code, _, err = run(["plan", "llama-3.1-8b", "--gpu", "h100", "-q", "quant", "--formats", ",,"], capsys)
    assert code == 2 and "--formats ',,' names no format" in err

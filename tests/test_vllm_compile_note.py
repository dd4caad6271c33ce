"""vLLM compiles the model inside the profiling run when the torch.compile cache is empty
(vllm/compilation/decorators.py: aot_compile, then the first run, both within profile_run and memory_profiling), and
from 0.19 Inductor benchmarks its combo-kernel candidates while it compiles, on random copies of every argument (the
embedding table included: memory/runtimes/vllm_compile.py). memfit prices a warm cache unless told
`--vllm-compile-cache cold`, and says which."""

from __future__ import annotations

from memfit.estimate import estimate
from memfit.hardware import get_device
from memfit.memory.runtimes.vllm_compile import compile_benchmark_bytes
from memfit.sources.loader import load_model as load_spec
from memfit.units import GIB


def _est(model: str = "qwen3-8b", gpu: str = "rtx-4090", **kw: object):  # type: ignore[no-untyped-def]
    return estimate(model, device=get_device(gpu), mode="inference", runtime="vllm", context=8192, **kw)


def _notes(**kw: object) -> str:
    return " ".join(_est(**kw).notes)


def test_estimates_say_which_compile_cache_they_price() -> None:
    assert "warm torch.compile cache" in _notes(vllm_version="0.27.1")
    assert "warm torch.compile cache" in _notes(vllm_version="0.26.0")
    assert "warm torch.compile cache" in _notes(vllm_version="0.19.0")  # the V1 runner benchmarks too
    assert "cold torch.compile cache" in _notes(vllm_version="0.27.1", vllm_compile_cache="cold")


def test_no_compile_note_when_eager_or_before_the_combo_kernel_benchmark() -> None:
    assert "torch.compile" not in _notes(vllm_version="0.27.1", enforce_eager=True)
    assert "torch.compile" not in _notes(vllm_version="0.11")  # 0.11.0's compilation.py has no combo kernels


def test_benchmark_inputs_by_hand() -> None:
    # Qwen3-8B: 151,936 rows (a multiple of 64) x 4,096 x 2 B of table, 2,048 int64 ids, 2,048 x 4,096 x 2 B of rows
    spec = load_spec("qwen3-8b")
    assert compile_benchmark_bytes(spec, 2048, 1) == 1_244_659_712 + 16_384 + 16_777_216
    # tp 2: each rank benchmarks its own shard, 75,968 rows
    assert compile_benchmark_bytes(spec, 2048, 2) == 75_968 * 4096 * 2 + 16_384 + 16_777_216
    # a vocabulary that is not a multiple of 64 is padded (VocabParallelEmbedding): Phi-2's 51,200 is; GPT-2's 50,257
    # becomes 50,304
    assert compile_benchmark_bytes(load_spec("gpt2"), 1, 1) == 50_304 * 768 * 2 + 8 + 768 * 2


def test_cold_start_peak_is_the_larger_of_forward_and_benchmark() -> None:
    # RTX 4090, 0.27.1, Qwen3-8B at the server defaults below 70 GiB (2,048 batched tokens, 256 sequences): the
    # forward over 2,048 tokens is 2,048 x (3 x 4,096 + 3 x 12,288) x 2 B = 201,326,592 B, below the benchmark's
    # 1,261,453,312 B; the pool falls by the difference
    warm, cold = _est(vllm_version="0.27.1"), _est(vllm_version="0.27.1", vllm_compile_cache="cold")
    gap = warm.details["kv_pool_bytes"] - cold.details["kv_pool_bytes"]
    assert gap == 1_261_453_312 - 201_326_592
    # the published cold start of that server prints 1.18 GiB of peak activation (MRV2's sampler states, which memfit
    # books with the activation from 0.27, are the log's "consumed memory"): within 0.01 GiB
    assert cold.component("activations") - warm.component("activations") == gap
    assert abs(1_261_453_312 / GIB - 1.18) < 0.01
    # eager: nothing compiles
    eager = _est(vllm_version="0.27.1", vllm_compile_cache="cold", enforce_eager=True)
    assert eager.details["kv_pool_bytes"] == _est(vllm_version="0.27.1", enforce_eager=True).details["kv_pool_bytes"]


def test_benchmark_below_the_forward_changes_nothing() -> None:
    # an H100 server (8,192 batched tokens, 1,024 sequences on 0.19): the sampler and forward peaks exceed
    # Llama-3.1-8B's 128,256 x 4,096 x 2 B table, so a cold start prices the same pool
    warm = _est("llama-3.1-8b", "h100-sxm", vllm_version="0.19.0")
    cold = _est("llama-3.1-8b", "h100-sxm", vllm_version="0.19.0", vllm_compile_cache="cold")
    assert warm.details["kv_pool_bytes"] == cold.details["kv_pool_bytes"]

"""vLLM's first start with an empty torch.compile cache: what Inductor's compile adds to the profile run's peak.

vLLM compiles the model inside the first model call, and that call is the profiling run (``profile_run`` ->
``_dummy_run``; ``vllm/compilation/decorators.py``: ``aot_compile`` then the first run, unless the compile cache
holds the artifact), so ``memory_profiling`` (``vllm/utils/mem_utils.py``) sees the compile's allocations in its torch
peak. With torch >= 2.9 vLLM turns on Inductor's horizontal fusion and its benchmark (``vllm/config/compilation.py``:
``inductor_compile_config["combo_kernels"] = True``, ``["benchmark_combo_kernel"] = True``; in the 0.19.0, 0.20.2,
0.21.0, 0.26.0 and 0.27.1 wheels, not in 0.11.0). Inductor then times every candidate subkernel while it compiles
(``torch/_inductor/scheduler.py`` ``speedup_by_combo_kernel`` -> ``benchmark_fused_nodes`` /
``benchmark_combo_kernel``) on random inputs: the generated module's ``get_args()`` allocates one ``rand_strided``
tensor per argument buffer at its size hint (``codegen/triton.py`` ``codegen_kernel_benchmark``), and a graph input
such as the embedding table is an argument of the gather kernel that reads it. So a cold start holds, for the
benchmark of the embedding lookup, a random copy of this GPU's embedding shard (``VocabParallelEmbedding``: the
vocabulary padded to 64 rows, split over tensor-parallel ranks; on the first pipeline stage only) beside the token ids
(int64) and the gathered hidden states of ``max_num_batched_tokens`` rows. The benchmark and the forward run one
after the other, so the profile's peak is the larger of the two.

A published cold/warm pair of one RTX 4090 server (vLLM 0.27.1, Qwen3-8B, 2,048 batched tokens) prints 1.18 against
0.19 GiB of peak activation: 151,936 x 4,096 x 2 B of table + 2,048 x 4,096 x 2 B of hidden states = 1.17 GiB; an
RTX 4080 start of Qwen2.5-7B-AWQ on 0.26.0 (its source: the first start, 22 s of torch.compile) prints 1.04 against
1.03. The rest of Inductor's compile-time benchmarks take kernels' activations, a few tokens x hidden each, below the
forward's peak.
"""

from __future__ import annotations

from ...spec import ModelSpec
from .engine_profile import EngineProfile

__all__ = ["VOCAB_PADDING", "compile_benchmark_bytes", "compile_notes", "profile_peak_with_compile"]

VOCAB_PADDING = 64  # vllm/model_executor/layers/vocab_parallel_embedding.py DEFAULT_VOCAB_PADDING_SIZE


def compile_benchmark_bytes(spec: ModelSpec, tokens: int, tp: int, dtype_bytes: int = 2) -> int:
    """The embedding gather's benchmark inputs on one GPU of the first pipeline stage: a random copy of its embedding
    shard (padded vocabulary / ``tp`` rows of ``hidden``), ``tokens`` int64 ids and ``tokens`` gathered rows."""
    rows = -(-spec.vocab_size // VOCAB_PADDING) * VOCAB_PADDING
    shard = -(-rows // tp)
    return shard * spec.hidden_size * dtype_bytes + tokens * 8 + tokens * spec.hidden_size * dtype_bytes


def profile_peak_with_compile(spec: ModelSpec, activation: int, text: str, tokens: int, tp: int,
                              dtype_bytes: int) -> tuple[int, str]:
    """The first stage's profile peak on a cold start: the larger of the run's ``activation`` and the embedding
    gather's compile-time benchmark inputs."""
    bench = compile_benchmark_bytes(spec, tokens, tp, dtype_bytes)
    if bench <= activation:
        return activation, f"{text}; a cold compile's embedding benchmark ({bench:,}) stays below it"
    return bench, (f"cold torch.compile: Inductor's benchmark of the embedding gather holds {bench:,} (a random copy "
                   f"of the embedding shard, {tokens:,} ids and hidden rows: vllm_compile) above the run's {text}")


def compile_notes(prof: EngineProfile, enforce_eager: bool, sampler: str | None = None,
                  cold: bool = False) -> tuple[str, ...]:
    """What the notes say of the compile and the sampler path. From 0.19 (``compile_benchmarks``) a cold start's
    profile peak holds Inductor's benchmark inputs (above), so an estimate says which cache state it priced. A
    ``sampler`` path the user named (``VLLM_USE_FLASHINFER_SAMPLER``) configures the V1 runner's ``TopKTopPSampler``
    only: Model Runner V2's ``Sampler.sample`` (``v1/worker/gpu/sample/sampler.py``) does not use it."""
    named = (f"the sampler path named ({sampler}) is the V1 runner's top-k/top-p kernel; vLLM runs Model Runner V2 "
             "for this model, whose sampler does not use it",) if prof.runner == "v2" and sampler else ()
    if enforce_eager or not prof.compile_benchmarks:
        return named
    if cold:
        return ("priced with a cold torch.compile cache (a first start): the profile peak is the larger of the "
                "forward and Inductor's compile-time benchmark of the embedding gather (a random copy of the "
                "embedding table; vllm_compile)", *named)
    return ("priced with a warm torch.compile cache (a restart): a first start also holds, in the profiling run, "
            "Inductor's benchmark copy of the embedding table (1.17 GiB for Qwen3-8B); --vllm-compile-cache cold "
            "prices it", *named)

"""vLLM: the engine budgets the device itself; the KV pool fills what is left.

``requested = device_total · gpu_memory_utilization`` (``determine_available_memory``; ``device_total`` is what
CUDA reports, ``hardware.Device.capacity_bytes``), of which the weights, the activation peak of the profiling run
and the non-torch memory (cuBLAS handles, kernel modules, NCCL buffers with tensor parallelism) are taken first;
the KV cache gets the rest (vLLM prints it as ``Available KV cache memory``), cut into blocks of ``block_size``
tokens per layer. The profiling run's peak is the larger of a forward over ``max_num_batched_tokens`` tokens and
the dummy sampler run over ``max_num_seqs`` rows of logits, which samples every row with top-k and top-p: the
native path sorts each row (38 B alive per logit element: the logits, an fp32 copy, sort's values and indices,
its reverse indices and cub's alternate buffers), FlashInfer's kernel does not (14 B); see
``runtime_overheads.toml`` ``sampler_bytes``. Defaults and reserves follow the engine version and the device
(``engine_profile``). CUDA graphs are captured after the KV cache is allocated (V1), so their memory is on top of
the budget.

What vLLM prints, in ``details``: ``kv_pool_bytes`` (Available KV cache memory), ``num_gpu_blocks``,
``kv_cache_tokens`` (GPU KV cache size: N tokens = blocks × block_size) and ``max_concurrency`` (Maximum
concurrency for L tokens per request = tokens / L, L = max_model_len = context + new_tokens).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, replace

from ...errors import ConfigError
from ...formats import bnb_format
from ...hardware import Device, wddm_notes
from ...inventory import count_parameters
from ...result import Component, Estimate
from ...spec import ModelSpec, MoESpec
from ...units import fmt_bytes
from ...workload import Workload
from ..kv_cache import LayerCache, cache_layers
from ..overhead import cuda_context_component, overhead_data
from ..weights import weights_component
from .engine_profile import EngineProfile, default_device, vllm_profile, vllm_utilization, with_model_runner
from .vllm_compile import compile_notes, profile_peak_with_compile
from .vllm_groups import KVGroups, kv_groups, request_blocks
from .vllm_load import load_extra_bytes
from .vllm_mrv2 import sampler_state_bytes
from .vllm_stages import stage_range, stage_weight_bytes

__all__ = ["auto_kv_dtype", "cuda_graph_bytes", "estimate_vllm", "kv_block_bytes", "moe_workspace_bytes",
           "profile_activation_bytes", "sharded_weights", "stage_weights"]


def kv_block_bytes(spec: ModelSpec, block_size: int, kv_dtype: str) -> int:
    """Bytes of one block of ``block_size`` tokens across every attention layer (vLLM page size × layers)."""
    return sum(c.per_token for c in cache_layers(spec, "vllm", kv_dtype)) * block_size


def _layer_seq_bytes(c: LayerCache, tokens: int, block: int, batched: int) -> int:
    """What one sequence of ``tokens`` tokens holds in one layer: whole blocks for full attention;
    ``cdiv(min(window - 1 + max_num_batched_tokens, tokens), block) + 1`` blocks for a sliding layer
    (``SlidingWindowSpec.max_memory_usage_bytes``); one state for a Mamba layer."""
    if c.per_sequence:
        return c.per_sequence
    n = -(-min(c.window - 1 + batched, tokens) // block) + 1 if c.window is not None else -(-tokens // block)
    return c.per_token * n * block


def _rank_cache(spec: ModelSpec, c: LayerCache, tp: int) -> LayerCache:
    """One tensor-parallel rank's share of a layer's cache: KV heads split over ``tp`` ranks (each rank keeps
    at least one, replicated when ``tp`` exceeds the KV heads); an MLA latent is replicated on every rank;
    a Mamba state is split with its heads."""
    if tp == 1:
        return c
    if c.per_sequence:
        return replace(c, per_sequence=-(-c.per_sequence // tp))
    att = spec.layers[c.layer].attention
    if att is None or att.kind == "mla":
        return c
    kv = att.num_kv_heads
    return replace(c, per_token=c.per_token * -(-kv // tp) // kv)


def stage_caches(spec: ModelSpec, kvd: str, tp: int, pp: int) -> list[LayerCache]:
    """The caches one GPU holds: the first pipeline stage's layers (``ceil(layers / pp)``, the largest
    stage), each cut to one tensor-parallel rank's share."""
    stage = -(-len(spec.layers) // pp)
    return [_rank_cache(spec, c, tp) for c in cache_layers(spec, "vllm", kvd) if c.layer < stage]


def sharded_weights(spec: ModelSpec, fmt: str, tp: int, pp: int) -> Component:
    """The weights one GPU holds with ``tp × pp`` GPUs (an even split)."""
    weights = weights_component(spec, fmt)
    shards = tp * pp
    if shards == 1:
        return weights
    per_gpu = -(-weights.bytes // shards)
    return Component("weights", per_gpu, f"{weights.formula} ÷ {shards} GPUs (tp = {tp}, pp = {pp}) = "
                     f"{fmt_bytes(per_gpu)} per GPU")


# vLLM runs MXFP4 experts through the Marlin kernel below compute capability 9.0 (Ampere, Ada: "Weight-only FP4
# compression will be used leveraging the Marlin kernel"), whose weights are created padded: "the moe marlin kernel
# requires that for each linear n % 256 == 0 and k % 128 == 0", so each rank's intermediate size is rounded up to
# 128 and the hidden size to 256 (vllm/model_executor/layers/quantization/mxfp4.py Mxfp4MoEMethod.create_weights)
MARLIN_ARCHS = ("ampere", "ada")


def _round_up(x: int, m: int) -> int:
    return -(-x // m) * m


def _stage_experts(spec: ModelSpec, tp: int, layers: range) -> Iterator[tuple[MoESpec, int]]:
    """The MoE blocks of one pipeline stage's ``layers`` with each rank's expert intermediate size under tensor
    parallelism."""
    for index in layers:
        if (moe := spec.layers[index].moe) is not None:
            yield moe, moe.expert_intermediate_size // tp


def marlin_mxfp4_padding(spec: ModelSpec, tp: int, layers: range) -> int:
    """Bytes one GPU's MXFP4 experts gain from Marlin's padding: packed 4-bit values plus one e8m0 scale per 32
    (17/32 B per element) over the padded gate_up (2 × I × H) and down (H × I), and the bf16 biases' padding."""
    h = spec.hidden_size
    h_pad = _round_up(h, 256)
    extra = 0
    for moe, i in _stage_experts(spec, tp, layers):
        i_pad = _round_up(i, 128)
        grown = 3 * (h_pad * i_pad - h * i) * 17 // 32
        if moe.expert_bias:
            grown += (2 * (i_pad - i) + (h_pad - h)) * 2
        extra += moe.num_experts * grown
    return extra


# On Hopper vLLM runs MXFP4 experts through triton_kernels (Mxfp4Backend.TRITON, vllm/model_executor/layers/
# quantization/mxfp4.py): create_weights pads each rank's intermediate size to a multiple of 64; process_weights_
# after_loading turns the bf16 biases into fp32 ("layer.w13_bias.to(torch.float32)") and swizzles values and scales
# for HopperMXValueLayout / HopperMXScaleLayout, keeping the swizzled scales in the PrecisionConfig while the loaded
# w13_weight_scale / w2_weight_scale parameters stay registered: the e8m0 scales are held twice. The swizzled copy is
# padded: triton_kernels' HopperMXScaleLayout.swizzle_data pads the scale's rows (w13's 2 × intermediate, w2's hidden)
# to SWIZZLE_ALIGN_M = 2 × num_warps × 2 × 8 = 256 (vLLM passes num_warps 8) and its columns to an even count
# (triton-lang/triton python/triton_kernels/triton_kernels/tensor_details/layout.py, the August 2025 layout vLLM
# 0.10 imports); the value layout of that release pads rows to 16 and packed columns to 32, as gpt-oss's sizes are.
TRITON_MXFP4_ARCHS = ("hopper",)
SCALE_SWIZZLE_ROWS = 256


def triton_mxfp4_extra(spec: ModelSpec, tp: int, layers: range, value_align: int = 0) -> int:
    """Bytes one GPU's MXFP4 experts hold beyond the checkpoint's 17/32 B per element on the Hopper Triton path:
    the intermediate size per rank padded to 64, a second, swizzled copy of the scales (1/32 B per element, rows
    padded to 256) and fp32 biases. With ``value_align`` (vLLM 0.17+'s vendored triton_kernels: 64) both dims of
    each packed value matrix, w13's (hidden / 2, 2 × intermediate) and w2's (intermediate / 2, hidden) as
    ``_swizzle_mxfp4`` transposes them, are padded to that multiple before the swizzle."""
    h = spec.hidden_size
    extra = 0
    for moe, i in _stage_experts(spec, tp, layers):
        i_pad = _round_up(i, 64)
        swizzled = (_round_up(2 * i_pad, SCALE_SWIZZLE_ROWS) * _round_up(h // 32, 2)
                    + _round_up(h, SCALE_SWIZZLE_ROWS) * _round_up(i_pad // 32, 2))
        values = 3 * h * i_pad // 2
        if value_align:
            a = value_align
            values = _round_up(h // 2, a) * _round_up(2 * i_pad, a) + _round_up(i_pad // 2, a) * _round_up(h, a)
        held = values + 3 * h * i_pad // 32 + swizzled
        stored = 3 * h * i * 17 // 32
        if moe.expert_bias:
            held += (2 * i_pad + h) * 4
            stored += (2 * i + h) * 2
        extra += moe.num_experts * (held - stored)
    return extra


# families whose vLLM model builds its rotary embedding in float32 whatever the model dtype: gpt-oss
# (vllm/model_executor/models/gpt_oss.py OAIAttention: get_rope(..., dtype=torch.float32, rope_scaling yarn))
FP32_ROPE_FAMILIES = ("gpt_oss",)


def rope_cache_bytes(spec: ModelSpec, fmt: str) -> int:
    """vLLM's rotary ``cos_sin_cache``, a buffer of max_position_embeddings × rotary_dim in the model dtype
    (``vllm/model_executor/layers/rotary_embedding``: ``_compute_cos_sin_cache`` then ``cache.to(dtype)``), one per
    distinct rope (``get_rope`` shares instances keyed by rotary size and rope parameters); "Model loading took"
    counts it with the weights. A linear-scaled rope caches max_position × factor rows
    (``rotary_embedding/linear_scaling_rope.py``: ``max_len = self.max_position_embeddings * scaling_factor``), and
    gemma-3's sliding layers get their own unscaled table (``models/gemma3.py``: rope_type default with
    ``rope_local_base_freq``): Gemma-3-27B's 131,072 × 8 global rows are 256 MiB beside its 32 MiB local table."""
    if spec.position_embedding != "rope" or not spec.max_position_embeddings:
        return 0
    dims = {a.rope_dim or a.head_dim for layer in spec.layers if (a := layer.attention) is not None}
    sliding = [layer.sliding_window is not None for layer in spec.layers if layer.attention is not None]
    rows = round(spec.max_position_embeddings * spec.rope_linear_factor)
    if spec.rope_local_base and any(sliding):
        rows = (rows if not all(sliding) else 0) + spec.max_position_embeddings
    fp32 = fmt == "float32" or spec.family in FP32_ROPE_FAMILIES
    return rows * sum(dims) * (4 if fp32 else 2)


def stage_weights(spec: ModelSpec, fmt: str, tp: int, pp: int, rank: int = 0) -> Component:
    """The weights one GPU of pipeline stage ``rank`` holds: its stage's tensors (``vllm_stages``) over ``tp``."""
    weights = weights_component(spec, fmt)
    if tp * pp == 1:
        return weights
    per_gpu = -(-stage_weight_bytes(spec, fmt, weights.bytes, pp)[rank] // tp)
    where = f"pipeline stage {rank} of {pp} (layers {stage_range(len(spec.layers), pp, rank)}), " if pp > 1 else ""
    return Component("weights", per_gpu, f"{weights.formula}: {where}÷ tp {tp} = {fmt_bytes(per_gpu)} per GPU")


def _device_weights(spec: ModelSpec, fmt: str, tp: int, pp: int, dev: Device, rank: int = 0,
                    value_align: int = 0, max_split_mib: int = 0) -> Component:
    """One GPU's weights as vLLM holds them on ``dev`` (with the rotary cache): MXFP4 experts padded for Marlin
    below Hopper, with their scales twice, fp32 biases and (``value_align``) padded values on Hopper's Triton
    path."""
    weights = stage_weights(spec, fmt, tp, pp, rank)
    layers = stage_range(len(spec.layers), pp, rank)
    if rope := rope_cache_bytes(spec, fmt):
        weights = Component("weights", weights.bytes + rope, f"{weights.formula} + the rotary cos/sin cache "
                            f"{spec.max_position_embeddings:,} positions = {fmt_bytes(rope)}")
    if pp == 1 and (rest := load_extra_bytes(spec, fmt, tp, rope, max_split_mib if dev.vendor == "nvidia" else 0)):
        weights = Component("weights", weights.bytes + rest, f"{weights.formula} + {fmt_bytes(rest)} of block "
                            "remainders the caching allocator counts as allocated (vllm_load)")
    if fmt == "mxfp4" and dev.arch in MARLIN_ARCHS and (pad := marlin_mxfp4_padding(spec, tp, layers)):
        weights = Component("weights", weights.bytes + pad, f"{weights.formula} + {fmt_bytes(pad)} of Marlin's "
                            "MXFP4 expert padding (hidden to 256, intermediate per rank to 128)")
    elif fmt == "mxfp4" and dev.arch in TRITON_MXFP4_ARCHS and (
            more := triton_mxfp4_extra(spec, tp, layers, value_align)):
        weights = Component("weights", weights.bytes + more, f"{weights.formula} + {fmt_bytes(more)} on Hopper's "
                            "Triton MXFP4 path (scales held twice, fp32 biases, intermediate per rank padded to 64)")
    return weights


def moe_workspace_bytes(spec: ModelSpec, tokens: int, tp: int) -> int:
    """The fused-MoE workspaces vLLM 0.19+ keeps from the profile run's forward (``current_workspace_manager``):
    ``TritonExperts.workspace_shapes`` (M, topk, max(N/2, K)) + (M, topk, max(N, K)) + the output (M, K) in the
    activation dtype, M = ``tokens``, N = 2 × one rank's expert intermediate size, K = hidden; the largest layer's."""
    h, most = spec.hidden_size, 0
    for layer in spec.layers:
        if layer.moe is not None:
            i = -(-layer.moe.expert_intermediate_size // tp)
            most = max(most, tokens * (layer.moe.top_k * (max(i, h) + max(2 * i, h)) + h) * 2)
    return most


def profile_activation_bytes(spec: ModelSpec, tokens: int, seqs: int, tp: int,
                             sampler_bytes: int | None = None, sampler_fixed: int = 0,
                             moe_workspace: bool = False, first_stage: bool = True,
                             last_stage: bool = True) -> tuple[int, str]:
    """The profiling run's torch peak beyond the weights: max(forward over ``tokens``, sampler over ``seqs``).

    The two run one after the other (``profile_run``: ``_dummy_run`` then ``_dummy_sampler_run``), so the peak is
    the larger. The sampler holds ``seqs × vocab × sampler_bytes`` (+ ``sampler_fixed``) at its peak (default: the
    native sort path); with ``moe_workspace`` the fused-MoE workspaces stay allocated under both. With pipeline
    parallelism only the last stage runs the sampler (``if get_pp_group().is_last_rank``), and every stage but
    the first keeps the buffers it receives into (``self.intermediate_tensors``: hidden states and residual of
    ``tokens`` rows, ``make_empty_intermediate_tensors``) from its ``_dummy_run`` on."""
    per = int(overhead_data()["vllm"]["sampler_bytes"]["native"]) if sampler_bytes is None else sampler_bytes
    h, dt = spec.hidden_size, 2
    widest = max((layer.mlp.intermediate_size * (4 if layer.mlp.fused_gate_up else 3) if layer.mlp else
                  layer.moe.top_k * max(4 * h, h + 4 * layer.moe.expert_intermediate_size) if layer.moe else 0)
                 for layer in spec.layers)
    # the forward's peak per token is in the MLP: the residual, the attention output and the normed MLP input (3 ×
    # hidden) beside gate_up (2 × intermediate) and the activation's output (1 ×); vLLM 0.6.4's V0 logs of
    # Llama-3.1-8B (one 20,000 / 29,000-token prefill) print 2.07 / 2.99 GiB, 110.6 KB per token, (3 × 4096 + 3 ×
    # 14,336) × 2 B = 110,592
    forward = tokens * (3 * h + -(-widest // tp)) * dt
    # while the sampler runs, profile_run still holds _dummy_run's hidden states (tokens × hidden) and the
    # last-token rows it gathered (seqs × hidden), and _dummy_sampler_run adds their rand_like copy
    held = (tokens + 2 * seqs) * h * dt
    sampler = seqs * spec.vocab_size * per + sampler_fixed + held
    work = moe_workspace_bytes(spec, tokens, tp) if moe_workspace else 0
    text = (f"profile run peak: max(forward of {tokens:,} tokens = {forward:,}, sampler {seqs} rows × "
            f"{spec.vocab_size:,} vocab × {per} B{f' + {sampler_fixed:,}' if sampler_fixed else ''} + hidden states "
            f"{held:,} = {sampler:,})")
    if not last_stage:
        sampler = 0
        text = (f"profile run peak (a pipeline stage before the last: no sampler run): forward of {tokens:,} tokens "
                f"= {forward:,}")
    if work:
        text += f" + fused-MoE workspaces {work:,}"
    received = 0 if first_stage else 2 * tokens * h * dt
    if received:
        text += f" + the received hidden states and residual {received:,}"
    return max(forward, sampler) + work + received, text


def capture_sizes(max_num_seqs: int, step: int) -> int:
    """How many batch sizes vLLM captures: [1, 2, 4] + every 8 below 256 + every ``step`` from 256 to the largest
    (``min(2 × max_num_seqs, 512)`` from 0.11; 512 before, ``step`` 8)."""
    top = min(2 * max_num_seqs, 512) if step == 16 else 512
    small = len([s for s in (1, 2, 4) if s <= top]) + len(range(8, min(256, top + 1), 8))
    return small + len(range(256, top + 1, step))


def cuda_graph_bytes(modes: int, step: int, seqs: int, layers: int) -> int:
    """CUDA graph memory as vLLM's estimate totals it: the first capture plus every further graph, each
    ``cuda_graph_layer_mib`` per decoder layer of the stage (``layers``; ``runtime_overheads.toml``)."""
    if modes == 0:
        return 0
    data = overhead_data()["vllm"]
    further = modes * capture_sizes(seqs, step) - 1
    return round((float(data["cuda_graph_first_mib"]) + further * layers * float(data["cuda_graph_layer_mib"])) * 2**20)


def _graphs_component(graphs: int, eager: bool, prof: EngineProfile, seqs: int) -> Component:
    if eager:
        return Component("cuda_graphs", 0, "--enforce-eager: no CUDA graphs")
    where = "estimated inside the budget" if prof.graphs_in_budget else "captured after the KV cache"
    return Component("cuda_graphs", graphs, f"{prof.cuda_graph_modes} × {capture_sizes(seqs, prof.cuda_graph_step)}"
                     f" graphs ({where}) ≈ {fmt_bytes(graphs)}")


@dataclass(frozen=True)
class _Stage:
    """One pipeline stage's budget (one GPU of it): what ``determine_available_memory`` sees on that worker."""

    weights: Component
    activation: int
    act_formula: str
    graphs: int
    pool: int
    layers: list[LayerCache]
    block: int


def _stage(spec: ModelSpec, wl: Workload, fmt: str, dev: Device, prof: EngineProfile, requested: int,
           rank: int) -> _Stage:
    tp, pp = wl.tp, wl.pp
    weights = _device_weights(spec, fmt, tp, pp, dev, rank, prof.mxfp4_value_align, prof.load_max_split_mib)
    activation, act_formula = profile_activation_bytes(
        spec, prof.max_num_batched_tokens, prof.max_num_seqs, tp, prof.sampler_bytes, prof.sampler_fixed_bytes,
        prof.moe_workspace, first_stage=rank == 0, last_stage=rank == pp - 1)
    if rank == 0 and wl.vllm_compile_cache == "cold" and prof.compile_benchmarks and not wl.enforce_eager:
        activation, act_formula = profile_peak_with_compile(spec, activation, act_formula, prof.max_num_batched_tokens,
                                                            tp, 4 if fmt == "float32" else 2)
    if prof.runner == "v2" and prof.mrv2_states_counted and rank == pp - 1:
        states = sampler_state_bytes(spec.vocab_size, prof.max_num_seqs)
        activation += states
        act_formula += f" + MRV2's sampler states {states:,} (counted from 0.27: vllm_mrv2)"
    span = stage_range(len(spec.layers), pp, rank)
    graphs = 0 if wl.enforce_eager else cuda_graph_bytes(prof.cuda_graph_modes, prof.cuda_graph_step,
                                                         prof.max_num_seqs, len(span))
    pool = requested - weights.bytes - activation - prof.non_torch_bytes - (graphs if prof.graphs_in_budget else 0)
    layers = [_rank_cache(spec, c, tp) for c in cache_layers(spec, "vllm", wl.kv_dtype or auto_kv_dtype(fmt))
              if c.layer in span]
    return _Stage(weights, activation, act_formula, graphs, pool, layers,
                  sum(c.per_token for c in layers) * wl.block_size)


def auto_kv_dtype(fmt: str) -> str:
    """vLLM's ``--kv-cache-dtype auto``: the model's dtype ("if 'auto', will use model data type", CacheConfig
    ``cache_dtype`` in ``vllm/config/cache.py``), so a float32 model keeps a float32 cache; quantized weights run
    with 16-bit activations and cache."""
    return fmt if fmt in ("float32", "float16", "bfloat16") else "bfloat16"


def _pool_blocks(stages: list[_Stage], block_size: int) -> tuple[KVGroups | None, int, int, int]:
    """The KV groups, the bytes of one pool block, the blocks (the fewest any stage holds) and the printed tokens:
    one block of every layer, or, with sliding beside full layers, vLLM's group-sized blocks (``vllm_groups``)."""
    layers = stages[0].layers
    groups = kv_groups(layers)
    if groups is None:
        block = stages[0].block
        blocks = min(st.pool // st.block for st in stages) if block else 0
        return None, block, blocks, blocks * block_size
    block = layers[0].per_token * block_size * groups.size
    blocks = min(st.pool // block for st in stages)
    return groups, block, blocks, blocks // groups.count * block_size


def _no_blocks(stage: _Stage, wl: Workload, total: int, dev: Device) -> ConfigError:
    per_gpu = " per GPU" if wl.tp * wl.pp > 1 else ""
    return ConfigError(f"vLLM would have no KV cache blocks: weights {fmt_bytes(stage.weights.bytes)} + activations "
                       f"{fmt_bytes(stage.activation)} exceed {vllm_utilization(wl):g} × {fmt_bytes(total)}"
                       f"{per_gpu} ({dev.name}); raise --gpu-memory-utilization, quantize the "
                       "weights, split the model over more GPUs (--gpus N --tp N) or use a larger GPU")


def estimate_vllm(spec: ModelSpec, wl: Workload, device_bytes: int | None = None,
                  device: Device | None = None) -> Estimate:
    """vLLM's memory plan on ``device`` (default: ``data/runtime_overheads.toml`` ``default_device``, an H100 SXM);
    ``device_bytes`` replaces its CUDA total.

    With ``tp × pp`` GPUs every number is one GPU's: the first pipeline stage's (the worker whose "Available KV
    cache memory" the log prints), with its share of the weights, KV heads and layers and its own
    ``gpu_memory_utilization`` budget; the blocks are the fewest any stage can hold (``get_kv_cache_configs``
    gives every worker the smallest count)."""
    assumed = device is None and device_bytes is None
    dev = device or default_device()
    if device_bytes is not None:
        dev = replace(dev, capacity_bytes=device_bytes)
    total = dev.capacity_bytes
    fmt = bnb_format(wl.quant).name if wl.quant else (wl.dtype or "bfloat16")
    tp, pp = wl.tp, wl.pp
    max_len = wl.context + wl.new_tokens
    prof = with_model_runner(vllm_profile(wl.vllm_version, dev, tp, max_len, wl.max_num_seqs,
                                          wl.max_num_batched_tokens, wl.vllm_sampler),
                             spec.family, all(layer.moe is None for layer in spec.layers), wl.vllm_sampler,
                             fmt not in ("bfloat16", "float16", "float32"))
    requested = math.floor(total * vllm_utilization(wl))
    seqs, tokens = prof.max_num_seqs, prof.max_num_batched_tokens
    stages = [_stage(spec, wl, fmt, dev, prof, requested, rank) for rank in range(pp)]
    for st in stages:
        if st.pool <= 0 or st.pool < st.block:
            raise _no_blocks(st, wl, total, dev)
    first = stages[0]
    weights, activation, graphs, pool, layers, block = (first.weights, first.activation, first.graphs, first.pool,
                                                        first.layers, first.block)
    non_torch = prof.non_torch_bytes
    per_gpu = " per GPU" if tp * pp > 1 else ""
    groups, block, blocks, kv_tokens = _pool_blocks(stages, wl.block_size)
    kv = blocks * block if block else pool  # a recurrent-only model keeps states, no token blocks
    per_seq = sum(_layer_seq_bytes(c, max_len, wl.block_size, tokens) for c in layers)
    full_per_token = sum(c.per_token for c in layers if c.window is None)
    fixed = sum(_layer_seq_bytes(c, 10**12, wl.block_size, tokens) for c in layers if c.window is not None or
                c.per_sequence)
    # with only sliding / recurrent layers the pool does not bound one sequence's context (None)
    longest = (kv - fixed) // (full_per_token * wl.block_size) * wl.block_size if full_per_token else None
    comps = (
        weights,
        Component("activations", activation, first.act_formula),
        Component("overhead", non_torch, f"non-torch memory (cuBLAS, kernels{', NCCL' if tp > 1 else ''}), vLLM "
                  f"{prof.engine.upper()} profile {prof.since}+{', Model Runner V2' if prof.runner == 'v2' else ''} = "
                  f"{fmt_bytes(non_torch)}"),
        Component("kv_cache", kv, f"{blocks:,} blocks × {block:,} B ({wl.block_size} tokens × all layers) "
                  f"= {fmt_bytes(kv)}"),
        _graphs_component(graphs, wl.enforce_eager, prof, seqs),
        cuda_context_component(),
    )
    # full attention: tokens / max_model_len (vLLM's ratio); with sliding or recurrent layers a request holds less
    # than max_model_len tokens in those layers, so the ratio is the pool over one request's bytes
    hybrid = any(c.window is not None or c.per_sequence for c in layers)
    concurrency = (kv / per_seq if hybrid else kv_tokens / max_len) if block and per_seq else 0.0
    if groups is not None:  # the pool's blocks over the blocks one request takes in every group
        concurrency = blocks / request_blocks(groups, block // groups.size,
                                              lambda c: _layer_seq_bytes(c, max_len, wl.block_size, tokens))
    details = {
        "runtime": "vllm", "device": dev.id, "device_name": dev.name, "device_assumed": assumed,
        "device_total_bytes": total, "device_bytes": total, "requested_bytes": requested,
        "kv_pool_bytes": pool, "num_gpu_blocks": blocks, "block_bytes": block, "kv_cache_tokens": kv_tokens,
        "max_model_len": max_len, "max_concurrency": round(concurrency, 2),
        "max_concurrent_sequences": kv // per_seq if per_seq else 0,
        "max_context_one_sequence": None if longest is None else max(0, longest),
        "vllm_version": prof.version, "vllm_profile": prof.since, "engine": prof.engine,
        "max_num_seqs": seqs, "max_num_batched_tokens": tokens, "sampler": prof.sampler, "model_runner": prof.runner,
        "chunked_prefill": prof.chunked_prefill,
        "defaults_basis": prof.defaults_basis, "source": prof.source,
    }
    if tp * pp > 1:  # every number above is one GPU's; each of the tp × pp GPUs holds as much
        details["per_gpu"] = sum(c.bytes for c in comps if c.on_device)
        details["tp"], details["pp"] = tp, pp
    notes = [f"vLLM budgets {vllm_utilization(wl):g} × {fmt_bytes(total)}{per_gpu} ({dev.name}"
             f"{', assumed: pass --gpu NAME' if assumed else ''}); GPU KV cache size: {kv_tokens:,} tokens; "
             f"Maximum concurrency for {max_len:,} tokens per request: {concurrency:.2f}x",
             prof.defaults_basis, *wddm_notes(dev, total)]
    notes.extend(compile_notes(prof, wl.enforce_eager, wl.vllm_sampler, wl.vllm_compile_cache == "cold"))
    return Estimate(spec.name, "inference", fmt, count_parameters(spec), comps, allocated_bytes=None,
                    notes=tuple(notes), details=details)

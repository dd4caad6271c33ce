"""vLLM (V1 engine): the engine budgets the device itself; the KV pool fills what is left.

``requested = ceil(device_total · gpu_memory_utilization)`` (``determine_available_memory``), of which
the weights, the activation peak of a profiling run and non-torch memory (NCCL, CUDA graphs
pools, context growth) are taken first; the KV cache pool gets the rest, cut into blocks of
``block_size`` tokens per layer. The profiling run's peak is the larger of a forward over
``max_num_batched_tokens`` tokens and the dummy sampler run over ``max_num_seqs`` sequences, which
holds about ``SAMPLER_COPIES`` fp32 copies of ``max_num_seqs × vocab`` logits (measured on an H100
for three vocabularies: Llama-3.1-8B, Qwen3-0.6B, gpt-oss-20b; ``data/runtime_overheads.toml``).

From the pool follow ``details["max_concurrent_sequences"]`` (at ``context + new_tokens`` tokens each)
and ``details["max_context_one_sequence"]``.
"""

from __future__ import annotations

import math
from dataclasses import replace

from ...errors import ConfigError
from ...inventory import count_parameters
from ...result import Component, Estimate
from ...spec import ModelSpec
from ...units import fmt_bytes
from ...workload import Workload
from ..kv_cache import LayerCache, cache_layers
from ..overhead import cuda_context_component, overhead_data
from ..weights import weights_component

__all__ = ["estimate_vllm", "kv_block_bytes"]


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


def _stage_caches(spec: ModelSpec, kvd: str, tp: int, pp: int) -> list[LayerCache]:
    """The caches one GPU holds: the first pipeline stage's layers (``ceil(layers / pp)``, the largest
    stage), each cut to one tensor-parallel rank's share."""
    stage = -(-len(spec.layers) // pp)
    return [_rank_cache(spec, c, tp) for c in cache_layers(spec, "vllm", kvd) if c.layer < stage]


def estimate_vllm(spec: ModelSpec, wl: Workload, device_bytes: int | None = None) -> Estimate:
    """vLLM's memory plan on a device of ``device_bytes`` (default: an H100 80GB as CUDA reports it).

    With ``tp × pp`` GPUs every number is one GPU's: the weights divided over the GPUs, that GPU's share
    of the KV heads and layers, and its own ``gpu_memory_utilization`` budget."""
    data = overhead_data()["vllm"]
    total = device_bytes or int(data["default_device_total_bytes"])
    fmt = wl.quant or wl.dtype or "bfloat16"
    weights = weights_component(spec, fmt)
    tp, pp = wl.tp, wl.pp
    shards = tp * pp
    if shards > 1:
        per_gpu_w = -(-weights.bytes // shards)
        weights = Component("weights", per_gpu_w, f"{weights.formula} ÷ {shards} GPUs (tp = {tp}, pp = {pp}) = "
                            f"{fmt_bytes(per_gpu_w)} per GPU")
    kvd = wl.kv_dtype or "bfloat16"
    requested = math.ceil(total * wl.gpu_memory_utilization)
    seqs = wl.max_num_seqs or int(data["max_num_seqs"])
    tokens = wl.max_num_batched_tokens or int(data["max_num_batched_tokens"])
    h, dt = spec.hidden_size, 2
    widest = max((layer.mlp.intermediate_size * (4 if layer.mlp.fused_gate_up else 3) if layer.mlp else
                  layer.moe.top_k * max(4 * h, h + 4 * layer.moe.expert_intermediate_size) if layer.moe else 0)
                 for layer in spec.layers)
    forward = tokens * (4 * h + -(-widest // tp)) * dt
    sampler = round(seqs * spec.vocab_size * 4 * float(data["sampler_copies"]))
    activation = max(forward, sampler)
    non_torch = int(data["non_torch_bytes"])
    pool = requested - weights.bytes - activation - non_torch
    layers = _stage_caches(spec, kvd, tp, pp)
    block = sum(c.per_token for c in layers) * wl.block_size
    if pool <= 0 or pool < block:
        raise ConfigError(f"vLLM would have no KV cache blocks: weights {fmt_bytes(weights.bytes)} + activations "
                          f"{fmt_bytes(activation)} exceed {wl.gpu_memory_utilization:g} × {fmt_bytes(total)}"
                          f"{' per GPU' if shards > 1 else ''}; raise --gpu-memory-utilization, quantize the "
                          "weights, split the model over more GPUs (--gpus N --tp N) or use a larger GPU")
    blocks = pool // block if block else 0
    kv = blocks * block if block else pool  # a recurrent-only model keeps states, no token blocks
    seq_tokens = wl.context + wl.new_tokens
    per_seq = sum(_layer_seq_bytes(c, seq_tokens, wl.block_size, tokens) for c in layers)
    full_per_token = sum(c.per_token for c in layers if c.window is None)
    fixed = sum(_layer_seq_bytes(c, 10**12, wl.block_size, tokens) for c in layers if c.window is not None or
                c.per_sequence)
    # with only sliding / recurrent layers the pool does not bound one sequence's context (None)
    longest = (kv - fixed) // (full_per_token * wl.block_size) * wl.block_size if full_per_token else None
    comps = (
        weights,
        Component("activations", activation, f"profile run peak: max(forward of {tokens:,} tokens = "
                  f"{forward:,}, sampler {seqs} seqs × {spec.vocab_size:,} vocab × 4 B × {data['sampler_copies']} "
                  f"= {sampler:,})"),
        Component("overhead", non_torch, f"non-torch memory (NCCL, graphs pool) = {fmt_bytes(non_torch)}"),
        Component("kv_cache", kv, f"{blocks:,} blocks × {block:,} B ({wl.block_size} tokens × all layers) "
                  f"= {fmt_bytes(kv)}"),
        cuda_context_component(),
    )
    details = {
        "runtime": "vllm", "device_bytes": total, "requested_bytes": requested,
        "kv_pool_bytes": kv, "num_gpu_blocks": blocks, "block_bytes": block,
        "max_concurrent_sequences": kv // per_seq if per_seq else 0,
        "max_context_one_sequence": None if longest is None else max(0, longest),
    }
    if shards > 1:  # every number above is one GPU's; each of the tp × pp GPUs holds as much
        details["per_gpu"] = sum(c.bytes for c in comps if c.on_device)
        details["tp"], details["pp"] = tp, pp
    return Estimate(spec.name, "inference", fmt, count_parameters(spec), comps, allocated_bytes=None,
                    notes=(f"vLLM reserves {wl.gpu_memory_utilization:g} of the device up front; the KV pool "
                           f"holds {details['max_concurrent_sequences']:,} sequences of {seq_tokens:,} tokens",
                           *(() if device_bytes else (
                               f"device: {fmt_bytes(total)}, an H100 80GB by default; "
                               "'memfit fit MODEL --gpu NAME --runtime vllm' plans for another device",))),
                    details=details)

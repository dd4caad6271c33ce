"""llama.cpp: weights per offloaded layer, a KV cache of ``n_ctx`` cells, and compute buffers.

* **Weights**: ``-ngl N`` puts the last N repeating layers on the GPU (and the output layer when
  ``N`` exceeds the layer count); the rest, and the token embeddings, stay in host RAM.
* **KV cache**: ``n_ctx = context + new_tokens`` cells per sequence, padded to 256 with flash
  attention (else 32); K and V rows in their ggml type (``--cache-type-k/-v``, default f16;
  q8_0 = 34 bytes per 32 values). An SWA layer holds ``min(n_ctx, PAD(n_swa · n_seq + n_ubatch))``
  cells. Offloaded layers keep their cache on the GPU.
* **Compute buffer** (GPU): the graph of one micro-batch of ``n_ubatch`` tokens, the larger of its
  attention part (without flash attention the f32 score matrix ``n_ubatch × n_kv × heads``) and its
  feed-forward part, plus the output logits (``compute_buffer_bytes``). Checked against the sizes
  llama.cpp prints (tests/vectors/llamacpp.toml).
"""

from __future__ import annotations

import math

from ...errors import ConfigError
from ...inventory import count_parameters
from ...result import Component, Estimate
from ...spec import ModelSpec
from ...units import fmt_bytes
from ...workload import Workload
from ..kv_cache import cache_layers, kv_dtype
from ..overhead import cuda_context_component, overhead_data
from ..weights import weights_breakdown

__all__ = ["compute_buffer_bytes", "estimate_llamacpp", "kv_cells"]

FP32 = 4


def kv_cells(wl: Workload) -> int:
    """``n_ctx`` as llama.cpp sizes it: context + new tokens per sequence, padded."""
    data = overhead_data()["llamacpp"]
    pad = int(data["kv_pad_flash_attn"] if wl.flash_attn else data["kv_pad"])
    return math.ceil((wl.context + wl.new_tokens) / pad) * pad


def compute_buffer_bytes(spec: ModelSpec, wl: Workload, n_kv: int) -> tuple[int, str]:
    """The GPU compute buffer ggml-alloc reserves for one micro-batch of ``n_ubatch`` tokens over
    ``n_kv`` cache cells (all sequences), f32 activations, buffers reused between layers:

    * attention: without flash attention the score matrix ``n_kv × n_ubatch × heads`` (softmax in
      place) and an f32 mask ``n_kv × n_ubatch``; with it only an f16 mask; plus 4 hidden-sized tensors;
    * feed-forward: gate and up outputs ``2 × n_ubatch × I`` plus 4 hidden-sized tensors;
    * the output rows' logits (one per sequence, as llama-server reserves them).
    """
    ub = min(wl.n_ubatch, wl.n_batch)
    h, v = spec.hidden_size, spec.vocab_size
    heads = max((a.num_heads for a in spec.attention_layers), default=0)
    widest = max(((layer.mlp.intermediate_size if layer.mlp else 0)
                  + (layer.moe.top_k * layer.moe.expert_intermediate_size if layer.moe else 0)
                  for layer in spec.layers), default=0)
    stream = 4 * ub * h * FP32
    if wl.flash_attn:
        attn = n_kv * ub * 2 + stream
        attn_text = f"f16 mask {n_kv:,}×{ub} + 4 × {ub}×{h} f32"
    else:
        attn = ub * n_kv * heads * FP32 + n_kv * ub * FP32 + stream
        attn_text = f"scores {ub}×{n_kv:,}×{heads} f32 + mask {n_kv:,}×{ub} f32 + 4 × {ub}×{h} f32"
    ffn = 2 * ub * widest * FP32 + stream
    outputs = wl.batch * v * FP32
    if attn >= ffn:
        return attn + outputs, f"attention: {attn_text} + logits {wl.batch}×{v:,} f32"
    return ffn + outputs, f"feed-forward: 2 × {ub}×{widest} + 4 × {ub}×{h} f32 + logits {wl.batch}×{v:,} f32"


def estimate_llamacpp(spec: ModelSpec, wl: Workload) -> Estimate:
    """llama.cpp's device (and host) memory for ``wl``."""
    fmt = wl.dtype or "f16"
    n_layers = spec.num_layers
    ngl = n_layers + 1 if wl.n_gpu_layers is None else min(wl.n_gpu_layers, n_layers + 1)
    first_gpu = n_layers - min(ngl, n_layers)
    wb = weights_breakdown(spec, fmt)
    embed = wb.by_group.get("embeddings", 0)
    head = wb.by_group.get("lm_head", 0)
    repeating = wb.total_bytes - embed - head  # split evenly over the repeating layers
    total_w = wb.total_bytes
    gpu_w = repeating * min(ngl, n_layers) // n_layers + (head if ngl > n_layers else 0)
    host_w = total_w - gpu_w
    cells = kv_cells(wl)
    pad = int(overhead_data()["llamacpp"]["kv_pad_flash_attn" if wl.flash_attn else "kv_pad"])
    kv_type = wl.kv_dtype or "f16"
    if kv_dtype(kv_type).block > 1 and not wl.flash_attn:
        # llama.cpp refuses to start: "V cache quantization requires flash_attn" (src/llama-context.cpp)
        raise ConfigError(f"llama.cpp quantizes the V cache ({kv_type}) only with flash attention: drop "
                          "--no-flash-attn, or pick --kv-dtype f16, bf16 or f32")
    gpu_kv = host_kv = 0
    for c in cache_layers(spec, "llamacpp", kv_type):
        n = cells
        if c.window is not None:
            n = min(cells, math.ceil((c.window * wl.batch + wl.n_ubatch) / pad) * pad)
        size = (c.per_token * n + c.per_sequence) * (wl.batch if c.window is None else 1)
        if c.layer >= first_gpu:
            gpu_kv += size
        else:
            host_kv += size
    compute, compute_text = compute_buffer_bytes(spec, wl, cells * wl.batch)
    comps = [
        Component("weights", gpu_w, f"{min(ngl, n_layers)}/{n_layers} layers on the GPU in {fmt} = {fmt_bytes(gpu_w)}"),
        Component("kv_cache", gpu_kv, f"{cells:,} cells × {wl.batch} seq in {kv_type} = {fmt_bytes(gpu_kv)}"),
        Component("activations", compute, f"compute buffer: {compute_text}"),
        cuda_context_component(),
    ]
    if host_w:
        comps.append(Component("weights", host_w, f"layers kept in host RAM = {fmt_bytes(host_w)}", on_device=False))
    if host_kv:
        comps.append(Component("kv_cache", host_kv, f"KV of CPU layers = {fmt_bytes(host_kv)}", on_device=False))
    details = {"runtime": "llamacpp", "n_ctx": cells, "n_gpu_layers": min(ngl, n_layers + 1),
               "kv_cache_bytes": gpu_kv + host_kv, "compute_buffer_bytes": compute}
    return Estimate(spec.name, "inference", fmt, count_parameters(spec), tuple(comps), allocated_bytes=None,
                    details=details)

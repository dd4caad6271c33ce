"""llama.cpp: the buffers it allocates, as it prints them (model, KV, compute, output).

* **Model buffer**: every tensor in its ggml type (weights_breakdown). ``-ngl N`` puts the last N
  repeating layers on the GPU (and the output layer when ``N`` exceeds the layer count); the rest,
  and the token embeddings, stay in host RAM.
* **KV buffer**: byte-exact cells × rows per layer and stream (memory/runtimes/llamacpp_kv.py);
  offloaded layers keep their cache on the GPU.
* **Compute buffer**: the peak of the graph llama.cpp reserves for one micro-batch
  (memory/runtimes/llamacpp_compute.py).
* **Output buffer**: the logits of one output row per sequence, ``n_vocab × n_seq`` f32, in host
  (pinned) memory (``llama_context::output_reserve``).

The CPU build's reserve is the graph a fully offloaded GPU run reserves; the sizes were measured
with real llama.cpp (tests/data/llamacpp/, tools/measure_llamacpp.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from ...errors import ConfigError
from ...formats import get_format, ggml_types, gguf_tensor_types
from ...inventory import count_parameters
from ...result import Component, Estimate
from ...sources.gguf_size import priced_file_size
from ...spec import ModelSpec
from ...units import fmt_bytes
from ...workload import Workload
from ..kv_cache import kv_dtype
from ..overhead import cuda_context_component
from ..weights import is_as_stored, weights_breakdown
from .llamacpp_compute import ComputePhases, compute_phases
from .llamacpp_extra import draft_workload, mmproj_component
from .llamacpp_kv import CacheGeometry, cache_geometry, kv_layers
from .llamacpp_split import DeviceShare, layer_devices, parse_tensor_split
from .llamacpp_tensors import host_tensor_bytes, parse_overrides, retyped_bytes

__all__ = ["LlamaBuffers", "compute_buffer_bytes", "device_shares", "estimate_llamacpp",
           "gguf_file_details", "kv_cells", "llamacpp_buffers"]

FP32 = 4


@dataclass(frozen=True)
class LlamaBuffers:
    """What llama.cpp allocates for a workload, per buffer, and where."""

    geometry: CacheGeometry
    n_gpu_layers: int
    model_bytes: int
    model_gpu_bytes: int
    kv_bytes: int
    kv_gpu_bytes: int
    compute: ComputePhases
    output_bytes: int
    fmt: str

    @property
    def compute_bytes(self) -> int:
        return self.compute.peak

    @property
    def host_bytes(self) -> int:
        """Host RAM: weights and KV of the layers left on the CPU, plus the output buffer."""
        return (self.model_bytes - self.model_gpu_bytes) + (self.kv_bytes - self.kv_gpu_bytes) + self.output_bytes


def kv_cells(spec: ModelSpec, wl: Workload) -> int:
    """Cells of one sequence's stream, as llama.cpp pads them (``n_ctx_seq``)."""
    return cache_geometry(spec, wl).n_ctx_seq


def compute_buffer_bytes(spec: ModelSpec, wl: Workload) -> tuple[int, str]:
    """The compute buffer llama.cpp reserves, and which part of the graph sets it."""
    ph = compute_phases(spec, wl, cache_geometry(spec, wl))
    return ph.peak, f"{ph.where} of a {ph.tokens}-token micro-batch"


# llama.cpp holds GGUF tensors only: a float format means the GGUF conversion of that type (1-D tensors F32)
GGUF_OF_FLOAT = {"f16": "gguf-f16", "fp16": "gguf-f16", "float16": "gguf-f16", "bf16": "gguf-bf16",
                 "bfloat16": "gguf-bf16", "f32": "gguf-f32", "fp32": "gguf-f32", "float32": "gguf-f32"}


def llamacpp_buffers(spec: ModelSpec, wl: Workload, n_outputs_max: int | None = None) -> LlamaBuffers:
    dtype = wl.dtype or "f16"
    from_gguf = spec.stored is not None and spec.stored.container == "gguf"
    # a GGUF file loads as it is stored; a float dtype otherwise means its GGUF conversion
    fmt = dtype if from_gguf and is_as_stored(spec, dtype) else GGUF_OF_FLOAT.get(dtype.lower(), dtype)
    kv_type = wl.kv_dtype or "f16"
    if wl.split_mode == "row":
        # make_gpu_buft_list (src/llama-model.cpp) asks the backend for "ggml_backend_split_buffer_type"; the
        # CUDA (and HIP) backend of b10605 registers none (only SYCL does), so loading stops
        raise ConfigError("-sm row: llama.cpp (build b10605) stops at load on CUDA/ROCm GPUs ('device CUDA0 does "
                          "not support split buffers'); use --split-mode layer with --tensor-split")
    block = kv_dtype(kv_type).block
    for a in (layer.attention for layer in spec.layers):
        # llama_init_from_model refuses a quantized cache whose block does not divide a head (src/llama-context.cpp)
        if block > 1 and a is not None and a.kind != "mla" and (a.head_dim % block or a.value_dim % block):
            raise ConfigError(f"llama.cpp refuses --kv-dtype {kv_type} for {spec.name}: its block of {block} values "
                              f"does not divide the head size {a.head_dim}; pick --kv-dtype f16 or bf16")
    if kv_dtype(kv_type).block > 1 and not wl.flash_attn:
        # llama.cpp refuses to start: "V cache quantization requires flash_attn" (src/llama-context.cpp)
        raise ConfigError(f"llama.cpp quantizes the V cache ({kv_type}) only with flash attention: drop "
                          "--no-flash-attn, or pick --kv-dtype f16, bf16 or f32")
    n_layers = spec.num_layers
    ngl = n_layers + 1 if wl.n_gpu_layers is None else min(wl.n_gpu_layers, n_layers + 1)
    first_gpu = n_layers - min(ngl, n_layers)
    wb = weights_breakdown(spec, fmt)
    embed = wb.by_group.get("embeddings", 0)
    head = wb.by_group.get("lm_head", 0)
    # a vision tower lives in the separate mmproj GGUF, not in the model llama.cpp loads
    model_bytes = wb.total_bytes - wb.by_group.get("vision", 0)
    repeating = model_bytes - embed - head  # split evenly over the repeating layers
    # llama-quantize --token-embedding-type / --output-tensor-type (the _L/_XL files)
    d_embed = retyped_bytes(spec, fmt, "token_embd", wl.token_embedding_type)
    d_head = retyped_bytes(spec, fmt, "output", wl.output_tensor_type)
    model_bytes += d_embed + d_head
    head += d_head
    gpu_w = repeating * min(ngl, n_layers) // max(1, n_layers) + (head if ngl > n_layers else 0)
    patterns = parse_overrides(wl.override_tensor)
    if wl.n_cpu_moe or patterns:
        gpu_w -= host_tensor_bytes(spec, fmt, first_gpu, ngl > n_layers, min(wl.n_cpu_moe or 0, n_layers),
                                   patterns)
    geo = cache_geometry(spec, wl)
    layers = kv_layers(spec, wl, geo)
    kv_total = sum(c.bytes for c in layers)
    kv_gpu = sum(c.bytes for c in layers if c.layer >= first_gpu)
    compute = compute_phases(spec, wl, geo, n_outputs_max=n_outputs_max)
    return LlamaBuffers(geo, ngl, model_bytes, gpu_w, kv_total, kv_gpu, compute,
                        spec.vocab_size * max(1, wl.batch) * FP32, fmt)


def _compute_text(c: ComputePhases) -> str:
    if c.reserved is not None:
        return (f"compute buffer: ggml-alloc replayed over the graph llama.cpp reserves for a {c.tokens}-token "
                f"micro-batch = {fmt_bytes(c.reserved)}")
    return (f"compute buffer: {c.where} of a {c.tokens}-token micro-batch (output {fmt_bytes(c.output)}, "
            f"attention {fmt_bytes(c.attention)}, feed-forward {fmt_bytes(c.ffn)}; this architecture's graph "
            "is not described, so the largest set of live tensors is estimated)")


def draft_components(wl: Workload) -> list[Component]:
    """The draft model's weights, KV cache and compute buffer on the GPU (its context computes one logits
    row per sequence: n_outputs_max = the sequences); its embeddings and output buffer in host RAM."""
    draft, dwl = draft_workload(wl)
    b = llamacpp_buffers(draft, dwl, n_outputs_max=max(1, wl.batch))
    name = draft.name
    return [
        Component("draft_weights", b.model_gpu_bytes,
                  f"draft model {name} in {b.fmt} = {fmt_bytes(b.model_gpu_bytes)}"),
        Component("draft_kv_cache", b.kv_gpu_bytes,
                  f"draft {name}: {b.geometry.n_ctx_seq:,} cells × {b.geometry.n_stream} stream(s) in f16 "
                  f"= {fmt_bytes(b.kv_gpu_bytes)}"),
        Component("draft_activations", b.compute_bytes,
                  f"draft {name} compute buffer: {b.compute.where}, logits of one row per sequence "
                  f"= {fmt_bytes(b.compute_bytes)}"),
        Component("draft_weights", b.model_bytes - b.model_gpu_bytes,
                  f"draft {name}: token embeddings kept in host RAM", on_device=False),
        Component("draft_output_buffer", b.output_bytes, f"draft {name} logits in host memory", on_device=False),
    ]


def estimate_llamacpp(spec: ModelSpec, wl: Workload) -> Estimate:
    """llama.cpp's device (and host) memory for ``wl``."""
    b = llamacpp_buffers(spec, wl)
    n_layers = spec.num_layers
    geo = b.geometry
    kv_type = wl.kv_dtype or "f16"
    on_gpu = min(b.n_gpu_layers, n_layers)
    comps = [
        Component("weights", b.model_gpu_bytes,
                  f"{on_gpu}/{n_layers} layers on the GPU in {b.fmt} = {fmt_bytes(b.model_gpu_bytes)}"),
        Component("kv_cache", b.kv_gpu_bytes,
                  f"{geo.n_ctx_seq:,} cells × {geo.n_stream} stream(s) in {kv_type}"
                  + (f", sliding-window layers {geo.swa_cells:,} cells" if geo.swa_cells else "")
                  + f" = {fmt_bytes(b.kv_gpu_bytes)}"),
        Component("activations", b.compute_bytes, _compute_text(b.compute)),
        cuda_context_component(),
    ]
    host_w = b.model_bytes - b.model_gpu_bytes
    if host_w:
        comps.append(Component("weights", host_w, f"layers kept in host RAM = {fmt_bytes(host_w)}", on_device=False))
    host_kv = b.kv_bytes - b.kv_gpu_bytes
    if host_kv:
        comps.append(Component("kv_cache", host_kv, f"KV of CPU layers = {fmt_bytes(host_kv)}", on_device=False))
    if wl.draft_model:
        comps.extend(draft_components(wl))
    if wl.mmproj:
        comps.append(mmproj_component(spec, wl))
    comps.append(Component("output_buffer", b.output_bytes,
                           f"output buffer: logits {spec.vocab_size:,} × {max(1, wl.batch)} seq f32 in host memory",
                           on_device=False))
    details: dict[str, object] = {"runtime": "llamacpp", "n_ctx": geo.n_ctx, "n_ctx_seq": geo.n_ctx_seq,
               "n_gpu_layers": min(b.n_gpu_layers, n_layers + 1),
               "kv_cache_bytes": b.kv_bytes, "compute_buffer_bytes": b.compute_bytes,
               "model_buffer_bytes": b.model_bytes, "output_buffer_bytes": b.output_bytes,
               "host_bytes": b.host_bytes}
    details.update(gguf_file_details(spec, b.fmt))
    if wl.gpus > 1 or wl.tensor_split:
        details["devices"] = [d.to_json() for d in device_shares(spec, wl, b)]
    return Estimate(spec.name, "inference", b.fmt, count_parameters(spec), tuple(comps), allocated_bytes=None,
                    details=details)


def gguf_file_details(spec: ModelSpec, fmt: str) -> dict[str, object]:
    """The GGUF file's size on disk: exact for a file memfit read (header + aligned tensor data), and for a
    GGUF format priced for a spec its tensor infos and data, naming the metadata it cannot know."""
    s = spec.stored
    if s is not None and s.container == "gguf" and s.file_bytes and is_as_stored(spec, fmt):
        return {"gguf_file_bytes": s.file_bytes, "gguf_file_not_counted": []}
    f = get_format(fmt)
    if f.kind != "gguf" or f.default_type is None or spec.is_bare:
        return {}
    return priced_file_size(gguf_tensor_types(spec, f), ggml_types(), spec.vocab_size).to_json()


def device_shares(spec: ModelSpec, wl: Workload, b: LlamaBuffers) -> list[DeviceShare]:
    """Per GPU under ``--tensor-split`` (equal shares by default): its layers, weights and KV cache."""
    split = parse_tensor_split(wl.tensor_split, wl.gpus)
    n_layers = spec.num_layers
    where = layer_devices(n_layers, b.n_gpu_layers, split)
    wb = weights_breakdown(spec, b.fmt)
    head = wb.by_group.get("lm_head", 0)
    per_layer = (b.model_bytes - wb.by_group.get("embeddings", 0) - head) // max(1, n_layers)
    kv = {c.layer: 0 for c in kv_layers(spec, wl, b.geometry)}
    for c in kv_layers(spec, wl, b.geometry):
        kv[c.layer] += c.bytes
    out = []
    for gpu in range(len(split)):
        layers = tuple(il for il in range(n_layers) if where[il] == gpu)
        output = where[n_layers] == gpu
        out.append(DeviceShare(gpu, layers, output, per_layer * len(layers) + (head if output else 0),
                               sum(kv.get(il, 0) for il in layers)))
    return out

"""Inference memory: dispatch to the runtime profile the workload names.

* ``transformers`` — PyTorch eager: the allocator peak of generate / forward / prefill
  (``memfit.memory.runtimes.transformers``).
* ``vllm`` — the engine's own budget: weights + profiled activation peak + CUDA graphs + non-torch
  memory, then a KV pool that fills ``gpu_memory_utilization`` of the device
  (``memfit.memory.runtimes.vllm``).
* ``sglang`` — a static share (``mem_fraction_static``) of the free memory holds weights and the token pool
  (``memfit.memory.runtimes.sglang``).
* ``llamacpp`` — weights on the GPU for ``-ngl`` layers (the rest in host RAM), the KV cache of
  ``n_ctx`` cells in the chosen cache types and the compute buffers (``memfit.memory.runtimes.llamacpp``).
* ``ollama`` — the llama.cpp profile under Ollama's defaults (``memfit.memory.runtimes.ollama``).
"""

from __future__ import annotations

from ..errors import ConfigError
from ..hardware import Device
from ..result import Estimate
from ..spec import ModelSpec
from ..workload import Workload

__all__ = ["estimate_inference"]


def estimate_inference(spec: ModelSpec, wl: Workload, device: Device | None = None) -> Estimate:
    """Memory of ``wl`` (mode ``inference``) on ``spec`` for the runtime ``wl.runtime``; the engines that budget
    the device themselves (vLLM, SGLang) plan for ``device`` (default: the one their profile names)."""
    if wl.runtime == "transformers":
        from .runtimes.transformers_estimate import estimate_transformers

        return estimate_transformers(spec, wl, device)
    if wl.runtime == "vllm":
        from .runtimes.vllm import estimate_vllm

        return estimate_vllm(spec, wl, device=device)
    if wl.runtime == "sglang":
        from .runtimes.sglang import estimate_sglang

        return estimate_sglang(spec, wl, device=device)
    if wl.runtime == "llamacpp":
        from .runtimes.llamacpp import estimate_llamacpp

        return estimate_llamacpp(spec, wl)
    if wl.runtime == "ollama":
        from .runtimes.ollama import estimate_ollama

        return estimate_ollama(spec, wl, device)
    raise ConfigError(f"runtime {wl.runtime!r} is not one of transformers, vllm, sglang, llamacpp, ollama")

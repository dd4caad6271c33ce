"""``estimate()``: the one entry point from a model reference and a workload to an ``Estimate``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from .errors import ConfigError, MemfitError, UnsupportedError
from .hardware import Device
from .inventory import count_parameters
from .memory.weights import is_as_stored, weights_component
from .result import Estimate
from .rules import check_runnable, check_spec, given_fields, resolve
from .sources.loader import load_model
from .spec import ModelSpec
from .workload import Workload

__all__ = ["estimate", "runtime_context"]

ModelRef = str | int | Mapping[str, Any] | ModelSpec


_GGUF_FLOAT = ("F32", "F16", "BF16", "ALL_F32", "MOSTLY_F16", "MOSTLY_BF16")


def default_format(spec: ModelSpec, mode: str = "weights") -> str:
    """The weight format used when the user names none: the checkpoint's own quantization
    (``quantization_config``: fp8-block, mxfp4, gptq …) for weights and inference, else the config's dtype.
    Training defaults to the config's dtype (bf16 when the config says fp32: nobody trains in fp32 by default
    with mixed precision off)."""
    if mode in ("weights", "inference") and spec.quantization:
        return spec.quantization
    stored = spec.stored.quantization if spec.stored is not None else None
    if mode == "inference" and stored and stored.startswith("gguf:") and stored[5:].upper() not in _GGUF_FLOAT:
        from .formats import get_format

        return get_format(stored).name  # a GGUF file runs in its own type (q4_0, q4_k_m …), not in its config dtype
    if mode in ("train", "lora", "qlora") and spec.dtype in ("float32", "fp32"):
        return "bfloat16"
    return spec.dtype


def runnable_workload(spec: ModelSpec, wl: Workload) -> Workload:
    """``wl`` with the checkpoint's own format when no ``dtype`` is named (the same rule in every command),
    checked against what the runtime can run (``rules.check_runnable``: the rule and the fix otherwise)."""
    check_spec(spec)
    dtype_from = "--dtype"
    if wl.dtype is None:
        wl = wl.replace(dtype=default_format(spec, wl.mode))
        if wl.mode == "inference" and wl.runtime in ("vllm", "sglang") and wl.dtype in ("float32", "fp32"):
            # the engines' dtype "auto" never serves a float32 config in float32: "Following the common practice, we
            # use float16 for float32 models" (vLLM _get_and_verify_dtype; bfloat16 from 0.10.1; SGLang's ModelConfig
            # the same), two bytes either way
            wl = wl.replace(dtype="bfloat16")
        dtype_from = "the checkpoint's format"
    check_runnable(spec, wl, dtype_from)
    if eager_only(spec) and wl.mode == "inference" and wl.runtime != "transformers":
        raise UnsupportedError(f"{spec.family}'s compressed sparse attention (its cache, its compressors) is described "
                               f"for --runtime transformers only; memfit does not know {wl.runtime}'s layout for it: "
                               "use --runtime transformers")
    if wl.runtime == "transformers" and wl.attn != "eager" and eager_only(spec):
        wl = wl.replace(attn="eager")
    return wl


def eager_only(spec: ModelSpec) -> bool:
    """DeepSeek-V4's modelling code supports only eager attention (``_supports_sdpa = False``; its compressors
    extend the keys inside the block): transformers runs it eagerly whatever ``--attn`` asks."""
    return any(a.single_kv for a in spec.attention_layers)


def estimate(model: ModelRef, workload: Workload | None = None, *, device: Device | None = None,
             **options: Any) -> Estimate:
    """Estimate the memory ``model`` needs for ``workload``.

    ``model`` is anything ``load_model`` takes: a catalog id (``"llama-3.1-8b"``), a config.json
    path or dict, a parameter count (``"7B"``, ``11776``) or a ``ModelSpec``. Options are
    ``Workload`` fields and override ``workload``::

        estimate("llama-3.1-8b", dtype="fp16").total_bytes           # weights only
        estimate("llama-3.1-8b", mode="inference", batch=8, context=4096, new_tokens=256)
        estimate("qwen2.5-7b", mode="lora", batch=2, context=2048, checkpointing="full")

    ``device`` (a ``hardware.Device``) is the GPU the engines that budget the device themselves (vLLM, SGLang)
    plan for; without it they plan for their profile's default device and say so.
    """
    unknown = set(options) - set(Workload.field_names())
    if unknown:
        raise ConfigError(f"unknown option(s) {', '.join(sorted(unknown))}; "
                          f"valid options are the Workload fields: {', '.join(Workload.field_names())}")
    wl = (workload or Workload()).replace(**options) if options else (workload or Workload())
    implied: tuple[str, ...] = ()
    if options:  # keyword options mean what the same CLI options mean (runtime, context … imply inference)
        wl, implied = resolve(wl, options)
        wl, more = runtime_context(wl, given_fields(wl, options), device)  # Ollama: its context by VRAM
        implied = (*implied, *more)
    wl.validate()
    spec = load_model(model)
    wl = runnable_workload(spec, wl)
    from .memory.images import apply_tower_moment, with_images

    wl, image_notes, image_details = with_images(spec, wl)
    try:
        est = _estimate(spec, wl, device)
    except UnsupportedError as e:
        if spec.is_generic and "Mamba-2" in str(e):  # the generic path describes recurrent layers as Mamba-2 mixers
            raise UnsupportedError(f"{e} ({spec.family} is described by the generic path, its non-attention layers "
                                   "as Mamba-2 mixers holding the same state)") from None
        raise
    est = _format_notes(spec, wl, est)
    if image_notes:
        if wl.mode == "inference" and wl.runtime == "transformers":
            est = apply_tower_moment(spec, wl, est, 4 if (wl.dtype or spec.dtype) in ("float32", "fp32") else 2)
        est = replace(est, notes=(*image_notes, *est.notes), details={**est.details, **image_details})
    if spec.is_generic:  # what rests on the generic path is labelled so (memfit.sources.generic)
        from .sources.generic import generic_label

        details, notes = generic_label(spec)
        est = replace(est, notes=(*notes, *est.notes), details={**est.details, **details})
    if eager_only(spec) and wl.mode != "weights" and wl.runtime == "transformers":
        implied = (*implied, f"{spec.family} runs eager attention under transformers (its modelling code supports no "
                             "other): --attn eager")
    return replace(est, notes=(*implied, *est.notes)) if implied else est


def _format_notes(spec: ModelSpec, wl: Workload, est: Estimate) -> Estimate:
    """Keep the notes that explain a surprising weights number (bitsandbytes leaves fused MoE experts in 16
    bits, a tensor falls back to another GGUF type …): the weights breakdown writes them, every mode shows them."""
    if spec.is_bare or wl.mode in ("train", "lora"):
        return est
    from .formats import bnb_format
    from .memory.weights import weights_breakdown

    quant = wl.quant or ("nf4-dq" if wl.mode == "qlora" else None)  # QLoRA's default base, as training uses
    fmt = bnb_format(quant).name if quant else (wl.dtype or default_format(spec, wl.mode))
    from .memory.moe_release import expert_linears

    linears = bool(quant) and wl.runtime == "transformers" and expert_linears(wl.transformers_version, spec.family)
    try:
        extra = [n for n in weights_breakdown(spec, fmt, linears).notes if n not in est.notes]
    except MemfitError:
        return est
    return replace(est, notes=(*est.notes, *extra)) if extra else est


def _estimate(spec: ModelSpec, wl: Workload, device: Device | None = None) -> Estimate:
    if wl.mode == "weights":
        dtype = wl.dtype or default_format(spec)
        comp = weights_component(spec, dtype)
        if spec.stored is not None and spec.stored.quantization and is_as_stored(spec, dtype):
            dtype = spec.stored.quantization  # label the weights as stored (gguf:Q4_0), not by the config's dtype
        return Estimate(spec.name, "weights", dtype, count_parameters(spec), (comp,))
    if spec.is_bare and wl.mode == "inference":  # labelled: the nearest catalog architecture's KV cache and buffers
        from .estimate_bare import rule_of_thumb

        return rule_of_thumb(spec, wl, device, _estimate)
    if spec.is_bare:
        raise UnsupportedError(
            f"mode {wl.mode!r} needs the architecture (layers, heads, hidden size), which a bare parameter "
            "count does not have: pass a catalog id or a config.json instead"
        )
    from .memory.allocator_cap import cap_reserve  # at the device's capacity the allocator empties its cache
    from .memory.overhead import context_on_device  # the CUDA context of the device's generation, every runtime

    capacity = None if device is None else device.capacity_bytes
    if wl.mode == "inference":
        from .memory.inference import estimate_inference
        est = cap_reserve(context_on_device(estimate_inference(spec, wl, device), device), capacity)
        return _linear_note(spec, wl, _context_note(spec, wl, est))
    from .memory.nccl import context_and_nccl  # the context, and across GPUs NCCL's communicator
    from .memory.training import estimate_training

    result: Estimate = cap_reserve(context_and_nccl(estimate_training(spec, wl), device, wl), capacity)
    return _linear_note(spec, wl, _context_note(spec, wl, result))


def _linear_note(spec: ModelSpec, wl: Workload, est: Estimate) -> Estimate:
    """Say which path the recurrent mixers are priced on under transformers: its PyTorch reference (no FLA,
    mamba-ssm or causal-conv1d kernels), and what is not modelled (a gated delta-net's training tensors)."""
    if wl.runtime != "transformers":
        return est
    notes = []
    if any(layer.linear is not None for layer in spec.layers):
        notes.append("linear-attention layers (gated delta-net, KDA): transformers' PyTorch chunked delta rule (no "
                     "FLA kernels installed), whose fp32 temporaries are priced; the FLA kernels need less")
        if wl.mode != "inference" and any(x.linear is not None and x.linear.kind != "kda" for x in spec.layers):
            notes.append("what a gated delta-net keeps for backward is not modelled (a simulated Qwen3-Next training "
                         "step: 0.6 % low)")
    if any(layer.ssm is not None for layer in spec.layers):
        notes.append("Mamba layers: transformers' PyTorch path (no mamba-ssm / causal-conv1d kernels installed), whose "
                     "chunked scan materialises chunk × chunk fp32 tensors per head; with the CUDA kernels installed "
                     "these are not materialised and the run needs less")
    return replace(est, notes=(*est.notes, *notes)) if notes else est


def _context_note(spec: ModelSpec, wl: Workload, est: Estimate) -> Estimate:
    """A note when the sequence is longer than the model's ``max_position_embeddings``: the memory is still
    what the runtime would allocate, but the model was not built for that length."""
    tokens = wl.context + (wl.new_tokens if wl.mode == "inference" else 0)
    limit = spec.max_position_embeddings
    if not limit or tokens <= limit:
        return est
    if spec.position_embedding == "learned":  # no row of the position table for the extra tokens
        note = (f"{tokens:,} tokens per sequence exceed {spec.name}'s {limit:,} learned positions: the model cannot "
                "run that long (the estimate is what it would need)")
    else:
        note = (f"{tokens:,} tokens per sequence exceed {spec.name}'s max_position_embeddings of {limit:,}: the "
                "model was not trained for that length (vLLM refuses it unless told otherwise)")
    return replace(est, notes=(*est.notes, note))


def runtime_context(wl: Workload, given: Iterable[str], device: Device | None) -> tuple[Workload, tuple[str, ...]]:
    """Ollama picks its context by the GPU's VRAM when the user gives none: ``wl`` with that context when
    ``context`` is not among the options ``given`` (``given_fields``), and a note saying so. ``--context``
    given — even at memfit's default, 2,048 — is taken as it is. ``device`` is the GPU (None: none given)."""
    if wl.mode != "inference" or wl.runtime != "ollama" or "context" in given:
        return wl, ()
    if device is None:
        raise ConfigError("--runtime ollama picks its context by the GPU's VRAM: pass --gpu (e.g. --gpu rtx-4090) "
                          "or --context N")
    from .memory.runtimes.ollama import GIB, ollama_context

    context = ollama_context(device.memory_bytes)
    return wl.replace(context=context), (f"--runtime ollama with no --context: Ollama's default context for "
                                         f"{device.memory_bytes / GIB:g} GiB of VRAM, {context:,} tokens",)

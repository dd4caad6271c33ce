"""SGLang: a static share of the free memory holds the weights and the KV token pool; the rest is left to
activations and CUDA graphs.

At start-up SGLang notes the free memory ``T`` (GiB, what CUDA reports once the process holds its context), loads
the weights, reads the free memory again (``A``) and sizes the token pool::

    rest = A - T · (1 - mem_fraction_static)
    max_total_num_tokens = rest · 2^30 // cell_size

``cell_size`` is one token's K and V over every layer of one tensor-parallel rank (an MLA latent once). The
default ``mem_fraction_static`` is ``(gpu_mem - reserved) / gpu_mem`` with ``reserved`` by device size and
``tp × pp`` (``data/runtime_overheads.toml``). SGLang prints ``KV Cache is allocated. #tokens: N`` and
``max_total_num_tokens=N``; memfit reports the same in ``details.kv_cache_tokens`` and the concurrency at
``context + new_tokens`` tokens per request in ``details.max_concurrency``.
"""

from __future__ import annotations

from dataclasses import replace

from ...errors import ConfigError
from ...formats import bnb_format, get_format
from ...hardware import Device, get_device, wddm_notes
from ...inventory import count_parameters
from ...result import Component, Estimate
from ...spec import ModelSpec
from ...units import GIB, fmt_bytes
from ...workload import Workload
from ..overhead import overhead_data
from .engine_profile import nvml_total_bytes, parse_version
from .sglang_first_kernel import first_kernel_bytes, first_kernel_in_load
from .sglang_load import Layout, load_reserved_bytes
from .vllm import auto_kv_dtype, rope_cache_bytes, sharded_weights, stage_caches

__all__ = ["default_mem_fraction_static", "estimate_sglang", "init_used_gib"]


def _version(text: str) -> tuple[int, ...]:
    try:
        return parse_version(text)
    except ConfigError:
        raise ConfigError(f"sglang_version {text!r} is not a version such as 0.5.3 or 0.4.9; give the version "
                          "`pip show sglang` prints") from None


def default_mem_fraction_static(device: Device, tp: int, pp: int = 1, version: str | None = None) -> tuple[float, str]:
    """SGLang's default share for this device and parallel size (``_handle_gpu_memory_settings``): the reserve from
    the chunked-prefill size and the CUDA-graph batch the GPU size sets (0.5.3 on, and without ``version``), or by
    GPU size alone (earlier releases)."""
    data = overhead_data()["sglang"]
    gpu_mem_mib = nvml_total_bytes(device) / 2**20
    if version is not None and _version(version) < parse_version(str(data["reserve_rule_from"])):
        for below_gib, base, per_rank in data["reserved_tiers"]:
            if gpu_mem_mib < float(below_gib) * 1024:
                reserved = (float(base) + tp * pp * float(per_rank)) * 1024
                frac = round((gpu_mem_mib - reserved) / gpu_mem_mib, 3)
                return frac, (f"SGLang {version} default: ({gpu_mem_mib:,.0f} MiB - {reserved:,.0f} MiB reserved) / "
                              f"{gpu_mem_mib:,.0f} MiB = {frac}")
        raise AssertionError("the last reserved tier covers every size")
    chunk, graph_bs = next((int(c), int(small if tp < 4 else large)) for below, c, small, large in data["reserve_tiers"]
                           if gpu_mem_mib < float(below) * 1024)
    reserved = (float(data["reserve_base_mib"]) + max(chunk, 2048) * 1.5 + graph_bs * 2 + tp * pp / 8 * 1024)
    if gpu_mem_mib > float(data["reserve_floor_above_gib"]) * 1024:
        reserved = max(reserved, float(data["reserve_floor_gib"]) * 1024)
    frac = round((gpu_mem_mib - reserved) / gpu_mem_mib, 3)
    return frac, (f"SGLang default ({data['reserve_rule_from']}+): ({gpu_mem_mib:,.0f} MiB - {reserved:,.0f} MiB "
                  f"reserved for chunked prefill {chunk:,}, CUDA graphs to batch {graph_bs} and {tp * pp} GPU(s)) / "
                  f"{gpu_mem_mib:,.0f} MiB = {frac}")


def init_used_gib(dev: Device, world: int, first_kernel_in_load: bool = False) -> float:
    """What the process holds when SGLang reads the free memory at start: the CUDA context and, with ``world`` > 1
    GPUs, NCCL's communicators, more on NVSwitch parts, where NCCL connects every GPU over NVLink with many channels
    (``runtime_overheads.toml`` [sglang]); less the first kernel's fixed amount in a build that takes it inside the
    load (``sglang_first_kernel``)."""
    data = overhead_data()["sglang"]
    used = float(data["init_used_gib"]) - (first_kernel_bytes(dev) / GIB if first_kernel_in_load else 0.0)
    if world > 1:
        key = "init_used_nvswitch_tp_gib" if dev.id in data["nvswitch_devices"] else "init_used_tp_gib"
        used += float(data[key])
    return used


def _aiter_fraction(dev: Device, context_len: int, mfs: float, basis: str) -> tuple[float, str]:
    """SGLang's aiter attention backend (the default on CDNA3/CDNA4) keeps 0.85 of the fraction for long contexts."""
    data = overhead_data()["sglang"]
    if dev.arch not in data["aiter_archs"] or context_len <= int(data["aiter_long_context"]):
        return mfs, basis
    factor = float(data["aiter_fraction_factor"])
    return mfs * factor, (f"{basis}; × {factor:g} for the aiter attention backend (SGLang's default on {dev.arch}) "
                          f"at a context over {int(data['aiter_long_context']):,} tokens = {mfs * factor:.4g}")


def _first_kernel(weights: Component, dev: Device, version: str | None, world: int,
                  moe: bool) -> tuple[Component, bool]:
    """The printed load with the process's first-kernel amount where this build takes it inside the load."""
    if not first_kernel_in_load(version, world, moe):
        return weights, False
    extra = first_kernel_bytes(dev)
    if not extra:
        return weights, True
    return Component("weights", weights.bytes + extra, f"{weights.formula} + the process's first CUDA kernel "
                     f"{fmt_bytes(extra)} (SGLang {version} launches it inside the load: sglang_first_kernel)"), True


def _load_note(dev: Device, version: str | None, in_load: bool) -> str:
    head = ("SGLang's 'Load weight end ... mem usage' is the fall in free memory: the weights' allocator segments as "
            "memfit counts them")
    if not in_load:
        return (f"{head}; the process's first CUDA kernel (a fixed amount beside the context) falls before the free "
                f"memory at start in {'this build' if version else 'the current release'} (sglang_first_kernel; "
                "builds before 0.5.8 but 0.4.6.post5 to 0.4.9 take it inside the load with one GPU: --sglang-version)")
    if first_kernel_bytes(dev):
        return f"{head}, with the process's first CUDA kernel, which SGLang {version} launches inside the load"
    return (f"{head}; SGLang {version} launches the process's first CUDA kernel inside the load, whose fixed amount "
            f"is not measured on {dev.name} (0.08 GiB on an H100 SXM): the printed load is larger by it, not counted")


def _load_layout(fmt: str) -> Layout | None:
    """SGLang's tensor layout for 16-bit and block-FP8 checkpoints (None: other formats count their tensor bytes)."""
    f = get_format(fmt)
    if f.kind == "dense" and f.bits == 16:
        return Layout()
    if f.scale == "block2d" and f.element_bits == 8:
        return Layout(dense=2, weight=1, block=f.block)
    return None


def estimate_sglang(spec: ModelSpec, wl: Workload, device: Device | None = None) -> Estimate:
    """SGLang's memory plan on ``device`` (default: an H100 SXM); every number is one GPU's with ``tp × pp``."""
    data = overhead_data()["sglang"]
    assumed = device is None
    dev = device or get_device(str(data["default_device"]))
    total = dev.capacity_bytes
    fmt = bnb_format(wl.quant).name if wl.quant else (wl.dtype or "bfloat16")
    tp, pp = wl.tp, wl.pp
    weights = sharded_weights(spec, fmt, tp, pp)
    # the rotary cos/sin cache stays float32 on CUDA (sgl-kernel's rope reads it so): Llama-3.1-8B's start-up prints
    # "mem usage=15.02 GB" for 14.96 GiB of weights and 131,072 × 128 × 4 B = 0.0625 GiB of cache
    rope = rope_cache_bytes(spec, "float32")
    if rope:
        weights = Component("weights", weights.bytes + rope, f"{weights.formula} + the float32 rotary cos/sin cache "
                            f"{fmt_bytes(rope)}")
    if pp == 1 and (layout := _load_layout(fmt)) is not None:
        # "mem usage" is the fall in free memory: the caching allocator's segments, not the tensor bytes (sglang_load)
        reserved, tensors = load_reserved_bytes(spec, tp, layout, rope)
        if reserved > tensors:
            weights = Component("weights", weights.bytes + reserved - tensors, f"{weights.formula} + "
                                f"{fmt_bytes(reserved - tensors)} of allocator segments beyond the tensors (each "
                                "parameter of 10 MiB or more rounded up to 2 MiB)")
    if wl.mem_fraction_static is not None:
        mfs, mfs_basis = wl.mem_fraction_static, f"mem_fraction_static = {wl.mem_fraction_static} (given)"
    else:
        mfs, mfs_basis = default_mem_fraction_static(dev, tp, pp, wl.sglang_version)
    mfs, mfs_basis = _aiter_fraction(dev, wl.context + wl.new_tokens, mfs, mfs_basis)
    weights, in_load = _first_kernel(weights, dev, wl.sglang_version, tp * pp, spec.is_moe)
    init_used = round(init_used_gib(dev, tp * pp, in_load) * GIB)
    free_init = total - init_used
    free_after = free_init - weights.bytes - round(float(data["load_extra_gib"]) * GIB)
    rest = free_after - free_init * (1 - mfs)
    # --kv-cache-dtype auto is the model dtype ("if self.server_args.kv_cache_dtype == 'auto': self.kv_cache_dtype =
    # self.dtype", ModelRunner.init_memory_pool in python/sglang/srt/model_executor/model_runner.py; later releases
    # take the checkpoint's FP8 kv_cache_quant_algo first, else model_dtype): a float16 model keeps a float16 cache
    layers = [replace(c, window=None) for c in stage_caches(spec, wl.kv_dtype or auto_kv_dtype(fmt), tp, pp)]
    cell = sum(c.per_token for c in layers)
    if cell == 0:
        raise ConfigError(f"{spec.name} keeps no per-token KV cache; memfit's SGLang profile models token pools only")
    tokens = int(rest // cell)
    if tokens <= 0:
        raise ConfigError(f"SGLang would have no KV cache: weights {fmt_bytes(weights.bytes)} exceed "
                          f"{mfs:g} of the {fmt_bytes(free_init)} free on {dev.name}; raise --mem-fraction-static, "
                          "quantize the weights or add GPUs (--gpus N --tp N)")
    pool = tokens * cell
    max_len = wl.context + wl.new_tokens
    reserve = max(0, free_init - weights.bytes - pool - round(free_init * (1 - mfs)))
    comps = (
        weights,
        Component("kv_cache", pool, f"max_total_num_tokens {tokens:,} × {cell:,} B per token (all layers"
                  f"{', one TP rank' if tp > 1 else ''}) = {fmt_bytes(pool)}"),
        Component("activations", round(free_init * (1 - mfs)), f"left to activations and CUDA graphs: (1 - {mfs:g}) × "
                  f"{fmt_bytes(free_init)} free at start"),
        Component("overhead", init_used + reserve, f"CUDA context and kernels{' and NCCL' if tp * pp > 1 else ''} "
                  f"before the weights load ≈ {fmt_bytes(init_used)}"),
    )
    details = {
        "runtime": "sglang", "device": dev.id, "device_name": dev.name, "device_assumed": assumed,
        "device_total_bytes": total, "device_bytes": total, "mem_fraction_static": mfs,
        "free_at_start_bytes": free_init, "kv_pool_bytes": pool, "kv_cache_tokens": tokens,
        "max_total_num_tokens": tokens, "cell_size_bytes": cell, "max_model_len": max_len,
        "max_concurrency": round(tokens / max_len, 2), "max_concurrent_sequences": tokens // max_len,
        "mem_fraction_basis": mfs_basis, "source": data["source"],
    }
    if tp * pp > 1:
        details["per_gpu"] = sum(c.bytes for c in comps if c.on_device)
        details["tp"], details["pp"] = tp, pp
    notes = (f"SGLang keeps {mfs:g} of the {fmt_bytes(free_init)} free on {dev.name}"
             f"{' (assumed: pass --gpu NAME)' if assumed else ''} for weights and KV: max_total_num_tokens = "
             f"{tokens:,}; {tokens / max_len:.2f} requests of {max_len:,} tokens at once", mfs_basis,
             _load_note(dev, wl.sglang_version, in_load), *wddm_notes(dev, total))
    return Estimate(spec.name, "inference", fmt, count_parameters(spec), comps, allocated_bytes=None, notes=notes,
                    details=details)

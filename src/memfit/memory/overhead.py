"""Overheads of a CUDA process beside the model: CUDA context, cuBLAS workspace, allocator reserve.

* ``cuda_context``: device memory the process holds outside PyTorch's pool (driver context, the kernel modules
  loaded so far, cuBLAS handles), per GPU architecture and workload (inference or training: lazy module loading
  makes it grow with the kernels a run uses). ``nvidia-smi`` shows it; ``torch.cuda.max_memory_allocated()``
  does not. :func:`cuda_context_bytes` is the figure, :func:`cuda_context_component` the component every
  runtime reports (an H100's, the measured one); :func:`context_on_device` is the one place that gives an
  estimate the context of the GPU it is for (``estimate(..., device=)`` and ``fit`` call it, for every runtime
  and for training).
* ``cublas_workspace``: 32 MiB on Hopper, allocated through the caching allocator by the first
  matmul, so it *is* part of the allocated peak.
* ``allocator_reserve``: what the caching allocator holds beyond the allocated peak (cached blocks no request
  could reuse, segment rounding), from the allocator emulation of the run (``allocator_trace.py``).

Numbers live in ``data/runtime_overheads.toml`` with their sources.
"""

from __future__ import annotations

import importlib.resources
import tomllib
from dataclasses import replace
from functools import cache
from typing import Any

from ..hardware import Device
from ..result import Component, Estimate
from ..units import fmt_bytes

__all__ = ["allocator_reserve_component", "context_on_device", "cublas_workspace_bytes", "cuda_context_bytes",
           "cuda_context_component", "overhead_data"]


@cache
def overhead_data() -> dict[str, Any]:
    """The table in ``data/runtime_overheads.toml``."""
    text = importlib.resources.files("memfit").joinpath("data", "runtime_overheads.toml").read_text("utf-8")
    return tomllib.loads(text)


def cublas_workspace_bytes() -> int:
    """The cuBLAS workspace PyTorch allocates on a Hopper GPU (32 MiB)."""
    return int(overhead_data()["cuda"]["cublas_workspace_bytes"])


def _context_row(arch: str | None, device_id: str | None = None) -> dict[str, Any]:
    rows = overhead_data()["cuda_context"]
    for row in rows:
        if row["arch"] == (arch or "hopper") and device_id not in row.get("except_devices", ()):
            return dict(row)
    return dict(next(r for r in rows if r["arch"] == "*"))


def cuda_context_bytes(arch: str | None = None, training: bool = False,
                       device_id: str | None = None) -> tuple[int, str]:
    """The CUDA context of a PyTorch process on a GPU of architecture ``arch`` (``gpus.toml``; None: Hopper, the
    measured one; ``device_id``: a GPU its generation's row leaves out) running inference or training; returns the
    bytes and where they come from: a measurement, or the rule its data row states (a published bare context +
    the H100-measured kernels, or the H100's figure)."""
    row = _context_row(arch, device_id)
    n = int(row["training_bytes" if training else "inference_bytes"])
    what = "training" if training else "inference"
    a = f"a {what}" if training else f"an {what}"
    on = arch or "hopper"
    if row["measured"]:
        return n, f"CUDA context + library handles of {a} process measured on the H100 ({on}) = {fmt_bytes(n)}"
    if "bare_bytes" in row:
        bare = fmt_bytes(int(row["bare_bytes"]))
        return n, (f"CUDA context of {a} process on {on}: published bare context {bare} + the {what} kernels and "
                   f"handles measured on the H100 = {fmt_bytes(n)} (no measurement of a workload on this generation; "
                   "data/runtime_overheads.toml)")
    if device_id is not None and arch is not None and _context_row(arch)["arch"] == arch:
        on = f"{device_id} ({arch}, left out of its generation's row)"
    return n, (f"CUDA context of {a} process: no published figure for {on}, the H100's figure = {fmt_bytes(n)} "
               "(data/runtime_overheads.toml)")


def cuda_context_component(arch: str | None = None, training: bool = False,
                           device_id: str | None = None) -> Component:
    """The CUDA context and library handles: outside PyTorch's pool, visible in nvidia-smi. Called without
    arguments (as before) it is an inference process on the measured H100."""
    n, text = cuda_context_bytes(arch, training, device_id)
    return Component("cuda_context", n, text)


def allocator_reserve_component(reserve: int, how: str) -> Component:
    """What PyTorch's caching allocator reserves beyond the allocated peak, and how it was found."""
    return Component("allocator_reserve", max(0, reserve), f"{how} = {fmt_bytes(max(0, reserve))}")


def context_on_device(est: Estimate, device: Device | None) -> Estimate:
    """``est`` with the CUDA context of ``device``'s generation (``data/runtime_overheads.toml``) in place of the
    one its runtime reported; the per-GPU details (``details["per_gpu"]``: each GPU holds one context) follow.
    Without a device, or for an estimate with no context (weights only), ``est`` is returned as it is."""
    old = est.component("cuda_context")
    if device is None or not old:
        return est
    comp = cuda_context_component(device.arch, est.mode != "inference", device.id)
    comps = tuple(comp if c.name == "cuda_context" else c for c in est.components)
    details = dict(est.details)
    if "per_gpu" in details:
        details["per_gpu"] = _shift(details["per_gpu"], comp.bytes, comp.bytes - old)
    return replace(est, components=comps, details=details)


def _shift(entry: Any, context: int, delta: int, name: str = "cuda_context") -> Any:
    """One GPU's entry of ``details["per_gpu"]`` (a number, a dict with totals and/or components, or a list or a
    dict of such entries) with its context changed by ``delta`` bytes (to ``context``); ``name``: another
    component outside the pool (``nccl``), set in the entry's components where it has them."""
    if isinstance(entry, bool):
        return entry
    if isinstance(entry, (int, float)):
        return entry + delta
    if isinstance(entry, (list, tuple)):
        return [_shift(e, context, delta, name) for e in entry]
    if not isinstance(entry, dict):
        return entry
    totals = ("device_bytes", "total_bytes", "bytes", "total")
    if any(k in entry for k in (*totals, "components")):
        out: dict[str, Any] = {k: (v + delta if k in totals and isinstance(v, (int, float))
                                   and not isinstance(v, bool) else v) for k, v in entry.items()}
        parts = out.get("components")
        if isinstance(parts, dict) and (name in parts or name != "cuda_context"):
            out["components"] = {**parts, name: context}
        return out
    return {k: _shift(v, context, delta, name) for k, v in entry.items()}

"""Overheads of a CUDA process beside the model: CUDA context, cuBLAS workspace, allocator reserve.

* ``cuda_context``: device memory the process holds outside PyTorch's pool (driver context, the kernel modules
  loaded so far, cuBLAS handles), per GPU architecture and workload (inference or training: lazy module loading
  makes it grow with the kernels a run uses). ``nvidia-smi`` shows it; ``torch.cuda.max_memory_allocated()``
  does not. :func:`cuda_context_bytes` is the figure, :func:`cuda_context_component` the component every
  runtime reports.
* ``cublas_workspace``: 32 MiB on Hopper, allocated through the caching allocator by the first
  matmul, so it *is* part of the allocated peak.
* ``allocator_reserve``: what the caching allocator holds beyond the allocated peak (cached blocks no request
  could reuse, segment rounding), from the allocator emulation of the run (``allocator_trace.py``).

Numbers live in ``data/runtime_overheads.toml`` with their sources.
"""

from __future__ import annotations

import importlib.resources
import tomllib
from functools import cache
from typing import Any

from ..result import Component
from ..units import fmt_bytes

__all__ = ["allocator_reserve_component", "cublas_workspace_bytes", "cuda_context_bytes", "cuda_context_component",
           "overhead_data"]


@cache
def overhead_data() -> dict[str, Any]:
    """The table in ``data/runtime_overheads.toml``."""
    text = importlib.resources.files("memfit").joinpath("data", "runtime_overheads.toml").read_text("utf-8")
    return tomllib.loads(text)


def cublas_workspace_bytes() -> int:
    """The cuBLAS workspace PyTorch allocates on a Hopper GPU (32 MiB)."""
    return int(overhead_data()["cuda"]["cublas_workspace_bytes"])


def _context_row(arch: str | None) -> dict[str, Any]:
    rows = overhead_data()["cuda_context"]
    for row in rows:
        if row["arch"] == (arch or "hopper"):
            return dict(row)
    return dict(next(r for r in rows if r["arch"] == "*"))


def cuda_context_bytes(arch: str | None = None, training: bool = False) -> tuple[int, str]:
    """The CUDA context of a PyTorch process on a GPU of architecture ``arch`` (``gpus.toml``; None: Hopper, the
    measured one) running inference or training; returns the bytes and where they come from: a measurement, or
    the rule its data row states (a published bare context + the H100-measured kernels, or the H100's figure)."""
    row = _context_row(arch)
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
    return n, (f"CUDA context of {a} process: no published figure for {on}, the H100's figure = {fmt_bytes(n)} "
               "(data/runtime_overheads.toml)")


def cuda_context_component(arch: str | None = None, training: bool = False) -> Component:
    """The CUDA context and library handles: outside PyTorch's pool, visible in nvidia-smi. Called without
    arguments (as before) it is an inference process on the measured H100."""
    n, text = cuda_context_bytes(arch, training)
    return Component("cuda_context", n, text)


def allocator_reserve_component(reserve: int, how: str) -> Component:
    """What PyTorch's caching allocator reserves beyond the allocated peak, and how it was found."""
    return Component("allocator_reserve", max(0, reserve), f"{how} = {fmt_bytes(max(0, reserve))}")

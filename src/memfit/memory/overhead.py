"""Overheads of a CUDA process beside the model: CUDA context, cuBLAS workspace, allocator reserve.

* ``cuda_context``: device memory the process holds outside PyTorch's pool (driver context,
  kernels, cuBLAS handles): about 0.72 GB measured on an H100. ``nvidia-smi`` shows it;
  ``torch.cuda.max_memory_allocated()`` does not.
* ``cublas_workspace``: 32 MiB on Hopper, allocated through the caching allocator by the first
  matmul, so it *is* part of the allocated peak.
* ``allocator_reserve``: what the caching allocator holds beyond the allocated peak (freed blocks
  kept for reuse, 2 MiB rounding). A heuristic fraction of the transient memory (see the data file).

Numbers live in ``data/runtime_overheads.toml`` with their sources.
"""

from __future__ import annotations

import importlib.resources
import tomllib
from functools import cache
from typing import Any

from ..result import Component
from ..units import fmt_bytes

__all__ = ["allocator_reserve_component", "cublas_workspace_bytes", "cuda_context_component", "overhead_data"]


@cache
def overhead_data() -> dict[str, Any]:
    """The table in ``data/runtime_overheads.toml``."""
    text = importlib.resources.files("memfit").joinpath("data", "runtime_overheads.toml").read_text("utf-8")
    return tomllib.loads(text)


def cublas_workspace_bytes() -> int:
    """The cuBLAS workspace PyTorch allocates on a Hopper GPU (32 MiB)."""
    return int(overhead_data()["cuda"]["cublas_workspace_bytes"])


def cuda_context_component() -> Component:
    """The CUDA context and library handles: outside PyTorch's pool, visible in nvidia-smi."""
    n = int(overhead_data()["cuda"]["context_bytes"])
    return Component("cuda_context", n, f"CUDA context + cuBLAS handles measured on an H100 = {fmt_bytes(n)}")


def allocator_reserve_component(transient_bytes: int) -> Component:
    """What PyTorch's caching allocator reserves beyond the allocated peak (heuristic)."""
    frac = float(overhead_data()["allocator"]["reserve_fraction_of_transient"])
    n = round(max(0, transient_bytes) * frac)
    return Component("allocator_reserve", n,
                     f"{frac:g} × {transient_bytes:,} bytes above the weights (cached blocks, 2 MiB rounding) "
                     f"= {fmt_bytes(n)}")

"""Mamba-2 mixers under transformers' torch path: the chunked SSD scan's tensors, for inference and training.

transformers 5.25 runs a Mamba-2 mixer (``mamba2``, ``bamba``, ``granitemoehybrid``, ``nemotron_h``, ``falcon_h1``)
through the ``mamba_ssm`` / ``causal_conv1d`` CUDA kernels only when those packages (or Hub kernels) are installed;
on a plain install it falls back to the PyTorch reference (``causal_conv1d_fn``, ``mamba2_chunk_scan``), which is
what memfit models. With ``b`` sequences of ``s`` tokens padded to ``S = ceil(s / Q)·Q`` (``Q`` = ``chunk_size``,
``c = S / Q`` chunks), ``H`` heads of ``P``, state ``N``, ``d = H·P``, the scan materialises, all in fp32:

* three ``b·H·S·Q`` tensors (chunk² per head per chunk): ``L = exp(segsum(A))``, ``G = C·Bᵀ`` and ``M = G·L``;
* ``b·S·H·N`` tensors: B and C repeated from their groups to every head and chunked (and in training the
  einsums' operand copies and ``B·decay``);
* ``b·S·d`` tensors: x·dt, its chunked copy, the D skip, the diagonal and off-diagonal outputs, their sum;
* the chunk states ``b·(c + 1)·H·P·N``.

Counted op by op on the reference code with a fake-tensor allocation trace (tools/simulate_memory.py's tracker):
the inference peak is at ``output = (Y_diag + Y_off).contiguous()``, where 3 chunk² tensors, 3 B/C-sized, 7
d-sized (fp32) tensors, the chunk states, in_proj's output and the conv output (model dtype) are alive; autograd
keeps 3 chunk² tensors, 5 B/C-sized, 10 d-sized (5 in the scan, 5 in the fp32 gated RMSNorm), two sets of chunk
states, in_proj's output (the conv's input is a view of it), the conv's padded output, and out_proj's input.

The CUDA kernels (``mamba_chunk_scan_combined``, and in training ``mamba_split_conv1d_scan_combined``) never
materialise the chunk² tensors nor the fp32 copies: they keep per-chunk states and recompute in the backward, so
a kernel install needs far less than this (not modelled: memfit prices the path a plain install runs).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..spec import SSMSpec

__all__ = ["ScanSizes", "mamba2_prefill_bytes", "mamba2_saved_bytes", "mamba_prefill_bytes", "scan_sizes"]

FP32 = 4


@dataclass(frozen=True)
class ScanSizes:
    """Bytes of the scan's tensor kinds for ``b`` sequences of ``s`` tokens (fp32 unless said)."""

    chunk2: int  # b·H·S·Q: L, G, M
    bc: int  # b·S·H·N: B or C repeated to every head
    d: int  # b·S·d: x·dt and the scan's outputs
    states: int  # b·c·H·P·N: the states at the chunk boundaries
    state1: int  # b·H·P·N: one more chunk's states (the initial/final state)
    conv_tokens: int  # b·s·conv_dim elements: the conv's channels (x, B, C)
    proj_tokens: int  # b·s·(d + conv_dim + H) elements: in_proj's output
    heads: int  # b·S·H: dt and the per-head decays


def scan_sizes(ssm: SSMSpec, b: int, s: int) -> ScanSizes:
    q = max(1, ssm.chunk_size)
    c = math.ceil(s / q)
    big_s = c * q
    d = ssm.num_heads * ssm.head_dim
    conv = ssm.d_inner + 2 * ssm.n_groups * ssm.d_state
    one = b * ssm.num_heads * ssm.head_dim * ssm.d_state * FP32
    return ScanSizes(chunk2=b * ssm.num_heads * big_s * q * FP32, bc=b * big_s * ssm.num_heads * ssm.d_state * FP32,
                     d=b * big_s * d * FP32, states=c * one, state1=one, conv_tokens=b * s * conv,
                     proj_tokens=b * s * (ssm.d_inner + conv + ssm.num_heads), heads=b * big_s * ssm.num_heads)


def mamba2_prefill_bytes(ssm: SSMSpec, b: int, s: int, dt: int) -> tuple[int, str]:
    """Bytes alive at the peak of one Mamba-2 mixer's prefill on the torch path (beyond the residual stream)."""
    z = scan_sizes(ssm, b, s)
    total = (3 * z.chunk2 + 3 * z.bc + 7 * z.d + z.states + z.state1 + (z.proj_tokens + z.conv_tokens) * dt
             + 6 * z.heads * FP32)
    text = (f"Mamba-2 chunked scan (torch path, chunk {ssm.chunk_size}): 3 × {z.chunk2:,} B chunk² (L, G, M) "
            f"+ 3 × {z.bc:,} B (B, C per head) + 7 × {z.d:,} B (x·dt, outputs) "
            f"+ chunk states {z.states + z.state1:,} B + in_proj/conv outputs "
            f"{(z.proj_tokens + z.conv_tokens) * dt:,} B")
    return total, text


def mamba2_saved_bytes(ssm: SSMSpec, b: int, s: int, proj_bytes: int) -> tuple[int, int]:
    """(saved, backward transient) bytes of one Mamba-2 mixer in training, beyond its in_proj/out_proj inputs.

    ``proj_bytes``: the dtype of the projections' outputs (bf16 under autocast). The backward of ``M = G·L`` and
    its einsum hold the gradients of M, G and L (chunk² each) while their saved inputs are still alive, beside
    the d-sized gradient of the scan output."""
    z = scan_sizes(ssm, b, s)
    norm = 5 if ssm.gated_norm else 3  # the fp32 gated RMSNorm's kept tensors (or gate · silu alone)
    saved = (3 * z.chunk2 + 5 * z.bc + (5 + norm) * z.d + 2 * z.states + z.state1
             + (z.proj_tokens + z.conv_tokens) * proj_bytes + 12 * z.heads)
    backward = 2 * z.chunk2 + 2 * z.d
    return saved, backward


def mamba_prefill_bytes(hidden: int, ssm: SSMSpec, tokens: int, dt: int) -> tuple[int, str]:
    """Bytes alive at the end of a Mamba(-1) layer's prefill scan on transformers' torch path
    (``mamba_selective_scan``; the mamba-ssm CUDA kernels are not assumed installed).

    The discretised ``exp(A·dt)``, ``dt·B`` and ``dt·B·u``, each (b, d_inner, s, d_state) fp32; per (b, d_inner, s)
    element: in_proj's output (x and gate, 2 × dtype), the conv output and its activation (2 × dtype), dt + bias
    and the D skip in fp32 (2 × 4), softplus(dt), the per-step outputs and their stack (3 × dtype); beside the
    embeddings, the fp32 residual (``residual_in_fp32``) and the normed input.
    """
    x = tokens * ssm.d_inner
    scan = 3 * x * ssm.d_state * FP32
    per_x = 7 * dt + 2 * FP32
    stream = tokens * hidden * (2 * dt + FP32)
    return scan + x * per_x + stream, (f"Mamba scan: 3 × {tokens:,} tokens × {ssm.d_inner} × {ssm.d_state} × 4 B "
                                       f"(exp(A·dt), dt·B, dt·B·u) + {tokens:,} × {ssm.d_inner} × {per_x} B "
                                       f"+ stream {stream:,}")

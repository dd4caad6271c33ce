"""LLM.int8 (bitsandbytes ``Linear8bitLt``, ``has_fp16_weights=False``, threshold 6.0) as the caching allocator
sees it: the tensors one linear call makes and drops, in order, for the inference replay
(``transformers_pool.py``).

From bitsandbytes 0.50 (the measured 0.50.2; ``bitsandbytes/autograd/_functions.py`` ``MatMul8bitLt.forward``,
``backends/cuda/ops.py`` ``int8_vectorwise_quant`` / ``int8_linear_matmul`` / ``int8_mm_dequant``,
``backends/default/ops.py`` ``int8_mixed_scaled_mm`` / ``int8_scaled_mm``, ``_ops.py`` ``int8_vectorwise_dequant``),
for an input ``A`` of ``t`` rows × ``n_in`` features in the model dtype and ``k`` outlier columns:

1. ``A.to(torch.float16)``: an fp16 copy (none when the model is fp16), the argument of ``int8_vectorwise_quant``
   and freed when it returns;
2. ``int8_vectorwise_quant``: ``row_stats`` (fp32, one per row) and ``out_row`` (int8, ``t × n_in``) first; with a
   threshold, ``A.abs()`` (fp16) then ``>= threshold`` (bool), the absolute values freed at once, the mask when the
   function returns (``any``, ``argwhere`` and the outlier column indices are under 1 MiB: the small pool);
3. ``int8_mixed_scaled_mm`` with outliers: ``subA = A[:, cols]`` (model dtype, ``t × k``), ``CB[:, cols]`` (int8,
   ``n_out × k``), ``int8_vectorwise_dequant``'s ``A * stats`` and ``· 1/127`` (two fp32 ``n_out × k``, the first
   freed by the second), the int8 columns freed when it returns, ``.to(A.dtype)`` (``subB``), then the fp32 freed;
4. ``int8_scaled_mm``: the int32 product (``t × n_out``), ``int8_mm_dequant``'s fp16 result and its ``.to(dtype)``
   (the fp16 freed on return; no copy for an fp16 model), the int32 freed;
5. with outliers, ``output.addmm(subA, subB)``: a new output, the old one freed, ``subB`` freed on return;
   ``subA``, the int8 codes and the row scales go when ``forward`` returns.

With no outlier column (``k = 0``) step 3 makes only an empty ``subA`` and step 5 nothing.
"""

from __future__ import annotations

from collections.abc import Callable

from ...spec import ModelSpec
from ...workload import Workload
from ..allocator_trace import CUBLAS_WORKSPACE, Trace, parameter_blocks
from .transformers import _model_dtype

__all__ = ["int8_build", "int8_gated_mlp", "int8_linear", "int8_projection"]

FP16 = 2
FP32 = 4


def int8_linear(tr: Trace, t: int, n_in: int, n_out: int, dt: int, k: int = 0, fp16_model: bool = False) -> int:
    """One ``Linear8bitLt`` call on ``t`` rows (the input, ``dt`` bytes per value, stays the caller's); returns
    the output's key (``t × n_out`` in the model dtype)."""
    a16 = 0 if fp16_model else tr.alloc(t * n_in * FP16)
    stats = tr.alloc(t * FP32)
    codes = tr.alloc(t * n_in)
    absolute = tr.alloc(t * n_in * FP16)
    mask = tr.alloc(t * n_in)
    tr.free(absolute)
    tr.free(mask)
    tr.free(a16)
    sub_a = sub_b = 0
    if k:
        sub_a = tr.alloc(t * k * dt)
        columns = tr.alloc(n_out * k)
        scaled = tr.alloc(n_out * k * FP32)
        dequantised = tr.alloc(n_out * k * FP32)
        tr.free(scaled)
        tr.free(columns)
        sub_b = tr.alloc(n_out * k * dt)
        tr.free(dequantised)
    product = tr.alloc(t * n_out * FP32)
    half = tr.alloc(t * n_out * FP16)
    out = half
    if not fp16_model:
        out = tr.alloc(t * n_out * dt)
        tr.free(half)
    tr.free(product)
    if k:
        added = tr.alloc(t * n_out * dt)
        tr.free(out)
        out = added
        tr.free(sub_b)
    tr.free(sub_a, codes, stats)
    return out



def int8_gated_mlp(tr: Trace, t: int, h: int, inner: int, dt: int, k: int, fp16_model: bool = False) -> int:
    """``down(act(gate(x)) * up(x))`` with the three projections ``Linear8bitLt``: gate, its activation (gate
    freed), up, the product (act and up freed), then the down projection on the product with ``k`` outlier
    columns; returns the output's key."""
    gate = int8_linear(tr, t, h, inner, dt, 0, fp16_model)
    act = tr.alloc(t * inner * dt)
    tr.free(gate)
    up = int8_linear(tr, t, h, inner, dt, 0, fp16_model)
    prod = tr.alloc(t * inner * dt)
    tr.free(act, up)
    out = int8_linear(tr, t, inner, h, dt, k, fp16_model)
    tr.free(prod)
    return out



def int8_build(tr: Trace, spec: ModelSpec, dt: int, on_device: bool) -> None:
    """The cuBLAS workspace and the parameters of an LLM.int8 model. Every decoder linear goes through
    ``Int8Params._quantize`` (bnb 0.50, ``nn/modules.py``): its fp16 copy on the device, the int8 codes made beside
    it (``int8_vectorwise_quant``; the fp32 row scales are under 1 MiB), the copy freed. The other parameters
    (embeddings, norms, the output head) stay in the model dtype.

    ``on_device``: a model made in 16-bit on the device and quantized in place (a randomly initialised model has no
    checkpoint to load; ``groundtruth/measure.py``'s ``quantize_linears``): every parameter is allocated in the
    model dtype first, the linears are quantized in module order while the 16-bit originals are still alive (the
    module list holds them until the walk ends), then the originals go and ``empty_cache()`` returns their
    segments. Codes that landed in the free tail of an original's segment (two 8 MiB K/V projections share a
    20 MiB segment) keep that segment and the originals' freed space in it cached. Otherwise (a checkpoint loaded
    with ``load_in_8bit``: transformers 5 ``integrations/bitsandbytes.py`` ``Bnb8bitQuantize.convert``, which
    quantizes each loaded 16-bit weight with ``Int8Params(value.to("cpu")).to(value.device)``) linear by linear: the
    loaded weight, its fp16 copy, the codes, then the copy and the loaded weight go."""
    tr.alloc(CUBLAS_WORKSPACE)
    blocks = parameter_blocks(spec)
    linear = [b.layer is not None and b.matrix for b in blocks]
    keys = [tr.alloc(b.numel * dt) if on_device or not q else 0 for b, q in zip(blocks, linear, strict=True)]
    for b, q in zip(blocks, linear, strict=True):
        if q:
            loaded = 0 if on_device else tr.alloc(b.numel * dt)
            copy = tr.alloc(b.numel * FP16)
            tr.alloc(b.numel)
            tr.free(copy, loaded)
    if on_device:
        tr.free(*(k for k, q in zip(keys, linear, strict=True) if q))
        tr.pool.empty_cache()


def int8_projection(tr: Trace, wl: Workload, spec: ModelSpec, t: int, dt: int) -> Callable[[int, int], int] | None:
    """LLM.int8's projection of the attention (no outlier column: its inputs are normed); None without LLM.int8."""
    if wl.quant != "int8":
        return None
    fp16 = _model_dtype(spec, wl) == "float16"
    return lambda n_in, nbytes: int8_linear(tr, t, n_in, nbytes // (t * dt), dt, 0, fp16)

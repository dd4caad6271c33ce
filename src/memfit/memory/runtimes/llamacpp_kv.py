"""llama.cpp's KV cache (and recurrent state), byte-exact.

How llama.cpp sizes it (``src/llama-context.cpp``, ``src/llama-kv-cache.cpp``,
``src/llama-kv-cache-iswa.cpp``, ``src/llama-memory-recurrent.cpp``; build b10605):

* ``n_ctx = PAD(batch × cells per sequence, 256)``; with separate streams per sequence (the library
  default, ``kv_unified = false``) ``n_ctx_seq = PAD(n_ctx / n_seq, 256)`` cells per stream and one
  stream per sequence; with a unified cache one stream of ``n_ctx`` cells.
* A sliding-window layer (only in the architectures where llama.cpp honours the window) holds
  ``PAD(min(n_ctx_seq, n_swa × (n_seq if unified else 1) + n_ubatch), 256)`` cells per stream, or
  ``n_ctx_seq`` with ``--swa-full``.
* Each layer stores K rows of ``n_kv_heads × head_dim`` and V rows of ``n_kv_heads × v_head_dim``
  in their ggml type (f16 2 bytes; q8_0 34 bytes and q4_0 18 bytes per 32 values); MLA
  (deepseek2) caches one latent row of ``kv_lora_rank + rope`` as K and none as V.
* A Mamba layer keeps, per sequence, ``(d_conv − 1) × d_inner`` conv values and
  ``d_state × d_inner`` SSM values in f32 (no cells, no padding).
"""

from __future__ import annotations

from dataclasses import dataclass

from ...spec import AttentionSpec, ModelSpec
from ...workload import Workload
from ..kv_cache import kv_dtype, linear_state_bytes, ssm_state_bytes
from ..overhead import overhead_data
from .llamacpp_builds import graph_generation

__all__ = ["CacheGeometry", "LayerKV", "cache_geometry", "kv_layers", "swa_families"]

PAD = 256


def _pad(n: int, to: int = PAD) -> int:
    return -(-n // to) * to


def swa_families() -> frozenset[str]:
    """Model families whose sliding window llama.cpp applies to its cache (the others keep all cells)."""
    return frozenset(str(f) for f in overhead_data()["llamacpp"]["swa_families"])


@dataclass(frozen=True)
class CacheGeometry:
    """Cells as llama.cpp allocates them."""

    n_ctx: int  # all streams together (llama.cpp's n_ctx after padding)
    n_ctx_seq: int  # cells of one stream
    n_stream: int  # 1 (unified) or n_seq
    swa_cells: int  # cells of one stream of a sliding-window layer (0: no such layer)


def cache_geometry(spec: ModelSpec, wl: Workload) -> CacheGeometry:
    n_seq = max(1, wl.batch)
    n_ctx = _pad(n_seq * (wl.context + wl.new_tokens))
    # builds before per-sequence streams (--llamacpp-build 2024) keep one stream of n_ctx cells
    unified = wl.kv_unified or not graph_generation(wl.llamacpp_build).kv_streams
    if unified:
        n_ctx_seq, n_stream = n_ctx, 1
    else:
        n_ctx_seq, n_stream = _pad(n_ctx // n_seq), n_seq
        n_ctx = n_ctx_seq * n_seq
    windows = [a.sliding_window for a in _attention(spec) if a.sliding_window is not None]
    swa = 0
    if windows and spec.family in swa_families():
        n_swa = max(windows)
        n_ubatch = min(wl.n_ubatch, wl.n_batch, n_ctx)
        swa = n_ctx_seq if wl.swa_full else _pad(min(n_ctx_seq, n_swa * (n_seq if unified else 1) + n_ubatch))
    return CacheGeometry(n_ctx, n_ctx_seq, n_stream, swa)


def _attention(spec: ModelSpec) -> list[AttentionSpec]:
    return [layer.attention for layer in spec.layers if layer.attention is not None]


@dataclass(frozen=True)
class LayerKV:
    """One layer's cache in bytes (all streams), its cells per stream, and what it holds."""

    layer: int
    bytes: int
    cells: int
    what: str


def kv_layers(spec: ModelSpec, wl: Workload, geo: CacheGeometry) -> list[LayerKV]:
    """Every layer's K+V (or recurrent state) bytes as llama.cpp allocates them."""
    tk = kv_dtype(wl.kv_dtype or "f16")
    tv = tk
    swa = spec.family in swa_families()
    out: list[LayerKV] = []
    for i, layer in enumerate(spec.layers):
        a = layer.attention
        if a is not None and not a.kv_shared:  # gemma3n: the shared tail reads the cache of an earlier layer
            cells = geo.swa_cells if (swa and a.sliding_window is not None and geo.swa_cells) else geo.n_ctx_seq
            if a.kind == "mla":
                assert a.kv_lora_rank is not None
                row = tk.row_bytes(a.kv_lora_rank + (a.qk_rope_head_dim or 0))
                what = f"latent {a.kv_lora_rank}+{a.qk_rope_head_dim or 0}"
            else:
                row = tk.row_bytes(a.num_kv_heads * a.head_dim) + tv.row_bytes(a.num_kv_heads * a.value_dim)
                what = f"{a.num_kv_heads}×{a.head_dim}"
            out.append(LayerKV(i, row * cells * geo.n_stream, cells, what))
        if layer.ssm is not None:
            state = ssm_state_bytes(layer.ssm, layer.mixer, "llamacpp", 4)
            out.append(LayerKV(i, state * max(1, wl.batch), 0, "recurrent state"))
        if layer.linear is not None:  # gated delta-net (qwen3next): r (conv) and s (state) in the recurrent memory
            state = linear_state_bytes(layer.linear, "llamacpp", 4)
            out.append(LayerKV(i, state * max(1, wl.batch), 0, "recurrent state"))
        if layer.conv is not None:  # LFM2 short convolution: (kernel − 1) × hidden f32 in the recurrent memory
            state = (layer.conv.kernel - 1) * spec.hidden_size * 4
            out.append(LayerKV(i, state * max(1, wl.batch), 0, "recurrent state"))
    return out

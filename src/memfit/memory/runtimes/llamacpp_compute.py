"""llama.cpp's compute buffer: the peak of the graph it reserves before the first decode.

``llama_context::sched_reserve`` (src/llama-context.cpp, build b10605) builds the graph of one
micro-batch of ``T = min(n_ctx, n_ubatch)`` tokens of ``n_seq`` sequences, every token an output
(``n_outputs = min(T, n_batch)``), over the whole cache (``n_kv`` = cells of a stream), and
ggml-alloc places its f32 intermediates in one buffer, reusing a tensor's bytes once its last
consumer has run (and in place for norms, scales, rope, softmax and unary ops). The buffer is the
largest set of tensors alive at one node:

* **output**: the last hidden states ``T × n_embd`` and the logits ``T × n_vocab`` (f32);
* **attention** without flash attention: per stream the scores ``n_kv × T/n_stream × heads``, f32,
  beside the f32 mask ``n_kv × T`` and the query or the attention output; with flash attention only
  the f16 mask and the ``T × heads × head_dim`` query and output;
* **feed-forward**: gate, up and their product, ``3 × T × n_ff`` (MoE: ``× top_k`` per token with
  ``n_ff_exp``), beside the residual stream;

plus the residual stream ``T × n_embd`` that lives across each layer.
"""

from __future__ import annotations

from dataclasses import dataclass

from ...spec import ModelSpec
from ...workload import Workload
from ..kv_cache import kv_dtype
from .llamacpp_graph import graph_shape, reserved_bytes
from .llamacpp_kv import CacheGeometry, swa_families

__all__ = ["ComputePhases", "compute_phases"]

F32 = 4
F16 = 2
I32 = 4
I64 = 8


@dataclass(frozen=True)
class ComputePhases:
    """Bytes alive at the peak of each part of the graph; the buffer is the largest."""

    tokens: int
    output: int
    attention: int
    ffn: int
    reserved: int | None = None  # ggml-alloc replayed over the architecture's graph (llamacpp_graph.py)

    @property
    def peak(self) -> int:
        if self.reserved is not None:
            return self.reserved
        return max(self.output, self.attention, self.ffn)

    @property
    def where(self) -> str:
        if self.reserved is not None:
            return "ggml-alloc's peak over the reserved graph"
        return max((self.output, "output logits"), (self.attention, "attention"), (self.ffn, "feed-forward"))[1]


def _ffn_live(spec: ModelSpec, t: int, h: int) -> int:
    """The widest feed-forward's live f32 bytes: gated gate, up and their product ``3 × T × n_ff``
    (``T × n_ff`` plain, the activation in place); MoE ``3 × T × top_k × n_ff_exp`` beside the experts'
    outputs ``T × top_k × n_embd`` and one more hidden-sized sum; Mamba ``2 × T × d_inner``."""
    widest = 0
    for layer in spec.layers:
        live = 0
        if layer.mlp:
            live = (1 if layer.mlp.kind == "plain" else 3) * t * layer.mlp.intermediate_size * F32
        if layer.moe:
            k = layer.moe.top_k
            live = max(live, (3 * t * k * layer.moe.expert_intermediate_size + t * k * h + t * h) * F32)
        if layer.ssm:
            live = max(live, 2 * t * layer.ssm.d_inner * F32)
        widest = max(widest, live)
    return widest


def _mask_bytes(spec: ModelSpec, wl: Workload, geo: CacheGeometry, t: int) -> int:
    """The attention masks (graph inputs alive through every layer): ``n_kv × T`` per cache, f16 with flash
    attention, else f32; a model with sliding-window layers has a second mask over the window's cells."""
    elem = F16 if wl.flash_attn else F32
    attn = [layer.attention for layer in spec.layers if layer.attention is not None]
    if not attn:
        return 0
    swa = spec.family in swa_families() and geo.swa_cells and any(a.sliding_window is not None for a in attn)
    full = any(a.sliding_window is None for a in attn) or not swa
    return ((geo.n_ctx_seq * t if full else 0) + (geo.swa_cells * t if swa else 0)) * elem


def compute_phases(spec: ModelSpec, wl: Workload, geo: CacheGeometry, alignment: int = 32,
                   n_outputs_max: int | None = None) -> ComputePhases:
    """The compute buffer: ggml-alloc replayed over the reserved graph where the architecture's graph is
    described (llamacpp_graph.py), else the live bytes at the output, attention and feed-forward peaks."""
    t = min(wl.n_ubatch, wl.n_batch, geo.n_ctx)
    h, v = spec.hidden_size, spec.vocab_size
    stream = t * h * F32
    quantized_kv = kv_dtype(wl.kv_dtype or "f16").block > 1
    # the logits and the last hidden states, beside the residual the last layer gathered by output ids;
    # a quantized cache rotates q and the attention output (Hadamard), one more hidden-sized tensor
    # (measured: a recurrent model holds the third too); and the i32 output ids (an input alive to the end)
    recurrent = any(layer.ssm is not None for layer in spec.layers)
    output = t * v * F32 + (3 if quantized_kv or recurrent else 2) * stream + t * I32
    mask = _mask_bytes(spec, wl, geo, t)
    inputs = t * (2 * I64 + I32)  # the i64 cache-row indices of K and V and the i32 output ids
    attention = 0
    swa = spec.family in swa_families()
    if not wl.flash_attn:
        for layer in spec.layers:
            a = layer.attention
            if a is None:
                continue
            n_kv = geo.swa_cells if (swa and a.sliding_window is not None and geo.swa_cells) else geo.n_ctx_seq
            scores = n_kv * t * a.num_heads * F32  # per stream: n_kv × T/n_stream × heads, n_stream times
            q = t * a.num_heads * a.head_dim * F32
            kv_rows = t * a.num_kv_heads * (a.head_dim + a.value_dim) * F32
            attention = max(attention, scores + mask + 3 * stream + 2 * q + kv_rows + inputs)
    # a layer's feed-forward beside the masks, the residual and three more hidden-sized tensors
    ffn = mask + _ffn_live(spec, t, h) + 4 * stream + inputs
    shape = graph_shape(wl, geo, n_outputs_max=n_outputs_max)
    return ComputePhases(t, output, attention, ffn, reserved_bytes(spec, shape, alignment))

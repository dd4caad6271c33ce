"""DeepSeek-V4's hyper-connections (and its q norm) in a training step as the caching allocator sees them (called from
``layer_stream.layer_forward`` around each block; their backward ops run through ``layer_grads``).

transformers 5.25's ``DeepseekV4HyperConnection`` and ``DeepseekV4DecoderLayer``, checked against the simulator's
allocation trace of ``deepseek-v4-flash-e16-l4/train-bf16-adamw-fused-b1-s2048`` (development): the residual is
``n`` streams of the hidden size (``n × h`` per token, model dtype).

* Before each block: the streams flattened and made fp32 (kept), their square (a transient), the unweighted
  RMSNorm's output (kept: the mixing projection's input), ``pre × streams`` in fp32 (a transient), its sum over
  the streams (fp32) cast to the model dtype: the block's input.
* After each block: ``post × output`` and ``combᵀ @ streams`` (both transients), their sum: the new streams; the
  block's output and the old streams are kept by those two products.
* Backward of the latter: the streams' gradient through ``comb`` (kept until the block's own hyper-connection
  adds into it), the two products' gradients (one summed into ``post``'s), the block output's gradient; the
  incoming streams' gradient freed. Of the former: the block input's gradient in fp32, ``× pre`` and ``× streams``
  (fp32, the latter summed), cast to the model dtype and added to the comb gradient; the norm's chain in fp32 (the
  projection's input gradient, × the input (summed) and × rsqrt, the mean-square's ``div``, ``pow``, × 2,
  × gradient), the two parts' sum cast to the model dtype and added in: the gradient of the streams before the
  block.
"""

from __future__ import annotations

from ...spec import ModelSpec
from ..dsv4_attention import hc_stream_bytes
from .layer_ops import LayerRun, StepContext

__all__ = ["dsv4_rope", "hc_norm", "hc_post", "hc_pre", "hc_streams", "o_rope", "q_norm"]

FP32 = 4


def hc_streams(spec: ModelSpec) -> int:
    """The number of residual streams (0 without hyper-connections)."""
    return hc_stream_bytes(spec, 1, 1) // spec.hidden_size


def hc_pre(c: StepContext, run: LayerRun, stream: int, x: int) -> int:
    """The hyper-connection before a block, from the streams ``stream`` (``x``: the layer's input, which the
    step keeps); returns the block's input (tokens × hidden, model dtype)."""
    tr, t, h, pb = c.tr, c.t, c.spec.hidden_size, c.pb
    wide = t * hc_streams(c.spec) * h * FP32
    flat = tr.alloc(wide)
    tr.free(tr.alloc(wide))  # square
    normed = tr.alloc(wide)
    mixed = tr.alloc(wide)  # pre × streams (fp32)
    total = tr.alloc(t * h * FP32)
    tr.free(mixed)
    out = tr.alloc(t * h * pb)
    tr.free(total)
    if not run.keep:
        tr.free(flat, normed)
        return out
    kept = 0 if stream == x else stream  # the streams, freed here once both their readers' backward ran

    def backward(cc: StepContext, grads: list[int]) -> list[int]:
        trr, box = cc.tr, run.streams
        g32 = trr.alloc(t * h * FP32)
        trr.free(*grads)
        a = trr.alloc(wide)
        trr.free(trr.alloc(wide))  # × streams, summed into pre's gradient
        low = trr.alloc(wide // FP32 * pb)
        trr.free(a, g32, kept)
        acc = trr.alloc(wide // FP32 * pb)
        trr.free(box[1], low)
        mm = trr.alloc(wide)  # the mixing projection's input gradient
        trr.free(normed)
        trr.free(trr.alloc(wide))  # × the input, summed
        p1 = trr.alloc(wide)
        trr.free(mm)
        chain = [trr.alloc(wide) for _ in range(3)]
        p2 = trr.alloc(wide)
        trr.free(*reversed(chain), flat)
        both = trr.alloc(wide)
        trr.free(p1, p2)
        cast = trr.alloc(wide // FP32 * pb)
        trr.free(both)
        g = trr.alloc(wide // FP32 * pb)
        trr.free(acc, cast)
        box[:] = [g, 0]
        return []

    run.ops.append((len(run.linears), backward))
    return out


def hc_post(c: StepContext, run: LayerRun, stream: int, out: int, x: int) -> int:
    """The hyper-connection after a block: the new streams from the old ``stream`` and the block's ``out`` (``x``:
    the layer's input, which the step keeps); returns the new streams' key."""
    tr, t, h, pb = c.tr, c.t, c.spec.hidden_size, c.pb
    wide = t * hc_streams(c.spec) * h * pb
    tr.pack()
    a = tr.alloc(wide)  # post × output
    tr.pack()  # the matmul saves comb and the streams: a checkpointed recomputation's last pack (``recompute.py``)
    b = tr.alloc(wide)  # combᵀ @ streams
    new = tr.alloc(wide)
    tr.free(a, b)
    if not run.keep:
        tr.free(out, 0 if stream == x else stream)
        return new

    def backward(cc: StepContext, grads: list[int]) -> list[int]:
        trr, box = cc.tr, run.streams
        gs = trr.alloc(wide)  # through comb
        g1 = trr.alloc(wide)
        trr.free(trr.alloc(wide))  # × output, summed into post's gradient
        g_out = trr.alloc(t * h * pb)
        trr.free(g1, box[0], *grads, out)
        box[:] = [0, gs]
        return [g_out]

    run.ops.append((len(run.linears), backward))
    return new


def q_norm(c: StepContext, run: LayerRun, q: int, n: int) -> int:
    """DeepSeek-V4's ``q_b_norm`` (``DeepseekV4UnweightedRMSNorm``) on q_b_proj's output ``q`` (``n`` features per
    token): its fp32 copy (kept: the square's input), the square (a transient), ``q × rsqrt`` in the model dtype
    (rotary's input, returned); q itself is kept by the product. Backward: × rsqrt and × q (summed), the
    mean-square's fp32 chain, its cast, the two parts' sum and its contiguous copy (q_b_proj's output gradient)."""
    tr, t, pb = c.tr, c.t, c.pb
    q32 = tr.alloc(t * n * FP32)
    tr.free(tr.alloc(t * n * FP32))  # square
    out = tr.alloc(t * n * pb)
    if not run.keep:
        tr.free(q, q32)
        return out

    def backward(cc: StepContext, grads: list[int]) -> list[int]:
        trr = cc.tr
        a = trr.alloc(t * n * pb)  # × q, summed
        p1 = trr.alloc(t * n * pb)
        trr.free(a, q)
        chain = [trr.alloc(t * n * FP32) for _ in range(3)]
        p2 = trr.alloc(t * n * FP32)
        trr.free(*reversed(chain), q32)
        low = trr.alloc(t * n * pb)
        trr.free(p2)
        total = trr.alloc(t * n * pb)
        trr.free(p1, low)
        g = trr.alloc(t * n * pb)  # contiguous
        trr.free(total)
        return [*grads, g]

    run.ops.append((len(run.linears), backward))
    return out


def hc_norm(c: StepContext, run: LayerRun) -> tuple[int, int]:
    """DeepSeek-V4's block norms (``DeepseekV4RMSNorm`` with fp32 weights): the input's fp32 copy (kept), the
    square (a transient), the normed input (kept: the weight product's), ``weight × normed`` in fp32 (a
    transient) cast to the model dtype (returned with its bytes per element)."""
    tr, n, pb = c.tr, c.t * c.spec.hidden_size, c.pb
    run.norms.append(len(run.linears))
    x32 = tr.alloc(n * FP32)
    tr.free(tr.alloc(n * FP32))
    normed = tr.alloc(n * FP32)
    w = tr.alloc(n * FP32)
    out = tr.alloc(n * pb)
    tr.free(w)
    run.hold(tr, x32, normed)
    return out, pb


def o_rope(c: StepContext, run: LayerRun, o: int, n: int, groups: int, rank: int, heads: int, rope: int) -> int:
    """DeepSeek-V4's output path before ``o_b_proj``: the attention output ``o`` (``n`` features per token) with
    its rotary undone (``dsv4_rope`` with ``-sin``, ``rope`` dimensions of each of ``heads``; freed once reshaped), its
    grouped contiguous copy (kept: ``o_a_proj``'s input), the grouped ``o_a_proj`` (``bmm``, ``groups × rank`` per
    token) and its contiguous copy (kept: o_b_proj's input). Returns the key standing for o_b_proj's input."""
    tr, t, pb = c.tr, c.t, c.pb
    cat = dsv4_rope(c, run, heads, rope, n, o)
    grouped = tr.alloc(t * n * pb)
    mm = tr.alloc(t * groups * rank * pb)
    low = tr.alloc(t * groups * rank * pb)
    tr.free(mm, cat)
    run.hold(tr, grouped)
    return low


def dsv4_rope(c: StepContext, run: LayerRun, heads: int, rope: int, n: int, x: int) -> int:
    """transformers 5.25 models/deepseek_v4/modeling_deepseek_v4.py ``apply_rotary_pos_emb`` on ``x`` (``n`` features
    per token over ``heads`` heads, freed once rotated), as the simulator's trace of
    ``deepseek-v4-flash-e16-l4/train-bf16-adamw-fused-ckpt-b1-s2048`` makes it: the trailing ``rope`` channels of
    each head ``rope.float() * cos`` (the copy freed), ``rotate_half``'s ``neg`` and ``stack`` in the model dtype,
    their ``.float() * sin``, the sum, cast back, and ``torch.cat([nope, rotated])``: the returned key. The products
    save only cos and sin. Backward (the gradient of the cat's output, freed once both slices' gradients are made):
    the cast's fp32 gradient, × sin and cast back, ``rotate_half``'s ``neg`` and its two ``slice_backward`` summed,
    × cos cast back, the two paths' sum, ``slice_backward`` of the rotary part and of the pass-through part to the
    whole width, and their sum (returned)."""
    tr, t, pb = c.tr, c.t, c.pb
    r32, r16, whole = t * heads * rope * FP32, t * heads * rope * pb, t * n * pb
    a = tr.alloc(r32)
    b = tr.alloc(r32)  # × cos
    tr.free(a)
    neg = tr.alloc(r16 // 2)
    st = tr.alloc(r16)  # stack
    tr.free(neg)
    e = tr.alloc(r32)
    tr.free(st)
    f = tr.alloc(r32)  # × sin
    tr.free(e)
    g = tr.alloc(r32)
    tr.free(b, f)
    low = tr.alloc(r16)
    tr.free(g)
    out = tr.alloc(whole)
    tr.free(low, x)
    if not run.keep:
        return out

    def backward(cc: StepContext, grads: list[int]) -> list[int]:
        trr = cc.tr
        g32 = trr.alloc(r32)
        ge = trr.alloc(r32)  # × sin
        gs = trr.alloc(r16)
        trr.free(ge)
        n_ = trr.alloc(r16 // 2)
        s1 = trr.alloc(r16)
        trr.free(n_)
        s2 = trr.alloc(r16)
        trr.free(gs)
        rh = trr.alloc(r16)
        trr.free(s1, s2)
        ga = trr.alloc(r32)  # × cos
        trr.free(g32)
        gb = trr.alloc(r16)
        trr.free(ga)
        gr = trr.alloc(r16)
        trr.free(rh, gb)
        f1 = trr.alloc(whole)
        trr.free(gr)
        f2 = trr.alloc(whole)
        trr.free(*grads)
        total = trr.alloc(whole)
        trr.free(f1, f2)
        return [total]

    run.ops.append((len(run.linears), backward))
    return out

"""The token mixers other than attention in a training step, as the caching allocator sees them (replayed by
``layer_stream.layer_forward``; each leaves its own backward op in the layer's run for ``layer_grads``).

LFM2's gated short convolution (transformers' ``Lfm2ShortConv`` without the ``causal_conv1d`` kernel, its reference
``causal_conv1d_fn``), checked against the simulator's allocation trace of ``lfm2-350m-l16`` training: ``in_proj``
makes B, C and x as views of one ``3·h`` output (kept: the products read them); ``B·x`` is cast to the conv
weight's dtype (fp32 under autocast: a transient, whose autocast cast back to bf16 is what the conv keeps; in the
weights' dtype the product itself is the conv's input); the depthwise conv's output is padded by ``kernel − 1``
positions per sequence and sliced; ``C·conv`` is ``out_proj``'s input. Backward: the product's two gradients, the
slices' gradients (the second at the padded length), the conv's input gradient (cast to fp32 and back under
autocast), ``B·x``'s two gradients, their ``cat`` into the ``3·h`` gradient of the chunked output and its
contiguous copy for ``in_proj``.
"""

from __future__ import annotations

from ...spec import AttentionSpec, LayerSpec, MoESpec
from .layer_ops import LayerRun, StepContext, linear

__all__ = ["dsv4_scores", "every_expert", "relu2_mlp", "short_conv"]


def short_conv(c: StepContext, run: LayerRun, layer: LayerSpec, x: int, xb: int) -> int:
    """LFM2's short convolution from the normed stream ``x``; returns ``out_proj``'s output."""
    conv = layer.conv
    assert conv is not None
    tr, t, h, pb = c.tr, c.t, c.spec.hidden_size, c.pb
    n = t * h
    padded = (t + c.batch * (conv.kernel - 1)) * h * pb
    bcx = linear(c, run, "shortconv_in", x, xb, h, 3 * h)
    bx = tr.alloc(n * pb)
    wb = 4 if c.p.amp else c.p.weight_bytes  # the conv weight's dtype: .to(weight.dtype)
    cast = tr.alloc(n * wb) if wb != pb else 0
    cin = tr.alloc(n * pb) if cast else bx  # autocast's bf16 copy for the conv
    out = tr.alloc(padded)
    tr.free(cast)
    if cin != bx:
        tr.free(bx)
    y = tr.alloc(n * pb)
    run.hold(tr, bcx, cin, out)
    amp = bool(cast)

    def backward(cc: StepContext, grads: list[int]) -> list[int]:
        trr = cc.tr
        g_c, g_h = trr.alloc(n * pb), trr.alloc(n * pb)  # C·conv's gradients
        trr.free(*grads)
        s1 = trr.alloc(n * pb)  # the slices' gradients: the seq slice, then the padded one
        trr.free(g_h)
        s2 = trr.alloc(padded)
        trr.free(s1)
        g_in = trr.alloc(n * pb)  # convolution_backward's input gradient
        trr.free(s2)
        if amp:  # the autocast cast's gradient in fp32, then .to(fp32)'s cast back
            g32 = trr.alloc(n * 4)
            trr.free(g_in)
            g_in = trr.alloc(n * pb)
            trr.free(g32)
        g_b, g_x = trr.alloc(n * pb), trr.alloc(n * pb)  # B·x's gradients
        trr.free(g_in)
        whole = trr.alloc(3 * n * pb)  # chunk's backward: cat of the three
        trr.free(g_b, g_c, g_x)
        copy = trr.alloc(3 * n * pb)  # the transpose's gradient made contiguous for in_proj's matmul
        trr.free(whole)
        return [copy]

    run.ops.append((len(run.linears), backward))
    out_proj = linear(c, run, "shortconv_out", y, pb, h, h)
    run.hold(tr, y)
    return out_proj


def dsv4_scores(c: StepContext, run: LayerRun, a: AttentionSpec, ab: int) -> int:
    """DeepSeek-V4's ``eager_attention_forward`` over its ``s + s / compress_rate`` keys (the single K=V head
    broadcast to every head as a view), checked against the simulator's trace of
    ``deepseek-v4-flash-e16-l4/train-bf16-adamw-fused-b1-s2048``: the scores, × scaling, + the mask (each in the
    model dtype, the one before freed); their ``cat`` with the fp32 sinks (fp32 by type promotion, one column more),
    minus the row max (kept in a local until the function returns), the fp32 softmax (kept), the probabilities cast
    back (kept); their product with V and its contiguous copy (o_proj's input, returned). Backward: V's and the
    probabilities' gradients, the latter in fp32, through the sink slice and the softmax, the row max's ``neg`` and
    its ``scatter`` into zeros, their sum, cast back and scaled; then K's and q's gradients (every head's)."""
    tr, b, s, t = c.tr, c.batch, c.seq, c.t
    heads = a.num_heads
    kv = s + (s // a.compress_rate if a.compress_rate else 0)
    scores = b * heads * s * kv * ab
    wide = b * heads * s * (kv + 1) * 4
    out = t * heads * a.value_dim * ab
    if a.index_heads and a.compress_rate:  # the lightning indexer: its fp32 scores over the compressed keys feed
        # only its top-k (q's fp32 copy, the scores, relu, × the head weights, the weighted copy summed; freed)
        n = b * s * a.index_heads * (s // a.compress_rate) * 4
        qi = tr.alloc(t * a.index_heads * a.index_head_dim * 4)
        bm, relu, w = tr.alloc(n), tr.alloc(n), tr.alloc(n)
        tr.free(bm)
        tr.free(tr.alloc(n))
        tr.free(w, relu, qi)
    sc = tr.alloc(scores)
    m = tr.alloc(scores)
    tr.free(sc)
    masked = tr.alloc(scores)
    tr.free(m)
    cat = tr.alloc(wide)
    shifted = tr.alloc(wide)
    tr.free(cat)
    sm = tr.alloc(wide)
    probs = tr.alloc(scores) if ab != 4 else 0
    tr.free(masked)
    o = tr.alloc(out)
    oc = tr.alloc(out)  # transpose(1, 2).contiguous()
    tr.free(o, shifted)
    if not run.keep:
        tr.free(sm, probs)

    def backward(cc: StepContext, grads: list[int]) -> list[int]:
        trr = cc.tr
        gv = trr.alloc(b * heads * kv * a.value_dim * ab)
        gp = trr.alloc(scores)
        trr.free(*grads, probs)
        if ab != 4:
            g32 = trr.alloc(b * heads * s * kv * 4)
            trr.free(gp)
            gp = g32
        sl = trr.alloc(wide)  # the sink column's slice
        trr.free(gp)
        sb = trr.alloc(wide)  # _softmax_backward_data
        trr.free(sl, sm)
        trr.free(trr.alloc(wide))  # neg, reduced
        zeros = trr.alloc(wide)
        sc2 = trr.alloc(wide)  # the max's gradient scattered
        trr.free(zeros)
        total = trr.alloc(wide)
        trr.free(sb, sc2)
        low = trr.alloc(scores)  # the scores' part of the cat, in the model dtype
        trr.free(total)
        scaled = trr.alloc(scores)
        trr.free(low)
        gk = trr.alloc(b * heads * kv * a.head_dim * ab)
        gq = trr.alloc(t * heads * a.head_dim * ab)
        trr.free(scaled)
        return [gq, gk, gv]

    run.ops.append((len(run.linears), backward))
    return oc


def every_expert(c: StepContext, run: LayerRun, m: MoESpec) -> int:
    """Llama 4's ``Llama4TextMoe`` after its router: every token through every expert (``E·t`` rows), checked
    against the simulator's trace of ``llama-4-maverick-text-l2`` training: the input repeated E times (kept: the
    score product's backward reads it) and scaled by the router scores (kept: the batched matmul's input), the
    batched gate_up (kept: act(gate) reads its view), act(gate) and up·act (kept), the batched down (returned; the
    caller sums it over the experts). Backward: down's weight gradient and its input's, the product's two gradients,
    ``silu_backward``, their ``cat`` into gate_up's gradient, gate_up's weight gradient and the scaled input's, the
    score product's gradients; what each read freed as it runs. Returns down's output."""
    tr, t, h, pb = c.tr, c.t, c.spec.hidden_size, c.pb
    rows, inter = t * m.num_experts, m.expert_intermediate_size
    keep = run.keep  # a checkpointed first forward drops each tensor after its last reader
    rep = tr.alloc(rows * h * pb)
    routed = tr.alloc(rows * h * pb)
    if not keep:
        tr.free(rep)
    gate_up = tr.alloc(2 * rows * inter * pb)
    act = tr.alloc(rows * inter * pb)
    prod = tr.alloc(rows * inter * pb)
    if not keep:
        tr.free(act)
    down = tr.alloc(rows * h * pb)
    if not keep:
        tr.free(prod, gate_up, routed)
        return down
    trains = c.p.full

    def backward(cc: StepContext, grads: list[int]) -> list[int]:
        trr = cc.tr
        if trains:
            run.made["ffn_down_exps"] = trr.alloc(m.num_experts * inter * h * pb)
        g_prod = trr.alloc(rows * inter * pb)
        trr.free(*grads, prod)
        g_up, g_act = trr.alloc(rows * inter * pb), trr.alloc(rows * inter * pb)
        trr.free(g_prod)
        g_gate = trr.alloc(rows * inter * pb)  # silu_backward
        trr.free(g_act, act, gate_up)
        g_gu = trr.alloc(2 * rows * inter * pb)  # cat
        trr.free(g_gate, g_up)
        if trains:
            run.made["ffn_up_exps"] = trr.alloc(m.num_experts * h * 2 * inter * pb)
        g_in = trr.alloc(rows * h * pb)
        trr.free(g_gu, routed)
        g_rep, g_scores = trr.alloc(rows * h * pb), trr.alloc(rows * h * pb)  # × scores: both operands' gradients
        trr.free(g_in, g_scores, rep)
        g_x = trr.alloc(t * h * pb)  # repeat's backward: the sum over the experts
        trr.free(g_rep)
        return [g_x]

    run.ops.append((len(run.linears), backward))
    return down


def relu2_mlp(c: StepContext, run: LayerRun, inter: int, x: int, xb: int, gated: bool = False) -> int:
    """(``gated``: BitNet's, :func:`_gated_relu2`.) Nemotron-H's plain MLP with the squared ReLU (``up``, ``relu``,
    ``pow(2)``, ``down``), checked against the simulator's trace of ``nemotron-h-56b-l9`` training: up's output dies
    once relu has read it (``threshold``'s backward reads relu's output, kept), the square is down's input (kept).
    Backward: ``pow``'s gradient chain (``pow``, ``× 2``, ``× grad``: three of the intermediate width, two freed at
    once), then ``threshold_backward``. Returns down's output."""
    if gated:
        return _gated_relu2(c, run, inter, x, xb)
    tr, t, h = c.tr, c.t, c.spec.hidden_size
    n = t * inter * c.pb
    up = linear(c, run, "ffn_up", x, xb, h, inter)
    act = tr.alloc(n)
    sq = tr.alloc(n)
    tr.free(up)
    run.hold(tr, act)

    def backward(cc: StepContext, grads: list[int]) -> list[int]:
        trr = cc.tr
        p1, p2, p3 = trr.alloc(n), trr.alloc(n), trr.alloc(n)
        trr.free(p2, p1, *grads)
        thr = trr.alloc(n)
        trr.free(p3)
        return [thr]

    run.ops.append((len(run.linears), backward))
    down = linear(c, run, "ffn_down", sq, c.pb, inter, h)
    run.hold(tr, sq)
    return down


def _gated_relu2(c: StepContext, run: LayerRun, inter: int, x: int, xb: int) -> int:
    """BitNet's MLP (transformers 5.25 modeling_bitnet.py ``BitNetMLP.forward``: ``down_proj(ffn_sub_norm(
    act_fn(gate_proj(x)) * up_proj(x)))``; ``activations.ReLUSquaredActivation``: ``relu``, then ``torch.square``;
    ``BitNetRMSNorm``: ``x.to(float32)``, ``pow(2).mean``, ``x * rsqrt``, ``weight * x.to(input dtype)``). Autograd
    keeps relu's result once (``threshold_backward`` reads it, and ``square``'s backward reads its input, the same
    tensor), not gate's output, which dies once relu has read it; the square and up (the product's operands); the
    product's fp32 copy (the norm's ``pow`` and ``mul``; the product itself dies once copied, or is the copy on an
    fp32 model); the normed copy cast back (the weight's ``mul``, when the weight trains); the weighted result
    (down's input). Backward: the weight's product and the normed copy's gradient, its fp32 cast and the input's
    fp32 gradient, cast back (``_norm_backward``'s pair at the intermediate width), the product's two gradients,
    ``pow``'s chain (as :func:`relu2_mlp`), ``threshold_backward``. Returns down's output."""
    tr, t, h, pb = c.tr, c.t, c.spec.hidden_size, c.pb
    n, n32 = t * inter * pb, t * inter * 4
    gate = linear(c, run, "ffn_gate", x, xb, h, inter)
    act = tr.alloc(n)
    tr.free(gate)
    sq = tr.alloc(n)
    up = linear(c, run, "ffn_up", x, xb, h, inter)
    prod = tr.alloc(n)
    run.hold(tr, act, sq, up)
    x32 = tr.alloc(n32) if pb != 4 else prod
    tr.free(prod if x32 != prod else 0)
    tr.free(tr.alloc(n32))  # pow(2), reduced to the per-token mean
    normed = tr.alloc(n32)
    low = tr.alloc(n) if pb != 4 else normed
    tr.free(normed if low != normed else 0)
    out = tr.alloc(n)
    run.hold(tr, x32)
    run.hold(tr, low) if c.p.full else tr.free(low)

    def backward(cc: StepContext, grads: list[int]) -> list[int]:
        trr = cc.tr
        g_low = trr.alloc(n)  # grad × weight
        trr.free(trr.alloc(n) if cc.p.full else 0, *grads)  # grad × low, summed into the weight's gradient
        g32 = trr.alloc(n32) if pb != 4 else 0  # the cast's gradient in fp32
        trr.free(g_low)
        g_in = trr.alloc(n32)  # the rsqrt chain: the fp32 input's gradient
        trr.free(g32)
        g_prod = trr.alloc(n) if pb != 4 else g_in  # cast back to the product's dtype
        trr.free(g_in if g_prod != g_in else 0)
        g_sq, g_up = trr.alloc(n), trr.alloc(n)  # the product's two gradients
        trr.free(g_prod)
        p1, p2, p3 = trr.alloc(n), trr.alloc(n), trr.alloc(n)  # pow's: pow(x, 1), × 2, × grad
        trr.free(p2, p1, g_sq)
        thr = trr.alloc(n)
        trr.free(p3)
        return [thr, g_up]  # up's Linear takes the last, gate's the other

    run.ops.append((len(run.linears), backward))
    down = linear(c, run, "ffn_down", out, pb, inter, h)
    run.hold(tr, out)
    return down

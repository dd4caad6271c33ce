"""A Mamba-2 mixer in a training step as the caching allocator sees it (transformers 5.25's torch path:
``causal_conv1d_fn`` and ``mamba2_chunk_scan`` of ``modeling_bamba.py`` and its copies), replayed by
``layer_stream.layer_forward``; its backward is one op of the layer's run (``layer_grads``).

Written op by op from the simulator's allocation trace of ``bamba-9b-l4/train-amp-adamw-fused-b1-s2048``
(``tools/simulate_memory.py validate --trace``), each tensor sized as ``ssm_activations.scan_sizes`` counts it:

* forward: in_proj; the conv's input cast to the conv weight's dtype and (autocast) back, the padded conv output
  (kept), its activation; ``dt`` made fp32, softplus and clamp (kept); the scan in fp32: x (kept), B and C repeated
  to every head, ``D · pad(x)`` (the padded x kept), ``x·dt``, the chunked x, A, B (kept: ``B·decay`` reads it) and
  C, ``exp(segsum(A))`` (kept); each einsum as ``bmm`` over operand copies in the batched layout, which autograd
  keeps (under autocast bf16 casts, freed after the copy); G = C·Bᵀ (kept), M = G·L, M·x, B·decay, the chunk
  states and their ``cat`` with the zero initial state (kept), C·states (kept), the outputs summed, made contiguous
  and the skip added; the scan's locals die when it returns; the outputs' ``cat`` (kept), then the gated RMSNorm in
  fp32 (gate, silu, product, normalised: kept) and out_proj;
* backward: the gated norm's fp32 chain, the gate's gradient cast back; the scan's einsums in reverse (each
  operand's gradient in the batched layout, cast back to fp32 under autocast), the chunk² gradients of M, G and L
  and segsum's ``flip``/``cumsum`` chain, the chunking's slices and pads, the skip; x's gradient cast back, the
  slices' and the conv's gradients, and their ``cat`` into in_proj's output gradient.
"""

from __future__ import annotations

from ...spec import LayerSpec, SSMSpec
from ..allocator_trace import Trace
from ..ssm_activations import FP32, ScanSizes, scan_sizes
from .layer_ops import BackwardOp, LayerRun, StepContext, linear

__all__ = ["mamba2_mixer", "replays_ssm"]


def replays_ssm(layer: LayerSpec) -> bool:
    """Whether :func:`mamba2_mixer` replays this layer's mixer (a Mamba-2 one beside no attention)."""
    return layer.ssm is not None and layer.mixer == "mamba2" and layer.attention is None and not layer.ssm.rglru


class _Kept(dict[str, int]):
    """What autograd keeps for the mixer's backward, by name (a checkpointed first forward keeps nothing)."""

    def __init__(self, tr: Trace, keep: bool) -> None:
        super().__init__()
        self.tr, self.keep = tr, keep

    def hold(self, **keys: int) -> None:
        for name, key in keys.items():
            if self.keep:
                self[name] = key
            else:
                self.tr.free(key)

    def drop(self, *names: str) -> None:
        """The op that kept these has run its backward."""
        self.tr.free(*[self.pop(n, 0) for n in names])


def mamba2_mixer(c: StepContext, run: LayerRun, layer: LayerSpec, x: int, xb: int) -> int:
    """The Mamba-2 mixer from the normed stream ``x``; returns ``out_proj``'s output."""
    ssm = layer.ssm
    assert ssm is not None
    tr, h, pb, amp = c.tr, c.spec.hidden_size, c.pb, c.p.amp
    z = scan_sizes(ssm, c.batch, c.seq)
    kept = _Kept(tr, run.keep)
    proj = linear(c, run, "ssm_in", x, xb, h, z.proj_tokens // c.t)
    wb = FP32 if amp else c.p.weight_bytes  # the conv weight's dtype: x.to(weight.dtype)
    up = tr.alloc(z.conv_tokens * wb) if wb != pb else 0
    cin = tr.alloc(z.conv_tokens * pb) if up else 0  # autocast's cast for the conv (else it reads in_proj's view)
    conv_ch = z.conv_tokens // c.t
    padded = tr.alloc(c.batch * conv_ch * (c.seq + ssm.d_conv - 1) * pb)
    tr.free(up)
    act = tr.alloc(z.conv_tokens * pb)
    hb = FP32 if amp else pb
    dts = [tr.alloc(z.heads * hb) for _ in range(3)]  # dt (+ bias), softplus, clamp
    kept.hold(cin=cin, padded=padded, dt0=dts[0], dt1=dts[1], dt2=dts[2])
    if not cin:
        kept.hold(proj=proj)
    low = 2 if amp else FP32  # the einsums' operands: autocast's bf16 casts, else the fp32 tensors
    d_u = c.t * ssm.d_inner * FP32
    scan_out = _scan(c, kept, z, d_u, low)
    y = tr.alloc(d_u)  # torch.cat of the scan's outputs (the norm reads it)
    tr.free(scan_out)
    g32 = tr.alloc(d_u)  # the gated RMSNorm in fp32: gate.to(fp32), silu, product, pow, normalised, weighted
    sig = tr.alloc(d_u)
    prod = tr.alloc(d_u)
    tr.free(tr.alloc(d_u))
    normed = tr.alloc(d_u)
    kept.hold(y=y, g32=g32, sig=sig, prod=prod, normed=normed)
    weighted = tr.alloc(d_u)  # fp32 (the fp32 normalised input times the weight)
    run.ops.append((len(run.linears), _backward(ssm, z, d_u, kept, amp)))
    if amp:  # out_proj casts it
        o = linear(c, run, "ssm_out", weighted, FP32, ssm.d_inner, h)
    else:
        cast = tr.alloc(c.t * ssm.d_inner * pb)  # .to(input dtype)
        tr.free(weighted)
        o = linear(c, run, "ssm_out", cast, pb, ssm.d_inner, h)
        run.hold(tr, cast)
    tr.free(act, weighted if amp else 0, 0 if not cin else proj)
    return o


def _scan(c: StepContext, kept: _Kept, z: ScanSizes, d_u: int, low: int) -> int:
    """``mamba2_chunk_scan``'s forward; returns its output's key (its locals freed, what autograd keeps held)."""
    tr = c.tr
    amp = low != FP32

    def lo(n: int) -> int:
        return n * low // FP32

    x32 = tr.alloc(d_u)
    b_rep, c_rep = tr.alloc(z.bc), tr.alloc(z.bc)  # B and C fp32, repeated to every head
    pad = tr.alloc(z.d)
    d_res = tr.alloc(z.d)  # D · pad(x)
    xdt = tr.alloc(d_u)
    xc, bc, cc = tr.alloc(z.d), tr.alloc(z.bc), tr.alloc(z.bc)  # reshape_into_chunks
    tr.free(xdt, b_rep, c_rep)
    kept.hold(x32=x32, pad=pad, bc=bc)
    first, cum, second = tr.alloc(z.chunk2), tr.alloc(z.chunk2), tr.alloc(z.chunk2)  # segment_sum
    tr.free(cum, first)
    ell = tr.alloc(z.chunk2)
    tr.free(second)
    gc, gb, g = _einsum(tr, [lo(z.bc), lo(z.bc)], lo(z.chunk2), amp)  # G = C·Bᵀ
    m = tr.alloc(z.chunk2)  # G · L
    kept.hold(ell=ell, gc=gc, gb=gb, g=g)
    m_low = tr.alloc(lo(z.chunk2)) if amp else m  # M·x: M cast (autocast) or read as it is
    kept.hold(m=m_low)
    xm, y_diag = _einsum(tr, [lo(z.d)], lo(z.d), amp)
    b_decay = tr.alloc(z.bc)
    sx, sb, states = _einsum(tr, [lo(z.d), lo(z.bc)], lo(z.states), amp)
    init = tr.alloc(lo(z.state1))
    cat = tr.alloc(lo(z.states + z.state1))
    tr.free(states)
    new_states = tr.alloc(lo(z.states + z.state1))
    cs, ss, c_states = _einsum(tr, [lo(z.bc), lo(z.states)], lo(z.d), amp)
    kept.hold(xm=xm, sx=sx, sb=sb, cat=cat, cs=cs, ss=ss, c_states=c_states)
    y_off = tr.alloc(z.d)
    total = tr.alloc(z.d)
    contiguous = tr.alloc(z.d)
    tr.free(total)
    out = tr.alloc(z.d)  # + D residual
    tr.free(contiguous, xc, cc, d_res, m if amp else 0, y_diag, b_decay, init, y_off, new_states)
    return out


def _einsum(tr: Trace, ops: list[int], out: int, amp: bool) -> list[int]:
    """An einsum run as ``bmm``: under autocast each fp32 operand cast to bf16 (freed after its copy), the operands
    copied into the batched layout (kept for the backward), the product. Returns the copies' and product's keys."""
    casts = [tr.alloc(n) for n in ops] if amp else []
    copies = [tr.alloc(n) for n in ops]
    o = tr.alloc(out)
    tr.free(*reversed(casts))
    return [*copies, o]


def _backward(ssm: SSMSpec, z: ScanSizes, d_u: int, kept: _Kept, amp: bool) -> BackwardOp:
    def backward(cc: StepContext, grads: list[int]) -> list[int]:
        tr, pb = cc.tr, cc.pb
        if not amp:  # the .to(input dtype)'s gradient in fp32
            g = tr.alloc(d_u)
            tr.free(*grads)
            grads = [g]
        # the gated norm's fp32 chain, from out_proj's input gradient
        a, b = tr.alloc(d_u), tr.alloc(d_u)
        tr.free(b, *grads)
        b, e = tr.alloc(d_u), tr.alloc(d_u)
        tr.free(b, a)
        chain = [tr.alloc(d_u) for _ in range(4)]  # div, pow, mul, mul: the rsqrt's gradient
        tr.free(*chain[:3])
        kept.drop("normed")
        s = tr.alloc(d_u)
        tr.free(e, chain[3])
        g_y, g_sig = tr.alloc(d_u), tr.alloc(d_u)  # the product's gradients
        kept.drop("prod", "y")
        tr.free(s)
        g_gate = tr.alloc(d_u)  # silu_backward
        tr.free(g_sig)
        kept.drop("sig", "g32")
        gate = tr.alloc(cc.t * ssm.d_inner * pb)  # cast back to the gate's dtype
        tr.free(g_gate)
        g_x = _scan_backward(cc, z, d_u, kept, g_y, amp)
        conv_ch = z.conv_tokens // cc.t
        sl = tr.alloc(cc.t * ssm.d_inner * pb)  # x's slice of the conv's output
        tr.free(g_x)
        whole = tr.alloc(z.conv_tokens * pb)  # cat with B's and C's gradients
        tr.free(sl)
        s3 = tr.alloc(z.conv_tokens * pb)  # silu_backward, the padded slice's, the conv's
        tr.free(whole)
        s4 = tr.alloc(cc.batch * conv_ch * (cc.seq + ssm.d_conv - 1) * pb)
        tr.free(s3)
        gin = tr.alloc(z.conv_tokens * pb)
        tr.free(s4)
        kept.drop("padded", "cin", "proj")
        if amp:  # the casts' gradients: to fp32, and back
            g32 = tr.alloc(z.conv_tokens * FP32)
            tr.free(gin)
            gin = tr.alloc(z.conv_tokens * pb)
            tr.free(g32)
        out = tr.alloc(z.proj_tokens * pb)  # cat of the gate's, x·B·C's and dt's gradients
        tr.free(gate, gin)
        kept.drop(*list(kept))
        return [out]

    return backward


def _scan_backward(c: StepContext, z: ScanSizes, d_u: int, kept: _Kept, g_y: int, amp: bool) -> int:
    """``mamba2_chunk_scan``'s backward from its output's gradient ``g_y`` (fp32); returns x's gradient in the
    projections' dtype. Under autocast each bmm's gradients are bf16 and cast to fp32 (``up``)."""
    tr = c.tr

    def lo(n: int) -> int:
        return n // 2 if amp else n


    def up(key: int, n: int) -> int:
        if not amp:
            return key
        k = tr.alloc(n)
        tr.free(key)
        return k

    g_low = tr.alloc(lo(z.d)) if amp else 0  # the output's gradient cast for M·x's bmm
    m1, m2 = tr.alloc(z.d), tr.alloc(z.d)  # Y_off = C·states · decay: both gradients
    kept.drop("c_states")
    cast = tr.alloc(lo(z.d)) if amp else 0
    tr.free(m2)
    cp = tr.alloc(lo(z.d))  # made contiguous for the bmm
    tr.free(cast, m1)
    g_st, g_c = tr.alloc(lo(z.states)), tr.alloc(lo(z.bc))
    kept.drop("cs", "ss")
    tr.free(cp)
    g_c = up(g_c, z.bc)
    sl = tr.alloc(lo(z.states + z.state1))  # the cat's slice
    tr.free(g_st)
    g_new = tr.alloc(lo(z.states + z.state1))
    kept.drop("cat")
    tr.free(sl)
    cp = tr.alloc(lo(z.states))
    tr.free(g_new)
    g_bd, g_x1 = tr.alloc(lo(z.bc)), tr.alloc(lo(z.d))
    kept.drop("sx", "sb")
    tr.free(cp)
    g_x1 = up(g_x1, z.d)
    g_bd = up(g_bd, z.bc)
    g_b1, g_dec = tr.alloc(z.bc), tr.alloc(z.bc)  # B·decay's gradients
    kept.drop("bc")
    tr.free(g_dec, g_bd)
    cp = tr.alloc(lo(z.d))  # M·x's output gradient made contiguous
    tr.free(g_low)
    g_x2, g_m = tr.alloc(lo(z.d)), tr.alloc(lo(z.chunk2))
    kept.drop("m", "xm")
    tr.free(cp)
    g_x2 = up(g_x2, z.d)
    g_x = tr.alloc(z.d)
    tr.free(g_x1, g_x2)
    g_m = up(g_m, z.chunk2)
    g_l, g_g = tr.alloc(z.chunk2), tr.alloc(z.chunk2)  # M = G·L's gradients
    kept.drop("g")
    tr.free(g_m)
    g_glow = tr.alloc(lo(z.chunk2)) if amp else 0
    tr.free(g_g if amp else 0)
    g_c2, g_b2 = tr.alloc(lo(z.bc)), tr.alloc(lo(z.bc))
    kept.drop("gc", "gb")
    tr.free(g_glow or g_g)
    g_csum = tr.alloc(z.bc)
    tr.free(g_c, up(g_c2, z.bc) if amp else g_c2)
    g_bsum = tr.alloc(z.bc)
    tr.free(g_b1, up(g_b2, z.bc) if amp else g_b2)
    g = _chunks_backward(c, z, d_u, kept, [g_l, g_bsum, g_csum, g_x, g_y])
    out = tr.alloc(c.t * (d_u // c.t // FP32) * c.pb)
    tr.free(g)
    return out


def _chunks_backward(c: StepContext, z: ScanSizes, d_u: int, kept: _Kept, keys: list[int]) -> int:
    """The scan's backward below its einsums: ``exp(segsum(A))``'s chain, the chunking's reshapes and pads of B, C
    and x, x·dt's and the skip's gradients; frees ``keys`` (L's, B's, C's, x's and the output's gradients) and
    returns x's fp32 gradient."""
    tr = c.tr
    g_l, g_bsum, g_csum, g_x, g_y = keys
    e = tr.alloc(z.chunk2)  # exp's backward, then segment_sum's: masked_fill, flip, cumsum, flip, masked_fill
    kept.drop("ell")
    tr.free(g_l)
    mf = tr.alloc(z.chunk2)
    tr.free(e)
    fl, cs = tr.alloc(z.chunk2), tr.alloc(z.chunk2)
    fl2 = tr.alloc(z.chunk2)
    tr.free(cs, fl, mf)
    tr.free(tr.alloc(z.chunk2), fl2)
    pads = []
    for g, n in ((g_bsum, z.bc), (g_csum, z.bc), (g_x, z.d)):  # the chunking's reshape and pad
        cl = tr.alloc(n)
        tr.free(g)
        pads.append(tr.alloc(n))
        tr.free(cl)
    p1, p2 = tr.alloc(d_u), tr.alloc(d_u)  # x·dt's gradients
    kept.drop("x32")
    tr.free(p1, pads[2])
    q1, q2 = tr.alloc(d_u), tr.alloc(d_u)  # the skip's
    kept.drop("pad")
    tr.free(q2, g_y)
    pd = tr.alloc(z.d)
    tr.free(q1)
    g = tr.alloc(d_u)
    tr.free(p2, pd, pads[0], pads[1])  # repeat's backward sums B's and C's to their groups
    return g

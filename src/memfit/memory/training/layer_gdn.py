"""A gated delta-net mixer in a training step as the caching allocator sees it (transformers 5.25's torch path:
``Qwen3NextGatedDeltaNet`` / ``Qwen3_5GatedDeltaNet`` and ``torch_chunk_gated_delta_rule``, the FLA kernels not
installed), replayed by ``layer_stream.layer_forward``; its backward is one op of the layer's run (``layer_grads``).

Written from the simulator's allocation trace of ``qwen3-next-80b-a3b-l4/train-bf16-adamw-fused-ckpt-b1-s2048``
(``tools/simulate_memory.py validate --trace``), its tensors above 1 MiB:

* forward: in_proj (qwen3-next's fused qkvz: value, z, q and k copied out by their reshapes, q, k, v concatenated
  for the conv: kept); the padded conv output (kept) and its silu; q and k repeated to the value heads; q, k, v in
  fp32 (q's and k's kept by the l2 norms), the norms' x², x·rsqrt and q's scaling; q, k, v padded to whole chunks
  (kept); v·β, k·β (kept); the pairwise decays (difference, masked, exp: kept); the UT system and the intra-chunk
  attention (each ``bmm`` and its product with the decays: kept); k·β·decay; the two triangular solves (kept); the
  zero state and the output buffer; q and k decayed (kept); one recurrent state per chunk but the last (kept); the
  output made contiguous and cast back; the gated RMSNorm (fp32 input, its cast and weighted product, the fp32 gate
  and its silu, the gated output's cast: kept) and out_proj;
* backward: the gated norm's fp32 chain; the chunk loop in reverse, where each chunk's slices of the intra-chunk
  attention, the new values, the decayed keys and q and k get a ``select_backward`` gradient at full size, added
  into the running sum (a new tensor each time: the sum, the slice's gradient and the old sum are alive at once);
  the solves', decays' and pads' gradients, the l2 norms', the casts back, the conv's, and in_proj's output gradient;
* a checkpointed layer's first forward (``_first_forward``), where autograd saves nothing: each tensor goes with its
  last Python reference, as the same trace's first forward frees it.
"""

from __future__ import annotations

from ...spec import LayerSpec, LinearAttentionSpec
from ..allocator_trace import Trace
from ..ssm_activations import FP32
from .layer_ops import BackwardOp, LayerRun, StepContext, linear

__all__ = ["gdn_mixer", "replays_gdn"]

CHUNK = 64  # torch_chunk_gated_delta_rule's chunk_size as the layer calls it


def replays_gdn(layer: LayerSpec) -> bool:
    """Whether :func:`gdn_mixer` replays this layer's mixer (a gated delta-net, not KDA)."""
    return layer.linear is not None and layer.linear.kind == "gated_deltanet"


class _Sizes:
    """The byte sizes of the rule's tensors for one micro-batch."""

    def __init__(self, g: LinearAttentionSpec, b: int, s: int, pb: int) -> None:
        t = b * s
        big = -(-s // CHUNK) * CHUNK
        self.chunks = big // CHUNK
        self.kd, self.vd, self.conv = g.key_dim, g.value_dim, g.conv_dim
        self.rep = g.num_k_heads != g.num_v_heads
        self.qk_u = b * g.num_v_heads * s * g.head_k_dim * FP32  # q or k in fp32, repeated to the value heads
        self.v_u = t * self.vd * FP32
        self.qk_p, self.v_p = self.qk_u // s * big, self.v_u // s * big  # padded to whole chunks
        self.c2 = b * g.num_v_heads * big * CHUNK * FP32  # chunk² per head
        self.state = b * g.num_v_heads * g.head_k_dim * g.head_v_dim * FP32
        self.cv = b * g.num_v_heads * CHUNK * g.head_v_dim * FP32  # one chunk's values per head
        self.kernel = g.conv_kernel
        self.low_v, self.low_qk = t * self.vd * pb, self.qk_u // FP32 * pb


def gdn_mixer(c: StepContext, run: LayerRun, layer: LayerSpec, x: int, xb: int) -> int:
    """The gated delta-net from the normed stream ``x``; returns out_proj's output."""
    g = layer.linear
    assert g is not None
    tr, h, pb, t = c.tr, c.spec.hidden_size, c.pb, c.t
    z = _Sizes(g, c.batch, c.seq, pb)
    fused = c.spec.family == "qwen3_next"
    if not run.keep:
        return _first_forward(c, run, z, x, xb, fused)
    kept: list[int] = []
    if fused:  # in_proj_qkvz: its reshapes copy value, z, q, k out; q, k, v concatenated for the conv
        proj = linear(c, run, "ssm_in", x, xb, h, z.conv + z.vd)
        parts = [tr.alloc(z.low_v), tr.alloc(t * z.kd * pb), tr.alloc(t * z.kd * pb)]
        zz = tr.alloc(z.low_v)
        mixed = tr.alloc(t * z.conv * pb)
        ends = [proj, zz]
    else:
        mixed = linear(c, run, "ssm_in", x, xb, h, z.conv)
        zz = linear(c, run, "ssm_in", x, xb, h, z.vd)
        parts, ends = [], [zz]
    padded = tr.alloc(c.batch * z.conv * (c.seq + g.conv_kernel - 1) * pb)
    act = tr.alloc(t * z.conv * pb)
    tr.free(*parts)
    kept += [mixed, padded]
    rep = [tr.alloc(z.low_qk), tr.alloc(z.low_qk)] if z.rep else []
    q32, k32, v32 = tr.alloc(z.qk_u), tr.alloc(z.qk_u), tr.alloc(z.v_u)
    tr.free(*rep)
    tr.free(tr.alloc(z.qk_u))  # l2norm: q·q, q·rsqrt; k·k, k·rsqrt; q·scale
    qn = tr.alloc(z.qk_u)
    tr.free(tr.alloc(z.qk_u))
    kn, qs = tr.alloc(z.qk_u), tr.alloc(z.qk_u)
    tr.free(qn)
    pads = [tr.alloc(z.qk_p), tr.alloc(z.qk_p), tr.alloc(z.v_p)]
    tr.free(qs, kn, v32)
    v_beta, k_beta = tr.alloc(z.v_p), tr.alloc(z.qk_p)
    kept += [q32, k32, *pads, k_beta]
    diff = tr.alloc(z.c2)
    masked = tr.alloc(z.c2)
    tr.free(diff)
    kept.append(tr.alloc(z.c2))  # the pairwise decays
    tr.free(masked)
    kept += [tr.alloc(z.c2) for _ in range(4)]  # k_β·kᵀ, ·decay; q·kᵀ, ·decay
    dkb = tr.alloc(z.qk_p)  # k_β · exp(cum_decay)
    solves = [tr.alloc(z.v_p), tr.alloc(z.qk_p)]
    state0 = tr.alloc(z.state)
    core = tr.alloc(z.v_p)  # zeros_like(new_values)
    decayed = [tr.alloc(z.qk_p), tr.alloc(z.qk_p)]
    states = [tr.alloc(z.state) for _ in range(z.chunks - 1)]  # the loop's recurrent states (autograd keeps them)
    kept += [*solves, state0, *decayed]
    cont = tr.alloc(z.v_p)
    tr.free(core)
    low = tr.alloc(z.low_v)  # .to(initial dtype)
    tr.free(cont, v_beta, dkb)
    flat = tr.alloc(z.low_v)
    n32 = tr.alloc(z.v_u)  # the gated RMSNorm: fp32 input, pow, x·rsqrt, cast, ·weight; fp32 gate, silu, product
    tr.free(tr.alloc(z.v_u))
    m = tr.alloc(z.v_u)
    cast, weighted = tr.alloc(z.low_v), tr.alloc(z.low_v)
    tr.free(m)
    g32, sig = tr.alloc(z.v_u), tr.alloc(z.v_u)
    prod = tr.alloc(z.v_u)
    gated = tr.alloc(z.low_v)
    tr.free(prod, flat)
    norm = [n32, cast, weighted, g32, sig, gated]
    run.ops.append((len(run.linears), _backward(z, kept, states, norm, fused)))
    o = linear(c, run, "ssm_out", gated, pb, z.vd, h)
    tr.free(*ends, act, low)
    return o


def _first_forward(c: StepContext, run: LayerRun, z: _Sizes, x: int, xb: int, fused: bool) -> int:
    """A checkpointed layer's first forward, where autograd saves nothing: each tensor dies with its last Python
    reference (``Qwen3NextGatedDeltaNet.forward`` / ``Qwen3_5GatedDeltaNet.forward``; the rule's locals when
    :func:`_rule_first` returns, the mixer's own when it returns: in_proj's output, z, the gated output, the conv's
    activation that q, k, v view, the rule's output)."""
    tr, h, pb, t = c.tr, c.spec.hidden_size, c.pb, c.t
    if fused:  # fix_query_key_value_ordering's reshapes copy value and z, forward's reshape(.., -1) query and key
        proj = linear(c, run, "ssm_in", x, xb, h, z.conv + z.vd)
        parts = [tr.alloc(z.low_v), tr.alloc(z.low_v), tr.alloc(t * z.kd * pb), tr.alloc(t * z.kd * pb)]
        zz = parts.pop(1)
        mixed = tr.alloc(t * z.conv * pb)  # torch.cat((query, key, value))
    else:
        proj, parts = 0, []
        mixed = linear(c, run, "ssm_in", x, xb, h, z.conv)
        zz = linear(c, run, "ssm_in", x, xb, h, z.vd)
    padded = tr.alloc(c.batch * z.conv * (c.seq + z.kernel - 1) * pb)  # causal_conv1d_forward: conv1d, silu
    act = tr.alloc(t * z.conv * pb)
    tr.free(padded)
    tr.free(mixed, *parts[1:], parts[0] if parts else 0)  # mixed_qkv rebound; query, key, value rebound
    low = _rule_first(tr, z)
    flat = tr.alloc(z.low_v)  # torch.cat(all_outputs)
    n32 = tr.alloc(z.v_u)  # Qwen3NextRMSNormGated: fp32 input, pow, x·rsqrt, cast, ·weight; fp32 gate, silu, product
    tr.free(tr.alloc(z.v_u))
    m = tr.alloc(z.v_u)
    tr.free(n32)
    cast = tr.alloc(z.low_v)
    weighted = tr.alloc(z.low_v)
    tr.free(cast, m)
    g32 = tr.alloc(z.v_u)
    sig = tr.alloc(z.v_u)
    tr.free(g32)
    prod = tr.alloc(z.v_u)
    tr.free(sig, weighted)
    gated = tr.alloc(z.low_v)
    tr.free(prod, flat)
    run.ops.append((len(run.linears), _backward(z, [], [], [], fused)))
    o = linear(c, run, "ssm_out", gated, pb, z.vd, h)
    tr.free(proj, zz, gated, act, low)
    return o


def _rule_first(tr: Trace, z: _Sizes) -> int:
    """``torch_chunk_gated_delta_rule`` keeping nothing for backward; returns its output (cast back)."""
    rep = [tr.alloc(z.low_qk), tr.alloc(z.low_qk)] if z.rep else []  # repeat_interleave to the value heads
    q32, k32, v32 = tr.alloc(z.qk_u), tr.alloc(z.qk_u), tr.alloc(z.v_u)
    tr.free(*rep)
    tr.free(tr.alloc(z.qk_u))  # l2norm: x·x, then x·rsqrt; the fp32 input goes when query is rebound
    qn = tr.alloc(z.qk_u)
    tr.free(q32)
    tr.free(tr.alloc(z.qk_u))
    kn = tr.alloc(z.qk_u)
    tr.free(k32)
    qs = tr.alloc(z.qk_u)  # query * scaling
    tr.free(qn)
    pads = [tr.alloc(z.qk_p), tr.alloc(z.qk_p), tr.alloc(z.v_p)]  # F.pad copies even with no padding
    tr.free(qs, kn, v32)
    betas = [tr.alloc(z.v_p), tr.alloc(z.qk_p)]  # v·β, k·β
    diff = tr.alloc(z.c2)
    masked = tr.alloc(z.c2)
    tr.free(diff)
    c2 = [tr.alloc(z.c2)]  # the pairwise decays
    tr.free(masked)
    for _ in range(2):  # k_β·kᵀ and q·kᵀ, each × the decays
        mm = tr.alloc(z.c2)
        c2.append(tr.alloc(z.c2))
        tr.free(mm)
    late = [tr.alloc(z.qk_p), tr.alloc(z.v_p), tr.alloc(z.qk_p)]  # k_β·exp(cum_decay); the two solves
    state = tr.alloc(z.state)
    core = tr.alloc(z.v_p)  # zeros_like(new_values)
    for i in range(2):  # query, key decayed; the padded copies go as they are rebound
        new = tr.alloc(z.qk_p)
        tr.free(pads[i])
        pads[i] = new
    v_new = inter = 0
    for _ in range(z.chunks):  # the scan: v_new, the state's read, the chunk's output (copied in), the new state
        mm = tr.alloc(z.cv)
        new = tr.alloc(z.cv)
        tr.free(mm, v_new)
        v_new = new
        new = tr.alloc(z.cv)
        tr.free(inter)
        inter = new
        mm = tr.alloc(z.cv)
        tr.free(mm, tr.alloc(z.cv))
        a, b = tr.alloc(z.state), tr.alloc(z.state)
        new = tr.alloc(z.state)
        tr.free(a, b, state)
        state = new
    tr.free(state)  # output_final_state False
    # core_attn_out.reshape copies: zeros_like kept the solve's column-major strides (linalg_solve_triangular's
    # output is F-contiguous, aten/src/ATen/native/BatchLinearAlgebra.cpp)
    whole = tr.alloc(z.v_p)
    tr.free(core)
    low = tr.alloc(z.low_v)  # .to(initial dtype)
    tr.free(whole)
    tr.free(*pads, *betas, *c2, *late, v_new, inter)  # the locals, in their order, as the function returns
    return low


def _backward(z: _Sizes, kept: list[int], states: list[int], norm: list[int], fused: bool) -> BackwardOp:
    def backward(cc: StepContext, grads: list[int]) -> list[int]:
        tr = cc.tr
        # the gated norm: the cast's fp32 gradient, the product's two, silu's, the rsqrt chain, the cast back
        g32 = tr.alloc(z.v_u)
        tr.free(*grads)
        ga, gb = tr.alloc(z.v_u), tr.alloc(z.v_u)
        tr.free(g32, *norm[5:])
        gs = tr.alloc(z.v_u)
        tr.free(ga, *norm[3:5])
        gz = tr.alloc(z.low_v)
        tr.free(gs)
        chain = [tr.alloc(z.v_u) for _ in range(4)]
        tr.free(gb, *chain[:3], *norm[:3])
        gl = tr.alloc(z.low_v)
        tr.free(chain[3])
        gc = tr.alloc(z.v_u)  # the cast back's fp32 gradient
        tr.free(gl)
        sizes = [z.v_p, z.qk_p, z.qk_p, z.qk_p]  # new values, decayed keys' product, q and k decayed
        acc16, acc = 0, [0] * 4
        for i in range(z.chunks):  # each chunk's slice gradients at full size, added into the running sums
            tr.free(tr.alloc(z.v_p))  # the output slice's gradient
            s = tr.alloc(z.c2)
            if i:
                new = tr.alloc(z.c2)
                tr.free(acc16, s)
                acc16 = new
            else:
                acc16 = s
            for j, n in enumerate(sizes):
                s = tr.alloc(n)
                if i:
                    new = tr.alloc(n)
                    tr.free(acc[j], s)
                    acc[j] = new
                else:
                    acc[j] = s
            if states:
                tr.free(states.pop())
        tr.free(gc)
        # q and k decayed, the solves, the decays' and UT system's gradients, the pads'
        for _ in range(2):
            a, b = tr.alloc(z.qk_p), tr.alloc(z.qk_p)
            tr.free(a, b)
        gsolve = []
        for n in (z.qk_p, z.v_p):
            gsolve.append(tr.alloc(n))
            tr.free(tr.alloc(z.c2), tr.alloc(z.c2))
        tr.free(*acc[2:])
        for _ in range(3):
            a, b = tr.alloc(z.qk_p), tr.alloc(z.qk_p)
            tr.free(a, b)
        tr.free(acc16, *acc[:2], *gsolve)
        gpad = [tr.alloc(z.qk_u), tr.alloc(z.qk_u), tr.alloc(z.v_u)]  # the pads' gradients
        # the l2 norms', the casts back, the repeat's sums, the conv's, in_proj's output
        low = [tr.alloc(z.low_qk), tr.alloc(z.low_qk), tr.alloc(z.low_v)]
        tr.free(*gpad)
        if z.rep:
            summed = [tr.alloc(z.low_v * z.kd // z.vd) for _ in range(2)]
            tr.free(*low[:2])
            low[:2] = summed
        whole = tr.alloc(z.low_v * z.conv // z.vd)  # cat of q's, k's, v's
        tr.free(*low)
        sil = tr.alloc(z.low_v * z.conv // z.vd)
        tr.free(whole)
        gin = tr.alloc(z.low_v * z.conv // z.vd)
        tr.free(sil, *kept, *states)
        if not fused:
            return [gin, gz]
        out = tr.alloc(z.low_v * (z.conv + z.vd) // z.vd)
        tr.free(gin, gz)
        return [out]

    return backward

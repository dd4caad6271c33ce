"""Recurrent mixers of transformers' hybrid models as the caching allocator sees them: the prefill's tensors of a
Mamba-2 mixer or a gated delta-net on transformers' PyTorch path, allocation by allocation, for the pool emulation
of ``transformers_pool.py`` (which calls :func:`mixer_prefill` for a layer whose mixer is one of these; the
feed-forward blocks and DeepSeek sparse attention are in ``transformers_pool_blocks.py``).

transformers 5.25's Mamba-2 mixers (``mamba2``, ``bamba``, ``granitemoehybrid``, ``nemotron_h``, ``falcon_h1``)
run, without the ``mamba_ssm`` / ``causal_conv1d`` kernels, ``causal_conv1d_fn`` and ``mamba2_chunk_scan``
(``modeling_nemotron_h.py`` and its copies). The order below is that code's, each tensor sized as
``ssm_activations.scan_sizes`` counts it (fp32 in the scan; ``S`` the sequence padded to whole chunks):

* ``in_proj`` (Falcon-H1: its input and output scaled by the µP multipliers first, two more tensors), the
  depthwise convolution's padded output and its activation;
* ``dt + dt_bias``, its softplus and clamp (``b·s·H``, the model dtype);
* the fp32 copy of x, B and C made fp32 and repeated to every head (the group-sized copies freed), the D skip
  (``D · pad(x)``), ``x·dt`` and ``A·dt``;
* ``reshape_into_chunks``: x, A, B and C padded (``F.pad`` copies even when nothing is padded);
* ``segment_sum`` (masked_fill, cumsum, masked_fill) and ``L = exp(·)``: chunk² tensors;
* the four einsums, each with copies of its operands in the batched layout (``bmm``), the states concatenated
  with the initial state, ``C·states·decay``, the outputs summed, made contiguous and the skip added;
* after the scan returns its temporaries go; ``torch.cat`` of the outputs, the cache's copy of the final state;
* the gated RMSNorm in fp32 (gate·silu, square, normalised, weighted) or, without it, ``y · silu(gate)``; the
  output cast to the model dtype and ``out_proj``.

Checked against the simulator's allocation trace of the development case
``nemotron-3-nano-30b-l5/gen-b2-s4096-new8`` (tensors ≥ 1 MiB, one mixer), which this sequence reproduces
tensor for tensor. The gated delta-net (``torch_chunk_gated_delta_rule``) is described at :func:`_gated_delta`.
"""

from __future__ import annotations

from ...spec import LayerSpec, LinearAttentionSpec, SSMSpec
from ..allocator_trace import Trace
from ..ssm_activations import FP32, ScanSizes, scan_sizes
from .transformers_pool_kda import GDN_CHUNK, kda_prefill

__all__ = ["mixer_prefill", "replays_mixer"]


def replays_mixer(layer: LayerSpec) -> bool:
    """Whether :func:`mixer_prefill` replays this layer's recurrent mixer (a Mamba-2 one or a gated delta-net)."""
    if layer.linear is not None:
        return layer.linear.kind in ("gated_deltanet", "kda")
    return layer.ssm is not None and layer.mixer == "mamba2"


def mixer_prefill(tr: Trace, layer: LayerSpec, family: str, b: int, s: int, hidden: int, dt: int,
                  state_bytes: int) -> tuple[int, list[int]]:
    """One recurrent mixer's prefill from its (normed) input to its output projection. Returns the output's key
    and the keys that stay: the cache's state (``state_bytes``: 0 where the caller holds it with the layer's
    K/V)."""
    assert replays_mixer(layer)
    if layer.linear is not None and layer.linear.kind == "kda":
        return kda_prefill(tr, layer.linear, b, s, hidden, dt, state_bytes)
    if layer.linear is not None:
        return _gated_delta(tr, layer.linear, b, s, hidden, dt, state_bytes)
    assert layer.ssm is not None
    if layer.ssm.rglru:
        return _rglru(tr, layer.ssm, b, s, hidden, dt, state_bytes)
    return _mamba2(tr, layer.ssm, family == "falcon_h1", b, s, hidden, dt, state_bytes)


def _mamba2(tr: Trace, ssm: SSMSpec, mup: bool, b: int, s: int, hidden: int, dt: int,
            state_bytes: int) -> tuple[int, list[int]]:
    z = scan_sizes(ssm, b, s)
    heads = ssm.num_heads
    d_u = b * s * ssm.d_inner * FP32  # x-sized fp32 before padding
    bc_u = b * s * heads * ssm.d_state * FP32
    grp = b * s * ssm.n_groups * ssm.d_state * FP32
    h_u, h_p = b * s * heads, z.heads  # per-head scalars, before and after padding
    conv = z.conv_tokens // (b * s) if b * s else 0
    x_in = tr.alloc(b * s * hidden * dt) if mup else 0  # Falcon-H1: hidden · ssm_in_multiplier
    proj = tr.alloc(z.proj_tokens * dt)
    if mup:  # projected_states · mup_vector replaces in_proj's output
        scaled = tr.alloc(z.proj_tokens * dt)
        tr.free(proj)
        proj = scaled
    padded = tr.alloc(b * conv * (s + ssm.d_conv - 1) * dt)  # conv1d with padding, sliced back to s
    act = tr.alloc(z.conv_tokens * dt)
    tr.free(padded, x_in)
    dtb = tr.alloc(h_u * dt)  # dt + dt_bias, softplus, clamp
    soft = tr.alloc(h_u * dt)
    tr.free(dtb)
    dtc = tr.alloc(h_u * dt)
    tr.free(soft)
    scan = _scan(tr, z, d_u, bc_u, grp, h_u, h_p)
    tr.free(dtc)
    out = tr.alloc(d_u)  # torch.cat of the scan's outputs
    kept = [tr.alloc(state_bytes)] if state_bytes else []  # the cache's copy of the final state
    tr.free(*scan)
    y = _gate(tr, d_u, b * s * ssm.d_inner * dt, ssm.gated_norm)
    tr.free(out)
    low = tr.alloc(b * s * ssm.d_inner * dt)  # .to(dtype)
    o = tr.alloc(b * s * hidden * dt)  # out_proj
    tr.free(low, y, proj, act)
    if mup:  # · ssm_out_multiplier
        scaled = tr.alloc(b * s * hidden * dt)
        tr.free(o)
        o = scaled
    return o, kept


def _rglru(tr: Trace, ssm: SSMSpec, b: int, s: int, hidden: int, dt: int,
           state_bytes: int) -> tuple[int, list[int]]:
    """RecurrentGemma's recurrent block on the prompt, in transformers 5.25's order
    (modeling_recurrent_gemma.py ``RecurrentGemmaRecurrentBlock.forward``, ``RecurrentGemmaRglru.forward``,
    ``_rnn_scan``): gelu(linear_y) (linear_y's output freed), linear_x, the conv state cut from it by ``pad``, the
    padded conv (linear_x's output freed once rebound); in the RG-LRU every local lives until it returns: the
    reshaped input copy, each gate's ``baddbmm`` (the first freed when ``res`` is rebound), its transposed copy and
    sigmoid, ``-8·gate`` then ``·softplus``, ``exp``, ``2·log`` and ``exp``, the gated input, ``1 - a²`` and its
    sqrt, ``~reset·m`` and ``reset + …``, the normalised input; the scan's ``gate·~reset`` and its output (the
    fp32 per-step vectors are small-pool); then ``x·y`` and linear_out."""
    one = b * s * ssm.d_inner * dt
    y_lin = tr.alloc(one)
    y = tr.alloc(one)
    tr.free(y_lin)
    x_lin = tr.alloc(one)
    kept = [tr.alloc(state_bytes)] if state_bytes else []  # conv1d_state (pad) and the fp32 recurrent state
    conv = tr.alloc(b * ssm.d_inner * (s + ssm.d_conv - 1) * dt)
    tr.free(x_lin)
    held = [tr.alloc(one)]  # reshape_act
    res1, cp = tr.alloc(one), tr.alloc(one)
    held.append(tr.alloc(one))  # input_gate
    tr.free(cp)
    res2 = tr.alloc(one)
    tr.free(res1)
    cp = tr.alloc(one)
    gate = tr.alloc(one)
    tr.free(cp)
    m8 = tr.alloc(one)
    held.append(tr.alloc(one))  # log_recurrent_gate
    tr.free(m8)
    a = tr.alloc(one)  # recurrent_gate = exp(log)
    tr.free(gate)
    two = tr.alloc(one)
    held.append(tr.alloc(one))  # a_square
    tr.free(two)
    held.append(tr.alloc(one))  # gated_inputs
    om = tr.alloc(one)
    sq = tr.alloc(one)
    tr.free(om)
    nr = tr.alloc(one)
    held.append(tr.alloc(one))  # multiplier = reset + ~reset·m
    tr.free(nr, sq)
    held.append(tr.alloc(one))  # normalized_x
    ga = tr.alloc(one)  # _rnn_scan: recurrent_gate · ~reset
    ctx = tr.alloc(one)  # contextualized_states
    tr.free(ga, a, res2, *held, conv)
    prod = tr.alloc(one)  # x_branch · y_branch
    out = tr.alloc(b * s * hidden * dt)  # linear_out
    tr.free(prod, ctx, y)
    return out, kept


def _gated_delta(tr: Trace, g: LinearAttentionSpec, b: int, s: int, hidden: int, dt: int,
                 state_bytes: int) -> tuple[int, list[int]]:
    """A gated delta-net layer on the prompt (transformers 5.25 ``Qwen3NextGatedDeltaNet`` and
    ``torch_chunk_gated_delta_rule``): in_proj_qkvz's output; value, z, q and k copied out of it by their
    reshapes; q, k, v concatenated for the depthwise conv (padded output, activation); q and k repeated to the value
    heads; q, k, v in fp32; the l2 norms (x², x·rsqrt) and q's scaling; q, k, v padded to whole chunks; v·β, k·β;
    the pairwise decays (difference, masked, exp: chunk² per head), the UT system and the intra-chunk attention
    (bmm, ·decay), k·β·decay, the two triangular solves, the output buffer and q and k decayed in place of
    themselves; the output made contiguous and cast; after the rule returns its temporaries go, the outputs are
    concatenated, the gated RMSNorm (fp32 copy, square, normalised, cast, weighted; fp32 gate, silu, product, cast)
    and out_proj."""
    t = b * s
    kd, vd = g.num_k_heads * g.head_k_dim, g.num_v_heads * g.head_v_dim
    big_s = -(-s // GDN_CHUNK) * GDN_CHUNK
    qk_u, v_u = b * g.num_v_heads * s * g.head_k_dim * FP32, t * vd * FP32
    qk_p, v_p = qk_u // s * big_s, v_u // s * big_s
    c2 = b * g.num_v_heads * big_s * GDN_CHUNK * FP32
    conv = 2 * kd + vd
    if g.split_proj:  # Qwen3.5: in_proj_qkv is the conv's input, in_proj_z apart (Qwen3_5GatedDeltaNet.forward)
        proj = value = q = k = 0
        mixed, z = tr.alloc(t * conv * dt), (0 if g.late_gate else tr.alloc(t * vd * dt))
    else:
        proj = tr.alloc(t * (2 * kd + 2 * vd) * dt)
        value, z, q, k = tr.alloc(t * vd * dt), tr.alloc(t * vd * dt), tr.alloc(t * kd * dt), tr.alloc(t * kd * dt)
        mixed = tr.alloc(t * conv * dt)
    padded = tr.alloc(b * conv * (s + g.conv_kernel - 1) * dt)
    act = tr.alloc(t * conv * dt)
    tr.free(padded, mixed, q, k, value)
    rep = [tr.alloc(qk_u // FP32 * dt), tr.alloc(qk_u // FP32 * dt)] if g.num_k_heads != g.num_v_heads else []
    q32, k32, v32 = tr.alloc(qk_u), tr.alloc(qk_u), tr.alloc(v_u)
    tr.free(*rep)
    normed = []
    for x in (q32, k32):  # l2norm: x·x, then x·rsqrt(Σ)
        tr.free(tr.alloc(qk_u))
        normed.append(tr.alloc(qk_u))
        tr.free(x)
    scaled = tr.alloc(qk_u)
    tr.free(normed[0])
    qp, kp, vp = tr.alloc(qk_p), tr.alloc(qk_p), tr.alloc(v_p)
    tr.free(scaled, normed[1], v32)
    v_beta, k_beta = tr.alloc(v_p), tr.alloc(qk_p)
    diff = tr.alloc(c2)
    masked = tr.alloc(c2)
    tr.free(diff)
    decay = tr.alloc(c2)
    tr.free(masked)
    chunk2 = []
    for _ in range(2):  # k_β·kᵀ and q·kᵀ, each times the decays
        prod = tr.alloc(c2)
        chunk2.append(tr.alloc(c2))
        tr.free(prod)
    keep = [tr.alloc(qk_p), tr.alloc(v_p), tr.alloc(qk_p), tr.alloc(v_p)]  # k_β·decay, the solves, output buffer
    q2 = tr.alloc(qk_p)
    tr.free(qp)
    k2 = tr.alloc(qk_p)
    tr.free(kp)
    contiguous = tr.alloc(v_p)
    tr.free(keep[3])
    low = tr.alloc(v_u // FP32 * dt)
    tr.free(contiguous, q2, k2, vp, v_beta, k_beta, decay, *chunk2, *keep[:3])
    kept = [tr.alloc(state_bytes)] if state_bytes else []
    out, z = tr.alloc(v_u // FP32 * dt), (tr.alloc(t * vd * dt) if g.late_gate else z)  # cat; OLMo: g_proj after
    n = v_u // FP32
    x = tr.alloc(n * FP32)
    tr.free(tr.alloc(n * FP32))
    y = tr.alloc(n * FP32)
    tr.free(x)
    cast = tr.alloc(n * dt)
    weighted = tr.alloc(n * dt)
    tr.free(cast, y)
    g32 = tr.alloc(n * FP32)
    sig = tr.alloc(n * FP32)
    tr.free(g32)
    prod = tr.alloc(n * FP32)
    tr.free(sig, weighted)
    gated = tr.alloc(n * dt)
    tr.free(prod, out)
    o = tr.alloc(t * hidden * dt)
    tr.free(proj, z, gated, act, low)
    return o, kept


def _scan(tr: Trace, z: ScanSizes, d_u: int, bc_u: int, grp: int, h_u: int, h_p: int) -> list[int]:
    """``mamba2_chunk_scan``: returns the keys of its output and the new states (the rest is freed)."""
    x32 = tr.alloc(d_u)
    b32 = tr.alloc(grp)
    b_rep = tr.alloc(bc_u)
    tr.free(b32)
    c32 = tr.alloc(grp)
    c_rep = tr.alloc(bc_u)
    tr.free(c32)
    pad = tr.alloc(z.d)
    d_res = tr.alloc(z.d)  # D · pad(x)
    tr.free(pad)
    dtf = tr.alloc(h_u * FP32)
    xdt = tr.alloc(d_u)
    tr.free(dtf, x32)
    dtf = tr.alloc(h_u * FP32)
    a_dt = tr.alloc(h_u * FP32)
    tr.free(dtf)
    xc, ac, bc, cc = tr.alloc(z.d), tr.alloc(h_p * FP32), tr.alloc(z.bc), tr.alloc(z.bc)  # reshape_into_chunks
    tr.free(xdt, a_dt, b_rep, c_rep)
    a_cum = tr.alloc(h_p * FP32)
    ell = _exp_segsum(tr, z.chunk2)
    ops = [tr.alloc(z.bc), tr.alloc(z.bc)]  # G = C·Bᵀ: both operands copied for bmm
    g = tr.alloc(z.chunk2)
    tr.free(*ops)
    m = tr.alloc(z.chunk2)  # G · L
    y_diag = _bmm(tr, [z.d], z.d)  # M·x
    sub = tr.alloc(h_p * FP32)
    decay = tr.alloc(h_p * FP32)
    tr.free(sub)
    b_decay = tr.alloc(z.bc)
    states = _bmm(tr, [z.d, z.bc], z.states)  # B_decay·x
    prev = tr.alloc(z.state1)
    cat = tr.alloc(z.states + z.state1)
    tr.free(states)
    new_states = _bmm(tr, [z.states + z.state1], z.states + z.state1)
    tr.free(cat)
    decay_out = tr.alloc(h_p * FP32)
    c_states = _bmm(tr, [z.bc, z.states], z.d)  # C·states
    y_off = tr.alloc(z.d)
    total = tr.alloc(z.d)
    contiguous = tr.alloc(z.d)
    tr.free(total)
    output = tr.alloc(z.d)  # + D residual
    tr.free(contiguous, xc, ac, bc, cc, d_res, a_cum, ell, g, m, y_diag, decay, b_decay, prev, decay_out, c_states,
            y_off)
    return [output, new_states]


def _exp_segsum(tr: Trace, chunk2: int) -> int:
    """``exp(segment_sum(A))``: masked_fill, cumsum, masked_fill, exp."""
    first = tr.alloc(chunk2)
    cum = tr.alloc(chunk2)
    second = tr.alloc(chunk2)
    tr.free(cum, first)
    ell = tr.alloc(chunk2)
    tr.free(second)
    return ell


def _bmm(tr: Trace, copies: list[int], out: int) -> int:
    """An einsum run as bmm: its operands copied into the batched layout, the output, the copies freed."""
    keys = [tr.alloc(n) for n in copies]
    o = tr.alloc(out)
    tr.free(*reversed(keys))
    return o


def _gate(tr: Trace, d_u: int, d_low: int, norm: bool) -> int:
    """The gate on the scan's fp32 output: the gated RMSNorm (fp32 gate, silu, product, square, normalised,
    weighted) or ``y · silu(gate)``. Returns the result's key (fp32)."""
    if not norm:
        sig = tr.alloc(d_low)
        y = tr.alloc(d_u)
        tr.free(sig)
        return y
    g32 = tr.alloc(d_u)
    sig = tr.alloc(d_u)
    tr.free(g32)
    prod = tr.alloc(d_u)
    tr.free(sig)
    tr.free(tr.alloc(d_u))  # pow(2), reduced at once
    normed = tr.alloc(d_u)
    tr.free(prod)
    y = tr.alloc(d_u)
    tr.free(normed)
    return y

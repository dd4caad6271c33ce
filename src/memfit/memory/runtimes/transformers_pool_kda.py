"""Kimi delta attention (``kimi_linear``) on transformers' PyTorch path as the caching allocator sees it: the
prefill's tensors of one KDA mixer, allocation by allocation, for the pool emulation of ``transformers_pool.py``
(called through ``transformers_pool_mixers.mixer_prefill``).

transformers 5.25's ``KimiLinearDeltaAttention`` without the ``fla`` kernels runs ``chunk_kimi_delta_attention``:
the chunked rule's intra-chunk part over the whole sequence at once (the per-channel decay mask, ``b·H·S·64·d_k``
fp32, three such tensors), then a Python loop over the chunks that carries the recurrent state ``S``
(``b·H·d_k·d_v`` fp32). Each chunk makes, in this order (the simulator's allocation trace of the development case
``kimi-linear-l5/gen-b2-s4096-new8``):

* ``(q_i · exp(g_i)) @ S``: the decayed query (chunk-sized, ``b·H·64·d_k`` fp32), the product with ``S``
  (``b·H·64·d_v``), kept until the next chunk makes its own;
* ``q_i·k_i`` times the chunk's decay mask, summed over the channels (two ``b·H·64·64·d_k`` tensors);
* ``v' = k_cumdecay_i @ S`` and ``v_new = u_i − v'`` (each kept until the next chunk's replaces it), ``attn @ v_new``
  and the chunk's output (copied into the output buffer and dropped);
* the state's update: ``S · exp(g_last)`` (a state-sized tensor), ``k_i · exp(g_last − g_i)`` (difference, exp,
  product, chunk-sized), its product with ``v_new`` (state-sized) and the new state (the old one goes).

The loop's last state lives until the layer returns; the cache keeps its own fp32 copy of it (``zeros_like`` +
``copy_``) made after the outputs are concatenated, and the convolution's state, made at the convolution. These
mid-sized tensors (2 and 4 MiB at the development case's widths) decide which cached blocks later tensors reuse.
With these and Kimi's build layout (``transformers_pool_build.py``) the replay of that case reserves what the
simulator does (+19.11 → +0.01 % on its device total; docs/simulator.md, "Device total").
"""

from __future__ import annotations

from ...spec import LinearAttentionSpec
from ..allocator_trace import Trace
from ..ssm_activations import FP32

__all__ = ["GDN_CHUNK", "kda_prefill"]

GDN_CHUNK = 64  # torch_chunk_gated_delta_rule(chunk_size=64), as Qwen3NextGatedDeltaNet calls it; KDA's too


def kda_prefill(tr: Trace, g: LinearAttentionSpec, b: int, s: int, hidden: int, dt: int,
                state_bytes: int) -> tuple[int, list[int]]:
    """A Kimi delta attention layer on the prompt (transformers 5.25 ``KimiLinearDeltaAttention`` and
    ``chunk_kimi_delta_attention``): q, k, v projected and concatenated for the depthwise conv (the cache's conv
    state, the padded output, activation); the forget gate in fp32 (the projection cast, + bias, softplus as
    exp / 1 + / log / where, times −A); q, k, v made contiguous in fp32 and g cloned; the l2 norms (x², x / ‖x‖);
    q padded and scaled, k, v and g padded; v·β, k·β; g's cumulative sum; the per-channel decay mask and the solve
    (:func:`_decay_and_solve`); the solved values and ``k_β·exp(g)`` with their products, the initial state, the
    output buffer, the chunk loop (:func:`_chunk_loop`), the output made contiguous; after the rule returns its
    temporaries go; the gated RMSNorm in fp32 and o_proj (:func:`_sigmoid_gated_norm`). Returns o_proj's key and
    the cache's keys (conv state, recurrent state: ``state_bytes`` in all)."""
    t = b * s
    big_s = -(-s // GDN_CHUNK) * GDN_CHUNK
    qk_u, v_u = t * g.num_v_heads * g.head_k_dim * FP32, t * g.num_v_heads * g.head_v_dim * FP32
    qk_p, v_p = qk_u // s * big_s, v_u // s * big_s
    recurrent = min(state_bytes, b * g.num_v_heads * g.head_k_dim * g.head_v_dim * FP32)
    conv = g.conv_dim
    qkv = [tr.alloc(qk_u // FP32 * dt), tr.alloc(qk_u // FP32 * dt), tr.alloc(v_u // FP32 * dt)]
    mixed = tr.alloc(t * conv * dt)
    tr.free(*qkv)
    conv_state = tr.alloc(state_bytes - recurrent)
    padded = tr.alloc(b * conv * (s + g.conv_kernel - 1) * dt)
    act = tr.alloc(t * conv * dt)
    tr.free(padded, mixed)
    gate = _forget_gate(tr, qk_u, t * g.head_k_dim * dt, dt)
    fp32 = []
    for n in (qk_u, qk_u, v_u):  # transpose(1, 2).contiguous() in the model dtype, then .to(float32)
        copy = tr.alloc(n // FP32 * dt)
        fp32.append(tr.alloc(n))
        tr.free(copy)
    q32, k32, v32 = fp32
    g32 = tr.alloc(qk_u)  # g is fp32 already: its contiguous copy
    normed = []
    for x in (q32, k32):  # l2norm: x·x, then x / ‖x‖
        tr.free(tr.alloc(qk_u))
        normed.append(tr.alloc(qk_u))
        tr.free(x)
    qp = tr.alloc(qk_p)
    q = tr.alloc(qk_p)  # · scale
    tr.free(qp, normed[0])
    kp = tr.alloc(qk_p)
    tr.free(normed[1])
    vp = tr.alloc(v_p)
    tr.free(v32)
    gp = tr.alloc(qk_p)
    tr.free(g32)
    v_beta, k_beta = tr.alloc(v_p), tr.alloc(qk_p)
    cum = tr.alloc(qk_p)
    tr.free(gp)
    decay, attn_eye, prev = _decay_and_solve(tr, b * g.num_v_heads * big_s // GDN_CHUNK, g.head_k_dim)
    values = tr.alloc(v_p)
    tr.free(vp)
    ex = tr.alloc(qk_p)
    kb_ex = tr.alloc(qk_p)
    tr.free(ex)
    k_cum = tr.alloc(qk_p)
    tr.free(kb_ex)
    heads = b * g.num_v_heads
    state = tr.alloc(heads * g.head_k_dim * g.head_v_dim * FP32)  # the initial state: zeros
    out = tr.alloc(v_p)
    state, loop_keys = _chunk_loop(tr, heads, big_s // GDN_CHUNK, g.head_k_dim, g.head_v_dim, state)
    contiguous = tr.alloc(v_u)
    low = tr.alloc(v_u // FP32 * dt)
    tr.free(contiguous, out, v_beta, k_beta, decay, k_cum, q, kp, values, cum, attn_eye, prev, *loop_keys)
    o, cached = _sigmoid_gated_norm(tr, v_u, t * hidden * dt, dt, t * g.head_v_dim * dt, recurrent)
    tr.free(low, act, gate, state)
    return o, [k for k in (conv_state, cached) if k]


def _chunk_loop(tr: Trace, heads: int, chunks: int, d_k: int, d_v: int, state: int) -> tuple[int, list[int]]:
    """The inter-chunk loop over ``chunks`` chunks of 64 for ``heads`` (batch × heads) heads, as described in the
    module docstring. Returns the last state's key and the keys the loop's variables still hold at its end."""
    ck, cv = heads * GDN_CHUNK * d_k * FP32, heads * GDN_CHUNK * d_v * FP32
    sb, big = heads * d_k * d_v * FP32, heads * GDN_CHUNK * GDN_CHUNK * d_k * FP32
    o_inter = v_prime = v_new = 0
    for _ in range(chunks):
        qg = tr.alloc(ck)  # exp(g_i), then q_i · it
        qd = tr.alloc(ck)
        tr.free(qg)
        nxt = tr.alloc(cv)  # @ S
        tr.free(qd, o_inter)
        o_inter = nxt
        first = tr.alloc(big)  # q_i·k_i and its product with the chunk's decay mask
        tr.free(first, tr.alloc(big))
        nxt = tr.alloc(cv)
        tr.free(v_prime)
        v_prime = nxt
        nxt = tr.alloc(cv)
        tr.free(v_new)
        v_new = nxt
        tr.free(tr.alloc(cv), tr.alloc(cv))  # attn @ v_new, o_inter + it (copied into the output buffer)
        decayed = tr.alloc(sb)  # S · exp(g_last)
        diff = tr.alloc(ck)  # g_last − g_i, exp, k_i · exp
        e = tr.alloc(ck)
        tr.free(diff)
        kd = tr.alloc(ck)
        tr.free(e)
        upd = tr.alloc(sb)  # kdᵀ @ v_new
        tr.free(kd)
        new = tr.alloc(sb)
        tr.free(decayed, upd, state)
        state = new
    return state, [o_inter, v_prime, v_new]


def _decay_and_solve(tr: Trace, chunks: int, d_k: int) -> tuple[int, int, int]:
    """KDA's intra-chunk part over ``chunks`` (batch × heads × chunks) chunks of 64: the per-channel decay mask
    (difference, masked, exp: ``chunks·64·64·d_k`` fp32 each), ``k_β·k`` and its product with the mask, the matrix
    summed, masked and negated, the row-by-row solve (``attn[..., :i, :i]`` copied and multiplied by the row, i² per
    chunk), + eye. Returns the decay mask's, the matrix's and the last row copy's keys (alive to the end)."""
    big, att = chunks * GDN_CHUNK * GDN_CHUNK * d_k * FP32, chunks * GDN_CHUNK * GDN_CHUNK * FP32
    diff = tr.alloc(big)
    masked = tr.alloc(big)
    tr.free(diff)
    decay = tr.alloc(big)
    tr.free(masked)
    prod = tr.alloc(big)
    prod2 = tr.alloc(big)
    tr.free(prod)
    summed = tr.alloc(att)
    tr.free(prod2)
    masked_att = tr.alloc(att)
    tr.free(summed)
    attn = tr.alloc(att)
    tr.free(masked_att)
    prev = 0
    for i in range(1, GDN_CHUNK):
        sub = tr.alloc(chunks * i * i * FP32)
        tr.free(prev)
        tr.free(tr.alloc(chunks * i * i * FP32))
        prev = sub
    attn_eye = tr.alloc(att)
    tr.free(attn)
    return decay, attn_eye, prev


def _forget_gate(tr: Trace, n: int, low: int, dt: int) -> int:
    """KDA's forget gate over ``n`` fp32 bytes: f_a_proj's output (``low`` bytes), f_b_proj's, in fp32, + bias,
    softplus (its threshold mask, exp, 1 +, log, where; the mask goes first), · −A. Returns the gate's key."""
    f_a = tr.alloc(low)  # f_a_proj: the low-rank half
    f_b = tr.alloc(n // FP32 * dt)
    tr.free(f_a)
    x32 = tr.alloc(n)
    biased = tr.alloc(n)
    tr.free(x32)
    over = tr.alloc(n // FP32)
    e = tr.alloc(n)
    one = tr.alloc(n)
    tr.free(e)
    log = tr.alloc(n)
    tr.free(one)
    soft = tr.alloc(n)
    tr.free(over, log)
    gate = tr.alloc(n)
    tr.free(f_b, biased, soft)
    return gate


def _sigmoid_gated_norm(tr: Trace, n: int, out_bytes: int, dt: int, low: int, cache: int) -> tuple[int, int]:
    """KDA's output: the outputs concatenated, the cache's copy of the state (``cache`` bytes), the gate's
    low-rank projection (``low`` bytes, then ``n`` fp32 bytes in the model dtype), the fp32 RMSNorm (copy,
    square, normalised, weighted), the gate in fp32, its sigmoid and the product, cast back, o_proj. Returns
    o_proj's key and the cache's."""
    catted = tr.alloc(n // FP32 * dt)
    cached = tr.alloc(cache)
    g_low = tr.alloc(low)
    g_gate = tr.alloc(n // FP32 * dt)
    tr.free(g_low)
    x = tr.alloc(n)
    tr.free(tr.alloc(n))
    y = tr.alloc(n)
    tr.free(x)
    weighted = tr.alloc(n)
    tr.free(y)
    gf = tr.alloc(n)
    sig = tr.alloc(n)
    tr.free(gf)
    gated = tr.alloc(n)
    tr.free(sig, weighted)
    cast = tr.alloc(n // FP32 * dt)
    tr.free(gated)
    o = tr.alloc(out_bytes)
    tr.free(catted, g_gate, cast)
    return o, cached

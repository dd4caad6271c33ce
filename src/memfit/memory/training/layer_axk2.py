"""A.X-K2's layer in a training step as the caching allocator sees it (``layer_stream`` dispatches here for
``axk2_attention.GATED_MLA``), tensor by tensor from transformers 5.25 ``models/axk2/modeling_axk2.py``; what each
keeps is ``memory.axk2_attention``'s.

* ``AXK2GatedRMSNorm`` (:func:`block_norm`): the RMSNorm, ``fc2(silu(fc1(y)))``, its ``.float()``, the fp32 sigmoid
  (kept), ``y * sigmoid`` in fp32 and its cast back. The first layer's input needs no gradient under LoRA (PEFT
  freezes the embedding; nothing calls ``enable_input_require_grads`` without checkpointing), so its input norm
  keeps nothing.
* ``AXK2Attention.forward`` (:func:`attention`): q_a_proj, q_a_layernorm, the ``cat`` q_gate_proj reads, its output
  (a local to the end), the gate half copied by ``reshape``, kv_a_proj_with_mqa and kv_a_layernorm, the interleaved
  RoPE (four half-width products, ``sub``, ``add``, ``cat``), the cache's copies, the query ``cat``, kv_b_proj and
  ``expand_kv``'s fresh key; then the indexer (:func:`_indexer`), the top-k mask folded into the causal mask and
  SDPA's additive bias, the memory-efficient kernel's output and log-sum-exp, the fp32 gate and o_proj. The
  forward's locals (q_gate's output, the gate copy, the rotated half, the top-k indices, the masks) die when it
  returns.
* ``AXK2Indexer.forward`` runs under ``torch.no_grad``: wq_b's output, wk's and k_norm's, ``rotate_half`` RoPE on the
  query's rotary part, the query ``cat``, the cached key; ``matmul(q.float(), k.float().unsqueeze(1))`` with more
  than one sequence expands the key to every query (``b × s × d × t`` fp32, ``aten.clone``) beside the fp32 scores
  (``b × s × heads × t``), then ``* softmax_scale`` and ``relu``; the weighted sum over heads (``b × s × t`` fp32),
  the causal ``masked_fill``, ``topk`` (values and int64 indices) and the int32 indices it returns.
* GLM-5 (``glm_moe_dsa``, transformers 5.25 ``models/glm_moe_dsa/modeling_glm_moe_dsa.py``) is DeepSeek-V3.2's layer
  with three differences (``SHARED_TOPK``): ``GlmMoeDsaIndexer.forward`` rotates the query's rotary part (its first
  ``qk_rope_head_dim`` features) with ``apply_rotary_pos_emb_interleave`` (four half-width products, ``sub``,
  ``add``, ``cat``) instead of ``rotate_half``; a ``"shared"`` layer builds no indexer (``GlmMoeDsaAttention.__init__``)
  and masks with the previous layer's top-k; and ``GlmMoeDsaModel.forward`` passes each layer's top-k to the next
  (``hidden_states, topk_indices = decoder_layer(..., prev_topk_indices=topk_indices)``), so a full layer's int32
  top-k lives until the next layer returns, the last one until the model returns (:func:`drop_topk`). Under full
  checkpointing the loop's top-k is not replayed (the checkpoint's ``partial`` keeps a layer's ``prev_topk_indices``
  to its backward; open).
"""

from __future__ import annotations

from ...spec import AttentionSpec, LayerSpec
from ..axk2_attention import GATED_MLA, INDEXED_MLA, first_norm_no_grad, gated_norms
from ..runtimes.transformers_pool_rope import rotate_by_halves
from .layer_ops import LayerRun, StepContext, linear, norm

__all__ = ["SHARED_TOPK", "attention", "block_norm", "drop_topk", "made_topk"]

BOOL, FP32, INT64 = 1, 4, 8
SHARED_TOPK = ("glm_moe_dsa",)  # top-k handed from layer to layer, "shared" layers, interleaved indexer RoPE


def block_norm(c: StepContext, run: LayerRun, x_bytes: int, layer: LayerSpec, part: str) -> tuple[int, int]:
    """The norm before ``part``: ``AXK2GatedRMSNorm`` for the attention and a sparse layer's MoE, else ``norm``
    (which keeps nothing for the first layer's attention of ``INDEXED_MLA`` where its input needs no gradient);
    returns (output key, output bytes per element)."""
    if c.spec.family not in INDEXED_MLA:
        return norm(c, run, x_bytes)
    keep = run.keep
    run.keep = keep and not (c.layer == 0 and part == "attention" and first_norm_no_grad(c.p, c.checkpointed))
    y, yb = norm(c, run, x_bytes)
    if not gated_norms(c.spec, layer) or (part != "attention" and layer.moe is None):
        run.keep = keep
        return y, yb
    tr, n = c.tr, c.ts * c.spec.hidden_size
    g = tr.alloc(n * yb)  # fc2(silu(fc1(y)))
    g32 = tr.alloc(n * FP32)  # .float()
    tr.free(g)
    sig = tr.alloc(n * FP32)
    tr.free(g32)
    prod = tr.alloc(n * FP32)  # y * sigmoid: fp32
    out = tr.alloc(n * yb)  # .to(y.dtype)
    tr.free(prod)
    run.hold(tr, y, sig)
    run.keep = keep
    return out, yb


def attention(c: StepContext, run: LayerRun, layer: LayerSpec, x: int, xb: int) -> int:
    """``AXK2Attention.forward`` under SDPA; returns o_proj's output."""
    a = layer.attention
    assert a is not None
    tr, t, pb, b, s, h = c.tr, c.t, c.pb, c.batch, c.seq, c.spec.hidden_size
    heads, d, dv, ql, kl = a.num_heads, a.head_dim, a.value_dim, a.q_lora_rank or 0, a.kv_lora_rank or 0
    rope, nope = a.qk_rope_head_dim or 0, a.qk_nope_head_dim or 0
    weights_train = c.p.full and not c.p.amp  # a Linear whose weight trains keeps its input
    gated = c.spec.family in GATED_MLA
    qc = linear(c, run, "attn_q_a", x, xb, h, ql)
    qr = _rms(c, run, ql)
    gate = 0
    if gated:
        cat = tr.alloc(t * 2 * ql * pb)
        qg = linear(c, run, "attn_q_b", cat, pb, 2 * ql, heads * (d + dv))
        run.hold(tr, cat) if weights_train else tr.free(cat)
        gate = tr.alloc(t * heads * dv * pb)  # gate_states.reshape: a copy of the strided half
    else:  # DeepseekV32Attention: q_resid = q_a_layernorm(q_a_proj(x)) (q_a's output goes), q_b_proj(q_resid)
        tr.free(qc)
        qc = 0
        qg = linear(c, run, "attn_q_b", qr, pb, ql, heads * d)
        run.hold(tr, qr) if weights_train else None
    ckv = linear(c, run, "attn_kv_a_mqa", x, xb, h, kl + rope)
    kp = _rms(c, run, kl)
    half = t * heads * rope // 2 * pb  # apply_rotary_pos_emb_interleave on q_rot: q1·cos - q2·sin, q2·cos + q1·sin
    q_rot = rotate_by_halves(tr, half)
    run.cache += [tr.alloc(t * kl * pb), tr.alloc(t * rope * pb)] if not c.checkpointed else []  # DynamicCache
    query = tr.alloc(t * heads * d * pb)  # torch.cat((q_pass, q_rot))
    kv = linear(c, run, "attn_kv_b", kp, pb, kl, heads * (nope + dv))
    run.hold(tr, kp) if weights_train else tr.free(kp)
    key = tr.alloc(t * heads * d * pb)  # expand_kv's new_empty, k_nope and k_rot copied in
    carry = c.spec.family in SHARED_TOPK and not c.checkpointed
    prev = c.topk[-1] if carry and c.topk else 0  # the previous layer's top-k, alive in the model's loop
    picked = _indexer(c, run, a) if a.index_heads else prev  # a "shared" layer reuses it
    if carry:
        c.topk = [k for k in (prev, picked) if k] if picked != prev else [picked]
    bias, masks = _sparse_mask(c, a)
    out, lse = tr.alloc(t * heads * dv * pb), tr.alloc(b * heads * s * FP32)
    run.kernels.append((len(run.linears), [t * heads * d * pb, t * heads * d * pb, t * heads * dv * pb], 0))
    sig, o_in = _gate(c, t * heads * dv) if gated else (0, out)
    o = linear(c, run, "attn_output", o_in, pb, heads * dv, h)
    run.hold(tr, *[k for k in (query, key, kv, bias, out, lse, sig) if k])
    if o_in != out:
        run.hold(tr, o_in) if weights_train else tr.free(o_in)
    tr.free(qc, 0 if (weights_train and not gated) else qr, qg, gate, ckv, q_rot, 0 if carry else picked, *masks)
    return o  # (the forward's locals freed above)


def drop_topk(c: StepContext, last: bool) -> None:
    """The layer has returned: ``GlmMoeDsaModel.forward``'s loop rebinds ``topk_indices``, so the previous layer's
    top-k goes (after the last layer, at the model's return, this one too)."""
    c.tr.free(*c.topk[:-1], *(c.topk[-1:] if last else []))
    c.topk = [] if last else c.topk[-1:]


def made_topk(c: StepContext) -> int:
    """Bytes of the top-k this layer made and the model's loop still holds (not a tensor autograd keeps)."""
    live = c.tr.pool.live
    return live[c.topk[-1]].size if len(c.topk) == 2 and c.topk[-1] in live else 0


def _gate(c: StepContext, n: int) -> tuple[int, int]:
    """``(attn_output * torch.sigmoid(gate_states.float())).to(dtype)`` on ``n`` elements: the gate's fp32 copy,
    its sigmoid (kept), the fp32 product, its cast back (o_proj's input). Returns (sigmoid, cast)."""
    tr = c.tr
    g32 = tr.alloc(n * FP32)
    sig = tr.alloc(n * FP32)
    tr.free(g32)
    prod = tr.alloc(n * FP32)
    o_in = tr.alloc(n * c.pb)
    tr.free(prod)
    return sig, o_in


def _rms(c: StepContext, run: LayerRun, width: int) -> int:
    """``AXK2RMSNorm`` over a latent of ``width`` (q_a_layernorm, kv_a_layernorm): the fp32 copy (kept), ``pow``,
    the normed fp32, its cast and the weight's product; returns the output key."""
    tr, n, pb = c.tr, c.t * width, c.pb
    x32 = tr.alloc(n * FP32)
    tr.free(tr.alloc(n * FP32))
    normed = tr.alloc(n * FP32)
    low = tr.alloc(n * pb)
    out = tr.alloc(n * pb)
    run.hold(tr, x32)
    run.hold(tr, low) if c.p.full else tr.free(low)
    tr.free(normed)
    return out


def _indexer(c: StepContext, run: LayerRun, a: AttentionSpec) -> int:
    """``AXK2Indexer.forward`` (no grad): its transients, the cached indexer key (to ``run.cache``); returns the
    int32 top-k indices."""
    tr, t, pb, b, s = c.tr, c.t, c.pb, c.batch, c.seq
    heads, d, rope = a.index_heads, a.index_head_dim, a.qk_rope_head_dim or 0
    topk = min(a.index_topk, s)
    iq = tr.alloc(t * heads * d * pb)  # wq_b
    wk = tr.alloc(t * d * pb)
    k = tr.alloc(t * d * pb)  # k_norm (LayerNorm)
    tr.free(wk)
    rot = t * heads * rope * pb
    if c.spec.family in SHARED_TOPK:  # apply_rotary_pos_emb_interleave: q1·cos - q2·sin, q2·cos + q1·sin, cat
        halves = []
        for _ in range(2):
            m1, m2 = tr.alloc(rot // 2), tr.alloc(rot // 2)
            halves.append(tr.alloc(rot // 2))
            tr.free(m1, m2)
        q_rot = tr.alloc(rot)
        tr.free(*halves)
    else:  # rotate_half RoPE on the query's rotary part
        m1, neg = tr.alloc(rot), tr.alloc(rot // 2)
        cat = tr.alloc(rot)
        tr.free(neg)
        m2 = tr.alloc(rot)
        tr.free(cat)
        q_rot = tr.alloc(rot)
        tr.free(m1, m2)
    q = tr.alloc(t * heads * d * pb)  # torch.cat([q_rot, q_pass])
    kc = tr.alloc(t * d * pb)
    if not c.checkpointed:  # cache.update_indexer: torch.cat into the layer's indexer keys
        run.cache.append(tr.alloc(t * d * pb))
    q32, k32 = tr.alloc(t * heads * d * FP32), tr.alloc(t * d * FP32)
    expanded = tr.alloc(b * s * d * s * FP32) if b > 1 else 0  # matmul's broadcast key, one per query
    scores = tr.alloc(b * s * heads * s * FP32)
    tr.free(expanded, q32, k32)
    scaled = tr.alloc(b * s * heads * s * FP32)
    tr.free(scores)
    relu = tr.alloc(b * s * heads * s * FP32)
    tr.free(scaled)
    index = tr.alloc(b * s * s * FP32)  # weights @ scores, summed over heads
    inverted = tr.alloc(b * s * s * BOOL)
    masked = tr.alloc(b * s * s * FP32)
    tr.free(inverted, index)
    values, idx = tr.alloc(b * s * topk * FP32), tr.alloc(b * s * topk * INT64)
    tr.free(values)
    picked = tr.alloc(b * s * topk * FP32)  # .indices.to(torch.int32)
    tr.free(idx, q, q_rot, iq, k, kc, relu, masked)
    return picked


def _sparse_mask(c: StepContext, a: AttentionSpec) -> tuple[int, list[int]]:
    """The top-k scattered into a boolean mask, folded into the causal mask (``attention_mask & ~index_mask``), and
    SDPA's additive bias of it (``b × 1 × s × s`` in the query's dtype); returns (bias, the masks alive to the
    forward's end)."""
    tr, b, s, topk = c.tr, c.batch, c.seq, min(a.index_topk, c.seq)
    ones = tr.alloc(b * s * s * BOOL)
    idx = tr.alloc(b * s * topk * INT64)  # topk_indices.long()
    index_mask = tr.alloc(b * s * s * BOOL)  # scatter
    tr.free(ones, idx)
    inverted = tr.alloc(b * s * s * BOOL)
    combined = tr.alloc(b * s * s * BOOL)
    tr.free(inverted)
    inverted = tr.alloc(b * s * s * BOOL)  # SDPA: logical_not, then where(mask, 0, -inf)
    bias = tr.alloc(b * s * s * c.pb)
    tr.free(inverted)
    return bias, [index_mask, combined]

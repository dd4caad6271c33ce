"""ZAYA's decoder layer as the caching allocator sees it (issue 12, l12zaya), for the pool emulation of
``transformers_pool.py``: written from transformers 5.25 ``models/zaya/modeling_zaya.py`` and checked against the
simulator's allocation trace of the development case zaya-default-l2/gen-b3-s4000-new8 (sweep-dev.jsonl, moved there
from blind round 5; the generic replay had priced a model-dtype stream, a plain q/k/v projection and no router MLP).

``ZayaModel.forward``: ``(inputs_embeds + bias) * scale`` cast to a float32 stream before the first layer (the
embeddings stay bound). ``ZayaDecoderLayer.forward``: the fp32 residual cast to the norm's dtype, the RMSNorm's fp32
chain; ``ZayaCCAProjection.forward``: q_proj, k_proj, their ``cat``, the repeated key residual, ``(q + k) * 0.5``
and its per-group mean, the causally padded q/k channels through the depthwise and the grouped ``Conv1d``, q and k
plus their residuals, the current and delayed values and their ``cat``s (the projections go when it returns);
``ZayaQKNorm``: q and k scaled to ``sqrt(head_dim)`` over their L2 norm, k times the per-head temperature;
``apply_rotary_pos_emb`` on the rotary part and the ``cat`` with the pass-through; the DynamicCache's copies, the
flash kernel, the output laid out and ``o_proj``. ``ZayaResidualScaling.forward``: ``(out + bias) * scale`` in the
model dtype, ``(residual + bias) * scale`` in fp32 and their fp32 sum. The MoE block: ``ZayaRouter.forward``'s
``down_proj`` (in ``router_hidden_size``), from the second layer on plus the previous layer's states times a scale,
the ``.clone()`` handed to the next layer (the model loop holds it until the next layer returns), ``ZayaRouterMLP``
(RMSNorm, two GELU ``fc``s); the grouped experts (``transformers_pool_blocks._moe``); then the second residual
scaling. The layer's fp32 input stays bound to the model loop's ``hidden_states`` until the layer returns.
"""

from __future__ import annotations

from ...spec import ModelSpec
from ...workload import Workload
from ..allocator_trace import Trace
from ..ssm_activations import FP32
from .transformers_pool_attention import norm
from .transformers_pool_blocks import ffn_prefill
from .transformers_pool_rope import rope
from .transformers_zaya import zaya_config

__all__ = ["zaya_block"]


def _scaled_sum(tr: Trace, n: int, dt: int, out: int, residual: int) -> int:
    """``ZayaResidualScaling``: the branch output's bias and scale in the model dtype, the residual's in fp32, their
    fp32 sum (the output and the old residual go; the caller frees what else it holds)."""
    a = tr.alloc(n * dt)
    b = tr.alloc(n * dt)
    tr.free(a)
    r1 = tr.alloc(n * FP32)
    r2 = tr.alloc(n * FP32)
    tr.free(r1)
    new = tr.alloc(n * FP32)
    tr.free(b, r2, out, residual)
    return new


def _cast_norm(tr: Trace, spec: ModelSpec, n: int, dt: int) -> int:
    """``norm(residual.to(dtype))``: the model-dtype copy of the fp32 stream, then the RMSNorm's fp32 chain."""
    cast = tr.alloc(n * dt)
    normed = norm(tr, spec, n, dt)
    tr.free(cast)
    return normed


def _cca(tr: Trace, spec: ModelSpec, wl: Workload, dt: int) -> tuple[int, int, int]:
    """``ZayaCCAProjection.forward`` on the normed input: returns the keys of q, k and v."""
    att = spec.layers[0].attention
    assert att is not None
    b, s = wl.batch, wl.context
    t = b * s
    q, kv = att.num_heads * att.head_dim, att.num_kv_heads * att.head_dim
    k0, k1 = (int(zaya_config(spec).get(k) or 2) for k in ("cca_time0", "cca_time1"))
    qp, kp = tr.alloc(t * q * dt), tr.alloc(t * kv * dt)
    qk = tr.alloc(t * (q + kv) * dt)
    rep = tr.alloc(t * q * dt)  # repeat_kv of the key residual
    mixed = tr.alloc(t * q * dt)
    q_res = tr.alloc(t * q * dt)  # (q + k) * 0.5
    tr.free(mixed)
    k_res = tr.alloc(t * kv * dt)  # its mean over each group
    tr.free(rep)
    padded = tr.alloc(b * (q + kv) * (s + k0 + k1 - 2) * dt)
    tr.free(qk)
    conv = tr.alloc(b * (q + kv) * (s + k1 - 1) * dt)
    tr.free(padded)
    grouped = tr.alloc(t * (q + kv) * dt)
    tr.free(conv)
    query, key = tr.alloc(t * q * dt), tr.alloc(t * kv * dt)
    current, delayed = tr.alloc(t * kv // 2 * dt), tr.alloc(t * kv // 2 * dt)
    shifted = tr.alloc(t * kv // 2 * dt)
    value = tr.alloc(t * kv * dt)
    tr.free(qp, kp, grouped, q_res, k_res, current, delayed, shifted)
    return query, key, value


def _attention(tr: Trace, spec: ModelSpec, wl: Workload, dt: int, kv: int) -> tuple[int, list[int]]:
    """The attention sub-block from the layer's fp32 input to ``o_proj``'s output; returns it and the K/V keys."""
    att = spec.layers[0].attention
    assert att is not None
    t, h = wl.batch * wl.context, spec.hidden_size
    normed = _cast_norm(tr, spec, t * h, dt)
    query, key, value = _cca(tr, spec, wl, dt)
    qn = tr.alloc(t * att.num_heads * att.head_dim * dt)  # ZayaQKNorm: q scaled
    k1 = tr.alloc(t * att.num_kv_heads * att.head_dim * dt)
    kn = tr.alloc(t * att.num_kv_heads * att.head_dim * dt)  # k scaled, times the temperature
    tr.free(k1, query, key)
    rot = att.rope_dim or att.head_dim
    # apply_rotary_pos_emb on the rotary part, then its cat with the pass-through part where rot < head_dim
    qe = rope(tr, t * att.num_heads * att.head_dim * dt, t * att.num_heads * rot * dt, rot < att.head_dim)
    ke = rope(tr, t * att.num_kv_heads * att.head_dim * dt, t * att.num_kv_heads * rot * dt, rot < att.head_dim)
    tr.free(qn, kn)
    kv_keys = [tr.alloc(kv // 2), tr.alloc(kv - kv // 2)] if kv else []  # the cache's torch.cat copies
    tr.free(ke, value)
    flash = tr.alloc(t * att.num_heads * att.head_dim * dt)
    laid = tr.alloc(t * att.num_heads * att.head_dim * dt)
    tr.free(flash)
    out = tr.alloc(t * h * dt)
    tr.free(laid, qe, normed)
    return out, kv_keys


def _router(tr: Trace, spec: ModelSpec, t: int, dt: int, first: bool) -> int:
    """``ZayaRouter.forward`` up to its logits: returns the key of the states' clone handed to the next layer."""
    width = int(zaya_config(spec).get("router_hidden_size") or 0)
    n = t * width
    down = tr.alloc(n * dt)
    if not first:  # + the previous layer's states times router_states_scale
        scaled = tr.alloc(n * dt)
        summed = tr.alloc(n * dt)
        tr.free(scaled, down)
        down = summed
    handed = tr.alloc(n * dt)
    x = norm(tr, spec, n, dt)
    fc1 = tr.alloc(n * dt)
    g1 = tr.alloc(n * dt)
    tr.free(fc1, x)
    fc2 = tr.alloc(n * dt)
    g2 = tr.alloc(n * dt)
    tr.free(fc2, g1, g2, down)
    return handed


def zaya_block(tr: Trace, spec: ModelSpec, wl: Workload, i: int, dt: int, kv: int, stream: int,
               emb: int) -> tuple[int, list[int], int] | None:
    """Layer ``i`` of a ZAYA prefill under SDPA's flash kernel (None: other families, kernels or quantized runs);
    returns the new fp32 stream, its K/V keys and the router states the model loop holds until the next layer
    returns. Layer 0 first makes the fp32 stream from the embeddings."""
    layer = spec.layers[i]
    if spec.family != "zaya" or wl.attn != "sdpa" or wl.quant or layer.attention is None or layer.moe is None:
        return None
    t, h = wl.batch * wl.context, spec.hidden_size
    if stream == emb:  # (inputs_embeds + bias) * scale, then .to(torch.float32)
        a = tr.alloc(t * h * dt)
        b = tr.alloc(t * h * dt)
        tr.free(a)
        stream = tr.alloc(t * h * FP32)
        tr.free(b)
    inp = stream
    out, kv_keys = _attention(tr, spec, wl, dt, kv)
    residual = _scaled_sum(tr, t * h, dt, 0, 0)
    normed = _cast_norm(tr, spec, t * h, dt)
    tr.free(out)
    handed = _router(tr, spec, t, dt, i == 0)
    moe_out = ffn_prefill(tr, layer, spec.family, t, h, dt)
    tr.free(normed)
    new = _scaled_sum(tr, t * h, dt, moe_out, residual)
    tr.free(inp)
    return new, kv_keys, handed

"""Beam's decoder layer as the caching allocator sees it (issue 12, l12beam), for the pool emulation of
``transformers_pool.py``: written from transformers 5.25 ``models/beam/modeling_beam.py`` and checked against the
simulator's allocation trace of the development case beam-default-l2/gen-b3-s4000-new8 (sweep-dev.jsonl, moved there
from blind round 5; the generic replay had priced Llama's model-dtype MLP, no q/k norms, no output gate and two
norms a layer).

``BeamDecoderLayer.forward``: ``input_layernorm`` (``BeamRMSNorm``: fp32 copy, its square, the scaled copy, the
weight's fp32 product, the cast back); ``BeamAttention.forward``: q_proj then its per-head ``q_norm`` (the projection
goes when the norm returns), the same for k, v_proj; on a RoPE layer ``apply_rotary_pos_emb`` with fp32 cos/sin (q's
fp32 products and sum, rotate_half's negated half and ``cat`` in q's dtype, then k's; both cast back), on a NoPE layer
``(query_states.float() * attention_scaling).to(dtype)``; the DynamicCache's ``torch.cat`` copies; K/V repeated to
every head and the bool mask made additive where SDPA gets a mask (the memory-efficient kernel), else flash; the
output gate (``gate_proj(x) + gate_bias``, its sigmoid, the product); ``o_proj``. Then ``post_attention_layernorm``
on the attention's output, ``depth_scaled_residual_add`` (two scaled copies and their sum); the same around the MLP
(``pre_feedforward_layernorm``, ``post_feedforward_layernorm``). ``BeamMLP.forward``: gate and up held, gate's fp32
copy and its SiLU (the copy freed), up's fp32 copy, the fp32 product (SiLU's output and up's copy freed), its cast
back (the product freed), ``down_proj`` (gate, up and the cast freed at the return). ``BeamMoE.forward``: the router
and the grouped experts (``transformers_pool_blocks._moe``: fp32 routing weights, Beam's fp32 gate), then
``final_hidden_states * routed_scaling_factor``, a new tensor. The model's loop holds the layer's input until the
layer returns.
"""

from __future__ import annotations

from ...spec import ModelSpec
from ...workload import Workload
from ..allocator_trace import Trace
from ..ssm_activations import FP32
from .transformers import _needs_repeat_kv
from .transformers_beam import fp32_gate
from .transformers_pool_attention import _renorm, _rotate, norm
from .transformers_pool_blocks import ffn_prefill

__all__ = ["beam_block", "fp32_swiglu_mlp"]


def fp32_swiglu_mlp(tr: Trace, n: int, out_bytes: int, dt: int) -> int:
    """``BeamMLP.forward`` on ``n`` intermediate elements: gate and up, :func:`fp32_gate`, ``down_proj``; gate, up
    and the activated product go when it returns. Returns the output's key."""
    gate = tr.alloc(n * dt)
    up = tr.alloc(n * dt)
    activated = fp32_gate(tr, n, dt)
    out = tr.alloc(out_bytes)
    tr.free(gate, up, activated)
    return out


def _depth_add(tr: Trace, n: int, out: int, residual: int, keep: tuple[int, ...]) -> int:
    """``depth_scaled_residual_add``: the branch output and the residual each times its scale, their sum; the
    scaled copies and the (normed) branch output go, the residual too unless the caller keeps it (``keep``)."""
    a = tr.alloc(n)
    b = tr.alloc(n)
    new = tr.alloc(n)
    tr.free(a, b, out, residual if residual not in keep else 0)
    return new


def _attention(
    tr: Trace, spec: ModelSpec, wl: Workload, i: int, dt: int, kv: int, masked: bool
) -> tuple[int, list[int]]:
    """``BeamAttention.forward`` from the normed input (the caller's) to ``o_proj``'s output; returns it and the
    cache's K/V keys."""
    att = spec.layers[i].attention
    assert att is not None
    b, s = wl.batch, wl.context
    t = b * s
    nq = t * att.num_heads * att.head_dim * dt
    nk = kv // 2 if kv else t * att.num_kv_heads * att.head_dim * dt
    nv = kv - kv // 2 if kv else nk
    q = _renorm(tr, tr.alloc(nq), nq, dt, spec)  # q_norm(q_proj(x)): the projection goes with the norm's return
    k = _renorm(tr, tr.alloc(nk), nk, dt, spec)
    v = tr.alloc(nv)
    if att.sliding_window is not None:  # RoPE on the sliding layers (the default BeamConfig's rope_parameters)
        q, k = _rotate(tr, spec, att.head_dim, att.head_dim, (q, k), (nq, nk), dt)
    else:  # NoPE with the scalable-softmax query scale, in fp32
        wide = tr.alloc(nq * FP32 // dt) if dt < FP32 else 0
        scaled = tr.alloc(nq * FP32 // dt)
        tr.free(wide)
        cast = tr.alloc(nq) if dt < FP32 else scaled
        tr.free(q, scaled if cast != scaled else 0)
        q = cast
    kv_keys = [k, v]
    if kv and wl.task != "forward":  # DynamicLayer.update: torch.cat copies K and V into the cache
        kv_keys = [tr.alloc(nk), tr.alloc(nv)]
        tr.free(k, v)
    rep = (
        [tr.alloc(b * s * att.num_heads * att.head_dim * dt) for _ in range(2)]
        if _needs_repeat_kv(att, wl, masked)
        else []
    )
    if masked:  # the memory-efficient kernel: the bool mask made additive (its logical_not, then where)
        negated = tr.alloc(b * s * s)
        additive = tr.alloc(b * s * s * dt)
        tr.free(negated)
        out = tr.alloc(nq)
        tr.free(additive)
    else:
        out = tr.alloc(nq)
    tr.free(*rep)
    gate = tr.alloc(nq)  # gate_proj(x) + gate_bias, its sigmoid, the gated output
    biased = tr.alloc(nq)
    tr.free(gate)
    sig = tr.alloc(nq)
    gated = tr.alloc(nq)
    tr.free(sig, biased)
    o = tr.alloc(t * spec.hidden_size * dt)
    tr.free(gated, out, q)
    return o, kv_keys


def beam_block(
    tr: Trace, spec: ModelSpec, wl: Workload, i: int, dt: int, kv: int, masked: bool, stream: int, emb: int
) -> tuple[int, list[int], int] | None:
    """Layer ``i`` of a Beam prefill under SDPA over the whole prompt (None: other families, eager, quantized runs,
    a later chunk); returns the new stream and its K/V keys."""
    layer = spec.layers[i]
    if spec.family != "beam" or wl.attn != "sdpa" or wl.quant or layer.attention is None:
        return None
    t, h = wl.batch * wl.context, spec.hidden_size
    n = t * h * dt
    normed = norm(tr, spec, t * h, dt)
    out, kv_keys = _attention(tr, spec, wl, i, dt, kv, masked)
    tr.free(normed)
    post = norm(tr, spec, t * h, dt)
    tr.free(out)
    residual = _depth_add(tr, n, post, stream, (stream, emb))
    normed = norm(tr, spec, t * h, dt)
    if layer.moe is not None:
        routed = ffn_prefill(tr, layer, spec.family, t, h, dt)
        ffn = tr.alloc(n)  # * routed_scaling_factor
        tr.free(routed)
    else:
        assert layer.mlp is not None
        ffn = fp32_swiglu_mlp(tr, t * layer.mlp.intermediate_size, n, dt)
    tr.free(normed)
    post = norm(tr, spec, t * h, dt)
    tr.free(ffn)
    new = _depth_add(tr, n, post, residual, ())
    tr.free(stream if stream != emb else 0)
    return new, kv_keys, 0

"""DeepSeek-V4 under transformers 5.25: what its eager attention and hyper-connections hold at the prefill.

``DeepseekV4Attention`` concatenates the compressor's entries after the sliding-window keys, so a compressed layer's
queries score ``s + ⌊s / compress_rate⌋`` keys (CSA: one per 4 tokens; HCA: one per 128), and the mask is extended by
the compressor's block bias to the same width. The single K=V head is broadcast to every head by ``repeat_kv`` as a
view (one KV head: no copy). ``eager_attention_forward`` then holds, per score: the masked scores in the model dtype,
their concatenation with the fp32 sinks (type promotion: fp32, one column more), that minus its row max and its
softmax (both fp32; the concatenation is freed), and the probabilities cast back to the model dtype (no copy when
the model is fp32) — 2 + 4 + 4 + 2 bytes in bf16. The decoder layer drops the probabilities it returns.

The residual is ``hc_mult`` streams (``b × s × hc_mult × hidden``, the model dtype), alive through the forward.
"""

from __future__ import annotations

from ..spec import AttentionSpec, LayerSpec, ModelSpec

__all__ = ["dsv4_attention_transient", "dsv4_head_saved", "dsv4_training", "hc_stream_bytes"]

FP32 = 4


def dsv4_attention_transient(att: AttentionSpec, b: int, s: int, dt: int) -> tuple[int, str]:
    """Bytes DeepSeek-V4's eager attention holds at its peak (beyond the cache and the stream) for ``b`` sequences
    of ``s`` new tokens."""
    keys = s + (s // att.compress_rate if att.compress_rate else 0)
    scores = b * att.num_heads * s * keys
    with_sink = b * att.num_heads * s * (keys + 1)
    q = b * s * att.num_heads * att.head_dim * dt
    low = 2 * scores * dt if dt != FP32 else scores * dt  # masked scores, the cast-back probabilities
    mask = b * s * keys * dt if att.compress_rate else 0  # the mask widened by the block bias
    total = q + low + 2 * with_sink * FP32 + mask
    per = 2 * dt if dt != FP32 else dt
    return total, (f"q + scores {b}×{att.num_heads}×{s}×{keys} ({s:,} + compressed keys) × {per} B (masked, cast "
                   f"back) + 2 × fp32 with the sink column (max-shifted, softmax)"
                   + (" + widened mask" if mask else ""))


def hc_stream_bytes(spec: ModelSpec, tokens: int, dt: int) -> int:
    """The ``hc_mult``-stream residual of ``tokens`` tokens (0 for a model without hyper-connections)."""
    for name, shape in spec.extra:
        if name == "model.hc_head.hc_base":
            n = shape[0] if isinstance(shape, tuple) else shape
            return tokens * n * spec.hidden_size * dt
    return 0


def dsv4_head_saved(spec: ModelSpec, tokens: int) -> int:
    """What DeepSeek-V4's hyper-connection head keeps for backward over ``tokens`` tokens (0 for other families):
    transformers 5.25 ``DeepseekV4HyperHead.forward`` runs ``self.input_norm(x.flatten(2).float())``, whose
    ``DeepseekV4UnweightedRMSNorm`` keeps its fp32 input (``pow`` and the product save it), and ``F.linear`` on the
    normed result keeps that for ``hc_fn``'s gradient: two fp32 copies of the ``hc_mult`` streams. (The streams
    themselves, which ``pre × x`` keeps, are the last layer's output.)"""
    return 2 * hc_stream_bytes(spec, tokens, FP32) if spec.family == "deepseek_v4" else 0


SINKHORN_ITERS = 20  # DeepseekV4Config.hc_sinkhorn_iters (the mHC mixing matrices' normalisation rounds)


def _hc(spec: ModelSpec) -> int:
    for name, shape in spec.extra:
        if name == "model.hc_head.hc_base":
            return shape[0] if isinstance(shape, tuple) else shape
    return 1


def dsv4_training(spec: ModelSpec, layer: LayerSpec, dt: int, b: int, s: int) -> tuple[int, int, int, int, int]:
    """One DeepSeek-V4 decoder layer in a training forward (eager attention, the weights training), read off
    ``modeling_deepseek_v4.py``: (saved, attention core, checkpoint, forward transient, backward transient) bytes.

    Per token: each hyper-connection keeps the flattened streams in fp32 and their fp32 unweighted-normed copy (the
    ``fn`` projection's input) and its Sinkhorn rounds' n × n divisions; the layer keeps its input streams and the
    streams between attention and MoE (n × hidden, model dtype). Each fp32-weight RMSNorm (input, post-attention,
    q_a, kv) keeps its fp32 input and normed copy, and (but kv's) its model-dtype output. Attention keeps q_b_proj's
    output and q_b_norm's fp32 copy of it, the rotated q, the attention output rotated back, o_a_proj's and o_b_proj's
    outputs and the keys (window + compressed entries); per sequence, the fp32 probabilities with the sink column and
    their model-dtype cast, and with more than one sequence the keys and values expanded to every head (the matmuls
    cannot fold a broadcast head dimension into their batch). A compressor keeps its pooling weights (fp32 softmax and
    cast) and the pooled values (CSA: two overlapping series, 2 × head_dim per token); the indexer's scores feed only
    its top-k and are freed. The MoE
    keeps, per routed row, the gathered input, gate_up's output, the clamped gate and up, act(gate), their product and
    the down projection's output (scaled by the routing weight); the shared expert its two projections, their clamps,
    act and product; the router its logits and scores."""
    a, m = layer.attention, layer.moe
    assert a is not None and m is not None
    h, n, heads, d = spec.hidden_size, _hc(spec), a.num_heads, a.head_dim
    ql, t = a.q_lora_rank or h, b * s
    rate = a.compress_rate
    keys = s + (s // rate if rate else 0)
    hc = 2 * (2 * n * h * FP32 + (2 * SINKHORN_ITERS + 2) * n * n * FP32) + 2 * n * h * dt
    norms = 2 * FP32 * (2 * h + ql + d) + dt * (2 * h + ql)
    attn = heads * d * (3 * dt + FP32) + a.o_groups * a.o_lora_rank * dt + h * dt + d * dt * keys // s
    comp = 0
    if rate:
        series = 2 if a.index_heads else 1
        comp = series * d * (dt + FP32 + dt) + (0 if a.index_heads else d * dt) + 3 * d * (FP32 + dt) // rate
    moe = m.top_k * (2 * h * dt + 6 * m.expert_intermediate_size * dt) + 6 * m.expert_intermediate_size * dt \
        + h * dt + 3 * m.num_experts * dt
    core = b * heads * s * ((keys + 1) * FP32 + keys * dt)
    if b > 1:  # the one K=V head broadcast to every head folds into the matmuls only for one sequence: K and V copied
        core += 2 * b * heads * keys * d * dt
    saved = t * (hc + norms + attn + comp + moe) + core
    forward = max(b * heads * s * (keys * dt + (keys + 1) * FP32), t * m.top_k * 2 * m.expert_intermediate_size * dt)
    # softmax's backward: the probabilities' gradient cast to fp32 and padded by the sink column, and its output,
    # while the model-dtype probabilities are already released, and so are (backward runs the block in reverse) what
    # the MoE, its hyper-connection and the post-attention norm saved and the streams between attention and MoE
    after_ffn = t * (moe + hc // 2 + 2 * FP32 * h + dt * h)  # one hyper-connection and the mid streams: hc // 2
    backward = t * 2 * n * h * dt + max(b * heads * s * (2 * (keys + 1) * FP32 - keys * dt) - after_ffn,
                                        t * m.top_k * 3 * m.expert_intermediate_size * dt)
    return saved, core, t * n * h * dt, forward, backward

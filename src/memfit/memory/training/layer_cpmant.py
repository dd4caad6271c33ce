"""CPM-Ant's training forward and backward as the caching allocator sees them, op by op, for the training pool
(``training/pool.py``; the forward alone: ``runtimes/transformers_pool_cpmant.py``).

transformers 5.25 ``models/cpmant/modeling_cpmant.py`` as a full training step without autocast runs it, checked
against the simulator's trace of cpmant-default-l2/train-bf16-adamw-fused-eager-b2-s480 (train-sweep-dev.jsonl,
``tools/replay_diff.py``). ``CpmAntModel.forward`` runs on ``S = s + prompt_length`` tokens: the input and segment
embeddings and their sum (the segment's held to the forward's end, the sum is layer 0's input),
``_prepare_attention_mask`` (its int32 mask held to the forward's end) and ``CpmAntSegmentPositionEmbedding``
(``F.embedding``'s int32 index kept for its backward, its ``permute(...).contiguous()`` copy held to the forward's
end). Per layer: ``CpmAntLayerNorm`` (the fp32 upcast kept by ``pow``, the fp32 product, ``.to(old_dtype)`` kept
by ``* weight``, the input kept by ``* rsqrt``); ``CpmAntAttention.forward``: q, k, v, the ``DynamicCache``'s
``torch.cat`` copies of k and v (``use_cache`` is the config's True; the projections' k and v then die), ``matmul``'s
contiguous copy of the permuted query, the scores, ``/ sqrt(d)``, ``+ position_bias``, ``masked_fill``, the
softmax (kept), the second ``masked_fill`` (kept by ``matmul`` with the value), the context, its
``.contiguous()`` copy (kept by ``attention_out``), ``attention_out``, the residual add; ``CpmAntFFNBlock``: the
norm, ``w_0`` (kept by GELU), GELU and ``w_1`` (kept by the product), the product (kept by ``w_out``), ``w_out``,
the add. Then ``output_layernorm``; the model's locals go; ``CpmAntForCausalLM`` copies the prompt-dropped slice
for ``lm_head`` (logits over ``s``) and ``CrossEntropyLoss`` takes the logits in the model dtype.

Backward, as autograd runs it: the loss and ``lm_head`` (the slice's gradient over ``S``), each norm's chain
(``* weight``, the fp32 gradient, ``* rsqrt``'s two, the cast back, added to the stream's gradient, then ``pow``'s
chain, added again), the FFN (``w_out``, the product's two gradients, ``w_1``, GELU, ``w_0``, the two input
gradients summed), the attention (``attention_out``, the context's copy, the two ``bmm`` gradients, the
``masked_fill``s' and the softmax's, ``+ position_bias``'s: the bias gradient, the last layer's kept as it is and
each earlier layer's added to it, a new tensor; ``/ sqrt(d)``, the q and k ``bmm`` gradients, the copies the
projections' ``mm`` reads, q, k, v's Linears, their input gradients summed). After the layers
``embedding_dense_backward`` of ``relative_attention_bias`` over ``b × S × S`` indices (its sort buffer:
``_embedding_backward``'s rule, ``heads`` wide), the bias gradient and index freed, then the embeddings'.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from ..runtimes.transformers_cpmant import SEGMENT_BIAS, prompt_tokens
from .layer_ops import StepContext

__all__ = ["CpmAntRun", "cpmant_backward", "cpmant_forward", "embeddings_context", "replays_cpmant"]

INT32 = 4


def replays_cpmant(c: StepContext) -> bool:
    """CPM-Ant in full training without autocast, LoRA, checkpointing, parallelism or added micro-batch gradients
    (what the trace shows)."""
    return (
        c.spec.family in SEGMENT_BIAS
        and bool(c.spec.attention_layers)
        and c.p.full
        and not c.p.amp
        and not c.p.lora_kinds
        and not c.checkpointed
        and not c.selective
        and c.sp == 1
        and c.tp == 1
        and not c.added
    )


@dataclass
class CpmAntRun:
    """What the forward left for the backward."""

    big_s: int  # the tokens the layers run on: s + prompt_length
    layers: list[list[int]] = field(default_factory=list)  # per layer its saved keys (``_layer`` order)
    index: int = 0  # F.embedding's int32 index, kept for relative_attention_bias's backward
    head: list[int] = field(default_factory=list)  # output norm's saved, its input, the slice copy, log-softmax


def cpmant_forward(c: StepContext) -> CpmAntRun:
    """The model's forward and the loss (the module docstring); returns what the backward frees."""
    tr, b, h = c.tr, c.batch, c.spec.hidden_size
    dt = c.p.weight_bytes
    run = CpmAntRun(c.seq + prompt_tokens(c.spec))
    n = run.big_s
    e = b * n * h * dt
    emb, segment = tr.alloc(e), tr.alloc(e)
    x = tr.alloc(e)  # hidden_states + segment_states: layer 0's input
    tr.free(emb)
    mask = _mask(c, n)
    heads = c.spec.attention_layers[0].num_heads
    run.index = _bias_index(c, n)
    embedded = tr.alloc(b * n * n * heads * dt)  # F.embedding
    bias = tr.alloc(b * n * n * heads * dt)  # .permute(0, 3, 1, 2).contiguous()
    tr.free(embedded)
    for layer in c.spec.layers:
        assert layer.attention is not None and layer.mlp is not None
        saved, x = _layer(c, n, layer.mlp.intermediate_size, x)
        run.layers.append(saved)
    up, down, out = _norm(c, n)
    tr.free(segment, mask, bias)  # CpmAntModel.forward returns
    flat = tr.alloc(b * c.seq * h * dt)  # lm_head's copy of hidden_states[:, prompt_length:, :]
    logits = tr.alloc(b * c.seq * c.spec.vocab_size * dt)
    ls = tr.alloc(b * c.seq * c.spec.vocab_size * dt)  # CrossEntropyLoss: log_softmax in the model dtype
    tr.free(out, logits)
    run.head = [up, down, x, flat, ls]
    return run


def _mask(c: StepContext, n: int) -> int:
    """``_prepare_attention_mask``'s ``b × S × S`` int32 steps (the bool ones under 1 MiB); returns the kept mask."""
    tr, bn = c.tr, c.batch * n * n * INT32
    ored = tr.alloc(bn)  # context | (...)
    anded = tr.alloc(bn)
    tr.free(ored)
    final = tr.alloc(bn)
    tr.free(anded)
    return final


def _bias_index(c: StepContext, n: int) -> int:
    """The position bias's int32 ``b × S × S`` buckets (``+ num_buckets``, ``torch.where``); returns the index
    ``F.embedding`` keeps."""
    tr, bn = c.tr, c.batch * n * n * INT32
    seg = tr.alloc(bn)
    relative = tr.alloc(bn)
    tr.free(seg)
    where = tr.alloc(bn)
    tr.free(relative)
    return where


def _norm(c: StepContext, n: int) -> tuple[int, int, int]:
    """``CpmAntLayerNorm`` on the stream; returns (fp32 upcast kept by pow, the cast kept by ``* weight``, output)."""
    tr, dt = c.tr, c.p.weight_bytes
    e32 = c.batch * n * c.spec.hidden_size * 4
    up = tr.alloc(e32) if dt != 4 else 0  # .to(float32)
    tr.free(tr.alloc(e32))  # pow (its mean is small)
    prod = tr.alloc(e32)  # hidden_states * rsqrt: fp32
    down = tr.alloc(e32 * dt // 4) if dt != 4 else prod  # .to(old_dtype)
    if dt != 4:
        tr.free(prod)
    return up, down, tr.alloc(e32 * dt // 4)


def _layer(c: StepContext, n: int, ff: int, x: int) -> tuple[list[int], int]:
    """One ``CpmAntTransformerBlock`` from its input ``x`` (kept); returns (saved keys, output)."""
    tr, b, dt = c.tr, c.batch, c.p.weight_bytes
    a = c.spec.attention_layers[0]
    e, sc, f = b * n * c.spec.hidden_size * dt, b * a.num_heads * n * n * dt, b * n * ff * dt
    up, down, normed = _norm(c, n)
    q, k, v = tr.alloc(e), tr.alloc(e), tr.alloc(e)
    kc, vc = tr.alloc(e), tr.alloc(e)  # DynamicCache.update: torch.cat
    tr.free(k, v)
    qc = tr.alloc(e)  # matmul's contiguous copy of the permuted query
    scores = tr.alloc(sc)
    prev = scores
    for i in range(3):  # / sqrt(dim_head), + position_bias, masked_fill (its mask, == False, kept: bool)
        eq = tr.alloc_small(b * n * n) if i == 2 else 0
        nxt = tr.alloc(sc)
        tr.free(prev)
        prev = nxt
    soft = tr.alloc(sc)
    tr.free(prev)
    eq2 = tr.alloc_small(b * n * n)
    zeroed = tr.alloc(sc)  # masked_fill(0)
    ctx = tr.alloc(e)
    flat = tr.alloc(e)  # .contiguous()
    tr.free(ctx)
    out = tr.alloc(e)  # attention_out
    tr.free(q)
    mid = tr.alloc(e)
    tr.free(out)
    up2, down2, normed2 = _norm(c, n)
    w0, gate, w1, gated = tr.alloc(f), tr.alloc(f), tr.alloc(f), tr.alloc(f)
    out = tr.alloc(e)  # w_out
    new = tr.alloc(e)
    tr.free(out)
    return [
        x,
        up,
        down,
        normed,
        kc,
        vc,
        qc,
        soft,
        zeroed,
        flat,
        mid,
        up2,
        down2,
        normed2,
        w0,
        gate,
        w1,
        gated,
        eq,
        eq2,
    ], new


def cpmant_backward(c: StepContext, run: CpmAntRun) -> int:
    """The loss's, the layers' and the position bias's backward (the module docstring); appends the weight
    gradients to ``c.grads`` and returns the embeddings' output gradient (the caller runs their backward)."""
    tr, b, h, v, dt = c.tr, c.batch, c.spec.hidden_size, c.spec.vocab_size, c.p.weight_bytes
    n = run.big_s
    up, down, x, flat, ls = run.head
    g1 = tr.alloc(b * c.seq * v * dt)  # nll_loss_backward
    g2 = tr.alloc(b * c.seq * v * dt)  # _log_softmax_backward_data
    tr.free(g1, ls)
    c.grads.append(tr.alloc(v * h * dt))  # lm_head's weight
    gi = tr.alloc(b * c.seq * h * dt)
    tr.free(g2, flat)
    sl = tr.alloc(b * n * h * dt)  # slice_backward
    tr.free(gi)
    grad = _norm_backward(c, n, sl, 0, x, up, down)
    bias = 0
    for saved in reversed(run.layers):
        grad, bias = _layer_backward(c, n, saved, grad, bias)
    heads = c.spec.attention_layers[0].num_heads
    idx = b * n * n
    tr.free(tr.alloc(idx * heads * 4 + 4 * idx * 8))  # embedding_dense_backward's sort buffer (> 3,072 indices)
    tr.free(bias, run.index)
    return grad


def embeddings_context(c: StepContext, run: CpmAntRun) -> StepContext:
    """The step's context over the ``S`` tokens the embeddings ran on (their backward's index count)."""
    return replace(c, seq=run.big_s)


def _norm_backward(c: StepContext, n: int, incoming: int, stream: int, x: int, up: int, down: int) -> int:
    """``CpmAntLayerNorm``'s backward from ``incoming``, added to the stream's gradient ``stream`` (0: none, the
    output norm); frees the norm's saved tensors and its input ``x``; returns the input's gradient."""
    tr, dt = c.tr, c.p.weight_bytes
    e32 = c.batch * n * c.spec.hidden_size * 4
    e = e32 * dt // 4
    ga = tr.alloc(e)  # * weight: the input's gradient, then the weight's product (summed)
    tr.free(tr.alloc(e), incoming, down)
    g32 = tr.alloc(e32) if dt != 4 else 0  # .to(old_dtype)'s backward
    tr.free(ga if dt != 4 else 0)
    gx, gr = tr.alloc(e32), tr.alloc(e32)  # * rsqrt: x's and rsqrt's gradients (the latter summed)
    lo = tr.alloc(e) if dt != 4 else gx  # x's gradient cast to its dtype
    tr.free(gx if dt != 4 else 0, gr, g32 or ga, x)
    if stream:
        total = tr.alloc(e)
        tr.free(stream, lo)
        lo = total
    parts = [tr.alloc(e32) for _ in range(4)]  # mean's backward, pow(x, 1), × 2, × the gradient
    tr.free(*parts[:3], up)
    low = tr.alloc(e) if dt != 4 else parts[3]
    tr.free(parts[3] if dt != 4 else 0)
    out = tr.alloc(e)
    tr.free(lo, low)
    return out


def _layer_backward(c: StepContext, n: int, saved: list[int], grad: int, bias: int) -> tuple[int, int]:
    """One block's backward from the stream's gradient; returns (its input's gradient, the position bias's)."""
    tr, b, h, dt = c.tr, c.batch, c.spec.hidden_size, c.p.weight_bytes
    a = c.spec.attention_layers[0]
    x, up, down, normed, kc, vc, qc, soft, zeroed, flat, mid, up2, down2, normed2, w0, gate, w1, gated, eq, eq2 = saved
    ff = c.spec.layers[0].mlp.intermediate_size if c.spec.layers[0].mlp else 0
    e, sc, f = b * n * h * dt, b * a.num_heads * n * n * dt, b * n * ff * dt
    c.grads.append(tr.alloc(h * ff * dt))  # w_out
    gg = tr.alloc(f)
    tr.free(gated)
    ga, gb = tr.alloc(f), tr.alloc(f)  # the product's two gradients
    tr.free(gg, gate, w1)
    c.grads.append(tr.alloc(h * ff * dt))  # w_1
    gi1 = tr.alloc(e)
    tr.free(gb)
    gl = tr.alloc(f)  # gelu_backward
    tr.free(ga, w0)
    c.grads.append(tr.alloc(h * ff * dt))  # w_0
    gi0 = tr.alloc(e)
    tr.free(gl, normed2)
    s = tr.alloc(e)
    tr.free(gi1, gi0)
    grad = _norm_backward(c, n, s, grad, mid, up2, down2)
    c.grads.append(tr.alloc(h * h * dt))  # attention_out
    gf = tr.alloc(e)
    tr.free(flat)
    gc = tr.alloc(e)  # the context's gradient made contiguous
    tr.free(gf)
    gv, gz = tr.alloc(e), tr.alloc(sc)  # bmm: the value's and the probabilities' gradients
    tr.free(gc, vc, zeroed)
    g = tr.alloc(sc)  # masked_fill's
    tr.free(gz, eq2)
    gs = tr.alloc(sc)  # _softmax_backward_data
    tr.free(g, soft)
    gm = tr.alloc(sc)  # masked_fill's
    tr.free(gs, eq)
    if bias:  # + position_bias: added into the later layers' bias gradient (a new tensor)
        total = tr.alloc(sc)
        tr.free(bias)
        bias = total
    gd = tr.alloc(sc)  # / sqrt(dim_head)
    if bias:
        tr.free(gm)
    else:
        bias = gm
    gq, gk = tr.alloc(e), tr.alloc(e)
    tr.free(gd, qc, kc)
    cq = tr.alloc(e)  # the projections' gradients made contiguous for their mm
    tr.free(gq)
    ck = tr.alloc(e)
    tr.free(gk)
    acc = _projection_backward(c, e, cq, 0)  # project_q
    cv = tr.alloc(e)  # the value's gradient made contiguous, after q's mm
    tr.free(gv)
    acc = _projection_backward(c, e, ck, acc)  # project_k
    acc = _projection_backward(c, e, cv, acc, normed)  # project_v, then the norm's output they kept goes
    return _norm_backward(c, n, acc, grad, x, up, down), bias


def _projection_backward(c: StepContext, e: int, grad: int, acc: int, kept: int = 0) -> int:
    """A q/k/v projection's backward from its output gradient ``grad``: the weight's gradient, the input's (``e``
    bytes), added to the others' (``acc``); ``kept``: the input they saved, freed after the last. Returns the input's
    gradient."""
    tr, h, dt = c.tr, c.spec.hidden_size, c.p.weight_bytes
    c.grads.append(tr.alloc(h * h * dt))
    gx = tr.alloc(e)
    tr.free(grad, kept)
    if not acc:
        return gx
    total = tr.alloc(e)
    tr.free(acc, gx)
    return total

"""One decoder layer's forward in a training step as the caching allocator sees it: the tensors it allocates and
frees, op by op (replayed by ``training/pool.py``; the backward: ``training/layer_grads.py``).

Written from how transformers' Llama-style layer runs under PyTorch (the simulator's traces, docs/simulator.md,
show the same stream): the RMSNorm upcasts to fp32 (``pow`` a transient, ``x·rsqrt`` kept), scales by the weight
and casts back; each Linear under autocast casts its fp32 input to bf16 (kept for the weight's gradient) and its
weight (the autocast cache, kept until the layer's backward); PEFT's adapter casts its input to fp32; rotary
embedding builds ``q·cos + rotate_half(q)·sin`` (``neg`` of half the head and ``cat`` are transients; fp32 under
autocast, whose cos/sin are fp32; partial rotary concatenates the pass-through features after); transformers'
DynamicCache concatenates K and V into fresh tensors in a training forward unless checkpointing turned the cache
off; the attention kernel gets bf16 q, k, v and keeps its output and log-sum-exp (FlashAttention-2's backward
scratch recorded for later); eager attention materialises the scores, the fp32 softmax (the model dtype's for
GPT-2-style families and attention sinks), the probabilities and, with attention dropout, dropout's output and
mask; a gated MLP keeps gate, act(gate), up and their
product; a MoE block runs transformers' grouped-matmul path (routed tokens gathered, gate_up's and down's outputs,
the routing-weight product gathered back and summed; PEFT's merged expert weights under LoRA on the experts); the
residual adds make the next stream. A tensor an op saves lives to its backward; under full checkpointing the first
forward keeps nothing, so each tensor dies with its last Python reference (``LayerRun.keep``).

Sizes are the tensors' own (tokens × features × dtype bytes), so the blocks the allocator splits and reuses are
the real ones. What the layer keeps beyond the tensors named here (family-specific terms of
``activations.LayerActivations.saved``) is kept as one more tensor, so the replayed layer holds what memfit's
allocated peak holds.
"""

from __future__ import annotations

from ...spec import AttentionSpec, LayerSpec, ModelSpec, MoESpec
from ..activations import LayerActivations
from ..axk2_attention import INDEXED_MLA
from ..backward_moments import MOE_ACT_SAVED
from ..first_layer import first_layer_no_grad
from ..hyv4_training import hyv4_streams
from ..runtimes.transformers_families import (
    FP32_QK_EAGER,
    MODEL_DTYPE_SOFTMAX_EAGER,
    Q_CAT_FAMILIES,
    SOFTCAPPED_ATTENTION,
    altup_copies,
)
from ..runtimes.transformers_pool_attention import ROPE_CAT
from ..runtimes.transformers_pool_blocks import SHARED_FIRST
from .layer_axk2 import attention as axk2_attention
from .layer_axk2 import block_norm, drop_topk, made_topk
from .layer_experts import grouped_experts
from .layer_gdn import gdn_mixer, replays_gdn
from .layer_hc import dsv4_rope, hc_norm, hc_post, hc_pre, hc_streams, o_rope, q_norm
from .layer_hyv4 import hyv4_post, hyv4_pre
from .layer_mixers import dsv4_scores, every_expert, relu2_mlp, short_conv
from .layer_mlp import adapter_keeps as _adapter_keeps
from .layer_mlp import dense_mlp as _mlp
from .layer_ops import BackwardOp, LayerRun, Linear, StepContext, linear, norm
from .layer_parallel import first_parallel
from .layer_relative import relative_eager, relative_scores
from .layer_rwkv import rwkv_time_mix
from .layer_sp import sp_gather, tp_whole
from .layer_ssm import mamba2_mixer, replays_ssm

__all__ = ["LayerRun", "Linear", "StepContext", "layer_forward"]


def layer_forward(c: StepContext, layer: LayerSpec, la: LayerActivations, x: int, keep: bool = True) -> LayerRun:
    """The layer's forward from the stream ``x``; returns its run (``keep`` False: a checkpointed first forward,
    which keeps nothing)."""
    tr, t, h = c.tr, c.ts, c.spec.hidden_size  # the stream's tokens (its sequence shard under SP: ``layer_sp``)
    if keep and c.layer == 0 and first_layer_no_grad(c.p, layer, c.spec.norm != "rms", False):
        return first_parallel(c, layer, la, x, _attention, _adapter_keeps)
    run = LayerRun(keep=keep)
    start = tr.pool.allocated
    stream, r = x, c.r
    keeps_stream = c.spec.norm in ("layernorm", "layernorm_nobias") or r == 4  # the norm keeps the stream itself
    hc, hy = hc_streams(c.spec) > 1, hyv4_streams(c.spec) > 1  # DeepSeek-V4's, HY-V4's hyper-connections
    parts = [p for p in ("attention", "linear", "ssm", "conv", "mlp", "moe")
             if getattr(layer, p) is not None and not (p == "mlp" and layer.moe is not None)
             and not (p == "ssm" and not replays_ssm(layer)) and not (p == "linear" and not replays_gdn(layer))]
    for part in parts:
        col = hc_pre(c, run, stream, x) if hc else hyv4_pre(c, run) if hy else 0  # the streams collapsed
        shard, nb = hc_norm(c, run) if hc else block_norm(c, run, r, layer, part)  # (A.X-K2's gated norms)
        tr.free(col)
        normed = sp_gather(c, shard, nb)
        if part == "attention":
            out = (axk2_attention if c.spec.family in INDEXED_MLA else _attention)(c, run, layer, normed, nb)
        elif part == "ssm":  # (RWKV's time mixing: layer_rwkv)
            rwkv = layer.ssm is not None and layer.ssm.rwkv
            out = (rwkv_time_mix if rwkv else mamba2_mixer)(c, run, layer, normed, nb)
        elif part == "linear":
            out = gdn_mixer(c, run, layer, normed, nb)
        elif part == "conv":
            out = short_conv(c, run, layer, normed, nb)
        elif part == "mlp" and layer.mlp is not None and layer.mlp.activation == "relu2":
            out = relu2_mlp(c, run, layer.mlp.intermediate_size, normed, nb, layer.mlp.kind == "gated")
        elif part == "mlp":
            assert layer.mlp is not None
            out = _mlp(c, run, layer.mlp.intermediate_size, layer.mlp.kind == "gated", layer.mlp.fused_gate_up,
                       normed, nb)
        else:
            out = _moe(c, run, layer, normed, nb)
        out = tp_whole(c, out, c.pb)
        if layer.norm_layout == "sandwich" and c.sp == 1:  # the block's post-norm (Gemma): fp32 copy and normed kept
            post, _pb = norm(c, run, c.pb)
            tr.free(out)
            out = post
        if (c.p.full and not c.p.amp) or _adapter_keeps(c, run, normed, nb):
            run.hold(tr, normed)  # the Linears keep their input, the norm's output (SP: its gathered copy)
        else:
            tr.free(normed)
        if shard != normed:
            tr.free(shard)
        if hc or hy:
            stream = hc_post(c, run, stream, out, x) if hc else hyv4_post(c, run, stream, out, x)
            continue
        # Gemma 3n: the layer returns AltUp's corrected copies, one [n, b, s, h] tensor (altup.correct)
        new = tr.alloc(t * h * r * (max(1, altup_copies(c.spec)) if part == parts[-1] else 1))
        tr.free(out)
        if stream != x:
            run.hold(tr, stream) if keeps_stream else tr.free(stream)
        stream = new
    run.output = stream
    run.input_kept = keeps_stream or hy  # (HY-V4: pre × streams saves the layer's input)
    if keep:  # what the family keeps beyond the tensors replayed here, as one more tensor
        cache = sum(tr.pool.live[k].size for k in run.cache if k in tr.pool.live) + made_topk(c)  # (GLM-5's top-k)
        kept = la.saved - (la.attention_core if c.selective else 0)  # selective: the kernel's tensors recomputed
        made = t * h * r * max(1, altup_copies(c.spec), hyv4_streams(c.spec)) if stream != x else 0  # (AltUp's)
        rest = kept + la.weight_casts - (tr.pool.allocated - start - cache) + made
        rest -= t * h * r * ((1 if keeps_stream else 0) + altup_copies(c.spec))  # Gemma 3n: its saved input stack
        rest = tr.remainder(rest)  # is the replayed input ``x``; a recomputation stopped early makes these too
        if rest > 0:
            # gemma3n's AltUp keeps several copies of the stream and per-token tensors of their width: held as
            # stream-sized tensors (at most 64), not as one block
            n = min(64, max(1, rest // (t * h * r))) if _stream_copies(c.spec) else 1
            run.hold(tr, *[tr.alloc(rest // n) for _ in range(n)])
    if c.topk:  # GLM-5: the model's loop drops the previous layer's top-k as this one returns
        drop_topk(c, c.layer == len(c.spec.layers) - 1)
    return run


def _stream_copies(spec: ModelSpec) -> bool:
    """The residual is several streams: gemma3n's AltUp copies (DeepSeek-V4's hyper-connections are replayed,
    ``layer_hc``)."""
    return altup_copies(spec) > 1


def _moe(c: StepContext, run: LayerRun, layer: LayerSpec, x: int, xb: int) -> int:
    """A routed MoE block as transformers' grouped-matmul path runs it: the router, the routed tokens gathered
    (``index``), gate_up's and down's ``grouped_mm`` outputs, the activation and product, the routing-weight
    product gathered back and summed per token, then the shared experts; returns the block's output."""
    m = layer.moe
    assert m is not None
    tr, t, h = c.tr, c.t, c.spec.hidden_size
    first = m.num_shared_experts > 0 and c.spec.family in SHARED_FIRST  # the shared expert runs before the router
    shared = _shared(c, run, m, x, xb) if first else 0
    logits = linear(c, run, "ffn_gate_inp", x, xb, h, m.num_experts)
    probs = tr.alloc(t * m.num_experts * 4)
    tr.free(logits)
    if m.dense_dispatch and not c.p.lora_kinds:  # Llama 4: every token through every expert
        down = every_expert(c, run, m)
        shared = _mlp(c, run, m.shared_size, m.kind == "gated", False, x, xb) if m.num_shared_experts else 0
        total = tr.alloc(t * h * c.pb)  # the sum over the experts, added into the shared expert's output
        tr.free(down, total, probs)
        return shared or tr.alloc(t * h * c.pb)
    eb = 4 if c.p.amp else c.pb  # the fused 3-D experts run outside autocast's cast list
    rows, inter = t * m.routed_rows, m.expert_intermediate_size
    kinds = c.p.lora_kinds
    up_trains = c.p.full or bool(kinds & {"ffn_up_exps", "ffn_gate_exps"})
    down_trains = c.p.full or "ffn_down_exps" in kinds
    width_up = (2 if m.kind == "gated" else 1) * inter
    if m.kind == "gated" and not m.expert_bias and not _experts_adapted(c):  # the grouped path (layer_experts)
        out = grouped_experts(c, run, m, eb, up_trains, down_trains)
        run.hold(tr, probs)
        return _add_shared(c, run, m, x, xb, out, shared, eb)
    # PEFT's parametrization makes W + B·A at every read of the weight (from A and B cast to the compute dtype once,
    # kept by the product): the experts' forward reads down_proj and gate_up_proj once before routing (made and
    # dropped), then each again for its grouped matmul
    casts = _expert_casts(c, m, "ffn_down_exps", inter)
    tr.free(*_merged_experts(c, run, m, "ffn_down_exps", inter, record=False))
    casts += _expert_casts(c, m, "ffn_up_exps", width_up)
    tr.free(*_merged_experts(c, run, m, "ffn_up_exps", width_up, record=False))
    # the experts' forward keeps the gathered rows, the merged weights, down's output and the rows put back in token
    # order in locals until it returns; the activation's intermediates die as they are consumed
    gathered = tr.alloc(rows * h * eb)
    merged_up = _merged_experts(c, run, m, "ffn_up_exps", width_up)
    bias = tr.alloc(rows * width_up * eb) if m.expert_bias else 0  # the routed rows' biases, gathered
    gu = tr.alloc(rows * width_up * eb)
    # the activation's kept intermediates (silu-GLU: act(gate); gpt-oss's clamped GLU: both clamps, the sigmoid,
    # glu and up + 1, with α·gate a transient), then the product down reads
    act = [tr.alloc(rows * inter * eb) for _ in range(max(1, MOE_ACT_SAVED.get(c.spec.family, 3) - 2))] \
        if m.kind == "gated" else []
    if len(act) > 1:
        tr.free(tr.alloc(rows * inter * eb))
    prod = tr.alloc(rows * inter * eb) if m.kind == "gated" else 0
    run.hold(tr, gu, *act)
    merged_down = _merged_experts(c, run, m, "ffn_down_exps", inter)
    tr.free(bias)
    bias = tr.alloc(rows * h * eb) if m.expert_bias else 0
    down = tr.alloc(rows * h * eb)
    tr.free(bias)
    run.hold(tr, prod) if down_trains else tr.free(prod)
    weighted = tr.packed(rows * h * eb)  # × the routing weights, which keeps the experts' outputs
    back = tr.packed(rows * h * eb)  # (the restored order's ``index`` packs its indices first)
    tr.free(weighted)
    out = tr.alloc(t * h * eb)
    tr.free(back)
    run.hold(tr, down, probs, *casts)
    tr.free(*(merged_up + merged_down if not run.keep else []))  # kept: freed by their nodes (_merged_backward)
    run.hold(tr, gathered) if up_trains else tr.free(gathered)
    run.kernels.append((len(run.linears), [rows * h * eb, rows * 2 * inter * eb, rows * inter * eb], 0))
    return _add_shared(c, run, m, x, xb, out, shared, eb)


def _shared(c: StepContext, run: LayerRun, m: MoESpec, x: int, xb: int) -> int:
    """The shared expert's MLP; returns its output."""
    inter = m.num_shared_experts * (m.shared_intermediate_size or m.expert_intermediate_size)
    return _mlp(c, run, inter, m.kind == "gated", False, x, xb)


def _add_shared(c: StepContext, run: LayerRun, m: MoESpec, x: int, xb: int, out: int, shared: int, eb: int) -> int:
    """The shared expert added to the routed output ``out`` (run now unless it ran first: ``shared``), after
    qwen2-style blocks' sigmoid gate on it (its product keeps the shared output); returns the block's output."""
    if not m.num_shared_experts:
        return out
    tr, t, h = c.tr, c.t, c.spec.hidden_size
    if not shared:
        shared = _shared(c, run, m, x, xb)
    elif m.shared_expert_gate:  # sigmoid(shared_expert_gate(x)) · shared
        linear(c, run, "ffn_gate_inp_shexp", x, xb, h, 1)
        gated = tr.packed(t * h * c.pb)  # the product packs the sigmoid and the shared output
        run.hold(tr, shared)
        shared = gated
    total = tr.alloc(t * h * max(eb, c.pb))
    tr.free(shared, out)
    return total


def _experts_adapted(c: StepContext) -> bool:
    """LoRA adapters on the fused experts (PEFT's merged weights)."""
    return any(_adapted(c, k) for k in ("ffn_up_exps", "ffn_down_exps"))


def _adapted(c: StepContext, kind: str) -> bool:
    kinds = c.p.lora_kinds
    return kind in kinds or (kind == "ffn_up_exps" and "ffn_gate_exps" in kinds)


def _expert_casts(c: StepContext, m: MoESpec, kind: str, width: int) -> list[int]:
    """LoRA on fused experts (PEFT's ParamWrapper): the per-expert A (rank·E, in) and B (out, rank·E) cast to the
    compute dtype (rank 2r on the fused gate_up); none without adapters on ``kind``."""
    if not _adapted(c, kind):
        return []
    h, inter = c.spec.hidden_size, m.expert_intermediate_size
    rank = (2 if width != inter else 1) * c.p.lora_rank * m.num_experts
    n_in, n_out = (h, width) if kind == "ffn_up_exps" else (inter, h)
    return [c.tr.alloc(rank * n_in * c.pb), c.tr.alloc(n_out * rank * c.pb)]


def _merged_experts(c: StepContext, run: LayerRun, m: MoESpec, kind: str, width: int, record: bool = True
                    ) -> list[int]:
    """W + B·A for every expert (baddbmm), which the grouped matmul keeps and whose backward makes that weight's
    gradient. Returns its key (none without adapters on ``kind``)."""
    if not _adapted(c, kind):
        return []
    size = m.num_experts * width * c.spec.hidden_size * c.pb
    key = c.tr.alloc(size)
    if record and run.keep:
        run.ops.append((len(run.linears), _merged_backward(size, key)))
    return [key]


def _merged_backward(size: int, key: int) -> BackwardOp:
    """The merged weight's gradient, made by its grouped matmul's node (down's runs first) and turned by baddbmm's
    backward into the small A and B gradients; the node then frees it and the merged weight it saved (the
    simulator's trace of glm-4.5-air-l2/lora-r8-b1-s1024: the merged down weight is gone before gate_up's gradient)."""
    def backward(cc: StepContext, grads: list[int]) -> list[int]:
        cc.tr.free(cc.tr.alloc(size), key)
        return grads
    return backward


def _attention(c: StepContext, run: LayerRun, layer: LayerSpec, x: int, xb: int) -> int:
    """Projections, rotary, the cache copies, the kernel (or eager scores) and o_proj; returns o_proj's output."""
    a = layer.attention
    assert a is not None
    tr, t, pb, b, s = c.tr, c.t, c.pb, c.batch, c.seq
    h, heads = c.spec.hidden_size, a.num_heads
    nq, nk, nv, no = heads * a.head_dim, a.num_kv_heads * a.head_dim, a.num_kv_heads * a.value_dim, heads * a.value_dim
    if a.fused_qkv:  # q, k and v are views of one output
        q = k = v = linear(c, run, "attn_qkv", x, xb, h, nq + nk + nv)
    elif a.single_kv:  # DeepSeek-V4: q_b_norm and q's rotary, then the one K=V projection and its rotary (layer_hc)
        q = dsv4_rope(c, run, heads, a.rope_dim or 0, nq, q_norm(c, run, linear(c, run, "attn_q", x, xb, h, nq), nq))
        k = v = dsv4_rope(c, run, 1, a.rope_dim or 0, nk, linear(c, run, "attn_k", x, xb, h, nk))
    else:
        q = linear(c, run, "attn_q", x, xb, h, nq)
        k = linear(c, run, "attn_k", x, xb, h, nk)
        v = linear(c, run, "attn_v", x, xb, h, nv)
    rope = c.spec.position_embedding == "rope" and not a.single_kv  # (DeepSeek-V4's rotary made above)
    rb = 4 if (c.p.amp and rope) else pb  # fp32 cos/sin under autocast
    part = (a.rope_dim or a.head_dim) / a.head_dim
    qe, ke = (_rotary(c, nq, rb, part), _rotary(c, nk, rb, part)) if rope else (q, k)
    kb = rb if rope else pb
    if rope and not a.fused_qkv:
        tr.free(q, k)
    kc, vc = ke, v
    if c.p.kv_cache and not relative_eager(c):  # DynamicCache.update: torch.cat into fresh tensors (not XLNet's)
        kc, vc = tr.alloc(t * nk * kb), tr.alloc(t * nv * pb)
        tr.free(ke if rope else 0, 0 if a.fused_qkv else v)
        run.cache += [kc, vc]
    ab = 2 if c.p.amp else pb
    copied = False  # o_proj reads a contiguous copy of the kernel's output
    qa = tr.alloc(t * nq * ab) if (rope and rb != ab) else qe  # autocast's casts for the kernel
    ka = tr.alloc(t * nk * ab) if kb != ab else kc
    math_path = c.p.attn != "eager" and ab == 4 and a.num_kv_heads < heads
    gq, gk, gv = t * nq * ab, t * nk * ab, t * nv * ab
    if (sinks := a.single_kv or c.spec.family == "hy_v4") or relative_eager(c):  # DeepSeek-V4, HY-V4 (sinks), XLNet
        oc = dsv4_scores(c, run, a, ab) if sinks else relative_scores(c, run, a, ab)
        kept = [qa, ka, vc] if sinks else [ka, vc]  # (XLNet's q_head: a local until the forward returns)
    elif c.p.attn == "eager" or math_path:
        oc, rk, rv = _scores(c, run, a, ka, vc, ab, math_path)
        kept = [rv] if c.spec.family in FP32_QK_EAGER else [qa, rk, rv]  # (GPT-J: the fp32 copies are kept)
    else:
        oc = tr.alloc(t * no * ab)
        lse = tr.alloc(b * heads * s * 4)
        if c.selective:  # the kernel under torch.utils.checkpoint keeps nothing: run again in backward
            tr.free(lse)
            run.redo.append((len(run.linears), [t * no * ab, b * heads * s * 4]))
        else:
            run.hold(tr, lse)
        if rope and c.spec.family in Q_CAT_FAMILIES and ab == 2 and max(a.head_dim, a.value_dim) <= 256:
            # flash writes its output in q's layout; q made by torch.cat is (b, heads, s, d)-contiguous, so
            # transformers' transpose(1, 2).contiguous() copies it, and o_proj reads the copy
            o, oc = oc, tr.alloc(t * no * ab)
            tr.free(o) if c.selective else run.hold(tr, o)
            copied = True
        scratch = b * -(-s // 128) * 128 * heads * -(-a.head_dim // 32) * 32 * 4 + b * heads * -(-s // 128) * 128 * 4
        if a.num_kv_heads < heads:  # flash backward expands dk, dv to every query head
            scratch += 2 * b * s * heads * a.head_dim * ab
        run.kernels.append((len(run.linears), [gq, gk, gv], scratch))
        kept = [qa, ka, vc]
    if a.single_kv:  # DeepSeek-V4's output path (layer_hc)
        oc = o_rope(c, run, oc, no, a.o_groups, a.o_lora_rank, heads, a.rope_dim or 0)
    out = linear(c, run, "attn_output", oc, ab, no, h)
    if copied:  # the contiguous copy: kept only for o_proj's weight gradient or an adapter reading it uncast
        keep_oc = c.p.full or _adapter_keeps(c, run, oc, ab)
    else:
        keep_oc = c.p.full or "attn_output" in c.p.lora_kinds or c.spec.family not in FP32_QK_EAGER
    if keep_oc:
        run.hold(tr, oc)  # o_proj's input, for its weight's (or adapter's) gradient
    else:  # (GPT-J's frozen out_proj keeps nothing: its input's gradient reads the weight only)
        tr.free(oc)
    kept = list(dict.fromkeys(k_ for k_ in kept if k_))
    cache = set(run.cache)
    run.cache = [k_ for k_ in run.cache if k_ not in kept]  # a cache copy the kernel keeps lives to its backward
    if c.layer in c.kv_stores and not run.keep:  # the KV-sharing dict keeps K and V beyond a checkpointed forward
        run.stored = [k_ for k_ in dict.fromkeys((kc, vc)) if k_ and k_ not in cache]
    run.hold(tr, *[k_ for k_ in kept if k_ not in run.stored])
    for key in dict.fromkeys((qe, ka, kc, vc, q, k, v)):  # attention returns: the other references die
        if key and key not in kept and key not in cache and key not in run.stored:
            tr.free(key)
    return out


def _scores(c: StepContext, run: LayerRun, a: AttentionSpec, ka: int, vc: int, ab: int, math_path: bool
            ) -> tuple[int, int, int]:
    """Eager attention (or SDPA's math path): K/V repeated to every head, the scores, scaled and masked, the
    softmax, the probabilities, their product with V made contiguous; returns (o_proj's input, K and V as kept)."""
    tr, t, b, s = c.tr, c.t, c.batch, c.seq
    heads = a.num_heads
    nq, no = heads * a.head_dim, heads * a.value_dim
    sq = b * heads * s * s
    rk, rv = (tr.alloc(t * nq * ab), tr.alloc(t * no * ab)) if a.num_kv_heads < heads else (ka, vc)
    # GPT-J (modeling_gptj.py GPTJAttention._attn): query.to(float32), key.to(float32), the scores in fp32
    sb, qk32 = (4, [tr.alloc(t * nq * 4), tr.alloc(t * nq * 4)]) if c.spec.family in FP32_QK_EAGER else (ab, [])
    mm = tr.alloc(sq * sb)
    if qk32:  # matmul keeps the key for the query's gradient, the query only for the key's
        k_grad = not c.no_input_grad or bool({"attn_k", "attn_qkv"} & c.p.lora_kinds)
        tr.free(0 if k_grad else qk32[0])
        run.hold(tr, *(qk32 if k_grad else qk32[1:]))
    scaled = tr.alloc(sq * sb)
    tr.free(mm)
    if c.spec.family in SOFTCAPPED_ATTENTION:  # attn_logit_softcapping: / cap, tanh (kept), × cap, each a new tensor
        div = tr.alloc(sq * ab)
        tr.free(scaled)
        tanh = tr.alloc(sq * ab)
        tr.free(div)
        scaled = tr.alloc(sq * ab)
        run.hold(tr, tanh)
    masked = tr.alloc(sq * (4 if c.p.amp else sb))
    tr.free(scaled)
    if (a.sinks or c.spec.family in MODEL_DTYPE_SOFTMAX_EAGER) and not c.p.amp and not math_path:
        # softmax in the model dtype: its output is the probabilities kept; sinks join the scores as one more
        # column (cat, minus the row max) and are sliced off after
        wide = b * heads * s * (s + (1 if a.sinks else 0)) * ab
        shifted = 0
        if a.sinks:
            cat = tr.alloc(wide)
            shifted = tr.alloc(wide)
            tr.free(cat)
        sm, probs = tr.alloc(wide), 0
        tr.free(shifted)
    else:
        # ``softmax(..., dtype=torch.float32)`` on bf16 scores converts them first (``_to_copy``), freed once the
        # softmax is made (the simulator's trace of dev gemma-2-9b-l4/fsdp8-ckpt-b2-s4096, eager, FSDP's bf16)
        up = tr.alloc(sq * 4) if sb != 4 and not c.p.amp and not math_path else 0
        sm = tr.alloc(sq * 4)
        tr.free(up)
        probs = tr.alloc(sq * ab) if ab != 4 else 0
    tr.free(masked)
    # ``nn.functional.dropout(attn_weights, p=dropout, training=self.training)`` on the probabilities (transformers
    # 5.25 eager_attention_forward of modeling_roberta.py, modeling_gpt2.py, ...; torch's native_dropout): its output
    # (kept by the product with V) and its bool mask (kept by its backward), as ``activations.py`` counts them
    dropped = [tr.alloc(sq * ab), tr.alloc(sq)] if c.p.attention_dropout > 0 and not math_path else []
    o = tr.alloc(t * no * ab)
    oc = tr.alloc(t * no * ab)  # transpose(1, 2).contiguous()
    tr.free(o)
    run.hold(tr, sm, probs, *dropped)
    # its backward: dq, the output's and V's gradients, the probabilities' and _softmax_backward_data's (in the
    # model dtype where the softmax ran in it, Llama's fp32 otherwise)
    gs = ab if c.spec.family in MODEL_DTYPE_SOFTMAX_EAGER and not c.p.amp and not math_path else 4
    run.kernels.append((len(run.linears), [t * nq * ab, t * nq * ab, t * no * ab, sq * gs, sq * gs], 0))
    return oc, rk, rv


def _rotary(c: StepContext, n: int, rb: int, part: float) -> int:
    """``x·cos + rotate_half(x)·sin`` over the rotary share ``part`` of ``n`` features per token (in ``rb`` bytes,
    fp32 under autocast), then (partial rotary) ``torch.cat`` with the pass-through features; returns its key."""
    tr, t = c.tr, c.t
    rot = int(n * part)
    m1 = tr.alloc(t * rot * rb)
    neg = tr.alloc(t * rot * c.pb // 2)  # rotate_half runs on q itself (the projection's dtype) …
    cat = tr.alloc(t * rot * c.pb)  # … and its product with sin upcasts
    tr.free(neg)
    m2 = tr.alloc(t * rot * rb)
    tr.free(cat)
    out = tr.alloc(t * rot * rb)
    tr.free(m1, m2)
    if rot < n or c.spec.family in ROPE_CAT:  # torch.cat with the pass-through part, even an empty one
        whole = tr.alloc(t * n * rb)
        tr.free(out)
        out = whole
    return out

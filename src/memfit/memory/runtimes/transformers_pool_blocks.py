"""Feed-forward blocks and DeepSeek sparse attention of transformers' models as the caching allocator sees them: the
prefill's tensors, allocation by allocation, for the pool emulation of ``transformers_pool.py`` (which calls
:func:`ffn_prefill` and :func:`attention_prefill` for the blocks :func:`replays_ffn` and :func:`replays_attention`
accept), written from transformers 5.25's code and checked against the simulator's allocation traces of the family
cases (docs/simulator.md, "Device total"):

* MoE blocks on the grouped experts path (``integrations/moe.py`` ``grouped_mm_experts_forward``) with their
  shared expert before or after, Llama 4's every-expert dispatch (``Llama4TextMoe``), relu² MLPs (Nemotron-H);
* DeepSeek-V3.2's attention: MLA and the lightning indexer (``DeepseekV32Attention``, ``DeepseekV32Indexer``).
"""

from __future__ import annotations

from collections.abc import Callable

from ...spec import AttentionSpec, LayerSpec
from ..allocator_trace import Trace
from ..ssm_activations import FP32
from .transformers_beam import FP32_SWIGLU, fp32_gate
from .transformers_families import FP32_ROUTING, MOE_ACT_TENSORS, PER_ROUTE_NORM
from .transformers_pool_dots3 import FP32_ROPE_INDEXED, dots3_attention_prefill, rms_fp32
from .transformers_pool_ergo import ergo_moe
from .transformers_pool_rope import rotate_by_halves

__all__ = ["attention_prefill", "ffn_prefill", "gated_mlp", "replays_attention", "replays_ffn"]


# MoE blocks whose shared expert runs before the routed experts (its output waits beside them); the others add
# it after (transformers 5.25: Qwen2MoeSparseMoeBlock, Qwen3NextSparseMoeBlock, Ernie4_5_MoeSparseMoeBlock,
# HunYuanMoEV1Moe call ``shared_expert`` first; DeepseekV3MoE, Glm4MoeMoE, NemotronHMoE, KimiLinear's and
# GraniteMoeHybrid's blocks call it on the residual after the experts)
SHARED_FIRST = ("qwen2_moe", "qwen3_next", "qwen3_5_moe", "ernie4_5_moe", "hunyuan_v1_moe", "minimax_m3_vl_text")
# experts and shared MLP with a clamped sigmoid GLU (transformers 5.25 modeling_minimax_m3_vl.py
# MiniMaxM3VLExperts._apply_gate and MiniMaxM3VLDenseMLP.forward: :func:`clamped_glu`)
CLAMPED_GLU = ("minimax_m3_vl_text",)
# fp32 routing weights from a router that reads the input in its weight's dtype, the model's (MiniMaxM3VLTopKRouter:
# ``F.linear(hidden_states.to(self.weight.dtype), self.weight)``, then ``F.sigmoid(router_logits.float())``): no fp32
# copy of the input
MODEL_DTYPE_ROUTER = ("minimax_m3_vl_text",)


# routers of DeepSeek-V3's kind (sigmoid scores, e_score_correction_bias, group-limited top-k:
# DeepseekV3MoE.route_tokens_to_experts and its copies, A.X-K1's AXK1TopkRouter.forward), whose t × experts tensors
# are replayed
GROUP_ROUTED = ("deepseek_v3", "axk1", "deepseek_v32", "glm4_moe", "glm4_moe_lite", "glm_moe_dsa", "kimi_linear",
                "mimo_v2_flash", "bailing_hybrid", "beam")  # BailingHybridTopkRouter, BeamTopKRouter: DeepseekV3's rule
RELU2_EXPERTS = ("nemotron_h",)  # NemotronHExperts: up, relu² (mlp_hidden_act "relu2"), down


def replays_ffn(layer: LayerSpec, family: str) -> bool:
    """Whether :func:`ffn_prefill` replays this layer's feed-forward block: a MoE block on transformers' grouped
    experts path (``integrations/moe.py`` ``grouped_mm_experts_forward``) or Llama 4's every-expert dispatch, not
    an expert activation with temporaries of its own (gpt-oss's clamped GLU); or a plain relu² MLP."""
    if layer.moe is not None:
        return family not in MOE_ACT_TENSORS
    return layer.mlp is not None and layer.mlp.kind == "plain" and layer.mlp.activation in ("relu2", "xielu")


def ffn_prefill(tr: Trace, layer: LayerSpec, family: str, t: int, hidden: int, dt: int) -> int:
    """The feed-forward block of :func:`replays_ffn` on ``t`` tokens, from its normed input to its output."""
    if layer.moe is None:
        assert layer.mlp is not None
        if layer.mlp.activation == "xielu":
            return xielu_mlp(tr, t * layer.mlp.intermediate_size, t * hidden * dt, dt)
        return _mlp(tr, t, hidden, layer.mlp.intermediate_size, dt, False, True)
    if layer.moe.dense_dispatch:
        return _every_expert(tr, layer, t, hidden, dt)
    return _moe(tr, layer, family, t, hidden, dt)


def _every_expert(tr: Trace, layer: LayerSpec, t: int, hidden: int, dt: int) -> int:
    """Llama 4's ``Llama4TextMoe``: every token through every expert (``E·t`` rows): the input repeated E times and
    scaled by its router score (the repeat freed), the batched gate_up, act(gate), up·act (the act freed), the
    batched down (the product and gate_up freed), the shared expert, the sum over the experts added into its
    output."""
    moe = layer.moe
    assert moe is not None
    rows, i_e = t * moe.num_experts, moe.expert_intermediate_size
    rep = tr.alloc(rows * hidden * dt)
    routed_in = tr.alloc(rows * hidden * dt)
    tr.free(rep)
    gate_up = tr.alloc(2 * rows * i_e * dt)
    act = tr.alloc(rows * i_e * dt)
    prod = tr.alloc(rows * i_e * dt)
    tr.free(act)
    down = tr.alloc(rows * hidden * dt)
    tr.free(prod, gate_up)
    out = _mlp(tr, t, hidden, moe.shared_size, dt, True, False) if moe.num_shared_experts else tr.alloc(t * hidden * dt)
    tr.free(tr.alloc(t * hidden * dt), down, routed_in)  # the sum over experts, added in place
    return out


def _moe(tr: Trace, layer: LayerSpec, family: str, t: int, hidden: int, dt: int) -> int:
    """A MoE block on ``t`` tokens, from its normed input to its output (returns its key). The grouped experts
    path with ``S = t·top_k`` rows: the rows gathered per expert (``hidden[perm // k]``), the gate/up grouped
    matmul (``2·I`` wide when gated), the activation and product, the down grouped matmul, the rows weighted by
    their routing scores (fp32 where the router keeps fp32 scores, ``fp32_routing``: the weighted rows, their
    un-permuted copy and the per-token sum are fp32, cast back at the end), the copy in token order, the sum over
    the k rows; a shared expert before or after it."""
    if family in PER_ROUTE_NORM:
        return ergo_moe(tr, layer, t, hidden, dt)
    moe = layer.moe
    assert moe is not None
    fp32_routing, relu2 = family in FP32_ROUTING, family in RELU2_EXPERTS
    rows, i_e = t * moe.routed_rows, moe.expert_intermediate_size
    shared = 0
    first = family in SHARED_FIRST
    if moe.num_shared_experts and first:
        shared = _mlp(tr, t, hidden, moe.shared_size, dt, moe.kind != "plain", relu2, family in CLAMPED_GLU)
    logits = 0
    if family in GROUP_ROUTED:
        logits = _group_router(tr, t, hidden, moe.num_experts)
    elif fp32_routing and family not in MODEL_DTYPE_ROUTER:
        tr.free(tr.alloc(t * hidden * FP32))  # the router's fp32 copy of the input
    w = FP32 if fp32_routing else dt
    sel = tr.alloc(rows * hidden * dt)
    if moe.kind == "plain":  # up, the activation (relu² is relu then its square)
        up = tr.alloc(rows * i_e * dt)
        act = tr.alloc(rows * i_e * dt)
        if relu2:
            sq = tr.alloc(rows * i_e * dt)
            tr.free(act)
            act = sq
        tr.free(up)
    elif family in CLAMPED_GLU:  # gate_up, the clamped GLU on its halves
        gate_up = tr.alloc(2 * rows * i_e * dt)
        act = clamped_glu(tr, rows * i_e * dt)
        tr.free(gate_up)
    elif family in FP32_SWIGLU:  # gate_up, Beam's fp32 gate on its halves (BeamExperts._apply_gate)
        gate_up = tr.alloc(2 * rows * i_e * dt)
        act = fp32_gate(tr, rows * i_e, dt)
        tr.free(gate_up)
    else:  # gate_up, act(gate), · up
        gate_up = tr.alloc(2 * rows * i_e * dt)
        a = tr.alloc(rows * i_e * dt)
        act = tr.alloc(rows * i_e * dt)
        tr.free(a, gate_up)
    down = tr.alloc(rows * hidden * dt)
    tr.free(act)
    weighted = tr.alloc(rows * hidden * w)
    ordered = tr.alloc(rows * hidden * w)
    tr.free(weighted)
    out = tr.alloc(t * hidden * w)
    if w != dt:
        low = tr.alloc(t * hidden * dt)
        tr.free(out)
        out = low
    tr.free(sel, down, ordered)
    if moe.num_shared_experts and not first:
        shared = _mlp(tr, t, hidden, moe.shared_size, dt, moe.kind != "plain", relu2, family in CLAMPED_GLU)
    if shared:
        total = tr.alloc(t * hidden * dt)
        tr.free(out, shared)
        out = total
    tr.free(logits)
    return out


def _group_router(tr: Trace, t: int, hidden: int, experts: int) -> int:
    """DeepSeek-V3's router on ``t`` tokens (``route_tokens_to_experts``): the input in fp32, its logits (fp32,
    kept until the block returns), their sigmoid, + the score-correction bias, the group mask made bool and
    inverted (one byte per logit), the masked scores. Returns the logits' key."""
    x32 = tr.alloc(t * hidden * FP32)
    logits = tr.alloc(t * experts * FP32)
    tr.free(x32)
    sig = tr.alloc(t * experts * FP32)
    biased = tr.alloc(t * experts * FP32)
    mask = tr.alloc(t * experts)
    inverted = tr.alloc(t * experts)
    tr.free(mask)
    chosen = tr.alloc(t * experts * FP32)
    tr.free(inverted, biased, sig, chosen)
    return logits


def _mlp(tr: Trace, t: int, hidden: int, inner: int, dt: int, gated: bool, relu2: bool, clamped: bool = False) -> int:
    """A (shared expert's) MLP: gated (gate, act, up, product; ``clamped``: the fused gate_up and
    :func:`clamped_glu`) or plain (up, its activation: relu² is relu then its square, the relu freed), then down."""
    piece = t * inner * dt
    if clamped:
        gate_up = tr.alloc(2 * piece)
        prod = clamped_glu(tr, piece)
        tr.free(gate_up)
        out = tr.alloc(t * hidden * dt)
        tr.free(prod)
        return out
    if gated:
        return gated_mlp(tr, piece, t * hidden * dt, fused=False)
    up = tr.alloc(piece)
    prod = tr.alloc(piece)
    if relu2:
        sq = tr.alloc(piece)
        tr.free(prod)
        prod = sq
    tr.free(up)
    out = tr.alloc(t * hidden * dt)
    tr.free(prod)
    return out


def clamped_glu(tr: Trace, piece: int) -> int:
    """MiniMax-M3's GLU on the halves of ``gate_up`` (``piece`` bytes each), in its evaluation order:
    ``gate.clamp(max=limit)``, ``up.clamp(-limit, limit)``, ``gate * alpha`` and its sigmoid (the product freed),
    ``glu = gate * sigmoid`` (the sigmoid freed), ``up + 1.0``, their product; the clamps, glu and ``up + 1`` die
    when ``_apply_gate`` returns. Returns the product."""
    gate, up = tr.alloc(piece), tr.alloc(piece)
    scaled = tr.alloc(piece)
    sig = tr.alloc(piece)
    tr.free(scaled)
    glu = tr.alloc(piece)
    tr.free(sig)
    up1 = tr.alloc(piece)
    prod = tr.alloc(piece)
    tr.free(gate, up, glu, up1)
    return prod


def xielu_mlp(tr: Trace, n: int, out_bytes: int, dt: int) -> int:
    """Apertus's ``down(xielu(up(x)))`` on ``n`` intermediate elements with transformers 5.25's Python xIELU
    (``XIELUActivation._xielu_python``, used unless the xielu CUDA wheel is installed), in its evaluation order:
    ``torch.where(x > 0, a_p·x·x + β·x, (expm1(min(x, ε)) − x)·a_n + β·x)``: the bool mask, each product and sum
    made before the previous operand dies, the two branches alive together with the where's output."""
    up = tr.alloc(n * dt)
    mask = tr.alloc(n)
    ax = tr.alloc(n * dt)
    axx = tr.alloc(n * dt)
    tr.free(ax)
    bx = tr.alloc(n * dt)
    pos = tr.alloc(n * dt)
    tr.free(axx, bx)
    low = tr.alloc(n * dt)
    em1 = tr.alloc(n * dt)
    tr.free(low)
    diff = tr.alloc(n * dt)
    tr.free(em1)
    scaled = tr.alloc(n * dt)
    tr.free(diff)
    bx = tr.alloc(n * dt)
    neg = tr.alloc(n * dt)
    tr.free(scaled, bx)
    act = tr.alloc(n * dt)
    tr.free(mask, pos, neg, up)
    out = tr.alloc(out_bytes)
    tr.free(act)
    return out


def gated_mlp(tr: Trace, piece: int, out_bytes: int, fused: bool, relu2: bool = False,
              sub_norm: Callable[[], int] | None = None, l2_dt: int = 0) -> int:
    """``down(act(gate(x)) * up(x))``: gate, its activation (gate freed), up, the product, the output. A fused
    gate_up projection (Phi-3) is one tensor whose halves stay alive until the block returns. BitNet's (``relu2``,
    ``sub_norm``, modeling_bitnet.py ``BitNetMLP``): relu² is relu, then its square (the relu and the gate freed);
    the product is RMS-normed before down_proj (``sub_norm`` replays the norm and returns its output), the product
    freed once the norm returns. Dory's (``l2_dt``, its dtype's bytes): :func:`l2_sub_normed_mlp`."""
    if l2_dt:
        return l2_sub_normed_mlp(tr, piece // l2_dt, out_bytes, l2_dt)
    if fused:
        gate_up = tr.alloc(2 * piece)
        act = tr.alloc(piece)
        prod = tr.alloc(piece)
        tr.free(act)
        out = tr.alloc(out_bytes)
        tr.free(prod, gate_up)
        return out
    gate = tr.alloc(piece)
    act = tr.alloc(piece)
    if relu2:
        squared = tr.alloc(piece)
        tr.free(act)
        act = squared
    tr.free(gate)
    up = tr.alloc(piece)
    prod = tr.alloc(piece)
    tr.free(act, up)
    if sub_norm is not None:
        normed = sub_norm()
        tr.free(prod)
        prod = normed
    out = tr.alloc(out_bytes)
    tr.free(prod)
    return out


def l2_sub_normed_mlp(tr: Trace, n: int, out_bytes: int, dt: int) -> int:
    """Dory's MLP (transformers 5.25 modeling_dory.py ``DoryMLP.forward``) on ``n`` intermediate elements: gate_proj's
    output times its scale (the product held, the output freed), the same for up, ``act_fn(gate)``, its product with
    up (the activation freed), ``DoryL2Norm`` over it (``x.float()``, ``x.pow(2)`` reduced by ``sum``, ``x * rsqrt``,
    the copy freed as ``_norm`` returns, ``type_as``; in fp32 ``.float()`` and ``type_as`` return their input), the
    product freed, ``down_proj``; gate and up freed as the method returns."""
    held = []
    for _ in range(2):  # gate, up
        proj = tr.alloc(n * dt)
        held.append(tr.alloc(n * dt))
        tr.free(proj)
    act = tr.alloc(n * dt)
    prod = tr.alloc(n * dt)
    tr.free(act)
    x = tr.alloc(n * 4) if dt != 4 else 0
    tr.free(tr.alloc(n * 4))  # the square, reduced at once
    y = tr.alloc(n * 4)
    tr.free(x)
    normed = tr.alloc(n * dt) if dt != 4 else y
    tr.free(y if normed != y else 0, prod)
    out = tr.alloc(out_bytes)
    tr.free(normed, *held)
    return out


def replays_attention(att: AttentionSpec, eager: bool = False, masked: bool = False) -> bool:
    """Whether :func:`attention_prefill` replays this attention: DeepSeek sparse attention (MLA with the lightning
    indexer, ``deepseek_v32``), and MLA without the indexer under SDPA with no mask (the flash or memory-efficient
    kernel; DeepSeek-V3's line: ``expand_kv`` over the cached latent)."""
    return att.kind == "mla" and (att.index_topk > 0 or not (eager or masked))


def attention_prefill(tr: Trace, att: AttentionSpec, b: int, s: int, hidden: int, dt: int,
                      kv: int, family: str = "") -> tuple[int, list[int]]:
    """DeepSeek-V3.2's attention on the prompt (transformers 5.25 ``DeepseekV32Attention`` / ``DeepseekV32Indexer``),
    from the normed input to ``o_proj``'s output; returns it and the cache's keys (``kv`` bytes, the latent). q_a
    and its fp32 RMSNorm, q_b's output, the rotary part rotated by halves (x₁cos − x₂sin, x₁sin + x₂cos, cat), the
    query concatenated, the cache, kv_b's output, the fresh key, the indexer (below), the sparse mask
    (``b × s × t`` in the model dtype, from the top-k indices made int64), the kernel's output, ``o_proj``.

    Without the indexer (DeepSeek-V3's line, e.g. ``Glm4MoeLiteAttention.forward`` / ``expand_kv``, checked against
    the simulator's trace of glm4-moe-lite-default-l3 prefill): ``kv_a_proj_with_mqa``'s output (kept to the end)
    and ``kv_a_layernorm``'s fp32 chain after q_b, no indexer or mask; the SDPA kernel's output, which the flash
    kernel lays out as its query (``torch.cat``'s contiguous ``(b, heads, s, d)``: ``mha_fwd`` makes ``out`` with
    ``empty_like`` of the transposed query), so ``reshape(...).contiguous()`` copies it; flash runs when q, k and
    v have one head dim of at most 256 in a half type (``sdp_utils.cpp`` ``check_head_dim_size_flash``), else the
    memory-efficient kernel, whose ``(b, s, heads, d)`` output is copied by nothing. dots3_note's indexed layers:
    ``transformers_pool_dots3`` (fp32 rotary tables)."""
    if family in FP32_ROPE_INDEXED and att.index_topk and att.index_heads:
        return dots3_attention_prefill(tr, att, b, s, hidden, dt, kv)
    t = b * s
    rope = att.qk_rope_head_dim or 0
    nope = att.qk_nope_head_dim or (att.head_dim - rope)
    heads = att.num_heads
    q_low = 0
    if att.q_lora_rank:
        q_a = tr.alloc(t * att.q_lora_rank * dt)
        q_low = rms_fp32(tr, t * att.q_lora_rank, dt)
        tr.free(q_a)
    q = tr.alloc(t * heads * (nope + rope) * dt)
    tr.free(q_low)
    if not att.index_topk:
        return _mla_prefill(tr, att, b, s, hidden, dt, kv, q)
    half = t * heads * rope * dt // 2
    pe = rotate_by_halves(tr, half)
    query = tr.alloc(t * heads * (nope + rope) * dt)
    kv_keys = [tr.alloc(kv // 2), tr.alloc(kv - kv // 2)]
    kv_b = tr.alloc(t * heads * (nope + att.value_dim) * dt)
    key = tr.alloc(t * heads * (nope + rope) * dt)
    picked = _indexer(tr, att, b, s, dt) if att.index_heads else 0  # GLM-5's shared layer: the previous top-k
    tr.free(tr.alloc(t * att.index_topk * 8))  # the indices made int64 to build the mask
    mask = tr.alloc(b * s * s * dt)
    out = tr.alloc(t * heads * att.value_dim * dt)
    tr.free(mask)
    o = tr.alloc(t * hidden * dt)
    tr.free(out, q, pe, query, key, kv_b, picked)
    return o, kv_keys



def _mla_prefill(tr: Trace, att: AttentionSpec, b: int, s: int, hidden: int, dt: int, kv: int,
                 q: int) -> tuple[int, list[int]]:
    """MLA without the indexer after q_b's output ``q`` (see :func:`attention_prefill`)."""
    t = b * s
    rope = att.qk_rope_head_dim or 0
    nope = att.qk_nope_head_dim or (att.head_dim - rope)
    heads = att.num_heads
    lora = att.kv_lora_rank or 0
    ckv = tr.alloc(t * (lora + rope) * dt)  # kv_a_proj_with_mqa's output, split into views
    kv_low = rms_fp32(tr, t * lora, dt)  # kv_a_layernorm
    half = t * heads * rope * dt // 2  # q's rotary part, rotated by halves and concatenated
    pe = rotate_by_halves(tr, half)
    kv_keys = [tr.alloc(kv // 2), tr.alloc(kv - kv // 2)]  # the cache's latent, by torch.cat
    tr.free(kv_low)
    query = tr.alloc(t * heads * (nope + rope) * dt)
    kv_b = tr.alloc(t * heads * (nope + att.value_dim) * dt)  # expand_kv over the cached latent
    key = tr.alloc(t * heads * (nope + rope) * dt)
    out = tr.alloc(t * heads * att.value_dim * dt)
    if dt == 2 and nope + rope == att.value_dim <= 256:  # flash: its output laid out as the query, copied
        copied = tr.alloc(t * heads * att.value_dim * dt)
        tr.free(out)
        out = copied
    o = tr.alloc(t * hidden * dt)
    tr.free(out, query, key, pe, ckv, q, kv_b)
    return o, kv_keys


def _indexer(tr: Trace, att: AttentionSpec, b: int, s: int, dt: int) -> int:
    """The lightning indexer over the prompt: wq_b's output, its rotary part by rotate_half (x·cos, the rotated
    copy, ·sin, the sum) and the concatenated q, q in fp32, with more than one sequence the key expanded to every
    query (``b × s × d × s`` fp32, the matmul's operand copy), the fp32 scores, scaled, relu'd, the per-token index
    scores (weighted sum over heads) and their masked copy, top-k values and int64 indices, the indices cast.
    Returns the kept indices' key."""
    heads, d, k = att.index_heads, att.index_head_dim, att.index_topk
    rope = att.qk_rope_head_dim or 0
    wq = tr.alloc(b * s * heads * d * dt)
    n = b * s * heads * rope * dt
    cos = tr.alloc(n)
    rotated = tr.alloc(n)
    sin = tr.alloc(n)
    tr.free(rotated)
    summed = tr.alloc(n)
    tr.free(cos, sin)
    q = tr.alloc(b * s * heads * d * dt)
    q32 = tr.alloc(b * s * heads * d * FP32)
    expanded = tr.alloc(b * s * d * s * FP32) if b > 1 else 0
    scores = tr.alloc(b * s * heads * s * FP32)
    tr.free(expanded, q32)
    scaled = tr.alloc(b * s * heads * s * FP32)
    tr.free(scores)
    relu = tr.alloc(b * s * heads * s * FP32)
    tr.free(scaled)
    index = tr.alloc(b * s * s * FP32)
    masked = tr.alloc(b * s * s * FP32)
    tr.free(index)
    values, indices = tr.alloc(b * s * k * FP32), tr.alloc(b * s * k * 8)
    tr.free(values)
    picked = tr.alloc(b * s * k * FP32)
    tr.free(indices, q, summed, wq, relu, masked)
    return picked

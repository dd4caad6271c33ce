"""The attention of transformers inference as the caching allocator sees it (``transformers_pool.py`` replays the
run; this module holds the pieces of a decoder layer's attention): RoPE's cos/sin tables, the RMSNorms (Llama's and
Gemma's), q/k/v with their per-head norms and RoPE, K and V copied into the DynamicCache, the kernel (flash, the
memory-efficient kernel with its additive mask, the fp32 math path, eager scores; gpt-oss's sinks softmax), the
output's layout copy and o_proj.

Each step follows transformers 5.25's modelling code as the simulator's allocation trace shows it
(``tools/simulate_memory.py``, docs/simulator.md): the replay of a development case's prefill matches the
simulator's allocations of 20 MiB and more one for one (smollm2-360m, qwen3-8b, phi-3.5-mini-instruct, gemma-2b).
"""

from __future__ import annotations

from collections.abc import Callable

from ...spec import ModelSpec
from ...workload import Workload
from ..allocator_trace import Trace
from .transformers import QKV_BEFORE_NORM, _attn_transient, _model_dtype, _needs_repeat_kv
from .transformers_families import (
    FP32_COPY_ROPE,
    FP32_QK_EAGER,
    FP32_WEIGHT_NORM,
    HELD_PREV_PROBS,
    KEPT_SCORES_EAGER,
    MODEL_DTYPE_SOFTMAX_EAGER,
    ROPE_PER_LAYER_TYPE,
    SUB_NORMED,
    WEIGHTLESS_NORM,
)
from .transformers_own_attention import FLOAT_COPY_EAGER, OWN_ATTENTION, OWN_EAGER_SCORES, dynamic_mask_bytes
from .transformers_pool_eager import held_eager
from .transformers_pool_inkling import own_sinks_eager
from .transformers_pool_m3 import block_sparse_mask
from .transformers_pool_rope import rope

__all__ = ["GEMMA", "ROPE_CAT", "attention", "attention_blocks", "norm", "rope", "rotary"]

def rotary(tr: Trace, spec: ModelSpec, t: int, dt: int) -> list[int]:
    """RoPE's cos and sin for ``t`` positions, made once per forward and kept to its end: the fp32 frequencies,
    their cat, cos and sin each times the attention scaling, cast to the model dtype. Returns their keys. (generate
    passes position ids per sequence, b·s of them; a plain forward one row of s shared by the batch.)"""
    att = next((layer.attention for layer in spec.layers if layer.attention is not None), None)
    if spec.position_embedding != "rope" or att is None:
        return []
    n = t * (att.rope_dim or att.head_dim)
    tables: list[int] = []
    for _ in range(2 if spec.family in ROPE_PER_LAYER_TYPE else 1):  # Gemma 3: the global and the local rope
        freqs, emb = tr.alloc(n // 2 * 4), tr.alloc(n * 4)
        out = []
        for _ in range(2):  # cos, then sin
            raw = tr.alloc(n * 4)
            scaled = tr.alloc(n * 4)
            tr.free(raw)
            out.append(scaled)
        if dt != 4 and spec.family not in FP32_ROPE:
            cast = [tr.alloc(n * dt), tr.alloc(n * dt)]
            tr.free(*out)
            out = cast
        tr.free(freqs, emb)
        tables += out
    return tables


# Gemma's scaled embedding and RMSNorm (x·(1 + w) in fp32, then cast)
GEMMA = ("gemma", "gemma2", "gemma3", "gemma3_text")

# families whose apply_rotary_pos_emb concatenates the rotated part with the pass-through part (a new tensor)
ROPE_CAT = ("phi3", "phi", "stablelm", "glm", "glm4", "glm4_moe")
# families whose rotary embedding returns fp32 cos/sin and whose apply_rotary_pos_emb rotates in fp32 and casts back
# at its return (transformers 5.25 modeling_olmo2.py: ``Olmo2RotaryEmbedding.forward`` has no ``.to(x.dtype)``,
# ``return q_embed.to(q_type), k_embed.to(k_type)``; the same in olmo, olmo3, flex_olmo, olmo_hybrid, and beam:
# modeling_beam.py BeamRotaryEmbedding.forward "returns cos/sin in fp32 without casting to `x.dtype`")
FP32_ROPE = ("olmo", "olmo2", "olmo3", "flex_olmo", "olmo_hybrid", "beam")

def norm(tr: Trace, spec: ModelSpec, n: int, dt: int) -> int:
    """The block's input norm; RMSNorm runs in fp32 (a float copy, its square, the scaled copy, back to the
    dtype, times the weight). Returns the normed tensor's key."""
    if spec.norm in ("layernorm", "layernorm_nobias"):
        return tr.alloc(n * dt)
    ln = spec.norm == "layernorm_fp32"  # OLMo: F.layer_norm(x.to(fp32)), no weight, cast back; no pow(2) (one kernel)
    if dt == 4:  # already fp32: the square, the scaled copy, times the weight
        tr.free(0 if ln else tr.alloc(n * 4))
        y = tr.alloc(n * 4)
        if spec.family in WEIGHTLESS_NORM or ln:  # no weight: the scaled copy is the output
            return y
        out = tr.alloc(n * 4)
        tr.free(y)
        return out
    x = tr.alloc(n * 4)
    tr.free(0 if ln else tr.alloc(n * 4))  # pow(2), reduced by mean at once
    y = tr.alloc(n * 4)
    tr.free(x)
    if spec.family in WEIGHTLESS_NORM or ln:  # no weight: the scaled copy cast back
        out = tr.alloc(n * dt)
        tr.free(y)
        return out
    if spec.family in GEMMA:  # (x·(1 + w)).type_as(x): the product in fp32, then the cast
        prod = tr.alloc(n * 4)
        tr.free(y)
        out = tr.alloc(n * dt)
        tr.free(prod)
        return out
    if spec.family in FP32_WEIGHT_NORM:
        prod = tr.alloc(n * 4)
        out = tr.alloc(n * dt)
        tr.free(y, prod)
        return out
    low = tr.alloc(n * dt)
    out = tr.alloc(n * dt)
    tr.free(low, y)
    return out


Projection = Callable[[int, int], int]  # (input features, output bytes) -> the output's key


def attention(tr: Trace, spec: ModelSpec, wl: Workload, i: int, t: int, dt: int, kv: int, masked: bool,
              keys: int = 0, old: list[int] | None = None, linear: Projection | None = None) -> list[int]:
    """q/k/v projections (``linear``: each with its own buffers, LLM.int8), RoPE (q·cos, rotate_half's negated half
    and cat, ·sin, sum), the cache's K/V, the kernel (SDPA, or eager scores, mask, fp32 softmax and its cast back), the
    output projection. ``keys``: what the queries read (a later chunk: the cache's ``old`` K/V re-made, each freed)."""
    att = spec.layers[i].attention
    assert att is not None
    h, proj = spec.hidden_size, linear or (lambda _n_in, nbytes: tr.alloc(nbytes))
    b, s, keys, old = wl.batch, wl.context, keys or wl.context, old or [0, 0]
    nq = t * att.num_heads * att.head_dim * dt
    nk = kv // 2 if kv else t * att.num_kv_heads * att.head_dim * dt
    nv, fused = kv - kv // 2 if kv else nk, 0
    if att.fused_qkv:  # one projection; q, k and v are views of it
        fused = tr.alloc(nq + nk + nv)
        q = k = v = 0
    elif att.qk_norm != "none" and spec.family in QKV_BEFORE_NORM:
        q, k, v = proj(h, nq), proj(h, nk), proj(h, nv)
        q = _renorm(tr, q, nq, dt, spec)
        k = _renorm(tr, k, nk, dt, spec)
    elif att.qk_norm != "none":  # each projection RMS-normed per head in fp32 before the next is made
        q = _renorm(tr, proj(h, nq), nq, dt, spec)
        k = _renorm(tr, proj(h, nk), nk, dt, spec)
        v = proj(h, nv)
    else:
        q, k, v = proj(h, nq), proj(h, nk), proj(h, nv)
    if fused and att.qk_norm != "none":
        q = _renorm(tr, q, nq, dt, spec)
        k = _renorm(tr, k, nk, dt, spec)
    if spec.position_embedding == "rope":
        q, k = _rotate(tr, spec, att.rope_dim or att.head_dim, att.head_dim, (q, k), (nq, nk), dt)
    if spec.family in WEIGHTLESS_NORM:  # NanoChat: q and k normed per head after RoPE
        q, k = norm_rotated(tr, spec, (q, k), (nq, nk), dt)
    kv_keys = [k, v]
    if kv and wl.task != "forward":  # DynamicLayer.update: torch.cat onto the empty cache copies K and V; the
        kv_keys = [tr.alloc(nk)]  # layer's own go at once, the attention reads the cache's
        tr.free(old[0])
        kv_keys.append(tr.alloc(nv))
        tr.free(old[-1], k, v)
    sparse = block_sparse_mask(tr, att, b, s, keys, dt, wl.attn == "eager") if att.index_block else []  # M3
    masked = masked or bool(sparse)  # repeat_kv: K/V for every head
    rep = [tr.alloc(b * keys * att.num_heads * d * dt) for d in (att.head_dim, att.value_dim)
           if _needs_repeat_kv(att, wl, masked)]
    held = 0
    if wl.attn == "eager":
        scores = b * att.num_heads * s * keys
        raw = tr.alloc(scores * dt)
        scaled = tr.alloc(scores * dt)
        tr.free(raw)
        masked_scores = tr.alloc(scores * dt)  # + the causal mask
        tr.free(scaled)
        fp32 = tr.alloc(scores * 4) if dt == 2 and _model_dtype(spec, wl) != "float16" else 0
        soft = tr.alloc(scores * 4)
        tr.free(fp32)
        probs = tr.alloc(scores * dt) if dt != 4 else soft
        tr.free(soft if probs != soft else 0, masked_scores)
        out = tr.alloc(t * att.num_heads * att.value_dim * dt)
        held = probs  # the layer returns the probabilities: they live through its MLP
    elif dt == 4 and not masked and att.num_kv_heads != att.num_heads:
        out = _math_sdpa(tr, b, s, att.num_heads, t * att.num_heads * att.head_dim * dt,
                         t * att.num_heads * att.value_dim * dt, b > 1 and spec.family not in ROPE_CAT)
    elif masked and not sparse:  # the memory-efficient kernel: the bool mask made additive (logical_not, where)
        negated = tr.alloc(b * s * keys)
        additive = tr.alloc(b * s * keys * dt)
        tr.free(negated)
        out = tr.alloc(t * att.num_heads * att.value_dim * dt)
        tr.free(additive)
    else:  # flash: its output is laid out (b, s, heads, d), transpose(1, 2).contiguous() copies nothing
        out = tr.alloc(t * att.num_heads * att.value_dim * dt)
    tr.free(*rep)
    copied = wl.attn == "eager" or (dt == 4 and not masked and att.num_kv_heads != att.num_heads) \
        or spec.family in ROPE_CAT
    out = _laid_out(tr, spec, out, t * att.num_heads * att.value_dim, dt, copied)
    o = proj(att.num_heads * att.value_dim, t * h * dt)
    tr.free(out, fused, q, *sparse)  # the query (and M3's mask and block indices) live until the attention returns
    return [*kv_keys, o, held]


def _laid_out(tr: Trace, spec: ModelSpec, out: int, n: int, dt: int, copied: bool) -> int:
    """The kernel's output (``n`` elements) as o_proj's input. It keeps the query's layout: (b, heads, s, d) after
    eager, the math path or a RoPE that concatenates (a contiguous query), so ``transpose(1, 2).contiguous()`` copies
    it (``copied``); BitNet RMS-norms it (``attn_sub_norm``, :data:`SUB_NORMED`). Each replaces the one before."""
    if copied:
        contiguous = tr.alloc(n * dt)
        tr.free(out)
        out = contiguous
    if spec.family in SUB_NORMED:
        normed = norm(tr, spec, n, dt)
        tr.free(out)
        out = normed
    return out


def norm_rotated(tr: Trace, spec: ModelSpec, qk: tuple[int, int], sizes: tuple[int, int],
                 dt: int) -> tuple[int, int]:
    """NanoChat's weightless q/k norms after RoPE (each :func:`norm`'s temporaries, the rotated input freed)."""
    out = []
    for x, n in zip(qk, sizes, strict=True):
        out.append(norm(tr, spec, n // dt, dt))
        tr.free(x)
    return out[0], out[1]


def _renorm(tr: Trace, x: int, n: int, dt: int, spec: ModelSpec) -> int:
    """A q/k norm: ``x`` replaced by its normed copy (the fp32 temporaries of :func:`norm`)."""
    if dt == 4:
        y = tr.alloc(n)
    else:
        f = tr.alloc(n // dt * 4)
        tr.free(tr.alloc(n // dt * 4))
        g = tr.alloc(n // dt * 4)
        tr.free(f)
        low = tr.alloc(n // dt * 4 if spec.family in FP32_WEIGHT_NORM else n)  # the weight's product or the cast
        y = tr.alloc(n)
        tr.free(low, g)
    tr.free(x)
    return y


def _math_sdpa(tr: Trace, b: int, s: int, heads: int, nq: int, nv: int, laid_out_query: bool = False) -> int:
    """SDPA's math path (fp32 with grouped K/V: neither flash nor the memory-efficient kernel runs), in the order of
    torch's ``_scaled_dot_product_attention_math`` (aten/src/ATen/native/transformers/attention.cpp): q times
    √scale; ``is_causal``'s bool ``ones(L, S).tril()`` made a float bias (``convert_boolean_attn_mask``); K and V
    repeated to every head (``enable_gqa``); the repeated key's transpose times √scale, and (``laid_out_query``: b > 1,
    a rotated query still laid out (b, s, heads, d)) the query's copy ``matmul``'s ``reshape`` to (b·heads, s, d)
    makes, both dropped after the fp32 scores; the bias added in place (fake tensors: ``add``, two score-sized blocks
    either way); ``_safe_softmax``'s output, then the scores go; the output (codellama-34b-hf-l3 fp32 forward)."""
    scaled = tr.alloc(nq)
    ones = tr.alloc(s * s)
    tril = tr.alloc(s * s)
    tr.free(ones)
    bias = tr.alloc(s * s * 4)
    tr.free(tril)
    rk, rv = tr.alloc(nq), tr.alloc(nv)
    key, query = tr.alloc(nq), tr.alloc(nq if laid_out_query else 0)
    scores = tr.alloc(b * heads * s * s * 4)
    tr.free(key, query)
    soft = tr.alloc(b * heads * s * s * 4)
    tr.free(scores)
    out = tr.alloc(nv)
    tr.free(scaled, rk, rv, bias, soft)
    return out


def _rotate(tr: Trace, spec: ModelSpec, part: int, head_dim: int, qk: tuple[int, int], sizes: tuple[int, int],
            dt: int) -> tuple[int, int]:
    """apply_rotary_pos_emb on q and k (``sizes`` bytes): both rotated, then the unrotated ones go. :data:`FP32_ROPE`
    families rotate in fp32 (q·cos and rotate_half(q)·sin fp32 with fp32 tables, rotate_half in q's dtype) and cast
    both back at the return."""
    if spec.family in FP32_COPY_ROPE and dt != 4:  # Cohere: q.float(), k.float() rotated, cast back
        return _rope_fp32_copies(tr, qk, sizes, dt)
    if spec.family in FP32_ROPE and dt != 4:
        wide = tuple(_rope32(tr, n, dt) for n in sizes)
        rotated = tr.alloc(sizes[0]), tr.alloc(sizes[1])
        tr.free(*wide)
    else:
        cat = spec.family in ROPE_CAT
        rotated = rope(tr, sizes[0], sizes[0] * part // head_dim, cat), rope(tr, sizes[1], sizes[1] * part // head_dim,
                                                                             cat)
    tr.free(*qk)
    return rotated


def _rope32(tr: Trace, n: int, dt: int) -> int:
    """``(x·cos) + (rotate_half(x)·sin)`` with fp32 cos/sin on an ``n``-byte half-type ``x``: the products and their
    sum in fp32, rotate_half's negated half and cat in x's dtype."""
    cos = tr.alloc(n // dt * 4)
    neg = tr.alloc(n // 2)
    half = tr.alloc(n)
    tr.free(neg)
    sin = tr.alloc(n // dt * 4)
    tr.free(half)
    out = tr.alloc(n // dt * 4)
    tr.free(cos, sin)
    return out


def _rope_fp32_copies(tr: Trace, qk: tuple[int, int], sizes: tuple[int, int], dt: int) -> tuple[int, int]:
    """Cohere's ``apply_rotary_pos_emb`` (:data:`FP32_COPY_ROPE`) on half-type q and k of ``sizes`` bytes: their
    fp32 copies, each rotated (:func:`rope`), both cast back; the copies, the rotated tensors and the caller's q and k
    go when it returns. Returns the cast q and k."""
    nq, nk = sizes
    q32, k32 = tr.alloc(nq * 4 // dt), tr.alloc(nk * 4 // dt)
    rotated = rope(tr, nq * 4 // dt, nq * 4 // dt, False), rope(tr, nk * 4 // dt, nk * 4 // dt, False)
    cast = tr.alloc(nq), tr.alloc(nk)  # q_embed.to(dtype), k_embed.to(dtype)
    tr.free(q32, k32, *rotated, *qk)
    return cast


def attention_blocks(tr: Trace, spec: ModelSpec, wl: Workload, i: int, t: int, dt: int, kv: int,
                      masked: bool, keys: int = 0) -> tuple[list[int], int]:
    """Any other attention at a coarser grain: q, the layer's K/V, the rest of the profile's temporaries (gpt-oss's
    eager sinks softmax tensor by tensor). Returns the K/V keys and the probabilities the layer holds (or 0)."""
    att = spec.layers[i].attention
    assert att is not None
    a_bytes, _ = _attn_transient(att, wl, wl.batch, wl.context, dt, masked, _model_dtype(spec, wl) == "float16",
                                 spec.family, keys or None)
    nq = t * att.num_heads * att.head_dim * dt
    q = tr.alloc(min(a_bytes, nq))
    kv_keys = [tr.alloc(kv // 2), tr.alloc(kv - kv // 2)]
    build, held, causal = dynamic_mask_bytes(spec.family, att, wl.batch, wl.context, keys or wl.context, dt)
    if held:  # Doge: the causal mask's float and bool forms, the dynamic mask the kernel reads (own_attention)
        s, k = wl.context, keys or wl.context
        made = [tr.alloc(wl.batch * s * k * dt), tr.alloc(wl.batch * s * k)]
        grouped = wl.batch * att.num_kv_heads * s * k * dt
        mask = tr.alloc(grouped)
        tr.free(tr.alloc(build - causal - grouped), *made)  # (the top-k path's temporaries past the window)
        if held != grouped:  # repeat_kv's copy to every head
            rep = tr.alloc(held)
            tr.free(mask)
            mask = rep
        rest = tr.alloc(a_bytes - nq - kv)
        tr.free(q, rest, mask)
        return kv_keys, 0
    if (own := own_sinks_eager(tr, spec, wl, i, keys or wl.context, q, dt)) is not None:  # pool_flint, _inkling
        return kv_keys, own
    if wl.attn == "eager" and att.sinks and spec.family not in MODEL_DTYPE_SOFTMAX_EAGER:  # gpt-oss's
        rows = wl.batch * att.num_heads * wl.context
        rest = tr.alloc(a_bytes - nq - 3 * rows * wl.context * dt)  # repeated K/V
        probs = _sinks_softmax(tr, rows, wl.context, dt)
        out = tr.alloc(t * att.num_heads * att.value_dim * dt)
        tr.free(q, rest, out)
        return kv_keys, probs
    if wl.attn == "eager" and spec.family in SHIFTED_EAGER:
        rows = wl.batch * att.num_heads * wl.context
        rest = tr.alloc(a_bytes - nq - 2 * rows * wl.context * dt)  # repeated K/V
        probs = _shifted_softmax(tr, rows, wl.context, dt, att.sinks)
        out = tr.alloc(t * att.num_heads * att.value_dim * dt)
        tr.free(q, rest, out)
        return kv_keys, probs
    if wl.attn == "eager" and spec.family in HELD_PREV_PROBS:  # the probabilities outlive the layer
        return kv_keys, held_eager(tr, spec.family, wl.batch * att.num_heads * wl.context * (keys or wl.context), dt,
                                   _model_dtype(spec, wl) == "float16", a_bytes - nq - kv,
                                   spec.position_embedding == "alibi", q)
    if wl.attn == "eager" and _shared_eager(spec.family):  # (XLM's scores.float(): the bf16 order in fp16 too)
        _eager_scores(tr, wl.batch * att.num_heads * wl.context * (keys or wl.context), dt,
                      _model_dtype(spec, wl) == "float16" and spec.family not in FLOAT_COPY_EAGER, a_bytes - nq - kv)
        tr.free(q)
        return kv_keys, 0
    rest = tr.alloc(a_bytes - nq - kv)
    tr.free(q, rest)
    return kv_keys, 0


def _shared_eager(family: str) -> bool:
    """Families on transformers' shared ``eager_attention_forward`` with the profile's usual bytes per score."""
    return family not in (*MODEL_DTYPE_SOFTMAX_EAGER, *FP32_QK_EAGER, *KEPT_SCORES_EAGER, *OWN_EAGER_SCORES,
                          *OWN_ATTENTION, *SHIFTED_EAGER)


def _eager_scores(tr: Trace, scores: int, dt: int, half: bool, total: int) -> None:
    """transformers 5.25 ``eager_attention_forward`` (e.g. modeling_llama.py) score by score: ``matmul(q, kᵀ)``, its
    ``* scaling`` (the product freed), ``+ attention_mask`` (the scaled freed), ``softmax(dtype=float32)``, its cast
    back, the masked scores freed with them; the attention's other temporaries (``total`` less the scores: repeated
    K/V, the output) one block alive throughout. torch's SoftMax.cpp ``softmax`` fuses the upcast only for Half on
    CUDA (``_softmax(half_to_float)``: granite-swa-default-l4's fp16 trace); bf16 is ``toType(float)`` then
    ``_softmax``, two fp32 tensors, the copy freed before the cast (aria-text-default-l2's bf16 trace opens two 977 MiB
    segments and reuses them: one 1,953 MiB block, before l12total5a, fitted neither); fp32: the softmax alone."""
    per = 10 if dt == 2 and not half else 8
    rest = tr.alloc(total - scores * per)
    raw = tr.alloc(scores * dt)
    scaled = tr.alloc(scores * dt)
    tr.free(raw)
    masked = tr.alloc(scores * dt)
    tr.free(scaled)
    if dt == 2:  # bf16: the float copy, then the fp32 softmax (fp16: the fused fp32 softmax alone); then the cast
        copy, soft = (0 if half else tr.alloc(scores * 4)), tr.alloc(scores * 4)  # in this order
        tr.free(copy)
        tail = tr.alloc(scores * dt)
        tr.free(soft)
    else:
        tail = tr.alloc(scores * (per - dt))
    tr.free(masked, tail, rest)


# families whose eager_attention_forward rebinds one variable through × scaling, + mask, (cat with the sinks), minus
# the row max and a softmax in the scores' dtype (transformers 5.25 modeling_mimo_v2_flash.py)
SHIFTED_EAGER = ("mimo_v2_flash",)


def _shifted_softmax(tr: Trace, rows: int, s: int, dt: int, sinks: bool) -> int:
    """MiMo-V2-Flash's eager scores (``rows`` × ``s``, model dtype): q·kᵀ, × scaling, + mask, the cat with the sink
    logits on a sliding layer (one more column), minus its row max, softmax; each step frees the one before once
    made. Returns the probabilities' key (the decoder layer's ``_`` holds them through its MLP)."""
    raw = tr.alloc(rows * s * dt)
    scaled = tr.alloc(rows * s * dt)
    tr.free(raw)
    cur = tr.alloc(rows * s * dt)
    tr.free(scaled)
    width = s + 1 if sinks else s
    if sinks:
        cat = tr.alloc(rows * width * dt)
        tr.free(cur)
        cur = cat
    shifted = tr.alloc(rows * width * dt)
    tr.free(cur)
    probs = tr.alloc(rows * width * dt)
    tr.free(shifted)
    return probs


def _sinks_softmax(tr: Trace, rows: int, s: int, dt: int) -> int:
    """gpt-oss's eager scores (``rows`` × ``s``, model dtype): q·kᵀ, × scaling, + mask, cat with the sink logits
    (one more column), minus its row max, softmax; the masked scores and the shifted logits go after the softmax.
    Returns the probabilities' key (the layer holds them through its MoE)."""
    raw = tr.alloc(rows * s * dt)
    scaled = tr.alloc(rows * s * dt)
    tr.free(raw)
    masked = tr.alloc(rows * s * dt)
    tr.free(scaled)
    cat = tr.alloc(rows * (s + 1) * dt)
    shifted = tr.alloc(rows * (s + 1) * dt)
    tr.free(cat)
    probs = tr.alloc(rows * (s + 1) * dt)
    tr.free(masked, shifted)
    return probs

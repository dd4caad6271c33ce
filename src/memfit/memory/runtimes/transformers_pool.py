"""transformers inference as the caching allocator sees it: the large tensors of the build, the prefill and the
decoding loop, in the order the modelling code makes and drops them, replayed through the allocator emulation
(``memory/allocator_trace.py``) to give the reserve ``nvidia-smi`` shows beyond the allocated peak.

The run, at the grain that shapes the pool:

* build: the cuBLAS workspace, every parameter tensor, and for tied embeddings the output projection allocated
  with the model and freed when it is tied (a cached block of vocab × hidden that later tensors reuse);
* prefill, per layer: the normed input, q, this layer's K and V (they become the cache and stay), the rest of
  the attention's temporaries; the attention output and the new residual stream; the normed MLP input, the MLP
  intermediates (one tensor per ``b·s·I`` the profile counts), the MLP output and the new stream. Without a cache
  (``forward``) K and V go with the layer's temporaries;
* after the layers: the final norm and the logits (every token for ``forward``, the last one otherwise);
* decoding: each step every layer's K, then V, is re-made one token longer by ``torch.cat`` and the old one freed.

The figures are the same ones the allocated peak is built from (``transformers.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from functools import cache

from ...formats import COMPUTE_DTYPE_BYTES
from ...spec import ModelSpec
from ...workload import Workload
from ..allocator_trace import PoolFigures, Trace, build_weights
from ..kv_cache import kv_cache_bytes
from .transformers import (
    INT64,
    _attn_transient,
    _cache_dtype,
    _ffn_transient,
    _mask_bytes,
    _model_dtype,
    _one_layer,
    _stream_tensors,
    cache_reset_length,
)
from .transformers_pool_blocks import attention_prefill, ffn_prefill, replays_attention, replays_ffn
from .transformers_pool_mixers import mixer_prefill, replays_mixer

__all__ = ["grid_down", "grid_up", "interpolated", "transformers_pool", "transformers_reserve"]

DECODE_STEPS = 64  # decoding steps replayed: the pool's pattern repeats by then (said in the docs)


def transformers_pool(spec: ModelSpec, wl: Workload, weights_bytes: int, expandable: bool = False) -> PoolFigures:
    """The emulated pool of one transformers inference run (peaks after the build) at a grid point."""
    return _pool(spec, replace(wl, context=grid_up(wl.context)), weights_bytes, expandable)


def transformers_reserve(spec: ModelSpec, wl: Workload, weights_bytes: int, expandable: bool = False) -> int:
    """The reserve at the prompt length, interpolated between the replays at the grid points around it: a smooth
    function of the context (the reserve of one replay jumps as blocks start to fit; searches for the longest
    context that fits need a total that does not fall as the context grows)."""
    return interpolated(wl.context, lambda c: _pool(spec, replace(wl, context=c), weights_bytes, expandable).reserve)


def interpolated(n: int, reserve: Callable[[int], int]) -> int:
    """``reserve`` at ``n``: exact on the grid, linear between its two neighbouring points."""
    hi = grid_up(n)
    if hi == n:
        return reserve(n)
    lo = grid_down(hi)
    a, b = reserve(lo), reserve(hi)
    return a + (b - a) * (n - lo) // (hi - lo)


def grid_down(g: int) -> int:
    """The grid point before ``g`` (a grid point)."""
    base = 1 << (g.bit_length() - 1)
    return max(1, base * 7 // 8 if g == base else g - base // 4)


def grid_up(n: int) -> int:
    """``n`` rounded up to the grid 2^k × {1, 1.25, 1.5, 1.75} (k ≥ 3)."""
    if n <= 8:
        return 8
    base = 1 << (n.bit_length() - 1)
    for step in (base, base * 5 // 4, base * 3 // 2, base * 7 // 4, base * 2):
        if step >= n:
            return step
    return base * 2


@cache
def _pool(spec: ModelSpec, wl: Workload, weights_bytes: int, expandable: bool) -> PoolFigures:
    tr = Trace(expandable)
    dt = COMPUTE_DTYPE_BYTES.get(_model_dtype(spec, wl), 2)
    build_weights(tr, spec, weights_bytes, 1, dt)
    tr.built()
    cache_keys = _prefill(tr, spec, wl, dt)
    if wl.task == "generate":
        _decode(tr, spec, wl, dt, cache_keys)
    return tr.figures()


def _prefill(tr: Trace, spec: ModelSpec, wl: Workload, dt: int) -> list[list[int]]:
    """The prompt's forward; returns every layer's cache keys (none for ``forward``)."""
    b, s = wl.batch, wl.context
    t, h = b * s, spec.hidden_size
    kvd = _cache_dtype(spec, wl)
    use_cache = wl.task != "forward"
    masks = _mask_bytes(spec, wl, b, s, dt)
    fixed = [tr.alloc(t * INT64), tr.alloc(t * INT64 if wl.task == "generate" else 0), tr.alloc(masks)]
    emb = tr.alloc(t * h * dt)
    stream = emb
    cache_keys: list[list[int]] = []
    for i in range(len(spec.layers)):
        lay = spec.layers[i]  # a block with no mixer that caches (Nemotron-H's MLP and MoE blocks) adds nothing
        cached = any(m is not None for m in (lay.attention, lay.ssm, lay.linear, lay.conv))
        kv = kv_cache_bytes(_one_layer(spec, i), s, b, "transformers", kvd, bound_windows=False) if cached else 0
        stream, kv_keys = _layer(tr, spec, wl, i, t, dt, kv, masks > 0, stream, emb)
        if use_cache:
            cache_keys.append(kv_keys)
        else:
            tr.free(*kv_keys)
    normed = tr.alloc(t * h * dt)
    logits = tr.alloc((t if wl.task == "forward" else b) * spec.vocab_size * dt)
    tr.free(logits, normed, stream if stream != emb else 0, emb, *fixed)
    return cache_keys


def _layer(tr: Trace, spec: ModelSpec, wl: Workload, i: int, t: int, dt: int, kv: int, masked: bool,
           stream: int, emb: int) -> tuple[int, list[int]]:
    """One decoder layer of the prefill; returns the new residual stream and this layer's K/V keys."""
    layer = spec.layers[i]
    h = spec.hidden_size
    kv_keys: list[int] = []
    extra = _stream_tensors(spec) - 4  # hidden-sized tensors a family keeps beyond the usual four
    probs = 0  # eager attention's probabilities, held by the layer until it returns
    mixer = replays_mixer(layer)  # a recurrent mixer replayed tensor by tensor (transformers_pool_mixers.py)
    if layer.attention is not None:
        normed = _norm(tr, spec, t * h, dt)
        held = [tr.alloc(t * h * dt) for _ in range(max(0, extra))]
        # Falcon-H1: the Mamba-2 mixer runs first on the same input; its state is in the layer's K/V figure
        beside = mixer_prefill(tr, layer, spec.family, wl.batch, wl.context, h, dt, 0)[0] if mixer else 0
        out = 0
        if spec.family in _DETAILED and layer.attention.kind != "mla":
            *kv_keys, out, probs = _attention(tr, spec, wl, i, t, dt, kv, masked)
        elif replays_attention(layer.attention):  # DeepSeek sparse attention: MLA and the indexer, tensor by tensor
            out, kv_keys = attention_prefill(tr, layer.attention, wl.batch, wl.context, h, dt, kv)
        else:
            kv_keys, probs = _attention_blocks(tr, spec, wl, i, t, dt, kv, masked)
        stream = _add(tr, t * h * dt, stream, emb, out)
        tr.free(normed, *held, beside)
    elif mixer:
        normed = _norm(tr, spec, t * h, dt)
        out, kv_keys = mixer_prefill(tr, layer, spec.family, wl.batch, wl.context, h, dt, kv)
        tr.free(normed)  # the block's variable now holds the mixer's output
        stream = _add(tr, t * h * dt, stream, emb, out)
    elif kv:
        kv_keys = [tr.alloc(kv)]
    f_bytes, _ = _ffn_transient(spec, layer, i, wl, t, dt)
    if f_bytes:
        normed = _norm(tr, spec, t * h, dt)
        mlp = layer.mlp
        if mlp is not None and layer.moe is None and mlp.kind != "plain" and not wl.quant:
            out = _gated_mlp(tr, t * mlp.intermediate_size * dt, t * h * dt, mlp.fused_gate_up)
        elif replays_ffn(layer, spec.family) and not wl.quant:  # MoE's grouped experts path, relu² MLPs
            out = ffn_prefill(tr, layer, spec.family, t, h, dt)
        else:
            parts = [tr.alloc(f_bytes // 2), tr.alloc(f_bytes - f_bytes // 2)]
            out = tr.alloc(t * h * dt)
            tr.free(*parts)
        tr.free(normed)
        new = tr.alloc(t * h * dt)
        tr.free(out, stream if stream != emb else 0)
        stream = new
    tr.free(probs)
    return stream, kv_keys


def _gated_mlp(tr: Trace, piece: int, out_bytes: int, fused: bool) -> int:
    """``down(act(gate(x)) * up(x))``: gate, its activation (gate freed), up, the product, the output. A fused
    gate_up projection (Phi-3) is one tensor whose halves stay alive until the block returns."""
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
    tr.free(gate)
    up = tr.alloc(piece)
    prod = tr.alloc(piece)
    tr.free(act, up)
    out = tr.alloc(out_bytes)
    tr.free(prod)
    return out


# families whose decoder layer is the Llama one (RMSNorm in fp32, q/k/v projections, RoPE by rotate_half, SDPA or
# eager softmax in fp32, o_proj; gated MLP): their attention is replayed op by op
_DETAILED = ("llama", "mistral", "qwen2", "qwen3", "phi3", "gemma", "gemma2", "gemma3", "gemma3_text", "olmo2",
             "olmoe", "qwen2_moe", "qwen3_moe", "mixtral", "granite", "smollm3", "ministral", "starcoder2", "stablelm",
             "phi", "cohere", "glm", "glm4", "glm4_moe", "exaone", "internlm2", "deepseek", "yi", "solar", "falcon")


def _norm(tr: Trace, spec: ModelSpec, n: int, dt: int) -> int:
    """The block's input norm; RMSNorm runs in fp32 (a float copy, its square, the scaled copy, back to the
    dtype, times the weight). Returns the normed tensor's key."""
    if spec.norm != "rms":
        return tr.alloc(n * dt)
    if dt == 4:  # already fp32: the square, the scaled copy, times the weight
        tr.free(tr.alloc(n * 4))
        y = tr.alloc(n * 4)
        out = tr.alloc(n * 4)
        tr.free(y)
        return out
    x = tr.alloc(n * 4)
    tr.free(tr.alloc(n * 4))  # pow(2), reduced by mean at once
    y = tr.alloc(n * 4)
    tr.free(x)
    low = tr.alloc(n * dt)
    out = tr.alloc(n * dt)
    tr.free(low, y)
    return out


def _attention(tr: Trace, spec: ModelSpec, wl: Workload, i: int, t: int, dt: int, kv: int, masked: bool) -> list[int]:
    """q/k/v projections, RoPE (q·cos, rotate_half's negated half and cat, ·sin, sum), the cache's K/V, the
    kernel (SDPA, or eager scores, mask, fp32 softmax and its cast back) and the output projection."""
    att = spec.layers[i].attention
    assert att is not None
    b, s = wl.batch, wl.context
    nq = t * att.num_heads * att.head_dim * dt
    nk = kv // 2 if kv else t * att.num_kv_heads * att.head_dim * dt
    nv = kv - kv // 2 if kv else nk
    fused = 0
    if att.fused_qkv:  # one projection; q and k are views RoPE reads in place, the cache copies v out of it
        fused = tr.alloc(nq + nk + nv)
        q = k = 0
        v = tr.alloc(nv)
    else:
        q, k, v = tr.alloc(nq), tr.alloc(nk), tr.alloc(nv)
    if att.qk_norm != "none":  # q and k RMS-normed per head in fp32
        q = _renorm(tr, q, nq, dt)
        k = _renorm(tr, k, nk, dt)
    if spec.position_embedding == "rope":
        q = _rope(tr, q, nq)
        k = _rope(tr, k, nk)
    kv_keys = [k, v]
    rep: list[int] = []
    if (wl.attn == "eager" or masked) and att.num_kv_heads != att.num_heads:  # repeat_kv: K/V for every head
        rep = [tr.alloc(t * att.num_heads * att.head_dim * dt), tr.alloc(t * att.num_heads * att.value_dim * dt)]
    held = 0
    if wl.attn == "eager":
        scores = b * att.num_heads * s * s
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
                         t * att.num_heads * att.value_dim * dt)
    else:
        out = tr.alloc(t * att.num_heads * att.value_dim * dt)
    tr.free(q, *rep)
    contiguous = tr.alloc(t * att.num_heads * att.value_dim * dt)
    tr.free(out)
    o = tr.alloc(t * spec.hidden_size * dt)
    tr.free(contiguous, fused)
    return [*kv_keys, o, held]


def _renorm(tr: Trace, x: int, n: int, dt: int) -> int:
    """A q/k norm: ``x`` replaced by its normed copy (the fp32 temporaries of :func:`_norm`)."""
    if dt == 4:
        y = tr.alloc(n)
    else:
        f = tr.alloc(n // dt * 4)
        tr.free(tr.alloc(n // dt * 4))
        g = tr.alloc(n // dt * 4)
        tr.free(f)
        low = tr.alloc(n)
        y = tr.alloc(n)
        tr.free(low, g)
    tr.free(x)
    return y


def _math_sdpa(tr: Trace, b: int, s: int, heads: int, nq: int, nv: int) -> int:
    """SDPA's math path (fp32 with grouped K/V: neither flash nor the memory-efficient kernel runs): the scaled q,
    K and V repeated to every head, the fp32 scores, the causal bias, the masked scores, the softmax, the output."""
    scaled = tr.alloc(nq)
    rk, rv = tr.alloc(nq), tr.alloc(nv)
    scores = tr.alloc(b * heads * s * s * 4)
    bias = tr.alloc(s * s * 4)
    masked = tr.alloc(b * heads * s * s * 4)
    tr.free(scores)
    soft = tr.alloc(b * heads * s * s * 4)
    tr.free(masked)
    out = tr.alloc(nv)
    tr.free(soft, bias, rk, rv, scaled)
    return out


def _rope(tr: Trace, x: int, n: int) -> int:
    """``x·cos + rotate_half(x)·sin``: returns the rotated tensor's key; ``x`` is freed."""
    cos = tr.alloc(n)
    neg = tr.alloc(n // 2)
    cat = tr.alloc(n)
    tr.free(neg)
    sin = tr.alloc(n)
    tr.free(cat)
    out = tr.alloc(n)
    tr.free(cos, sin, x)
    return out


def _attention_blocks(tr: Trace, spec: ModelSpec, wl: Workload, i: int, t: int, dt: int, kv: int,
                      masked: bool) -> tuple[list[int], int]:
    """Any other attention at a coarser grain: q, the layer's K/V, the rest of the profile's temporaries (gpt-oss's
    eager sinks softmax tensor by tensor). Returns the K/V keys and the probabilities the layer holds (or 0)."""
    att = spec.layers[i].attention
    assert att is not None
    a_bytes, _ = _attn_transient(att, wl, wl.batch, wl.context, dt, masked, _model_dtype(spec, wl) == "float16",
                                 spec.family)
    nq = t * att.num_heads * att.head_dim * dt
    q = tr.alloc(min(a_bytes, nq))
    kv_keys = [tr.alloc(kv // 2), tr.alloc(kv - kv // 2)]
    if wl.attn == "eager" and att.sinks:
        rows = wl.batch * att.num_heads * wl.context
        rest = tr.alloc(a_bytes - nq - 3 * rows * wl.context * dt)  # repeated K/V
        probs = _sinks_softmax(tr, rows, wl.context, dt)
        out = tr.alloc(t * att.num_heads * att.value_dim * dt)
        tr.free(q, rest, out)
        return kv_keys, probs
    rest = tr.alloc(a_bytes - nq - kv)
    tr.free(q, rest)
    return kv_keys, 0


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


def _add(tr: Trace, nbytes: int, stream: int, emb: int, out: int = 0) -> int:
    """A sub-block's output (made here unless given) added to the residual stream: the new stream, then the
    output and the old stream go."""
    out = out or tr.alloc(nbytes)
    new = tr.alloc(nbytes)
    tr.free(out, stream if stream != emb else 0)
    return new


def _decode(tr: Trace, spec: ModelSpec, wl: Workload, dt: int, cache_keys: list[list[int]]) -> None:
    """``torch.cat`` grows every layer's K, then V, by one token a step; the old tensors are freed. Where
    ``generate`` drops the cache and re-runs the whole sequence (``cache_reset_length``), the old cache stays
    alive through that prefill."""
    b, s = wl.batch, wl.context
    kvd = _cache_dtype(spec, wl)
    reset = cache_reset_length(spec, wl)
    steps = range(1, wl.new_tokens)
    if len(steps) > DECODE_STEPS:  # the first steps, and the reset step where there is one
        first = 1 if reset is None else max(1, reset - s - DECODE_STEPS // 2)
        steps = range(first, min(wl.new_tokens, first + DECODE_STEPS))
    for step in steps:
        if reset is not None and s + step == reset:
            again = _prefill(tr, spec, replace(wl, context=reset, new_tokens=1), dt)
            tr.free(*(k for keys in cache_keys for k in keys))
            cache_keys[:] = again
            continue
        for i, keys in enumerate(cache_keys):
            if len(keys) != 2:
                continue
            kv = kv_cache_bytes(_one_layer(spec, i), s + step, b, "transformers", kvd, bound_windows=True)
            for j, nbytes in enumerate((kv // 2, kv - kv // 2)):
                new = tr.alloc(nbytes)
                tr.free(keys[j])
                keys[j] = new

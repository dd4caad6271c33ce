"""transformers inference as the caching allocator sees it: the large tensors of the build, the prefill and the
decoding loop, in the order the modelling code makes and drops them, replayed through the allocator emulation
(``memory/allocator_trace.py``) to give the reserve ``nvidia-smi`` shows beyond the allocated peak.

The run, at the grain that shapes the pool (transformers 5.25, as the simulator's allocation trace shows it; on the
development cases compared, the replayed prefill matches the simulator's allocations of 20 MiB and more one for one):

* build: the cuBLAS workspace, every parameter tensor, and for tied embeddings the output projection allocated
  with the model and freed when it is tied (a cached block of vocab × hidden that later tensors reuse);
* prefill: the embedding (Gemma: times its scale, a new tensor), RoPE's cos/sin tables (kept to the forward's end);
  per layer the normed input, the attention (``transformers_pool_attention.py``: q/k/v, per-head norms, RoPE, K and
  V copied into the cache by ``torch.cat``, the kernel, o_proj), the attention's output added to the stream; the
  normed MLP input, the MLP intermediates, the MLP output and the new stream. The model's loop holds a layer's
  input until the layer returns. Without a cache (``forward``) K and V go with the layer's temporaries;
* after the layers: the final norm and the logits (every token for ``forward``, the last one otherwise);
* LLM.int8 (``transformers_pool_int8.py``): its build, and every ``Linear8bitLt`` of the prefill with the buffers
  bitsandbytes makes and drops, the down projection's with the layer's own count of outlier columns;
* decoding: each step every layer's K, then V, is re-made one token longer by ``torch.cat`` and the old one freed;
  where generate drops the cache and re-runs the sequence (LongRoPE), the old cache lives through the re-run and
  the next step.

The figures are the same ones the allocated peak is built from (``transformers.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import replace
from functools import cache

from ...formats import COMPUTE_DTYPE_BYTES
from ...spec import ModelSpec
from ...workload import Workload
from ..allocator_trace import PoolFigures, Trace
from ..kv_cache import kv_cache_bytes
from . import transformers_families as fam
from .int8_outliers import layer_outlier_columns
from .transformers import (
    INT64,
    _cache_dtype,
    _ffn_transient,
    _mask_bytes,
    _model_dtype,
    _one_layer,
    _stream_tensors,
)
from .transformers_beam import FP32_SOFTCAP, fp32_softcap
from .transformers_families import ALL_PROMPT_LOGITS, HELD_PREV_PROBS, SCALED_LOGITS, SUB_NORMED, WEIGHTLESS_NORM
from .transformers_moments import cache_reset_length
from .transformers_no_cache import prefill_keeps_cache
from .transformers_pool_attention import GEMMA, attention, norm, rotary
from .transformers_pool_beam import beam_block
from .transformers_pool_blocks import attention_prefill, ffn_prefill, gated_mlp, replays_attention, replays_ffn
from .transformers_pool_build import build_inference_weights
from .transformers_pool_dots3 import fp32_rope_input
from .transformers_pool_gpt2 import LEARNED_POSITIONS, gpt2_block
from .transformers_pool_images import image_prefill
from .transformers_pool_inkling import block_states_bytes
from .transformers_pool_int8 import int8_build, int8_gated_mlp, int8_projection
from .transformers_pool_mixers import mixer_prefill, replays_mixer
from .transformers_pool_own import own_forward
from .transformers_pool_persimmon import OWN_BLOCKS
from .transformers_pool_rwkv import rwkv_block
from .transformers_pool_zamba import CLONED_EMBEDDINGS, zamba_block
from .transformers_pool_zaya import zaya_block
from .transformers_prophetnet import ngram_or_blocks, ngram_streams
from .transformers_xmod import plain_ffn

__all__ = ["grid_down", "grid_up", "interpolated", "interpolating_reserve", "reserve_at", "transformers_pool",
           "transformers_reserve"]

DECODE_STEPS = 64  # decoding steps replayed: the pool's pattern repeats by then (said in the docs)


def transformers_pool(spec: ModelSpec, wl: Workload, weights_bytes: int, expandable: bool = False) -> PoolFigures:
    """The emulated pool of one transformers inference run (peaks after the build) at a grid point."""
    return _pool(spec, replace(wl, context=grid_up(wl.context)), weights_bytes, expandable)


def transformers_reserve(spec: ModelSpec, wl: Workload, weights_bytes: int, expandable: bool = False) -> int:
    """The reserve at the prompt length (``reserve_at``: replayed there, or interpolated inside plan's search)."""
    return reserve_at(wl.context, lambda c: _pool(spec, replace(wl, context=c), weights_bytes, expandable).reserve)


_INTERPOLATE: ContextVar[bool] = ContextVar("memfit_interpolate_reserve", default=False)


@contextmanager
def interpolating_reserve() -> Iterator[None]:
    """Inside, ``reserve_at`` interpolates between grid points: a total that does not fall as the context grows, for
    plan's search for the longest context (one replay's reserve jumps up and down by whole segments as blocks start
    to fit; plan then re-checks its answer with the exact replay)."""
    token = _INTERPOLATE.set(True)
    try:
        yield
    finally:
        _INTERPOLATE.reset(token)


def reserve_at(n: int, reserve: Callable[[int], int]) -> int:
    """``reserve`` replayed at the context ``n`` (what the run shows: between grid points the interpolation misses by
    up to a segment, e.g. -4.7 % of the device total on a held-out off-grid case, docs/simulator.md); inside
    ``interpolating_reserve``, interpolated between the grid points around ``n``."""
    return interpolated(n, reserve) if _INTERPOLATE.get() else reserve(n)


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
    if wl.quant == "int8":  # LLM.int8's build (transformers_pool_int8.py); a random model is made on the device
        int8_build(tr, spec, dt, on_device=wl.int8_outliers == "random")
    else:
        build_inference_weights(tr, spec, weights_bytes, dt, wl.random_init, dense=not wl.quant)
    tr.built()
    images = image_prefill(tr, spec, wl, dt)  # what the images become before the text runs, held through it
    cache_keys = _prefill(tr, spec, wl, dt)
    tr.free(*images)
    if wl.task == "generate":
        _decode(tr, spec, wl, dt, cache_keys)
    return tr.figures()


def _prefill(tr: Trace, spec: ModelSpec, wl: Workload, dt: int) -> list[list[int]]:
    """The prompt's forward, or its chunks in order (``prefill_chunks``); returns every layer's cache keys (none
    for ``forward``). The token ids and generate's attention mask cover the whole prompt throughout."""
    if own_forward(tr, spec, wl, dt):  # Reformer's, XLM's, CPM-Ant's own (transformers_pool_own)
        return []
    t = wl.batch * wl.context
    inputs = [tr.alloc(t * INT64), tr.alloc(t * INT64 if wl.task == "generate" else 0)]
    cache_keys: list[list[int]] = []
    done = 0
    while done < wl.context:
        queries = min(wl.context - done, spec.prefill_chunk_size or wl.context) if wl.task == "generate" \
            else wl.context
        cache_keys = _forward(tr, spec, replace(wl, context=queries), dt, done + queries, cache_keys)
        done += queries
    tr.free(*inputs)
    return cache_keys


def _forward(tr: Trace, spec: ModelSpec, wl: Workload, dt: int, keys: int,
             cache: list[list[int]]) -> list[list[int]]:
    """One forward of ``wl.context`` tokens over ``keys`` (more after a first chunk: ``cache`` holds each layer's
    K/V so far, replaced by ``torch.cat``'s longer copies)."""
    b, s = wl.batch, wl.context
    t, h = b * s, spec.hidden_size
    kvd = _cache_dtype(spec, wl)
    use_cache = prefill_keeps_cache(spec, wl)  # (none in a forward, nor from a BERT-type encoder config)
    mask = _build_mask(tr, spec, wl, dt, keys) if spec.family == "gpt2" else 0
    emb = fp32_rope_input(tr, spec, tr.alloc(t * h * dt), t * h)  # dots3_note's inputs_embeds.float() for RoPE
    clone = tr.alloc(t * h * dt if spec.family in CLONED_EMBEDDINGS + fam.HELD_LOOP_INPUT else 0)  # to the end
    if spec.family in GEMMA:  # the embedding times its scale: a new tensor, the unscaled one goes
        scaled = tr.alloc(t * h * dt)
        tr.free(emb)
        emb = scaled
    types = tr.alloc(fam.token_type_zeros_bytes(spec, t))  # GIT's int32 zeros_like(embedding_output), to the end
    # the model's forward embeds the tokens, then makes the masks (create_causal_mask), then RoPE's tables
    mask = mask or _build_mask(tr, spec, wl, dt, keys)
    tables = rotary(tr, spec, t if wl.task == "generate" else s, dt)
    stream = norm(tr, spec, t * h, dt) if spec.family in WEIGHTLESS_NORM else emb  # NanoChat's norm before the layers
    if spec.family in LEARNED_POSITIONS:  # wpe's output, then their sum is the first layer's input
        tables = [tr.alloc((t if wl.task == "generate" else s) * h * dt)]
        stream = tr.alloc(t * h * dt)
    cache_keys: list[list[int]] = []
    prev = 0  # the previous block's probabilities (HELD_PREV_PROBS: the model loop's ``outputs`` holds them)
    for i in range(len(spec.layers)):
        lay = spec.layers[i]  # a block with no mixer that caches (Nemotron-H's MLP and MoE blocks) adds nothing
        cached = any(m is not None for m in (lay.attention, lay.ssm, lay.linear, lay.conv))
        kv = kv_cache_bytes(_one_layer(spec, i), keys, b, "transformers", kvd, bound_windows=False) if cached else 0
        old = cache[i] if i < len(cache) else []
        stream, kv_keys, kept = _layer(tr, spec, wl, i, t, dt, kv, mask > 0 and _masked(spec, wl, i, keys), stream,
                                       emb, keys, old)
        tr.free(prev)
        prev = kept
        if use_cache:
            cache_keys.append(kv_keys)
        else:
            tr.free(*kv_keys)
    normed = norm(tr, spec, t * h, dt)  # the final norm; the model's hidden states go when it returns
    tr.free(stream if stream != emb else 0, emb, clone, types, *tables)
    rows = t if wl.task == "forward" or spec.family in ALL_PROMPT_LOGITS else b  # (no logits_to_keep: every token)
    logits = tr.alloc(rows * max(1, ngram_streams(spec)) * spec.vocab_size * dt)  # ProphetNet: every predict stream
    if spec.family in SCALED_LOGITS:  # the scaled logits, a new tensor; the projection's go once it is made
        scaled = tr.alloc(rows * spec.vocab_size * dt)
        tr.free(logits)
        logits = scaled
    if spec.family in FP32_SOFTCAP:  # Beam's fp32 soft-cap (transformers_beam.fp32_softcap)
        logits = fp32_softcap(tr, logits, rows * spec.vocab_size, dt)
    tr.free(logits, normed, mask, prev)
    return cache_keys


def _build_mask(tr: Trace, spec: ModelSpec, wl: Workload, dt: int, keys: int) -> int:
    """The forward's mask. Eager: the additive mask. SDPA, where a mask is made: masking_utils ``sdpa_mask``
    broadcasts its mask function over the query and key indices (the batch an expanded view), and ``and_masks``
    ANDs each function's ``q × kv`` bool output into a new tensor: ``sliding_window_overlay`` (``kv > q − w``) and
    then the causal ``kv ≤ q``, or the causal one alone (a later chunk). Found on the simulator's traces of
    exaone-4.0-32b-l4 (three 64 MiB segments at the mask's build) and gemma-3-1b-it b4 (16 MiB: one sequence)."""
    s = wl.context
    nbytes = _mask_bytes(spec, wl, wl.batch, s, dt, keys)
    if not nbytes or wl.attn == "eager":
        return tr.alloc(nbytes)
    sliding = any(w is not None and w < keys for w in spec.sliding_windows)
    result = 0
    for _ in range(2 if sliding else 1):
        term = tr.alloc(s * keys)
        new = tr.alloc(s * keys)
        tr.free(term, result)
        result = new
    return result


def _masked(spec: ModelSpec, wl: Workload, i: int, keys: int) -> bool:
    """Whether layer ``i``'s attention gets the forward's mask: under SDPA a full-attention layer of a model with
    sliding layers keeps ``is_causal`` (its causal mask is skipped, masking_utils ``_ignore_causal_mask_sdpa``; the
    simulator's traces run flash there and the memory-efficient kernel on the sliding layers), unless its queries
    are a chunk after the first."""
    att = spec.layers[i].attention
    if wl.attn == "eager" or keys != wl.context or att is None:
        return True
    return att.sliding_window is not None and att.sliding_window < keys


def _layer(tr: Trace, spec: ModelSpec, wl: Workload, i: int, t: int, dt: int, kv: int, masked: bool,
           stream: int, emb: int, keys: int = 0, old: list[int] | None = None) -> tuple[int, list[int], int]:
    """One decoder layer of the prefill (``keys``: the keys its attention reads, the cache's ``old`` K/V grown
    into new copies for a chunk after the first); returns the new residual stream, this layer's K/V keys and the
    probabilities the model loop keeps after the layer returns (:data:`HELD_PREV_PROBS`; else 0)."""
    layer, h = spec.layers[i], spec.hidden_size
    own = _own_block(tr, spec, wl, i, t, dt, kv, masked, stream, emb, keys, old or [])
    if own is not None:
        return own
    kv_keys: list[int] = []
    probs = ffn_act = 0  # eager attention's probabilities (X-MOD: its MLP activation), held until the layer returns
    mixer = replays_mixer(layer)  # a recurrent mixer replayed tensor by tensor (transformers_pool_mixers.py)
    inp = stream  # the model's loop holds the layer's input until the layer returns
    post = layer.norm_layout == "post"  # OLMo-2/3, EXAONE 4: each sub-block's output normed before its residual add
    blocks, attn_input = (tr.alloc(n) for n in block_states_bytes(spec, i, t, h, dt))  # Inkling2-Loop's (_inkling)
    if layer.attention is not None:
        normed = 0 if post else norm(tr, spec, t * h, dt)  # then the hidden-sized tensors a family keeps beyond four
        held = [attn_input, *(tr.alloc(t * h * dt) for _ in range(max(0, _stream_tensors(spec) - 4)))]
        # Falcon-H1: the Mamba-2 mixer runs first on the same input; its state is in the layer's K/V figure
        beside = mixer_prefill(tr, layer, spec.family, wl.batch, wl.context, h, dt, 0)[0] if mixer else 0
        out = 0
        if spec.family in _DETAILED and layer.attention.kind != "mla":
            *kv_keys, out, probs = attention(tr, spec, wl, i, t, dt, kv, masked, keys, old or [],
                                             int8_projection(tr, wl, spec, t, dt))
            old = []
        elif replays_attention(layer.attention, wl.attn == "eager", masked):  # MLA (and V3.2's indexer) op by op
            out, kv_keys = attention_prefill(tr, layer.attention, wl.batch, wl.context, h, dt, kv, spec.family)
        else:  # (ProphetNet's main and predict streams: transformers_prophetnet)
            kv_keys, probs = ngram_or_blocks(tr, spec, wl, i, t, dt, kv, masked, keys)
        if not beside:  # the block's variable now holds the attention's output: the normed input goes
            out = out or tr.alloc(t * h * dt)
            tr.free(normed)
        out = _post_norm(tr, spec, t * h, dt, out) if post else out
        stream = _add(tr, t * h * dt, emb, emb, out)
        tr.free(normed, *held, beside)
    elif mixer:
        normed = norm(tr, spec, t * h, dt)
        out, kv_keys = mixer_prefill(tr, layer, spec.family, wl.batch, wl.context, h, dt, kv)
        tr.free(normed)  # the block's variable now holds the mixer's output
        stream = _add(tr, t * h * dt, emb, emb, out)
    elif layer.conv is not None:  # LFM2's short convolution: in_proj, B·x, the padded conv, C·conv, out_proj
        normed = norm(tr, spec, t * h, dt)
        proj = tr.alloc(3 * t * h * dt)
        bx = tr.alloc(t * h * dt)
        conv = tr.alloc(wl.batch * h * (wl.context + layer.conv.kernel - 1) * dt)
        tr.free(bx)
        y = tr.alloc(t * h * dt)
        out = tr.alloc(t * h * dt)
        tr.free(y, conv, proj, normed)
        kv_keys = [tr.alloc(kv)] if kv else []
        stream = _add(tr, t * h * dt, emb, emb, out)
    elif kv:
        kv_keys = [tr.alloc(kv)]
    tr.free(*(old or []))  # torch.cat's longer copies replace the cache's K and V
    f_bytes, _ = _ffn_transient(spec, layer, i, wl, t, dt)
    if f_bytes:
        normed = 0 if post else norm(tr, spec, t * h, dt)
        mlp = layer.mlp
        if mlp is not None and layer.moe is None and mlp.kind != "plain" and not wl.quant:
            sub = (lambda: norm(tr, spec, t * mlp.intermediate_size, dt)) if spec.family in SUB_NORMED else None
            out = gated_mlp(tr, t * mlp.intermediate_size * dt, t * h * dt, mlp.fused_gate_up,
                            mlp.activation == "relu2", sub, dt if spec.family in fam.L2_SUB_NORMED else 0)
        elif mlp is not None and layer.moe is None and mlp.kind != "plain" and not mlp.fused_gate_up \
                and wl.quant == "int8":  # LLM.int8's buffers, linear by linear (transformers_pool_int8.py)
            k = layer_outlier_columns(spec, t, wl.int8_outliers)[i]
            out = int8_gated_mlp(tr, t, h, mlp.intermediate_size, dt, k, _model_dtype(spec, wl) == "float16")
        elif replays_ffn(layer, spec.family) and not wl.quant:  # MoE's grouped experts path, relu² MLPs
            out = ffn_prefill(tr, layer, spec.family, t, h, dt)
        else:  # a plain MLP: two halves of its transient, then its output (X-MOD's adapter: transformers_xmod.py)
            out, ffn_act = plain_ffn(tr, spec, layer, wl.batch, t, dt, f_bytes)
        tr.free(normed)
        out = _post_norm(tr, spec, t * h, dt, out) if post else out
        new = tr.alloc(t * h * dt)
        tr.free(out, stream if stream not in (emb, inp) else 0)
        stream = new
    kept = probs if spec.family in HELD_PREV_PROBS else 0
    tr.free(0 if kept else probs, inp if inp not in (emb, stream) else 0, blocks, ffn_act)
    return stream, kv_keys, kept


# parallel blocks whose attention and MLP read one norm of the block's input, the MLP's output taking the attention's
# in place (transformers 5.25 FalconDecoderLayer.forward: ``mlp_output += attention_output``, then
# ``dropout_add(mlp_output, residual)``)
SHARED_NORM_PARALLEL = ("falcon",)


def _own_block(tr: Trace, spec: ModelSpec, wl: Workload, i: int, t: int, dt: int, kv: int, masked: bool,
               stream: int, emb: int, keys: int, old: list[int]) -> tuple[int, list[int], int] | None:
    """GPT-2's, CodeGen's or Persimmon's block under SDPA or Falcon's parallel block, replayed whole; else None."""
    layer = spec.layers[i]
    att = layer.attention
    if spec.family in LEARNED_POSITIONS and wl.attn == "sdpa" and not masked and layer.mlp is not None and att:
        tr.free(*old)  # GPT-2's and GPTBigCode's block (transformers_pool_gpt2.py)
        qkv = att.num_heads * att.head_dim + 2 * att.num_kv_heads * att.head_dim
        return (*gpt2_block(tr, wl, t, spec.hidden_size, layer.mlp.intermediate_size, dt, kv, stream, qkv,
                            spec.family == "gpt2"), 0)
    if spec.family in SHARED_NORM_PARALLEL and layer.norm_layout == "parallel" and layer.norms == 1 \
            and layer.mlp is not None and layer.mlp.kind == "plain" and not wl.quant:
        new, block_kv, probs = _falcon_block(tr, spec, wl, i, t, dt, kv, masked, keys, old)
        kept = probs if spec.family in HELD_PREV_PROBS else 0
        tr.free(0 if kept else probs, stream if stream != emb else 0)
        return new, block_kv, kept
    if layer.ssm is not None and layer.ssm.rwkv:  # RWKV's time and channel mixing (transformers_pool_rwkv.py)
        return (*rwkv_block(tr, spec, i, t, dt, kv, stream, emb), 0)
    zaya = zaya_block(tr, spec, wl, i, dt, kv, stream, emb)  # ZAYA's fp32 stream, CCA and router (None: others)
    zaya = zaya or zamba_block(tr, spec, wl, i, dt, kv, stream, emb)  # Zamba's layers (transformers_pool_zamba.py)
    if zaya is not None:
        tr.free(*old)
        return zaya
    beam = beam_block(tr, spec, wl, i, dt, kv, masked, stream, emb) if keys == wl.context else None
    if beam is not None:  # Beam's q/k norms, output gate, sandwich norms and fp32 SwiGLU (transformers_pool_beam.py)
        return beam
    block = OWN_BLOCKS.get(spec.family)  # CodeGen's and Persimmon's blocks
    if block and wl.attn == "sdpa" and not masked and layer.mlp is not None and not wl.quant:
        return (*block(tr, spec, wl, i, t, dt, kv, stream, emb), 0)
    return None


def _falcon_block(tr: Trace, spec: ModelSpec, wl: Workload, i: int, t: int, dt: int, kv: int, masked: bool,
                  keys: int, old: list[int]) -> tuple[int, list[int], int]:
    """Falcon's parallel block with one norm (:data:`SHARED_NORM_PARALLEL`), as the simulator's trace of
    falcon-default-l3 shows it: the norm, the attention (its output kept), dense_h_to_4h and its activation (the
    first freed), dense_4h_to_h (the activation freed), the in-place sum, the new residual; then the MLP's output,
    the attention's and the norm go (the block's input and eager probabilities, returned, in the caller)."""
    layer, h = spec.layers[i], spec.hidden_size
    assert layer.mlp is not None
    normed = norm(tr, spec, t * h, dt)
    *kv_keys, attn, probs = attention(tr, spec, wl, i, t, dt, kv, masked, keys, old)
    inner = t * layer.mlp.intermediate_size * dt
    fc = tr.alloc(inner)
    act = tr.alloc(inner)
    tr.free(fc)
    mlp = tr.alloc(t * h * dt)
    tr.free(act)
    new = tr.alloc(t * h * dt)
    tr.free(mlp, attn, normed)
    return new, kv_keys, probs


# families whose decoder layer is the Llama one (RMSNorm in fp32, q/k/v projections, RoPE by rotate_half, SDPA or
# eager softmax in fp32, o_proj; gated MLP): their attention is replayed op by op. Emu3's text model is that layer
# (transformers 5.25 modeling_emu3.py Emu3DecoderLayer; its ``self.dropout`` returns its input in eval); Aria's text
# attention is Llama's line for line (modeling_aria.py AriaTextAttention.forward; its layer an MoE MLP)
_DETAILED = ("llama", "mistral", "qwen2", "qwen3", "phi3", "gemma", "gemma2", "gemma3", "gemma3_text", "olmo2",
             "olmoe", "qwen2_moe", "qwen3_moe", "mixtral", "granite", "smollm3", "ministral", "starcoder2", "stablelm",
             "phi", "cohere", "glm", "glm4", "glm4_moe", "exaone", "exaone4", "olmo3", "internlm2", "deepseek", "yi",
             "solar", "falcon", "bitnet", "nanochat", "emu3", "aria_text", "minimax_m3_vl_text")


def _post_norm(tr: Trace, spec: ModelSpec, n: int, dt: int, out: int) -> int:
    """A sub-block's output replaced by its norm (``post_attention_layernorm`` / ``post_feedforward_layernorm`` of
    transformers 5.25 ``Olmo2DecoderLayer.forward``: the variable rebinds once the norm returns)."""
    normed = norm(tr, spec, n, dt)
    tr.free(out)
    return normed


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
    alive through that prefill and the next step's updates (the simulator's trace of phi-3.5-mini-instruct)."""
    b, s = wl.batch, wl.context
    kvd = _cache_dtype(spec, wl)
    reset = cache_reset_length(spec, wl)
    steps = range(1, wl.new_tokens)
    if len(steps) > DECODE_STEPS:  # the first steps, and the reset step where there is one
        first = 1 if reset is None else max(1, reset - s - DECODE_STEPS // 2)
        steps = range(first, min(wl.new_tokens, first + DECODE_STEPS))
    stale: list[int] = []
    for step in steps:
        if reset is not None and s + step == reset:
            again = _prefill(tr, spec, replace(wl, context=reset, new_tokens=1), dt)
            stale = [k for keys in cache_keys for k in keys]
            cache_keys[:] = again
            continue
        for i, keys in enumerate(cache_keys):
            if len(keys) != 2:
                continue
            kv = kv_cache_bytes(_one_layer(spec, i), s + step, b, "transformers", kvd, bound_windows=True)
            old = list(keys)
            for j, nbytes in enumerate((kv // 2, kv - kv // 2)):
                keys[j] = tr.alloc(nbytes)
                if not stale:  # after a reset the re-run's K and V go only once both are grown
                    tr.free(old[j])
            tr.free(*old)
        tr.free(*stale)
        stale = []
    tr.free(*stale)

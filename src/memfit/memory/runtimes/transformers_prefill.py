"""The prompt's forward in transformers inference, as moments (``transformers.py``): the whole prompt at once, or the
chunks ``generate`` runs it in when the config carries a ``prefill_chunk_size`` (transformers 5.25
generation/utils.py ``_prefill``; MLC's config files set 2,048, and ``GenerationConfig.from_model_config`` copies
it). A chunk of ``q`` tokens attends to the ``k`` tokens cached so far: its scores and masks are ``q × k`` (under
SDPA a chunk after the first has a bool mask, masking_utils ``_ignore_causal_mask_sdpa``), its activations those of
``q`` tokens, the cache ``k`` tokens."""

from __future__ import annotations

from dataclasses import replace

from ...spec import LayerSpec, ModelSpec
from ...workload import Workload
from ..dsv4_attention import hc_stream_bytes
from ..kv_cache import kv_cache
from .transformers import (
    Moment,
    _attn_transient,
    _cache_dtype,
    _ffn_transient,
    _mask_bytes,
    _mask_count,
    _model_dtype,
    _recurrent_moments,
    _stream_tensors,
)
from .transformers_cpmant import position_bias_bytes, prompt_tokens
from .transformers_families import (
    DROPPED_PROBS_EAGER,
    HELD_PREV_PROBS,
    ROPE_PER_LAYER_TYPE,
    fp32_stream_extra,
    per_layer_input_bytes,
    token_type_zeros_bytes,
)
from .transformers_inkling_text import rel_logits_sdpa_moment
from .transformers_no_cache import prefill_keeps_cache
from .transformers_own_attention import dynamic_mask_bytes
from .transformers_pool_inkling import block_states_bytes
from .transformers_prophetnet import ngram_attention_peak
from .transformers_xlm import xlm_forward_moments
from .transformers_zaya import router_state_bytes

__all__ = ["prefill_chunks", "prefill_moments"]


def prefill_chunks(spec: ModelSpec, wl: Workload) -> list[tuple[int, int]]:
    """(queries, keys) of the prompt's forwards: the whole prompt at once; under ``generate`` with a config's
    ``prefill_chunk_size`` below the prompt, chunks of that many tokens, each attending to the cache so far
    (transformers 5.25 generation/utils.py ``_prefill``: ``torch.split`` of the prompt, one forward per chunk).
    Of those, the first, the last full one and the rest: a full chunk holds no more than the last full one (the
    same queries over fewer keys)."""
    c, s = spec.prefill_chunk_size, wl.context
    if wl.task != "generate" or not c or c >= s:
        return [(s, s)]
    out = [(c, c), (c, s // c * c)] + ([(s % c, s)] if s % c else [])
    return list(dict.fromkeys(out))


def prefill_moments(spec: ModelSpec, wl: Workload, queries: int, keys: int, dt: int, inputs: int) -> list[Moment]:
    """The prompt's forward (or one chunk of it: ``queries`` tokens over ``keys`` keys): per distinct layer, its
    attention and its MLP (see the module docstring); XLM's forward, its own (``transformers_xlm``)."""
    if (own := xlm_forward_moments(spec, wl, dt, inputs)) is not None:
        return own
    b, h = wl.batch, spec.hidden_size
    t = b * queries
    half = _model_dtype(spec, wl) == "float16"
    kv = kv_cache(spec, keys, b, "transformers", _cache_dtype(spec, wl), bound_windows=False) \
        if prefill_keeps_cache(spec, wl) else None
    kv_full, kv_text = (kv.bytes, kv.formula) if kv else (0, "")
    final = kv_full, kv_text
    masks = _mask_bytes(spec, wl, b, queries, dt, keys)
    masked = masks > 0
    rot = 0
    for layer in spec.layers:
        if layer.attention is not None and spec.position_embedding == "rope":
            a = layer.attention
            rot = max(rot, 2 * t * (a.qk_rope_head_dim or a.rope_dim or a.head_dim) * dt)
    if spec.family in ROPE_PER_LAYER_TYPE:
        rot *= _mask_count(spec)  # one cos/sin pair per layer type, all computed before the first layer
    fixed = masks + rot + inputs + per_layer_input_bytes(spec, t, dt) + hc_stream_bytes(spec, t, dt)
    fixed += position_bias_bytes(spec, b, queries, keys, dt)  # CPM-Ant's, through every layer
    fixed += token_type_zeros_bytes(spec, t)  # GIT's int32 zeros_like(embedding_output)
    stream = _stream_tensors(spec) * t * h * dt + fp32_stream_extra(spec, 3, t * h, dt)  # embeddings, input, residual
    whole = queries == keys == wl.context + prompt_tokens(spec)  # (CPM-Ant's prompt tokens included)
    where = "" if whole else f", chunk of {queries:,} tokens over {keys:,}"
    moments: list[Moment] = []
    seen: set[tuple[object, ...]] = set()
    # the previous layer's probabilities, held by the model loop's ``outputs`` (HELD_PREV_PROBS; from layer 1 on)
    prev_held = wl.attn == "eager" and spec.family in HELD_PREV_PROBS and sum(
        layer.attention is not None for layer in spec.layers) > 1
    for idx, layer in enumerate(spec.layers):
        kv_full, kv_text = final
        blocks, attn_input = block_states_bytes(spec, idx, t, h, dt)  # Inkling2-Loop's block attention residual
        key = (layer.attention, layer.mlp, layer.moe, layer.ssm, layer.linear, blocks, attn_input)
        if key in seen:
            continue
        seen.add(key)
        kv_full, kv_text = _cache_so_far(spec, wl, layer, keys, b, final)
        held_probs = prev = 0
        if layer.attention is not None:
            att = layer.attention
            a_bytes, a_text = _attn_transient(att, wl, b, queries, dt, masked, half, spec.family, keys)
            a_bytes, a_text = rel_logits_sdpa_moment(spec, idx, att, wl, b, queries, keys, dt) or (a_bytes, a_text)
            a_bytes, a_text = ngram_attention_peak(spec, att, b, queries, dt) or (a_bytes, a_text)  # ProphetNet
            dyn = dynamic_mask_bytes(spec.family, att, b, queries, keys, dt)[0]  # Doge's dynamic mask
            a_bytes, a_text = a_bytes + dyn, a_text + (f" + dynamic mask {dyn:,}" if dyn else "")
            attn_stream = (_stream_tensors(spec) - 1) * t * h * dt + fp32_stream_extra(spec, 2, t * h, dt) \
                + blocks + attn_input
            if wl.attn == "eager" and not att.single_kv and spec.family not in DROPPED_PROBS_EAGER:  # (V4, GIT)
                held_probs = b * att.num_heads * queries * keys * dt
                prev = held_probs if prev_held else 0
            moments.append(Moment(f"prefill attention (layer {idx}{where})", kv_full,
                                  attn_stream + a_bytes + prev + fixed,
                                  formula=f"{attn_stream:,} stream + {a_text}"
                                  + (f" + previous layer's probabilities {prev:,}" if prev else "")
                                  + f" + {fixed:,} masks/rope/inputs", kv_formula=kv_text))
            held_probs += prev
        moments += _recurrent_moments(spec, layer, idx, b, queries, dt, fixed, kv_full, kv_text)
        if layer.ssm is not None and layer.mlp is None and layer.moe is None:
            continue
        f_bytes, f_text = _ffn_transient(spec, layer, idx, wl, t, dt)
        if layer.moe is not None and (router := router_state_bytes(spec, t, dt)):  # ZAYA's router states
            f_bytes, f_text = f_bytes + router, f_text + f" + router states {router:,}"
        moments.append(Moment(f"prefill MLP (layer {idx}{where})", kv_full,
                              stream + blocks + f_bytes + held_probs + fixed,
                              formula=f"{stream + blocks:,} stream + {f_text}"
                              + (f" + held attention probabilities {held_probs:,}" if held_probs else "")
                              + f" + {fixed:,} masks/rope/inputs", kv_formula=kv_text))
    return moments


def _cache_so_far(spec: ModelSpec, wl: Workload, layer: LayerSpec, keys: int, b: int,
                  final: tuple[int, str]) -> tuple[int, str]:
    """The cache alive at a recurrent layer's prefill moments: DynamicCache fills layer by layer as the forward
    reaches it (``cache.update`` / ``update_recurrent_state`` in the layer's own forward), so the last layer of this
    kind runs beside the caches of the layers up to it, not those of the attention layers after it (OLMo Hybrid's
    4-layer cut: three gated delta-nets, then the full-attention layer whose K/V is not there yet). Other layers,
    and a recurrent kind that also ends the stack, keep the final cache."""
    if final[0] == 0 or (layer.linear is None and layer.ssm is None):
        return final
    kind = (layer.attention, layer.mlp, layer.moe, layer.ssm, layer.linear)
    last = max(i for i, other in enumerate(spec.layers)
               if (other.attention, other.mlp, other.moe, other.ssm, other.linear) == kind)
    if last + 1 >= len(spec.layers):
        return final
    head = replace(spec, layers=spec.layers[: last + 1])
    kv = kv_cache(head, keys, b, "transformers", _cache_dtype(spec, wl), bound_windows=False)
    return kv.bytes, f"layers 0–{last} (the cache so far): {kv.formula}"

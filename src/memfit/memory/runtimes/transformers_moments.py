"""Every candidate peak of a transformers inference run, in order: the prompt's forward (chunk by chunk when the
config asks for it: transformers_prefill), the logits, the decoding steps and a Phi-3 cache reset. The moments'
parts live in :mod:`.transformers`; this module assembles them (it sits above transformers_prefill, which builds on
the same parts)."""

from __future__ import annotations

from dataclasses import replace

from ...formats import COMPUTE_DTYPE_BYTES, compute_dtype
from ...spec import ModelSpec
from ...units import fmt_bytes
from ...workload import Workload
from ..kv_cache import kv_cache, kv_cache_bytes
from .transformers import (
    INT64,
    Moment,
    _cache_dtype,
    _caches,
    _mla_expanded,
    _model_dtype,
    _one_layer,
    _sampling_bytes,
)
from .transformers_beam import FP32_SOFTCAP, fp32_softcap_bytes
from .transformers_cpmant import prompt_tokens
from .transformers_families import ALL_PROMPT_LOGITS, CACHE_RESET_FAMILIES, SCALED_LOGITS, SOFTCAPPED_LOGITS
from .transformers_no_cache import prefill_keeps_cache
from .transformers_prefill import prefill_chunks, prefill_moments
from .transformers_prophetnet import ngram_streams
from .transformers_reformer_moments import reformer_moments

__all__ = ["cache_reset_length", "peak_moments"]


def peak_moments(spec: ModelSpec, wl: Workload) -> list[Moment]:
    """Every candidate peak of the run (the mechanisms: :mod:`.transformers`' docstring)."""
    b, s, new = wl.batch, wl.context, wl.new_tokens
    dt = COMPUTE_DTYPE_BYTES.get(_model_dtype(spec, wl), 2)  # a storage format (quantized) computes in bf16
    own = reformer_moments(spec, wl, dt)  # Reformer's chunked, reversible forward (transformers_reformer)
    if own is not None:
        return own
    h, v = spec.hidden_size, spec.vocab_size
    t = b * s
    kvd = _cache_dtype(spec, wl)
    prefill_kv = kv_cache(spec, s, b, "transformers", kvd, bound_windows=False) if prefill_keeps_cache(spec, wl) \
        else None  # (the BERT family's encoder configs make none: transformers_no_cache)
    kv_full, kv_text = (prefill_kv.bytes, prefill_kv.formula) if prefill_kv else (0, "")
    inputs = t * INT64 * (2 if wl.task == "generate" else 1)
    moments: list[Moment] = []
    pt = prompt_tokens(spec)  # CPM-Ant's layers run on its prompt too; its logits leave it out
    for queries, keys in prefill_chunks(spec, wl):
        moments += prefill_moments(spec, wl, queries + pt, keys + pt, dt, inputs)
    if wl.task == "forward":
        # Gemma 2 soft-caps the logits (÷ cap, tanh, × cap): two logits tensors are alive at each step; Granite's
        # logits / logits_scaling (and the other SCALED_LOGITS heads) make the second beside the projection's
        copies = 2 if spec.family in SOFTCAPPED_LOGITS or spec.family in SCALED_LOGITS else 1
        copies = ngram_streams(spec) or copies  # ProphetNet's lm_head over every predict stream
        logits = copies * t * v * dt
        text = f"{copies} × {t:,} tokens × {v:,} vocab × {dt} B logits"
        if spec.family in FP32_SOFTCAP:  # Beam: the logits, their fp32 copy and the fp32 quotient (transformers_beam)
            logits = t * v * fp32_softcap_bytes(dt)
            text = f"{t:,} tokens × {v:,} vocab × {fp32_softcap_bytes(dt)} B logits (fp32 soft-cap)"
        moments.append(Moment("logits", 0, t * h * dt + inputs, logits, formula=f"{text} + final hidden state"))
    else:
        last = _sampling_bytes(b, v, dt)
        text = f"last-token logits {b}×{v:,} × ({dt} + 5·4) B + vocab index {v:,} × 9 B"
        if spec.family in ALL_PROMPT_LOGITS:  # no logits_to_keep: the prompt's logits, held through the sampling
            streams = max(1, ngram_streams(spec))  # ProphetNet's lm_head over every predict stream
            moments.append(Moment("logits", kv_full, t * h * dt + inputs, streams * t * v * dt, kv_formula=kv_text,
                                  formula=f"{t:,} tokens × {v:,} vocab × {dt} B logits (no logits_to_keep) + final "
                                          "hidden state"))
            last += (streams * t - b) * v * dt  # ProphetNet: outputs.logits is a view of every stream's logits
            text = f"prompt logits {streams * t:,}×{v:,} × {dt} B (no logits_to_keep) + {b}×{v:,} × 5·4 B + vocab index"
        moments.append(Moment("after prefill", kv_full, inputs, last, formula=text, kv_formula=kv_text))
    if wl.task == "generate" and new > 1:
        tokens = s + new - 1
        end = kv_cache(spec, tokens, b, "transformers", kvd, bound_windows=True)
        kv_end, kv_end_text = end.bytes, end.formula
        layer_k = max((kv_cache_bytes(_one_layer(spec, i), tokens, b, "transformers", kvd) // 2
                       for i, layer in enumerate(spec.layers) if _caches(layer)), default=0)
        # MLA: every decoding step decompresses one layer's whole cache into K and V
        kv_el = COMPUTE_DTYPE_BYTES.get(compute_dtype(kvd) or kvd, 2)
        layer_k += max((_mla_expanded(a, b * tokens, kv_el) for a in spec.attention_layers
                        if a.kind == "mla"), default=0)
        moments.append(Moment("decoding", kv_end + layer_k, b * (s + new) * INT64 * 2, _sampling_bytes(b, v, dt),
                              formula=f"cache at {tokens:,} tokens + one layer's K re-concatenated ({layer_k:,} B)",
                              kv_formula=f"cache at {tokens:,} tokens: {kv_end_text}; + one layer's K "
                                         f"re-concatenated {layer_k:,} B = {fmt_bytes(kv_end + layer_k)}"))
    moments += _cache_reset_moments(spec, wl)
    return moments


def cache_reset_length(spec: ModelSpec, wl: Workload) -> int | None:
    """The sequence length at which ``generate`` drops the cache and re-runs the whole sequence, if it does.

    transformers' Phi-3 (and PhiMoE) ``prepare_inputs_for_generation`` sets ``past_key_values = None``
    when the input reaches ``original_max_position_embeddings + 1`` tokens while the cache holds at most
    ``original_max_position_embeddings`` (LongRoPE switches from the short to the long factors there, and the
    cached keys were rotated with the short ones). That happens at one decoding step, with ``L = original + 1``
    tokens, when the prompt is at most ``original`` and prompt + new − 1 reaches ``L``. A prompt already longer
    than ``original`` only drops the empty cache of the first call (nothing to hold twice).
    """
    original = spec.original_max_position_embeddings
    if wl.task != "generate" or spec.family not in CACHE_RESET_FAMILIES or original <= 0:
        return None
    length = original + 1
    if wl.context <= original and wl.context + wl.new_tokens - 1 >= length:
        return length
    return None


def _cache_reset_moments(spec: ModelSpec, wl: Workload) -> list[Moment]:
    """The re-prefill at the cache reset: ``generate`` still holds the old cache (``original`` tokens) in its
    model kwargs while the forward builds a new one and runs a full prefill of ``original + 1`` tokens; the old
    cache is released only when the step's outputs replace it."""
    length = cache_reset_length(spec, wl)
    if length is None:
        return []
    kvd = _cache_dtype(spec, wl)
    old = kv_cache_bytes(spec, length - 1, wl.batch, "transformers", kvd, bound_windows=True)
    again = peak_moments(spec, replace(wl, context=length, new_tokens=1))
    return [Moment(f"cache reset at {length:,} tokens: {m.name}", m.kv_cache + old, m.activations, m.logits,
                   formula=m.formula,
                   kv_formula=(f"old cache at {length - 1:,} tokens {fmt_bytes(old)} (still held by generate) + "
                               f"new cache: {m.kv_formula or fmt_bytes(m.kv_cache)}"))
            for m in again]


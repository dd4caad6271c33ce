"""ProphetNet's decoder in transformers inference (transformers 5.25 ``models/prophetnet/modeling_prophetnet.py``; it
has no SDPA path).

* ``ProphetNetDecoder.forward`` runs the main stream and ``ngram`` predict streams as one sequence: ``torch.cat``
  of the ``s`` main positions and ``ngram`` streams of ``s`` positions (``ngram_hidden_states``), so every layer's
  input is ``(1 + ngram) · s`` tokens; it keeps the relative-position buckets of both streams
  (``compute_buffered_relative_buckets``: ``b × s × s`` and ``b × s × 2s``, int32 from ``compute_relative_buckets``'s
  ``.int()``) and the predict streams' causal mask (``prepare_predict_attention_mask``: ``ngram × s × 2s`` in the
  model dtype, expanded over batch and heads as a view) through every layer;
* ``ProphetNetNgramSelfAttention.forward`` projects q, k and v over all streams (``_shape``'s ``.contiguous()``:
  three ``b × (1+ngram)·s × hidden`` tensors bound until it returns), keeps the main stream's biased scores, its
  gathered relative-position bias and its probabilities (``main_attn_weights``, ``main_relative_pos_embeddings``,
  ``main_attn_probs``: ``b × heads × s × s``) and the main output, stacks the predict streams' queries, keys
  (``torch.cat([main_key_states, key], 2)``: ``2s`` keys each), hidden states and values, and scores them
  (``predict_attn_weights``: ``b × ngram × heads × s × 2s``);
* ``get_predict_relative_pos_embeddings`` then copies the bias projection (``reshape(-1, num_buckets)`` of a
  permuted tensor: ``b × ngram × s × heads × num_buckets``) and repeats the predict buckets to every stream and head
  (``.repeat(self.ngram, 1, self.num_attn_heads, 1)``: ``ngram × b × heads·s × 2s`` int32) before ``.long()`` makes
  their int64 copy for ``torch.gather``: the attention's peak, both index tensors beside the scores;
* ``ProphetNetForCausalLM.forward`` projects every predict stream (``self.lm_head(predicting_streams)``:
  ``b × ngram × s × vocab``), not the main stream.
"""

from __future__ import annotations

from ...spec import AttentionSpec, ModelSpec
from ...workload import Workload
from ..allocator_trace import Trace
from .transformers_pool_attention import attention_blocks
from .transformers_zaya import zaya_config

__all__ = ["NGRAM_STREAMS", "ngram_attention_block", "ngram_attention_peak", "ngram_or_blocks", "ngram_streams"]

NGRAM_STREAMS = ("prophetnet",)
NGRAM = 2  # ProphetNetConfig's default ngram
NUM_BUCKETS = 32  # ProphetNetConfig's default num_buckets


def _field(spec: ModelSpec, key: str, default: int) -> int:
    v = zaya_config(spec).get(key, default)
    return v if isinstance(v, int) and not isinstance(v, bool) and v > 0 else default


def ngram_streams(spec: ModelSpec) -> int:
    """The predict streams ProphetNet's decoder runs beside the main stream (0 for other families)."""
    return _field(spec, "ngram", NGRAM) if spec.family in NGRAM_STREAMS else 0


def ngram_attention_peak(spec: ModelSpec, att: AttentionSpec, b: int, s: int, dt: int) -> tuple[int, str] | None:
    """Bytes alive in a ProphetNet decoder layer at its attention's peak (the predict buckets' ``.long()``) beyond
    the main stream's ``b × s × hidden`` layer input; None for other families. ``s``: positions per stream."""
    n = ngram_streams(spec)
    if not n:
        return None
    buckets = _field(spec, "num_buckets", NUM_BUCKETS)
    h, width = att.num_heads, att.num_heads * att.head_dim
    vec = b * s * width * dt  # one stream's hidden-sized tensor
    held = n * vec + b * s * s * 4 + b * s * 2 * s * 4 + n * s * 2 * s * dt  # predict inputs, buckets, predict mask
    qkv = 3 * (1 + n) * vec
    main = 3 * b * h * s * s * dt + vec  # biased scores, gathered bias, probabilities; the main output
    predict = 6 * n * vec  # stacked queries (n), keys (2n: 2s each), hidden states (n), values (2n)
    scores = n * b * h * s * 2 * s  # predict_attn_weights' elements, and the repeated buckets'
    bias = b * n * s * h * buckets * dt
    total = held + qkv + main + predict + bias + scores * (dt + 4 + 8)
    return total, (
        f"n-gram attention ({n} predict streams): q, k, v over {1 + n}·s, main scores ×3, stacked "
        f"predict q/k/h/v, predict scores {n}×{b}×{h}×{s}×{2 * s} × {dt} B + their int32 buckets and "
        "int64 copy (.long() before gather), the buckets and predict mask held"
    )


def ngram_attention_block(
    tr: Trace, spec: ModelSpec, att: AttentionSpec, b: int, s: int, dt: int, kv: int
) -> list[int] | None:
    """The pool's ProphetNet attention (None for other families): the layer's K/V (``kv`` bytes, kept by the
    caller), the rest of :func:`ngram_attention_peak` allocated at once and freed."""
    peak = ngram_attention_peak(spec, att, b, s, dt)
    if peak is None:
        return None
    keys = [tr.alloc(kv // 2), tr.alloc(kv - kv // 2)]
    tr.free(tr.alloc(max(0, peak[0] - kv)))
    return keys


def ngram_or_blocks(
    tr: Trace, spec: ModelSpec, wl: Workload, i: int, t: int, dt: int, kv: int, masked: bool, keys: int
) -> tuple[list[int], int]:
    """The pool's attention for the coarse path: ProphetNet's (:func:`ngram_attention_block`, no probabilities
    held past the layer) or ``transformers_pool_attention.attention_blocks``."""
    att = spec.layers[i].attention
    ngram = None if att is None else ngram_attention_block(tr, spec, att, wl.batch, wl.context, dt, kv)
    return (ngram, 0) if ngram is not None else attention_blocks(tr, spec, wl, i, t, dt, kv, masked, keys)

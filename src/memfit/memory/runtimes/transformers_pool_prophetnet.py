"""ProphetNet's decoder forward as the caching allocator sees it, for the pool emulation of ``transformers_pool.py``
(transformers 5.25 ``models/prophetnet/modeling_prophetnet.py``, ``ProphetNetForCausalLM`` with ``use_cache`` off:
task ``forward``; found on the simulator's trace of the development case prophetnet-default-l2/fwd-fp32-eager-b3-s210
in sweep-dev.jsonl, device total -9.32 % before: the pool had priced the n-gram attention as one lump, so its 32 MiB
predict tensors, the 64 MiB int64 buckets and the 147 MiB logits landed where the trace's could not).

``ProphetNetDecoder.forward``: ``word_embeddings`` (``inputs_embeds``), the main positions (``ProphetNetPositional
Embeddings``: ``b × s × hidden``), then ``compute_buffered_relative_buckets`` builds both streams' buckets over
``max_target_positions − 1`` positions (``compute_all_stream_relative_buckets``: the int64 ``repeat`` and ``sub`` of
each stream, then ``compute_relative_buckets``: ``neg``, ``zeros_like``, ``max``, ``lt``, ``.float()``, ``/``,
``log``, ``/``, ``*``, ``+``, ``ones_like``, ``*``, ``min``, ``.int()``, ``inv.int()``, ``where``, ``0 +``) and keeps
their ``[:s, :s]`` / ``[:s, 2s]`` slices repeated over the batch (int32); the predict positions' embedding, the main
stream's sum and the ``ngram`` predict inputs (``ngram_embeddings[i] + predicting_stream_pos_embed``, held in
``ngram_hidden_states`` to the forward's end, as ``inputs_embeds`` and both position embeddings); the causal mask
(``torch.full`` then ``triu``: ``s × s``) and the predict mask (``ngram_attention_bias`` over ``max_target_positions``:
the int64 ``cols − rows``, two bool masks, two ``where`` blocks and their ``cat``, then the ``cat`` of the slices:
``ngram × s × 2s``); ``torch.cat`` of the ``1 + ngram`` streams and ``embeddings_layer_norm``.

``ProphetNetNgramSelfAttention.forward``: ``query_proj`` / ``key_proj`` / ``value_proj`` over all streams, the query
scaled into a new tensor, each ``_shape``'s ``.contiguous()`` (the projection freed); the main scores (``einsum``),
``get_main_relative_pos_embeddings`` (the slice's contiguous copy for ``relative_pos_embeddings``, its ``mm`` and
bias add, the buckets' ``repeat`` over heads (int32) and ``.long()``, the permuted projection's copy, ``gather``),
the biased and masked scores, the fp32 softmax (``softmax(..., dtype=torch.float32)``, then ``type_as``: a copy in
half precision), the main output and its transposed copy and ``out_proj``; the predict stream's stacked queries,
keys (``cat`` of the main and each stream's keys), hidden states and values, its scores (``n × b × heads × s × 2s``),
``get_predict_relative_pos_embeddings`` (as the main one's, the buckets repeated over streams and heads), biased and
masked scores, softmax, the values' transposed copy for ``einsum``, the output's copy, ``out_proj``; ``torch.cat``
of both outputs. Its locals go when it returns; both probabilities are bound in the layer until it returns.
``ProphetNetDecoderLayer``: ``self_attn_layer_norm(hidden_states + ngram_attention_output)``, the feed-forward
(``intermediate``, GELU, ``output``), ``feed_forward_layer_norm(feed_forward_output + hidden_states)``.
``ProphetNetForCausalLM.forward``: ``lm_head`` over the predict streams (``outputs[1].view(...)``: a copy of the
slice), every predict stream's logits.
"""

from __future__ import annotations

from ...spec import ModelSpec
from ...workload import Workload
from ..allocator_trace import Trace
from .transformers_prophetnet import NUM_BUCKETS, ngram_streams
from .transformers_zaya import zaya_config

__all__ = ["prophetnet_forward"]

MAX_POSITIONS = 512  # ProphetNetConfig's default max_position_embeddings (the decoder's max_target_positions)


def _config_int(spec: ModelSpec, key: str, default: int) -> int:
    v = zaya_config(spec).get(key, default)
    return v if isinstance(v, int) and not isinstance(v, bool) and v > 0 else default


def prophetnet_forward(tr: Trace, spec: ModelSpec, wl: Workload, dt: int) -> bool:
    """ProphetNet's whole forward with its token ids and logits (the module docstring); False, replaying nothing,
    for another family or task (generate keeps the shared path)."""
    n = ngram_streams(spec)
    if not n or wl.task != "forward":
        return False
    b, s, h = wl.batch, wl.context, spec.hidden_size
    vec = b * s * h * dt  # one stream's hidden-sized tensor
    ids = tr.alloc(b * s * 8)
    held, summed = _embeddings(tr, spec, b, s, n, vec, dt)
    stream = tr.alloc((1 + n) * vec)  # torch.cat of the streams
    tr.free(summed)
    normed = tr.alloc((1 + n) * vec)  # embeddings_layer_norm
    tr.free(stream)
    stream = normed
    for layer in spec.layers:
        att, mlp = layer.attention, layer.mlp
        if att is None or mlp is None:
            continue
        heads, buckets = att.num_heads, _config_int(spec, "num_buckets", NUM_BUCKETS)
        out, probs = _attention(tr, b, s, n, heads, buckets, vec, dt)
        added = tr.alloc((1 + n) * vec)
        normed = tr.alloc((1 + n) * vec)  # self_attn_layer_norm
        tr.free(added)
        inter = tr.alloc((1 + n) * b * s * mlp.intermediate_size * dt)
        act = tr.alloc((1 + n) * b * s * mlp.intermediate_size * dt)
        tr.free(inter)
        ffn = tr.alloc((1 + n) * vec)
        tr.free(act)
        added = tr.alloc((1 + n) * vec)
        new = tr.alloc((1 + n) * vec)  # feed_forward_layer_norm
        tr.free(added, ffn, normed, *probs, out, stream)
        stream = new
    tr.free(*held)
    flat = tr.alloc(n * vec)  # lm_head's input: the predict streams' slice copied
    logits = tr.alloc(n * b * s * spec.vocab_size * dt)
    tr.free(flat, stream, logits, ids)
    return True


def _relative_buckets(tr: Trace, elems: int) -> int:
    """``compute_relative_buckets`` on ``elems`` int64 relative positions (not bidirectional); returns the int32
    buckets."""
    inv = tr.alloc(8 * elems)  # -relative_positions
    zeros = tr.alloc(8 * elems)
    top = tr.alloc(8 * elems)  # torch.max(inv, zeros)
    tr.free(zeros, inv)
    small = tr.alloc(elems)  # is_small (bool)
    x = tr.alloc(4 * elems)  # inv.float()
    for _ in range(4):  # / max_exact, log, / log(max_distance / max_exact), * (num_buckets - max_exact)
        y = tr.alloc(4 * elems)
        tr.free(x)
        x = y
    large = tr.alloc(4 * elems)  # max_exact + ...
    tr.free(x)
    ones = tr.alloc(4 * elems)
    cap = tr.alloc(4 * elems)  # ones_like * (num_buckets - 1)
    tr.free(ones)
    low = tr.alloc(4 * elems)  # torch.min
    tr.free(cap)
    as_int = tr.alloc(4 * elems)  # .int()
    tr.free(low, large)
    inv_int = tr.alloc(4 * elems)
    chosen = tr.alloc(4 * elems)  # torch.where
    tr.free(inv_int)
    out = tr.alloc(4 * elems)  # 0 + where
    tr.free(chosen, top, small, as_int)
    return out


def _embeddings(tr: Trace, spec: ModelSpec, b: int, s: int, n: int, vec: int, dt: int) -> tuple[list[int], int]:
    """The decoder's inputs before the ``cat`` of the streams; returns what it holds to its end and the main
    stream's sum (freed once the ``cat`` is made)."""
    p = _config_int(spec, "max_position_embeddings", MAX_POSITIONS) - 1  # arange(1, max_target_positions)
    embeds = tr.alloc(vec)
    positions = tr.alloc(b * s * 8)  # position_ids (int64), passed to every layer
    main_pos = tr.alloc(vec)
    rel = tr.alloc(8 * p * p)  # the main stream's repeat, then its sub
    main_rel = tr.alloc(8 * p * p)
    tr.free(rel)
    rel = tr.alloc(8 * p * 2 * p)  # the predicting stream's
    pred_rel = tr.alloc(8 * p * 2 * p)
    tr.free(rel)
    main_b = _relative_buckets(tr, p * p)
    pred_b = _relative_buckets(tr, p * 2 * p)
    tr.free(main_rel, pred_rel)
    main_buckets = tr.alloc(b * s * s * 4)  # [:, :s, :s].repeat(batch, 1, 1)
    tr.free(main_b)
    cat = tr.alloc(s * 2 * s * 4)
    pred_buckets = tr.alloc(b * s * 2 * s * 4)
    tr.free(cat, pred_b)
    pred_pos = tr.alloc(vec)
    summed = tr.alloc(vec)  # inputs_embeds + main_stream_pos_embed
    ngram_inputs = [tr.alloc(vec) for _ in range(n)]
    full = tr.alloc(s * s * dt)  # prepare_attention_mask
    causal = tr.alloc(s * s * dt)  # triu
    tr.free(full)
    m = p + 1  # ngram_attention_bias over max_target_positions
    diff = tr.alloc(8 * m * m)  # cols - rows (int64)
    ge = tr.alloc(n * m * m)
    tr.free(diff)
    left = tr.alloc(n * m * m)  # & (cols != 0)
    tr.free(ge)
    right = tr.alloc(m * m)  # rows != cols
    blocks = [tr.alloc(n * m * m * dt), tr.alloc(n * m * m * dt)]  # the two torch.where
    bias = tr.alloc(n * m * 2 * m * dt)
    tr.free(left, right, *blocks)
    predict_mask = tr.alloc(n * s * 2 * s * dt)
    tr.free(bias)
    held = [embeds, positions, main_pos, pred_pos, *ngram_inputs, main_buckets, pred_buckets, causal, predict_mask]
    return held, summed


def _attention(tr: Trace, b: int, s: int, n: int, heads: int, buckets: int, vec: int, dt: int) -> tuple[int, list[int]]:
    """One ``ProphetNetNgramSelfAttention.forward``; returns its output and the two probabilities the layer holds."""
    q, k, v = (tr.alloc((1 + n) * vec) for _ in range(3))
    scaled = tr.alloc((1 + n) * vec)
    tr.free(q)
    qc = tr.alloc((1 + n) * vec)
    tr.free(scaled)
    kc = tr.alloc((1 + n) * vec)
    tr.free(k)
    vc = tr.alloc((1 + n) * vec)
    tr.free(v)
    main = b * heads * s * s
    weights = tr.alloc(main * dt)
    rel = _relative_bias(tr, vec, b * s * buckets * heads * dt, main, dt, predict=False)
    main_probs, locals_main = _scores_softmax(tr, weights, main, dt, rel)
    out = tr.alloc(vec)
    flat = tr.alloc(vec)
    tr.free(out)
    main_out = tr.alloc(vec)  # out_proj
    tr.free(flat)
    pq = tr.alloc(n * vec)  # stacked queries
    cats = [tr.alloc(2 * vec) for _ in range(n)]
    pk = tr.alloc(2 * n * vec)
    tr.free(*cats)
    ph = tr.alloc(n * vec)  # stacked hidden states
    cats = [tr.alloc(2 * vec) for _ in range(n)]
    pv = tr.alloc(2 * n * vec)
    tr.free(*cats)
    predict = n * b * heads * s * 2 * s
    pweights = tr.alloc(predict * dt)
    prel = _relative_bias(tr, n * vec, n * b * s * buckets * heads * dt, predict, dt, predict=True)
    predict_probs, locals_predict = _scores_softmax(tr, pweights, predict, dt, prel)
    vt = tr.alloc(2 * n * vec)  # predict_value_states.transpose(1, 2) for einsum
    pout = tr.alloc(n * vec)
    tr.free(vt)
    flat = tr.alloc(n * vec)
    tr.free(pout)
    pout = tr.alloc(n * vec)  # out_proj
    tr.free(flat)
    attn = tr.alloc((1 + n) * vec)  # torch.cat of both outputs
    tr.free(qc, locals_main, rel, main_out, pq, pk, ph, pv, locals_predict, prel, pout, kc, vc)
    return attn, [main_probs, predict_probs]


def _relative_bias(tr: Trace, hidden: int, proj: int, elems: int, dt: int, *, predict: bool) -> int:
    """``get_main_relative_pos_embeddings`` / ``get_predict_relative_pos_embeddings``: the hidden states' copy,
    ``relative_pos_embeddings`` (``mm`` and its bias add), the buckets repeated (int32) and ``.long()``, the
    permuted projection's copy (the main one's after the buckets' ``repeat``, the predict one's before), ``gather``
    (``elems`` scores); returns the gathered bias."""
    copy = tr.alloc(hidden)
    mm = tr.alloc(proj)
    tr.free(copy)
    projected = tr.alloc(proj)
    tr.free(mm)
    permuted = 0
    if predict:
        permuted = tr.alloc(proj)
        tr.free(projected)
    repeated = tr.alloc(4 * elems)
    index = tr.alloc(8 * elems)
    tr.free(repeated)
    if not predict:
        permuted = tr.alloc(proj)
        tr.free(projected)
    gathered = tr.alloc(elems * dt)
    tr.free(index, permuted)
    return gathered


def _scores_softmax(tr: Trace, weights: int, elems: int, dt: int, bias: int) -> tuple[int, int]:
    """The scores plus the relative bias, plus the mask (each a new tensor, the old freed), the fp32 softmax
    (in half precision ``softmax(..., dtype=torch.float32)`` casts its input to a new fp32 tensor first) and
    ``type_as`` back (a copy in half precision, the fp32 one freed); returns the probabilities and the masked
    scores (a local until the attention returns)."""
    del bias  # (added into a new tensor; it stays a local of the attention)
    biased = tr.alloc(elems * dt)
    tr.free(weights)
    masked = tr.alloc(elems * dt)
    tr.free(biased)
    if dt == 4:
        return tr.alloc(elems * 4), masked
    copy = tr.alloc(elems * 4)  # softmax(..., dtype=torch.float32) casts its input first
    soft = tr.alloc(elems * 4)
    tr.free(copy)
    probs = tr.alloc(elems * dt)  # type_as
    tr.free(soft)
    return probs, masked

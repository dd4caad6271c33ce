"""Reformer's forward in transformers inference (transformers 5.25 ``models/reformer/modeling_reformer.py``), tensor by
tensor in the order the modelling code makes and drops them: memfit's allocated peak (a live-bytes counter over the
replay, phase by phase) and the pool's run (the same replay through the allocator emulation).

* ``ReformerModel.forward`` pads the prompt to a multiple of the chunk lengths' least common multiple
  (``_get_least_common_mult_chunk_len``) when it is longer than the shortest chunk and not a multiple
  (``_pad_to_mult_of_chunk_length``: the padded ids and a bool attention mask of the padded length); every layer
  runs on the padded length, the logits on the prompt's tokens (``sequence_output[:, :orig_sequence_length]``);
* ``ReformerEmbeddings``: the word embedding, the axial position encodings (``AxialPositionEmbeddings.forward`` in
  eval: ``torch.cat`` of the weights' first ``ceil(s / axial_pos_shape[1])`` rows, one ``index_select`` per sequence
  and their ``torch.cat``) and their sum, held by the model's forward until it returns;
* ``ReformerEncoder.forward``: ``torch.cat([h, h], -1)`` (the reversible residual's two streams, held until the
  encoder's last ``torch.cat``); ``ReformerLayer.forward``: ``Y1 = X1 + f(X2)``, ``Y2 = X2 + g(Y1)``, the
  attention's output held until the layer returns and the previous layer's two outputs until the next one's do
  (``_ReversibleFunction.forward``'s loop variables); each LSH layer's buckets kept in ``all_buckets`` to the end;
* ``LocalSelfAttention.forward``: q, k, v, k / sqrt(d), the indices; ``_look_adjacent`` (``torch.cat`` of each
  shifted chunk copy, then of all: ``1 + before + after`` chunks of keys per query chunk) of k, v and the key
  indices; ``matmul``'s copy of the 5-d query view; per-chunk scores ``b × heads × s × (n·chunk)``, the causal
  ``ge`` and its product with the padding mask's adjacent chunks (bool), ``where``; ``logsumexp``, the difference
  and its ``exp`` (the masked scores held to the return, no ``del``); the output and its merged copy;
* ``LSHSelfAttention.forward``: the shared query-key and the value projections; ``_hash_vectors`` (random
  rotations, their ``einsum``, ``cat`` with the negation, ``argmax``, the padding bucket's ``where``, the hash
  offsets' sum: the buckets); ``_stable_argsort`` (the scaled keys, ``sort``), the undo-sort ``scatter_`` and the
  indices ``% s``; ``_gather_by_expansion`` (``repeat``, ``gather``) of q/k and v; ``_len_and_dim_norm`` (pow,
  mean, rsqrt, product, ``/ sqrt(d)``); ``_attend``: the adjacent keys and values, the scores (the gathered query
  is contiguous: no copy), the adjacent bucket indices, the gathered padding mask, the causal mask, the self mask
  (``ne``, ``where``), ``logsumexp`` (kept: ReverseSort gathers it), its difference and ``exp``; ``ReverseSort``'s
  gathers; over several hashes the hash rounds' weights; the merged output;
* ``ChunkReformerFeedForward`` (``chunk_size_feed_forward`` 0): the norm, ``dense``, its activation, ``output``;
* after the layers: ``torch.cat`` of the two streams, the final ``LayerNorm`` over ``2 · hidden``; the LM head's
  ``nn.Linear``: ``at::matmul`` copies the sliced output where the padding's batch stride keeps it from folding
  into a 2-d view (b > 1), ``mm``, and adds the bias in place (``at::linear``'s ``output.add_(bias)``).

With a cache (``prefill``, ``generate``'s first call): ``ReformerAttention.forward`` hands the cache a slice of
each layer's normed input and of its buckets (views: both stay), the LM head projects the last token
(``logits_to_keep=1``; the moments after it: ``transformers_reformer_moments``). Not modelled here:
``chunk_size_feed_forward`` / ``chunk_size_lm_head`` > 0.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from ...sources.generic_tensors import GenericTensors
from ...spec import ModelSpec

__all__ = [
    "REFORMER",
    "Memory",
    "ReformerShape",
    "bucket_factors",
    "padded_length",
    "reformer_forward",
    "reformer_shape",
]

REFORMER = ("reformer",)
INT64 = 8


class Memory(Protocol):
    """What the replay needs: ``allocator_trace.Trace`` or :class:`LiveBytes`."""

    def alloc(self, nbytes: int) -> int: ...

    def free(self, *keys: int) -> None: ...


@dataclass(frozen=True)
class ReformerShape:
    """The ReformerConfig fields the forward's tensors depend on (defaults: ReformerConfig's)."""

    hidden: int
    heads: int
    head_size: int
    ffn: int
    vocab: int
    kinds: tuple[str, ...]  # each layer's attention: "local" or "lsh"
    local_chunk: int
    local_span: int  # chunks each query chunk reads: 1 + before + after
    lsh_chunk: int
    lsh_span: int
    hashes: int
    buckets: int | tuple[int, ...] | None
    max_positions: int
    decoder: bool
    axial: tuple[int, int] | None

    @property
    def lcm_chunk(self) -> int:
        used = {self.local_chunk if k == "local" else self.lsh_chunk for k in self.kinds}
        return math.lcm(*used) if used else 1

    @property
    def min_chunk(self) -> int:
        used = {self.local_chunk if k == "local" else self.lsh_chunk for k in self.kinds}
        return min(used) if used else 1


def _int(cfg: dict[str, Any], key: str, default: int) -> int:
    v = cfg.get(key)
    return v if isinstance(v, int) and not isinstance(v, bool) else default


def reformer_shape(spec: ModelSpec) -> ReformerShape | None:
    """The Reformer shape of a generic-path spec (its config text); None for other families."""
    source = spec.tensor_source
    if spec.family not in REFORMER or not isinstance(source, GenericTensors):
        return None
    cfg: dict[str, Any] = json.loads(source.config_json)
    types = [str(t) for t in cfg.get("attn_layers") or ["local", "lsh"]]
    n = _int(cfg, "num_hidden_layers", len(spec.layers))
    kinds = tuple(types[i] if len(set(types)) == 2 else types[0] for i in range(n))  # ReformerAttention.__init__
    raw = cfg.get("num_buckets")
    buckets = raw if isinstance(raw, int) else tuple(int(x) for x in raw) if isinstance(raw, list) else None
    ax = cfg.get("axial_pos_shape") or [64, 64]
    return ReformerShape(
        hidden=_int(cfg, "hidden_size", spec.hidden_size),
        heads=_int(cfg, "num_attention_heads", 12),
        head_size=_int(cfg, "attention_head_size", 64),
        ffn=_int(cfg, "feed_forward_size", 512),
        vocab=_int(cfg, "vocab_size", spec.vocab_size),
        kinds=kinds,
        local_chunk=_int(cfg, "local_attn_chunk_length", 64),
        local_span=1 + _int(cfg, "local_num_chunks_before", 1) + _int(cfg, "local_num_chunks_after", 0),
        lsh_chunk=_int(cfg, "lsh_attn_chunk_length", 64),
        lsh_span=1 + _int(cfg, "lsh_num_chunks_before", 1) + _int(cfg, "lsh_num_chunks_after", 0),
        hashes=_int(cfg, "num_hashes", 1),
        buckets=buckets,
        max_positions=_int(cfg, "max_position_embeddings", 4096),
        decoder=bool(cfg.get("is_decoder", False)),
        axial=(int(ax[0]), int(ax[1])) if cfg.get("axial_pos_embds", True) else None,
    )


def padded_length(r: ReformerShape, s: int) -> int:
    """The length the layers run on: ``ReformerModel.forward``'s padding to the chunks' least common multiple."""
    m = r.lcm_chunk
    return s + (m - s % m) if s % m and s > r.min_chunk else s


def bucket_factors(r: ReformerShape, s: int) -> tuple[int, ...]:
    """The hash's bucket counts (``_hash_vectors``): ``num_buckets``, its factors, or, unset, ``_set_num_buckets(s)``'s
    power of two (2 · s / chunk rounded down), factorised in two above its limit."""
    if isinstance(r.buckets, int):
        return (r.buckets,)
    if isinstance(r.buckets, tuple):
        return r.buckets
    pow2 = (2 * (s // r.lsh_chunk)).bit_length() - 1
    limit = 2 * max(int((r.max_positions // r.lsh_chunk) ** 0.5), r.lsh_chunk)
    whole: int = 1 << pow2
    return (whole,) if whole <= limit else (1 << (pow2 // 2), 1 << (pow2 - pow2 // 2))


def _adjacent(mem: Memory, nbytes: int, span: int) -> int:
    """``_look_adjacent``: a shifted copy of the chunks per neighbour, then their ``torch.cat`` (``span`` × the
    input); the shifted copies go when it returns. ``span`` 1 returns the input (0: nothing new)."""
    if span == 1:
        return 0
    shifted = [mem.alloc(nbytes) for _ in range(span - 1)]
    out = mem.alloc(span * nbytes)
    mem.free(*shifted)
    return out


def _masked_scores(mem: Memory, dots: int, scores: int, bools: int, padded: bool, pad: int, decoder: bool) -> int:
    """``_compute_attn_mask`` and ``torch.where``: the causal ``ge`` (bool, decoder), its product with the padding
    mask (``padded``; ``pad``: its copy already made, else a view), the masked scores; returns them (the old
    scores, the mask and ``pad`` freed)."""
    causal = mem.alloc(bools) if decoder else 0
    mask = causal
    if padded and decoder:
        mask = mem.alloc(bools)
        mem.free(pad, causal)
        pad = 0
    if not (decoder or padded):
        return dots
    new = mem.alloc(scores)
    mem.free(dots, mask, pad)
    return new


def _local(mem: Memory, r: ReformerShape, b: int, s: int, dt: int, padded: bool) -> int:
    """``LocalSelfAttention.forward`` on ``s`` (padded) tokens; returns its merged output (``b × s × heads·d``)."""
    proj = b * s * r.heads * r.head_size * dt
    chunked = s > r.local_chunk
    span = r.local_span if chunked else 1
    keys = span * r.local_chunk if chunked else s
    scores = b * r.heads * s * keys
    idx_bytes = b * r.heads * s * INT64
    q, k, v = mem.alloc(proj), mem.alloc(proj), mem.alloc(proj)
    kd = mem.alloc(proj)  # key / sqrt(d)
    mem.free(k)
    idx = mem.alloc(idx_bytes)  # arange(s).repeat(b, heads, 1)
    k_adj = _adjacent(mem, proj, span) or kd
    if k_adj != kd:
        mem.free(kd)
    v_adj = _adjacent(mem, proj, span) or v
    if v_adj != v:
        mem.free(v)
    key_idx = _adjacent(mem, idx_bytes, span)
    copies = [mem.alloc(proj) for _ in range(1 if chunked else 2)]  # matmul's copies of the strided views
    dots = mem.alloc(scores * dt)
    mem.free(*copies, q, k_adj)
    pad = _adjacent(mem, b * s, span) if padded else 0  # the padding mask's chunks, looked adjacent
    dots = _masked_scores(mem, dots, scores * dt, scores, padded, pad, r.decoder)
    lse, diff = mem.alloc(b * r.heads * s * dt), mem.alloc(scores * dt)
    probs = mem.alloc(scores * dt)
    mem.free(diff, lse)  # ``del logits``; the masked scores stay to the return
    out = mem.alloc(proj)
    mem.free(v_adj)
    merged = mem.alloc(proj)  # _merge_hidden_size_dims: permute, reshape (a copy)
    mem.free(out, probs, idx, key_idx, dots)
    return merged


def _hash(mem: Memory, r: ReformerShape, b: int, s: int, dt: int, padded: bool) -> int:
    """``_hash_vectors``: returns the buckets (``b × heads × hashes·s`` int64). One bucket count: the rotated vectors'
    ``cat`` with their negation replaces them, then ``argmax``; factorised: per factor its slice's ``cat`` with the
    negation (the previous one dropped) and ``argmax``, added to the buckets so far times the factors before."""
    factors = bucket_factors(r, s)
    column = b * r.heads * r.hashes * s * dt  # one rotation column of every token
    rotations = mem.alloc(r.heads * r.head_size * r.hashes * sum(factors) // 2 * dt)
    rotated = mem.alloc(sum(factors) // 2 * column)
    ids = b * r.heads * r.hashes * s * INT64
    arg = both = 0
    for f in factors:
        mem.free(both)
        neg = mem.alloc(f // 2 * column)
        both = mem.alloc(f * column)
        mem.free(neg, rotated if len(factors) == 1 else 0)
        picked = mem.alloc(ids)
        if arg:  # buckets + cur_product * argmax(...)
            scaled = mem.alloc(ids)
            mem.free(picked)
            picked = mem.alloc(ids)
            mem.free(scaled, arg)
        arg = picked
    if padded:  # the padding tokens' extra bucket
        marked = mem.alloc(ids)
        mem.free(arg)
        arg = marked
    buckets = mem.alloc(ids)  # + the hash rounds' offsets
    mem.free(rotations, *((both, arg) if len(factors) == 1 else (rotated, arg, both)))  # the frame's order
    return buckets


def _sort(mem: Memory, ids: int) -> list[int]:
    """``_stable_argsort`` and the undo sort: the sorted indices, the undo indices, the indices ``% s``."""
    scaled, offset = mem.alloc(ids), mem.alloc(ids)
    summed = mem.alloc(ids)
    mem.free(scaled, offset)
    values, order = mem.alloc(ids), mem.alloc(ids)
    mem.free(values, summed)
    return [order, mem.alloc(ids), mem.alloc(ids)]


def _gathered(mem: Memory, src: int, nbytes: int) -> int:
    """``_gather_by_expansion``: ``repeat`` over the hashes, ``gather``; the repeat and ``src`` go."""
    rep = mem.alloc(nbytes)
    out = mem.alloc(nbytes)
    mem.free(rep, src)
    return out


def _len_norm(mem: Memory, nbytes: int, rows: int) -> int:
    """``_len_and_dim_norm``: x², its mean, + eps, rsqrt, x · rsqrt, / sqrt(d); returns the keys."""
    sq = mem.alloc(nbytes)
    mean = mem.alloc(rows)
    mem.free(sq)
    eps = mem.alloc(rows)
    rs = mem.alloc(rows)
    mem.free(eps)
    prod = mem.alloc(nbytes)
    mem.free(rs, mean)
    key = mem.alloc(nbytes)
    mem.free(prod)
    return key


def _lsh(mem: Memory, r: ReformerShape, b: int, s: int, dt: int, padded: bool) -> tuple[int, int]:
    """``LSHSelfAttention.forward`` on ``s`` (padded) tokens, chunked; returns its merged output and buckets."""
    n = r.hashes
    proj = b * s * r.heads * r.head_size * dt
    span = r.lsh_span
    scores = b * r.heads * n * s * span * r.lsh_chunk
    rows = b * r.heads * n * s
    qk, v = mem.alloc(proj), mem.alloc(proj)
    buckets = _hash(mem, r, b, s, dt, padded)
    order = _sort(mem, rows * INT64)
    q, v = _gathered(mem, qk, n * proj), _gathered(mem, v, n * proj)
    k = _len_norm(mem, n * proj, rows * dt)
    k_adj, v_adj = _adjacent(mem, n * proj, span), _adjacent(mem, n * proj, span)
    dots = mem.alloc(scores * dt)
    mem.free(k_adj)
    key_idx = _adjacent(mem, rows * INT64, span)
    pad = mem.alloc(b * r.heads * n * s * span) if padded else 0  # the padding mask gathered by the sorted keys
    dots = _masked_scores(mem, dots, scores * dt, scores, padded, pad, r.decoder)
    self_mask = mem.alloc(scores)  # ne: no token attends to itself
    masked = mem.alloc(scores * dt)
    mem.free(dots, self_mask)
    lse, diff = mem.alloc(rows * dt), mem.alloc(scores * dt)
    probs = mem.alloc(scores * dt)
    mem.free(diff, masked)
    out = mem.alloc(n * proj)
    mem.free(v_adj, key_idx, k, v)
    back, logits = mem.alloc(n * proj), mem.alloc(rows * dt)  # ReverseSort's gathers
    mem.free(out, lse)
    if n > 1:  # the hash rounds' weights: exp(logits - logsumexp over the rounds), Σ out · weights
        lse2 = mem.alloc(rows // n * dt)
        diff = mem.alloc(rows * dt)
        weights = mem.alloc(rows * dt)
        mem.free(diff, lse2)
        prod = mem.alloc(n * proj)
        summed = mem.alloc(proj)
        mem.free(prod, back, weights)
        back = summed
    mem.free(logits)
    merged = mem.alloc(proj)
    mem.free(back, probs, q, *order)
    return merged, buckets


def _embeddings(mem: Memory, r: ReformerShape, b: int, s: int, dt: int) -> int:
    """``ReformerEmbeddings.forward`` (eval): returns the embedding output (``b × s × hidden``)."""
    x = b * s * r.hidden * dt
    pos = mem.alloc(s * INT64)
    word = mem.alloc(x)
    if r.axial:
        cols = -(-s // r.axial[1])
        cat = mem.alloc(b * cols * r.axial[1] * r.hidden * dt)
        picked = [mem.alloc(s * r.hidden * dt) for _ in range(b)]
        encodings = mem.alloc(x)
        mem.free(*picked, cat)
    else:
        encodings = mem.alloc(x)
    emb = mem.alloc(x)
    mem.free(pos, word, encodings)
    return emb


def _layer(
    mem: Memory, r: ReformerShape, i: int, b: int, s: int, dt: int, padded: bool, mark: Callable[[str], None]
) -> tuple[int, int, int, int]:
    """One ``ReformerLayer.forward``: returns Y1, Y2, the layer's buckets (0 for a local layer) and its normed
    input (the attention's ``hidden_states``, freed here unless the caller keeps it: the cache's states)."""
    x = b * s * r.hidden * dt
    mark(f"{r.kinds[i]} attention (layer {i})")
    normed = mem.alloc(x)
    if r.kinds[i] == "lsh" and s > r.lsh_chunk:
        merged, buckets = _lsh(mem, r, b, s, dt, padded)
    else:  # (an LSH layer at most one chunk long attends in full; replayed as the local one)
        merged, buckets = _local(mem, r, b, s, dt, padded), 0
    dense = mem.alloc(x)
    mem.free(merged)
    y1 = mem.alloc(x)
    mark(f"feed-forward (layer {i})")
    ln = mem.alloc(x)
    inner = mem.alloc(b * s * r.ffn * dt)
    act = mem.alloc(b * s * r.ffn * dt)
    mem.free(inner, ln)
    out = mem.alloc(x)
    mem.free(act)
    y2 = mem.alloc(x)
    mem.free(out, dense)
    return y1, y2, buckets, normed


def reformer_forward(
    mem: Memory,
    r: ReformerShape,
    b: int,
    s: int,
    dt: int,
    mark: Callable[[str], None] = lambda _: None,
    task: str = "forward",
) -> list[int]:
    """``ReformerModelWithLMHead.forward`` on ``b × s`` token ids (see the module docstring): ``use_cache=False``
    for ``forward``; else with a cache (``ReformerDynamicCache.update`` keeps each layer's normed input, sliced: a
    view, and the buckets) and the last token's logits, beside generate's attention mask. Returns what stays."""
    sp, cache = padded_length(r, s), task != "forward"
    pad = sp - s
    x = b * sp * r.hidden * dt
    mark("embeddings")
    inputs = [mem.alloc(b * s * INT64), mem.alloc(b * s * INT64 if task == "generate" else 0)]
    padded_ids = mask = 0
    if pad:  # _pad_to_mult_of_chunk_length
        fill, ones, zeros = mem.alloc(b * pad * INT64), mem.alloc(b * s), mem.alloc(b * pad)
        mask = mem.alloc(b * sp)
        mem.free(zeros, ones)
        padded_ids = mem.alloc(b * sp * INT64)
        mem.free(fill)
    emb = _embeddings(mem, r, b, sp, dt)
    both = mem.alloc(2 * x)
    prev: list[int] = []
    held: list[int] = []  # the buckets (all_buckets; the cache's too) and the cache's states
    for i in range(len(r.kinds)):
        y1, y2, bk, normed = _layer(mem, r, i, b, sp, dt, bool(pad), mark)
        mem.free(*prev, 0 if cache else normed)
        prev = [y1, y2]
        held += [bk, normed] if cache else [bk]
    mark("final norm and logits")
    cat = mem.alloc(2 * x)
    mem.free(*reversed(prev), *([] if cache else held), both)
    normed = mem.alloc(2 * x)
    mem.free(cat, padded_ids, mask, emb)
    rows = b if cache else b * s  # logits_to_keep=1 under a cache
    # at::matmul folds (b, rows, 2h) into a 2-d view unless the padded slice's batch stride forbids it: then a copy
    copy = mem.alloc(rows * 2 * r.hidden * dt) if pad and b > 1 and rows > b else 0
    logits = mem.alloc(rows * r.vocab * dt)
    mem.free(copy, normed)
    if cache:
        return [*held, *inputs, logits]
    mem.free(logits, *inputs)
    return []
